// RollingRestartStore over SQLite (rolling_restart_store.h).
#include "orchestrator/rolling_restart/rolling_restart_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

class SqliteRollingRestartStore final : public RollingRestartStore {
 public:
  explicit SqliteRollingRestartStore(SqliteDb& db) : db_(db) {}

  Result<std::map<std::string, std::vector<std::string>>> GroupsPendingReboot() override;

 private:
  SqliteDb& db_;
};

}  // namespace

Result<std::map<std::string, std::vector<std::string>>>
SqliteRollingRestartStore::GroupsPendingReboot() {
  std::lock_guard lk(db_.mu());
  auto s = db_.Prepare(
      "SELECT n.group_id, n.node_id FROM nodes n JOIN replication_groups g ON "
      "g.group_id=n.group_id WHERE g.status='available' AND n.status='available' AND "
      "n.param_pending_reboot=1 AND NOT EXISTS (SELECT 1 FROM operations o WHERE "
      "o.group_id=g.group_id AND o.state NOT IN ('succeeded','failed')) "
      "ORDER BY n.group_id, n.node_id");
  if (!s) return s.error();
  std::map<std::string, std::vector<std::string>> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out[s->Text(0)].push_back(s->Text(1));
  }
  return out;
}

RollingRestartStore& RollingRestartStoreOf(Store& base) {
  return base.Feature<RollingRestartStore>(
      [](SqliteDb& db) -> std::unique_ptr<RollingRestartStore> {
        return std::make_unique<SqliteRollingRestartStore>(db);
      });
}

}  // namespace cf::orchestrator
