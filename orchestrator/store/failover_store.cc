// Store: the failover calls (declared in store.h, "failover" section). Each is
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

const char* TopologyText(Topology t) {
  return t == Topology::kClusterModeEnabled ? "cluster-mode-enabled" : "cluster-mode-disabled";
}

}  // namespace

Status Store::ApplyFailoverChangeLocked(const std::string& group_id, const FailoverChange& c,
                                        int64_t now) {
  if (c.new_primary) {
    const auto& [node_group, node_id] = *c.new_primary;
    if (auto st =
            Exec(*db_,
                 "UPDATE nodes SET desired_role=CASE WHEN node_id=? THEN "
                 "'primary' ELSE "
                 "'replica' END WHERE group_id=? AND node_group_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, node_id).Bind(2, group_id).Bind(3, node_group); });
        !st)
      return st;
  }
  for (const auto& [node_id, status] : c.node_status) {
    if (auto st =
            Exec(*db_, "UPDATE nodes SET status=? WHERE node_id=? AND group_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, node_id).Bind(3, group_id); });
        !st)
      return st;
  }
  if (c.group_status) {
    if (auto st =
            Exec(*db_,
                 "UPDATE replication_groups SET status=?, updated_ms=? WHERE "
                 "group_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, *c.group_status).Bind(2, now).Bind(3, group_id); });
        !st)
      return st;
  }
  if (c.automatic_failover) {
    if (auto st = Exec(*db_,
                       "UPDATE replication_groups SET automatic_failover=? "
                       "WHERE group_id=?",
                       [&](SqliteStmt& s) {
                         s.Bind(1, int64_t{*c.automatic_failover ? 1 : 0}).Bind(2, group_id);
                       });
        !st)
      return st;
  }
  if (c.multi_az) {
    if (auto st =
            Exec(*db_, "UPDATE replication_groups SET multi_az=? WHERE group_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, int64_t{*c.multi_az ? 1 : 0}).Bind(2, group_id); });
        !st)
      return st;
  }
  for (const auto& [node_id, applied] : c.params_applied) {
    const auto& [pg, generation] = applied;
    if (auto st = Exec(*db_,
                       "UPDATE nodes SET param_generation=?, param_last_error='', "
                       "param_pending_reboot=CASE WHEN (SELECT generation FROM "
                       "cache_parameter_groups WHERE name=lower(?))=? THEN 0 ELSE "
                       "param_pending_reboot END WHERE node_id=? AND group_id=?",
                       [&](SqliteStmt& s) {
                         s.Bind(1, generation)
                             .Bind(2, pg)
                             .Bind(3, generation)
                             .Bind(4, node_id)
                             .Bind(5, group_id);
                       });
        !st)
      return st;
  }
  if (c.engine_version) {
    if (auto st = Exec(*db_, "UPDATE replication_groups SET engine_version=? WHERE group_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, *c.engine_version).Bind(2, group_id); });
        !st)
      return st;
  }
  for (const auto& e : c.events)
    if (auto st = AddEventLocked(e.source_id, e.source_type, e.message, now); !st) return st;
  return {};
}

Result<std::pair<GroupView, int64_t>> Store::BeginGroupOperation(
    const std::string& group_id, OperationRecord op,
    const std::function<Status(const GroupView&)>& check, const FailoverChange& change) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadGroupLocked(group_id);
  if (!v) return v.error();
  if (check)
    if (auto st = check(*v); !st) return st.error();
  const int64_t now = op.created_ms ? op.created_ms : NowMs();
  {
    auto s = db_->Prepare(
        "INSERT INTO operations(group_id, kind, topology, "
        "state, step, attempt, retries, "
        "last_error, created_ms, updated_ms, deadline_ms, "
        "finished_ms, payload) "
        "VALUES(?,?,?,?,?,0,0,'',?,?,?,0,?)");
    if (!s) return s.error();
    s->Bind(1, group_id)
        .Bind(2, OpKindName(op.kind))
        .Bind(3, TopologyText(op.topology))
        .Bind(4, OpStateName(op.state))
        .Bind(5, op.step)
        .Bind(6, now)
        .Bind(7, now)
        .Bind(8, op.deadline_ms)
        .Bind(9, op.payload.empty() ? std::string("{}") : op.payload);
    if (auto st = s->Run(); !st) {
      if (st.error().code == Errc::kAlreadyExists)
        return MakeError(Errc::kFailedPrecondition,
                         "Replication group " + group_id + " has an operation in progress.");
      return st.error();
    }
  }
  const int64_t op_id = db_->LastInsertRowId();
  if (auto st = ApplyFailoverChangeLocked(group_id, change, now); !st) return st.error();
  auto after = LoadGroupLocked(group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::make_pair(std::move(*after), op_id);
}

Status Store::TransitionWithChange(OperationRecord& op, OpState to, const std::string& step,
                                   const FailoverChange& change) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(copy, to, step, now); !st) return st;
  if (change.payload) {
    if (auto st = Exec(*db_, "UPDATE operations SET payload=? WHERE op_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, *change.payload).Bind(2, op.id); });
        !st)
      return st;
    copy.payload = *change.payload;
  }
  if (auto st = ApplyFailoverChangeLocked(op.group_id, change, now); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::SetOperationPayload(OperationRecord& op, const std::string& payload) {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(
      "UPDATE operations SET payload=?, updated_ms=? WHERE "
      "op_id=? AND attempt=? AND state=?");
  if (!s) return s.error();
  const int64_t now = NowMs();
  s->Bind(1, payload)
      .Bind(2, now)
      .Bind(3, op.id)
      .Bind(4, op.attempt)
      .Bind(5, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  op.payload = payload;
  op.updated_ms = now;
  return {};
}

Result<int> Store::CountOperationsSince(const std::string& group_id, OpKind kind,
                                        const std::string& payload_like, int64_t since_ms) {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(
      "SELECT COUNT(*) FROM operations WHERE group_id=? AND "
      "kind=? AND created_ms>=? AND "
      "payload LIKE ?");
  if (!s) return s.error();
  s->Bind(1, group_id).Bind(2, OpKindName(kind)).Bind(3, since_ms).Bind(4, payload_like);
  auto row = s->Step();
  if (!row) return row.error();
  return static_cast<int>(s->Int(0));
}

Result<int64_t> Store::LastOperationFinishedMs(const std::string& group_id) {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare("SELECT COALESCE(MAX(finished_ms), 0) FROM operations WHERE group_id=?");
  if (!s) return s.error();
  s->Bind(1, group_id);
  auto row = s->Step();
  if (!row) return row.error();
  return s->Int(0);
}

}  // namespace cf::orchestrator
