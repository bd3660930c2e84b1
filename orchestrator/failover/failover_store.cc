// FailoverStore over SQLite (failover_store.h).
#include "orchestrator/failover/failover_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

class SqliteFailoverStore final : public FailoverStore {
 public:
  explicit SqliteFailoverStore(SqliteDb& db) : db_(db) {}

  Result<int> CountOperationsSince(const std::string& group_id, OpKind kind,
                                   const std::string& payload_like, int64_t since_ms) override;
  Result<int64_t> LastOperationFinishedMs(const std::string& group_id) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Result<int> SqliteFailoverStore::CountOperationsSince(const std::string& group_id, OpKind kind,
                                                      const std::string& payload_like,
                                                      int64_t since_ms) {
  std::lock_guard lk(db_.mu());
  auto s = db_.Prepare(
      "SELECT COUNT(*) FROM operations WHERE group_id=? AND "
      "kind=? AND created_ms>=? AND "
      "payload LIKE ?");
  if (!s) return s.error();
  s->Bind(1, group_id).Bind(2, OpKindName(kind)).Bind(3, since_ms).Bind(4, payload_like);
  auto row = s->Step();
  if (!row) return row.error();
  return static_cast<int>(s->Int(0));
}

Result<int64_t> SqliteFailoverStore::LastOperationFinishedMs(const std::string& group_id) {
  std::lock_guard lk(db_.mu());
  auto s = db_.Prepare("SELECT COALESCE(MAX(finished_ms), 0) FROM operations WHERE group_id=?");
  if (!s) return s.error();
  s->Bind(1, group_id);
  auto row = s->Step();
  if (!row) return row.error();
  return s->Int(0);
}

FailoverStore& FailoverStoreOf(Store& base) {
  return base.Feature<FailoverStore>([](SqliteDb& db) -> std::unique_ptr<FailoverStore> {
    return std::make_unique<SqliteFailoverStore>(db);
  });
}

}  // namespace cf::orchestrator
