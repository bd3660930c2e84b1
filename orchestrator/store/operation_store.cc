// Store: operations (claim, compare-and-set transitions, the create/delete endings, the
// operations listing) and events (declared in store.h).
#include <algorithm>
#include <map>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {

// ---------------------------------------------------------------------------------------------
// operations

Result<std::vector<OperationRecord>> Store::ListUnfinishedOperations() {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(std::string("SELECT ") + kOpColumns +
                        " FROM operations WHERE state NOT IN ('succeeded','failed') "
                        "ORDER BY op_id");
  if (!s) return s.error();
  std::vector<OperationRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(ReadOp(*s));
  }
  return out;
}

Result<std::optional<OperationRecord>> Store::GetOperation(int64_t op_id) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(std::string("SELECT ") + kOpColumns + " FROM operations WHERE op_id=?");
  if (!s) return s.error();
  s->Bind(1, op_id);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<OperationRecord>();
  return std::optional<OperationRecord>(ReadOp(*s));
}

Result<OperationRecord> Store::ClaimOperation(int64_t op_id) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  if (auto st = db_->Run("UPDATE operations SET attempt=attempt+1, updated_ms=? WHERE op_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, NowMs()).Bind(2, op_id); });
      !st)
    return st.error();
  auto s = db_->Prepare(std::string("SELECT ") + kOpColumns + " FROM operations WHERE op_id=?");
  if (!s) return s.error();
  s->Bind(1, op_id);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return MakeError(Errc::kNotFound, "operation " + std::to_string(op_id));
  OperationRecord op = ReadOp(*s);
  if (auto st = txn.Commit(); !st) return st.error();
  return op;
}

Status Store::TransitionOperation(OperationRecord& op, OpState to, const std::string& step) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(*db_, copy, to, step, NowMs()); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::SetOperationStep(OperationRecord& op, const std::string& step) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "UPDATE operations SET step=?, updated_ms=? WHERE op_id=? AND attempt=? AND state=?");
  if (!s) return s.error();
  const int64_t now = NowMs();
  s->Bind(1, step).Bind(2, now).Bind(3, op.id).Bind(4, op.attempt).Bind(5, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  op.step = step;
  op.updated_ms = now;
  return {};
}

Status Store::RecordOperationError(OperationRecord& op, const std::string& error) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "UPDATE operations SET retries=retries+1, last_error=?, updated_ms=? "
      "WHERE op_id=? AND attempt=? AND state=?");
  if (!s) return s.error();
  const int64_t now = NowMs();
  s->Bind(1, error).Bind(2, now).Bind(3, op.id).Bind(4, op.attempt).Bind(5, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  op.retries++;
  op.last_error = error;
  op.updated_ms = now;
  return {};
}

// Ends a create operation in one transaction: the operation goes to `to`, and the group, its
// node groups and its nodes get `status` (the group only while `group_guard` holds, nodes only
// where `node_guard` holds), plus the event.
Status Store::FinishCreateLocked(OperationRecord& op, OpState to, const std::string& status,
                                 const char* group_guard, const char* node_guard,
                                 const std::string& event_message) {
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(*db_, copy, to, "", now); !st) return st;
  if (auto st =
          db_->Run(std::string("UPDATE replication_groups SET status=?, updated_ms=? "
                               "WHERE group_id=?") +
                       group_guard,
                   [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, now).Bind(3, op.group_id); });
      !st)
    return st;
  if (auto st = db_->Run("UPDATE node_groups SET status=? WHERE group_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, op.group_id); });
      !st)
    return st;
  if (auto st = db_->Run(std::string("UPDATE nodes SET status=? WHERE group_id=?") + node_guard,
                         [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, op.group_id); });
      !st)
    return st;
  if (auto st = AddEventLocked(*db_, op.group_id, "replication-group", event_message, now); !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::CompleteCreate(OperationRecord& op, const std::string& event_message) {
  std::lock_guard lk(db_->mu());
  return FinishCreateLocked(op, OpState::kSucceeded, "available", " AND status='creating'", "",
                            event_message);
}

Status Store::FailCreate(OperationRecord& op, const std::string& event_message) {
  std::lock_guard lk(db_->mu());
  return FinishCreateLocked(op, OpState::kFailed, "create-failed", "", " AND status!='stopped'",
                            event_message);
}

Status Store::CompleteDelete(OperationRecord& op, const std::string& event_message) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(*db_, copy, OpState::kSucceeded, "", now); !st) return st;
  // Explicit deletes (rather than relying on cascades) keep the order obvious.
  for (const char* sql :
       {"DELETE FROM port_allocations WHERE node_id IN "
        "(SELECT node_id FROM nodes WHERE group_id=?)",
        "DELETE FROM nodes WHERE group_id=?", "DELETE FROM node_groups WHERE group_id=?",
        "DELETE FROM tags WHERE group_id=?", "DELETE FROM replication_groups WHERE group_id=?"}) {
    if (auto st = db_->Run(sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id); }); !st) return st;
  }
  if (auto st = AddEventLocked(*db_, op.group_id, "replication-group", event_message, now); !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Result<std::vector<OperationRecord>> Store::ListOperations(const std::string& group_id,
                                                           int finished_limit) {
  std::lock_guard lk(db_->mu());
  std::vector<OperationRecord> out;
  const std::string where = group_id.empty() ? "" : " AND group_id=?";
  for (int pass = 0; pass < 2; ++pass) {
    std::string sql =
        std::string("SELECT ") + kOpColumns + " FROM operations WHERE " +
        (pass == 0 ? "state NOT IN ('succeeded','failed')" : "state IN ('succeeded','failed')") +
        where + " ORDER BY op_id DESC";
    if (pass == 1) sql += " LIMIT " + std::to_string(std::max(0, finished_limit));
    auto s = db_->Prepare(sql);
    if (!s) return s.error();
    if (!group_id.empty()) s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      out.push_back(ReadOp(*s));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// events

Status Store::AddEvent(const std::string& source_id, const std::string& source_type,
                       const std::string& message, int64_t date_ms) {
  std::lock_guard lk(db_->mu());
  return AddEventLocked(*db_, source_id, source_type, message, date_ms);
}

Result<std::vector<EventRecord>> Store::ListEvents(const std::string& source_id) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "SELECT event_id, source_id, source_type, message, date_ms FROM events "
      "WHERE source_id=? ORDER BY event_id");
  if (!s) return s.error();
  s->Bind(1, source_id);
  std::vector<EventRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(EventRecord{s->Int(0), s->Text(1), s->Text(2), s->Text(3), s->Int(4)});
  }
  return out;
}

}  // namespace cf::orchestrator
