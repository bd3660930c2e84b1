// Store: ModifyReplicationGroup changes waiting for the maintenance window (declared in
// store.h, "pending modifications"; table pending_modifications, schema v7). Each call is one
// transaction, like every other Store call. Rows go with their group (ON DELETE CASCADE).
#include <mutex>

#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

Status Exec(SqliteDb& db, const std::string& sql, const std::function<void(SqliteStmt&)>& bind) {
  auto st = db.Prepare(sql);
  if (!st) return st.error();
  if (bind) bind(*st);
  return st->Run();
}

}  // namespace

Status Store::LoadPendingLocked(const std::string& group_id,
                                std::map<std::string, std::string>& out) {
  out.clear();
  auto s = db_->Prepare("SELECT name, value FROM pending_modifications WHERE group_id=?");
  if (!s) return s.error();
  s->Bind(1, group_id);
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out[s->Text(0)] = s->Text(1);
  }
  return {};
}

Result<GroupView> Store::RecordPendingModifications(const std::string& group_id,
                                                    const std::map<std::string, std::string>& set,
                                                    const std::vector<std::string>& clear,
                                                    const std::string& event_message) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  {
    auto v = LoadGroupLocked(group_id);
    if (!v) return v.error();
  }
  const int64_t now = NowMs();
  for (const auto& name : clear)
    if (auto st = Exec(*db_, "DELETE FROM pending_modifications WHERE group_id=? AND name=?",
                       [&](SqliteStmt& s) { s.Bind(1, group_id).Bind(2, name); });
        !st)
      return st.error();
  if (!set.empty()) {
    int64_t request_id = 1;
    {
      auto s = db_->Prepare("SELECT COALESCE(MAX(request_id), 0) + 1 FROM pending_modifications");
      if (!s) return s.error();
      auto row = s->Step();
      if (!row) return row.error();
      if (*row) request_id = s->Int(0);
    }
    for (const auto& [name, value] : set)
      if (auto st = Exec(*db_,
                         "INSERT INTO pending_modifications(group_id, name, value, request_id, "
                         "requested_ms) VALUES(?,?,?,?,?) ON CONFLICT(group_id, name) DO UPDATE "
                         "SET value=excluded.value, request_id=excluded.request_id, "
                         "requested_ms=excluded.requested_ms",
                         [&](SqliteStmt& s) {
                           s.Bind(1, group_id)
                               .Bind(2, name)
                               .Bind(3, value)
                               .Bind(4, request_id)
                               .Bind(5, now);
                         });
          !st)
        return st.error();
  }
  if (!event_message.empty())
    if (auto st = AddEventLocked(group_id, "replication-group", event_message, now); !st)
      return st.error();
  auto after = LoadGroupLocked(group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::move(*after);
}

Result<int> Store::ClearPendingModifications(const std::string& group_id,
                                             const std::vector<std::string>& names) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  int removed = 0;
  for (const auto& name : names) {
    auto s = db_->Prepare(
        "DELETE FROM pending_modifications WHERE group_id=? AND name=? RETURNING name");
    if (!s) return s.error();
    s->Bind(1, group_id).Bind(2, name);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      ++removed;
    }
  }
  if (auto st = txn.Commit(); !st) return st.error();
  return removed;
}

Result<std::vector<PendingGroup>> Store::ListPendingGroups() {
  std::lock_guard lk(mu_);
  std::vector<PendingGroup> out;
  auto s = db_->Prepare(
      "SELECT p.group_id, g.status, g.preferred_maintenance_window, "
      "EXISTS(SELECT 1 FROM operations o WHERE o.group_id=p.group_id AND "
      "o.state NOT IN ('succeeded','failed')), p.name, p.value, p.request_id, p.requested_ms "
      "FROM pending_modifications p JOIN replication_groups g ON g.group_id=p.group_id "
      "ORDER BY p.group_id, p.request_id, p.name");
  if (!s) return s.error();
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    const std::string id = s->Text(0);
    if (out.empty() || out.back().group_id != id) {
      PendingGroup g;
      g.group_id = id;
      auto status = ParseGroupStatus(s->Text(1));
      g.status = status.value_or(GroupStatus::kModifying);
      g.maintenance_window = s->Text(2);
      g.operation_running = s->Int(3) != 0;
      out.push_back(std::move(g));
    }
    out.back().pending.push_back(PendingModification{s->Text(4), s->Text(5), s->Int(6), s->Int(7)});
  }
  return out;
}

Status Store::FinishPendingModifications(const std::string& group_id,
                                         const std::vector<PendingModification>& batch,
                                         const std::string& event_message) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  for (const auto& p : batch)
    if (auto st = Exec(*db_,
                       "DELETE FROM pending_modifications WHERE group_id=? AND name=? AND "
                       "request_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, group_id).Bind(2, p.name).Bind(3, p.request_id); });
        !st)
      return st.error();
  {
    auto s = db_->Prepare("SELECT 1 FROM replication_groups WHERE group_id=?");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row && !event_message.empty())
      if (auto st = AddEventLocked(group_id, "replication-group", event_message, NowMs()); !st)
        return st.error();
  }
  return txn.Commit();
}

}  // namespace cf::orchestrator
