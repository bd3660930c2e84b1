// Store: the rolling-restart calls (declared in store.h, "rolling restart" section). Each is
// one transaction, like every other Store call.
#include <mutex>

#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

Status Exec(SqliteDb& db, const std::string& sql, const std::function<void(SqliteStmt&)>& bind) {
  auto st = db.Prepare(sql);
  if (!st) return st.error();
  bind(*st);
  return st->Run();
}

}  // namespace

Status Store::UpdateOperationWithChange(OperationRecord& op, const std::string& step,
                                        const std::string& payload, const FailoverChange& change) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  auto s = db_->Prepare(
      "UPDATE operations SET payload=?, step=?, updated_ms=? WHERE op_id=? AND attempt=? AND "
      "state=?");
  if (!s) return s.error();
  s->Bind(1, payload)
      .Bind(2, step)
      .Bind(3, now)
      .Bind(4, op.id)
      .Bind(5, op.attempt)
      .Bind(6, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  if (auto st = ApplyFailoverChangeLocked(op.group_id, change, now); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  op.payload = payload;
  op.step = step;
  op.updated_ms = now;
  return {};
}

Status Store::MarkPendingReboot(const std::string& node_id) {
  std::lock_guard lk(mu_);
  return Exec(*db_, "UPDATE nodes SET param_pending_reboot=1 WHERE node_id=?",
              [&](SqliteStmt& s) { s.Bind(1, node_id); });
}

Result<std::map<std::string, std::vector<std::string>>> Store::GroupsPendingReboot() {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(
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

}  // namespace cf::orchestrator
