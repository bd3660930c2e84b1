// ReshardStore over SQLite (reshard_store.h).
#include "orchestrator/reshard/reshard_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

// The compare-and-set condition of every write a running move makes: the operation is still
// ours and still moving slots.
constexpr char kOwnsMoveSql[] =
    " AND EXISTS (SELECT 1 FROM operations WHERE op_id=? AND attempt=? AND state='move-slots')";

Error StaleMove(const OperationRecord& op, const std::string& move_id) {
  return MakeError(Errc::kFailedPrecondition, "move " + move_id + " of operation " +
                                                  std::to_string(op.id) +
                                                  " is owned by a newer attempt");
}

constexpr char kMoveColumns[] =
    "op_id, move_id, seq, from_node_group, to_node_group, slots, slots_done, keys_estimate, "
    "keys_total, keys_moved, bytes_moved, attempt, status, retries, last_error, started_ms, "
    "updated_ms, finished_ms";

SlotMoveRecord ReadMove(const SqliteStmt& s) {
  SlotMoveRecord m;
  int i = 0;
  m.op_id = s.Int(i++);
  m.move_id = s.Text(i++);
  m.seq = static_cast<int>(s.Int(i++));
  m.from_node_group = s.Text(i++);
  m.to_node_group = s.Text(i++);
  m.slots = ParseSlotsColumn(s.Text(i++));
  m.slots_done = ParseSlotsColumn(s.Text(i++));
  m.keys_estimate = static_cast<uint64_t>(s.Int(i++));
  m.keys_total = s.Int(i++);
  m.keys_moved = static_cast<uint64_t>(s.Int(i++));
  m.bytes_moved = static_cast<uint64_t>(s.Int(i++));
  m.attempt = s.Int(i++);
  m.status = ParseSlotMoveStatus(s.Text(i++)).value_or(SlotMoveStatus::kPending);
  m.retries = s.Int(i++);
  m.last_error = s.Text(i++);
  m.started_ms = s.Int(i++);
  m.updated_ms = s.Int(i++);
  m.finished_ms = s.Int(i++);
  return m;
}

class SqliteReshardStore final : public ReshardStore {
 public:
  explicit SqliteReshardStore(SqliteDb& db) : db_(db) {}

  Status SavePlannedMoves(OperationRecord& op, const std::vector<SlotMoveRecord>& moves,
                          const std::map<std::string, SlotRanges>& planned_slots,
                          const std::string& step) override;
  Result<std::vector<SlotMoveRecord>> ListSlotMoves(int64_t op_id) override;
  Result<int64_t> StartSlotMoveAttempt(const OperationRecord& op,
                                       const std::string& move_id) override;
  Status RecordSlotMoveProgress(const OperationRecord& op, const SlotMoveRecord& m) override;
  Status RecordSlotMoveError(OperationRecord& op, const std::string& move_id, int64_t attempt,
                             const std::string& error, const std::string& event_message) override;
  Status RaiseReshardProgress(OperationRecord& op, int64_t progress_milli) override;
  Status SetNodeGroupSlots(const std::string& group_id,
                           const std::map<std::string, SlotRanges>& slots) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Status SqliteReshardStore::SavePlannedMoves(OperationRecord& op,
                                            const std::vector<SlotMoveRecord>& moves,
                                            const std::map<std::string, SlotRanges>& planned_slots,
                                            const std::string& step) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(db_, copy, OpState::kMoveSlots, step, now); !st) return st;
  if (auto st =
          db_.Run("DELETE FROM slot_moves WHERE op_id=?", [&](SqliteStmt& s) { s.Bind(1, op.id); });
      !st)
    return st;
  for (const auto& m : moves) {
    if (auto st =
            db_.Run("INSERT INTO slot_moves(op_id, move_id, seq, from_node_group, "
                    "to_node_group, slots, keys_estimate, updated_ms) VALUES(?,?,?,?,?,?,?,?)",
                    [&](SqliteStmt& s) {
                      s.Bind(1, op.id)
                          .Bind(2, m.move_id)
                          .Bind(3, int64_t{m.seq})
                          .Bind(4, m.from_node_group)
                          .Bind(5, m.to_node_group)
                          .Bind(6, FormatSlotRanges(NormalizeSlotRanges(m.slots)))
                          .Bind(7, static_cast<int64_t>(m.keys_estimate))
                          .Bind(8, now);
                    });
        !st)
      return st;
  }
  for (const auto& [ng, ranges] : planned_slots) {
    if (auto st = db_.Run("UPDATE node_groups SET slots=? WHERE group_id=? AND node_group_id=?",
                          [&](SqliteStmt& s) {
                            s.Bind(1, FormatSlotRanges(NormalizeSlotRanges(ranges)))
                                .Bind(2, op.group_id)
                                .Bind(3, ng);
                          });
        !st)
      return st;
  }
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Result<std::vector<SlotMoveRecord>> SqliteReshardStore::ListSlotMoves(int64_t op_id) {
  std::lock_guard lk(db_.mu());
  auto s = db_.Prepare(std::string("SELECT ") + kMoveColumns +
                       " FROM slot_moves WHERE op_id=? ORDER BY seq");
  if (!s) return s.error();
  s->Bind(1, op_id);
  std::vector<SlotMoveRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(ReadMove(*s));
  }
  return out;
}

Result<int64_t> SqliteReshardStore::StartSlotMoveAttempt(const OperationRecord& op,
                                                         const std::string& move_id) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  const int64_t now = NowMs();
  auto s = db_.Prepare(std::string("UPDATE slot_moves SET attempt=attempt+1, status='running', "
                                   "started_ms=CASE WHEN started_ms=0 THEN ? ELSE started_ms END, "
                                   "updated_ms=? WHERE op_id=? AND move_id=? AND status!='done'") +
                       kOwnsMoveSql);
  if (!s) return s.error();
  s->Bind(1, now).Bind(2, now).Bind(3, op.id).Bind(4, move_id).Bind(5, op.id).Bind(6, op.attempt);
  if (auto st = s->Run(); !st) return st.error();
  if (s->Changes() == 0) return StaleMove(op, move_id);
  auto q = db_.Prepare("SELECT attempt FROM slot_moves WHERE op_id=? AND move_id=?");
  if (!q) return q.error();
  q->Bind(1, op.id).Bind(2, move_id);
  auto row = q->Step();
  if (!row) return row.error();
  if (!*row) return StaleMove(op, move_id);
  const int64_t attempt = q->Int(0);
  if (auto st = txn.Commit(); !st) return st.error();
  return attempt;
}

Status SqliteReshardStore::RecordSlotMoveProgress(const OperationRecord& op,
                                                  const SlotMoveRecord& m) {
  std::lock_guard lk(db_.mu());
  const int64_t now = NowMs();
  const bool done = m.status == SlotMoveStatus::kDone;
  auto s =
      db_.Prepare(std::string("UPDATE slot_moves SET slots_done=?, keys_total=?, keys_moved=?, "
                              "bytes_moved=?, status=?, updated_ms=?, finished_ms=? "
                              "WHERE op_id=? AND move_id=? AND attempt=? AND status!='done'") +
                  kOwnsMoveSql);
  if (!s) return s.error();
  s->Bind(1, FormatSlotRanges(NormalizeSlotRanges(m.slots_done)))
      .Bind(2, m.keys_total)
      .Bind(3, static_cast<int64_t>(m.keys_moved))
      .Bind(4, static_cast<int64_t>(m.bytes_moved))
      .Bind(5, SlotMoveStatusName(m.status))
      .Bind(6, now)
      .Bind(7, done ? now : int64_t{0})
      .Bind(8, op.id)
      .Bind(9, m.move_id)
      .Bind(10, m.attempt)
      .Bind(11, op.id)
      .Bind(12, op.attempt);
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0) return StaleMove(op, m.move_id);
  return {};
}

Status SqliteReshardStore::RecordSlotMoveError(OperationRecord& op, const std::string& move_id,
                                               int64_t attempt, const std::string& error,
                                               const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  {
    auto s =
        db_.Prepare(std::string("UPDATE slot_moves SET retries=retries+1, last_error=?, "
                                "status='retrying', updated_ms=? "
                                "WHERE op_id=? AND move_id=? AND attempt=? AND status!='done'") +
                    kOwnsMoveSql);
    if (!s) return s.error();
    s->Bind(1, error)
        .Bind(2, now)
        .Bind(3, op.id)
        .Bind(4, move_id)
        .Bind(5, attempt)
        .Bind(6, op.id)
        .Bind(7, op.attempt);
    if (auto st = s->Run(); !st) return st;
    if (s->Changes() == 0) return StaleMove(op, move_id);
  }
  if (auto st = db_.Run(
          "UPDATE operations SET retries=retries+1, last_error=?, updated_ms=? "
          "WHERE op_id=? AND attempt=?",
          [&](SqliteStmt& s) { s.Bind(1, error).Bind(2, now).Bind(3, op.id).Bind(4, op.attempt); });
      !st)
    return st;
  if (!event_message.empty())
    if (auto st = AddEventLocked(db_, op.group_id, "replication-group", event_message, now); !st)
      return st;
  if (auto st = txn.Commit(); !st) return st;
  op.retries++;
  op.last_error = error;
  op.updated_ms = now;
  return {};
}

Status SqliteReshardStore::RaiseReshardProgress(OperationRecord& op, int64_t progress_milli) {
  std::lock_guard lk(db_.mu());
  auto s = db_.Prepare(
      "UPDATE operations SET progress_milli=MAX(progress_milli, ?) "
      "WHERE op_id=? AND attempt=? AND state NOT IN ('succeeded','failed')");
  if (!s) return s.error();
  s->Bind(1, progress_milli).Bind(2, op.id).Bind(3, op.attempt);
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  op.progress_milli = std::max(op.progress_milli, progress_milli);
  return {};
}

Status SqliteReshardStore::SetNodeGroupSlots(const std::string& group_id,
                                             const std::map<std::string, SlotRanges>& slots) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  for (const auto& [ng, ranges] : slots) {
    if (auto st = db_.Run("UPDATE node_groups SET slots=? WHERE group_id=? AND node_group_id=?",
                          [&](SqliteStmt& s) {
                            s.Bind(1, FormatSlotRanges(NormalizeSlotRanges(ranges)))
                                .Bind(2, group_id)
                                .Bind(3, ng);
                          });
        !st)
      return st;
  }
  return txn.Commit();
}

ReshardStore& ReshardStoreOf(Store& base) {
  return base.Feature<ReshardStore>([](SqliteDb& db) -> std::unique_ptr<ReshardStore> {
    return std::make_unique<SqliteReshardStore>(db);
  });
}

}  // namespace cf::orchestrator
