// ModifyStore over SQLite (modify_store.h). Pending modifications live in the table
// pending_modifications (schema v7); rows go with their group (ON DELETE CASCADE).
#include "orchestrator/modify/modify_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/core/query_params.h"
#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

class SqliteModifyStore final : public ModifyStore {
 public:
  explicit SqliteModifyStore(SqliteDb& db) : db_(db) {}

  Result<GroupView> UpdateGroupSettings(const std::string& group_id, const GroupSettingsUpdate& u,
                                        const std::string& event_message) override;
  Result<GroupView> SwitchParameterGroup(const std::string& group_id,
                                         const ParameterGroupSwitch& sw,
                                         const std::string& event_message) override;
  Result<GroupView> RecordPendingModifications(const std::string& group_id,
                                               const std::map<std::string, std::string>& set,
                                               const std::vector<std::string>& clear,
                                               const std::string& event_message) override;
  Result<int> ClearPendingModifications(const std::string& group_id,
                                        const std::vector<std::string>& names) override;
  Result<std::vector<PendingGroup>> ListPendingGroups() override;
  Status FinishPendingModifications(const std::string& group_id,
                                    const std::vector<PendingModification>& batch,
                                    const std::string& event_message) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Result<GroupView> SqliteModifyStore::UpdateGroupSettings(const std::string& group_id,
                                                         const GroupSettingsUpdate& u,
                                                         const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadIdleAvailableGroupLocked(db_, group_id);
  if (!v) return v.error();
  const int64_t now = NowMs();
  auto set = [&](const char* column, auto value) -> Status {
    auto s = db_.Prepare(std::string("UPDATE replication_groups SET ") + column +
                         "=?, updated_ms=? WHERE group_id=?");
    if (!s) return s.error();
    s->Bind(1, value).Bind(2, now).Bind(3, group_id);
    return s->Run();
  };
  if (u.description)
    if (auto st = set("description", *u.description); !st) return st.error();
  if (u.snapshotting_cluster_id)
    if (auto st = set("snapshotting_cluster_id", *u.snapshotting_cluster_id); !st)
      return st.error();
  if (u.snapshot_retention_limit)
    if (auto st = set("snapshot_retention_limit", int64_t{*u.snapshot_retention_limit}); !st)
      return st.error();
  if (u.snapshot_window)
    if (auto st = set("snapshot_window", *u.snapshot_window); !st) return st.error();
  if (u.preferred_maintenance_window)
    if (auto st = set("preferred_maintenance_window", *u.preferred_maintenance_window); !st)
      return st.error();
  if (u.notification_topic_arn)
    if (auto st = set("notification_topic_arn", *u.notification_topic_arn); !st) return st.error();
  if (u.notification_topic_status)
    if (auto st = set("notification_topic_status", *u.notification_topic_status); !st)
      return st.error();
  if (u.security_group_ids)
    if (auto st = set("security_group_ids", ToJsonArray(*u.security_group_ids)); !st)
      return st.error();
  if (u.auto_minor_version_upgrade)
    if (auto st = set("auto_minor_version_upgrade", int64_t{*u.auto_minor_version_upgrade ? 1 : 0});
        !st)
      return st.error();
  if (auto st = AddEventLocked(db_, group_id, "replication-group", event_message, now); !st)
    return st.error();
  auto after = LoadGroupLocked(db_, group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::move(*after);
}

Result<GroupView> SqliteModifyStore::SwitchParameterGroup(const std::string& group_id,
                                                          const ParameterGroupSwitch& sw,
                                                          const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadIdleAvailableGroupLocked(db_, group_id);
  if (!v) return v.error();
  const int64_t now = NowMs();
  if (auto st = db_.Run("UPDATE replication_groups SET parameter_group=?, updated_ms=? "
                        "WHERE group_id=?",
                        [&](SqliteStmt& s) { s.Bind(1, sw.name).Bind(2, now).Bind(3, group_id); });
      !st)
    return st.error();
  if (auto st = db_.Run(
          "UPDATE nodes SET param_pending_reboot=?, param_last_error='' "
          "WHERE group_id=?",
          [&](SqliteStmt& s) { s.Bind(1, int64_t{sw.pending_reboot ? 1 : 0}).Bind(2, group_id); });
      !st)
    return st.error();
  const std::string row = settings::Lower(sw.name);
  if (!sw.builtin_family.empty()) {
    // A built-in group's row (never listed as a user group: built-in names have a dot, user
    // names cannot): holds the reset values its nodes must be sent, and a generation that is
    // new, so every node using the group (this group's included) is brought to it.
    if (auto st =
            db_.Run("INSERT OR IGNORE INTO cache_parameter_groups(name, family, description, "
                    "generation, create_time_ms) VALUES(?,?,'built-in',0,?)",
                    [&](SqliteStmt& s) { s.Bind(1, row).Bind(2, sw.builtin_family).Bind(3, now); });
        !st)
      return st.error();
    if (auto st = db_.Run("UPDATE cache_parameter_groups SET generation=(SELECT MAX(generation) "
                          "FROM cache_parameter_groups)+1 WHERE name=?",
                          [&](SqliteStmt& s) { s.Bind(1, row); });
        !st)
      return st.error();
  }
  for (const auto& [k, val] : sw.reset_defaults) {
    if (auto st = db_.Run("INSERT OR IGNORE INTO cache_parameter_values(group_name, name, value, "
                          "source) VALUES(?,?,?,'reset')",
                          [&](SqliteStmt& s) { s.Bind(1, row).Bind(2, k).Bind(3, val); });
        !st)
      return st.error();
  }
  if (auto st = AddEventLocked(db_, group_id, "replication-group", event_message, now); !st)
    return st.error();
  auto after = LoadGroupLocked(db_, group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::move(*after);
}

Result<GroupView> SqliteModifyStore::RecordPendingModifications(
    const std::string& group_id, const std::map<std::string, std::string>& set,
    const std::vector<std::string>& clear, const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  {
    auto v = LoadGroupLocked(db_, group_id);
    if (!v) return v.error();
  }
  const int64_t now = NowMs();
  for (const auto& name : clear)
    if (auto st = db_.Run("DELETE FROM pending_modifications WHERE group_id=? AND name=?",
                          [&](SqliteStmt& s) { s.Bind(1, group_id).Bind(2, name); });
        !st)
      return st.error();
  if (!set.empty()) {
    int64_t request_id = 1;
    {
      auto s = db_.Prepare("SELECT COALESCE(MAX(request_id), 0) + 1 FROM pending_modifications");
      if (!s) return s.error();
      auto row = s->Step();
      if (!row) return row.error();
      if (*row) request_id = s->Int(0);
    }
    for (const auto& [name, value] : set)
      if (auto st = db_.Run(
              "INSERT INTO pending_modifications(group_id, name, value, request_id, "
              "requested_ms) VALUES(?,?,?,?,?) ON CONFLICT(group_id, name) DO UPDATE "
              "SET value=excluded.value, request_id=excluded.request_id, "
              "requested_ms=excluded.requested_ms",
              [&](SqliteStmt& s) {
                s.Bind(1, group_id).Bind(2, name).Bind(3, value).Bind(4, request_id).Bind(5, now);
              });
          !st)
        return st.error();
  }
  if (!event_message.empty())
    if (auto st = AddEventLocked(db_, group_id, "replication-group", event_message, now); !st)
      return st.error();
  auto after = LoadGroupLocked(db_, group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::move(*after);
}

Result<int> SqliteModifyStore::ClearPendingModifications(const std::string& group_id,
                                                         const std::vector<std::string>& names) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  int removed = 0;
  for (const auto& name : names) {
    auto s =
        db_.Prepare("DELETE FROM pending_modifications WHERE group_id=? AND name=? RETURNING name");
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

Result<std::vector<PendingGroup>> SqliteModifyStore::ListPendingGroups() {
  std::lock_guard lk(db_.mu());
  std::vector<PendingGroup> out;
  auto s = db_.Prepare(
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

Status SqliteModifyStore::FinishPendingModifications(const std::string& group_id,
                                                     const std::vector<PendingModification>& batch,
                                                     const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  for (const auto& p : batch)
    if (auto st = db_.Run(
            "DELETE FROM pending_modifications WHERE group_id=? AND name=? AND "
            "request_id=?",
            [&](SqliteStmt& s) { s.Bind(1, group_id).Bind(2, p.name).Bind(3, p.request_id); });
        !st)
      return st.error();
  {
    auto s = db_.Prepare("SELECT 1 FROM replication_groups WHERE group_id=?");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row && !event_message.empty())
      if (auto st = AddEventLocked(db_, group_id, "replication-group", event_message, NowMs()); !st)
        return st.error();
  }
  return txn.Commit();
}

ModifyStore& ModifyStoreOf(Store& base) {
  return base.Feature<ModifyStore>([](SqliteDb& db) -> std::unique_ptr<ModifyStore> {
    return std::make_unique<SqliteModifyStore>(db);
  });
}

}  // namespace cf::orchestrator
