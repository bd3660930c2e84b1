// StandaloneStore over SQLite (standalone_store.h).
#include "orchestrator/groups/standalone_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

class SqliteStandaloneStore final : public StandaloneStore {
 public:
  explicit SqliteStandaloneStore(SqliteDb& db) : db_(db) {}

  Status BeginDeleteStandalone(const std::string& cluster_id,
                               const std::string& event_message) override;
  Status CompleteDeleteStandalone(const std::string& cluster_id,
                                  const std::string& event_message) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Status SqliteStandaloneStore::BeginDeleteStandalone(const std::string& cluster_id,
                                                    const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  {
    auto s = db_.Prepare("SELECT group_id FROM nodes WHERE node_id=?");
    if (!s) return s.error();
    s->Bind(1, cluster_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row)
      return MakeError(Errc::kFailedPrecondition,
                       "Cache cluster " + cluster_id + " is a member of a replication group (" +
                           s->Text(0) +
                           "); delete the replication group, or remove the cache cluster with "
                           "DecreaseReplicaCount, instead.");
  }
  std::string status;
  {
    auto s = db_.Prepare("SELECT status FROM standalone_clusters WHERE cluster_id=?");
    if (!s) return s.error();
    s->Bind(1, cluster_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) return MakeError(Errc::kNotFound, "cache cluster " + cluster_id + " not found");
    status = s->Text(0);
  }
  if (status != "available")
    return MakeError(
        Errc::kFailedPrecondition,
        "Cache cluster " + cluster_id + " is not in available state (it is " + status + ").");
  const int64_t now = NowMs();
  if (auto st = db_.Run("UPDATE standalone_clusters SET status='deleting' WHERE cluster_id=?",
                        [&](SqliteStmt& s) { s.Bind(1, cluster_id); });
      !st)
    return st;
  if (auto st = AddEventLocked(db_, cluster_id, "cache-cluster", event_message, now); !st)
    return st;
  return txn.Commit();
}

Status SqliteStandaloneStore::CompleteDeleteStandalone(const std::string& cluster_id,
                                                       const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  std::string host;
  int64_t port = 0;
  {
    auto s = db_.Prepare(
        "SELECT host_id, port FROM standalone_clusters WHERE cluster_id=? AND status='deleting'");
    if (!s) return s.error();
    s->Bind(1, cluster_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) return {};  // already deleted
    host = s->Text(0);
    port = s->Int(1);
  }
  if (auto st = db_.Run("DELETE FROM standalone_clusters WHERE cluster_id=?",
                        [&](SqliteStmt& s) { s.Bind(1, cluster_id); });
      !st)
    return st;
  // The reservation RetainPrimaryCluster left: a block without a node.
  if (auto st =
          db_.Run("DELETE FROM port_allocations WHERE host_id=? AND port=? AND node_id IS NULL",
                  [&](SqliteStmt& s) { s.Bind(1, host).Bind(2, port); });
      !st)
    return st;
  if (auto st = AddEventLocked(db_, cluster_id, "cache-cluster", event_message, NowMs()); !st)
    return st;
  return txn.Commit();
}

StandaloneStore& StandaloneStoreOf(Store& base) {
  return base.Feature<StandaloneStore>([](SqliteDb& db) -> std::unique_ptr<StandaloneStore> {
    return std::make_unique<SqliteStandaloneStore>(db);
  });
}

}  // namespace cf::orchestrator
