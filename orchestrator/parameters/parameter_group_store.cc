// ParameterGroupStore over SQLite (parameter_group_store.h).
#include "orchestrator/parameters/parameter_group_store.h"

#include <algorithm>
#include <mutex>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
namespace {

Status InsertEvent(SqliteDb& db, const std::string& source_id, const std::string& message,
                   int64_t now) {
  return db.Run(
      "INSERT INTO events(source_id, source_type, message, date_ms) "
      "VALUES(?,'cache-parameter-group',?,?)",
      [&](SqliteStmt& s) { s.Bind(1, source_id).Bind(2, message).Bind(3, now); });
}

class SqliteParameterGroupStore final : public ParameterGroupStore {
 public:
  explicit SqliteParameterGroupStore(SqliteDb& db) : db_(db) {}

  Status CreateParameterGroup(const UserParameterGroup& g, const std::vector<Tag>& tags,
                              int max_groups, const std::string& event_message) override;
  Result<std::vector<UserParameterGroup>> ListParameterGroups() override;
  Result<std::vector<std::string>> GroupsUsingParameterGroup(const std::string& name) override;
  Status DeleteParameterGroup(const std::string& name, const std::string& event_message) override;
  Status ChangeParameterGroup(const ParameterGroupChange& c) override;
  Result<std::vector<ParameterApplyTask>> ListParameterApplyTasks() override;
  Status MarkParametersApplied(const std::string& node_id, int64_t generation,
                               std::optional<int64_t> expected) override;
  Status RecordParameterApplyError(const std::string& node_id, const std::string& error) override;
  Status MarkPendingReboot(const std::string& node_id) override;

 private:
  SqliteDb& db_;
};

}  // namespace

Status SqliteParameterGroupStore::CreateParameterGroup(const UserParameterGroup& g,
                                                       const std::vector<Tag>& tags, int max_groups,
                                                       const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  {
    // Built-in groups' rows (names with a dot; SwitchParameterGroup) do not count.
    auto s = db_.Prepare("SELECT SUM(instr(name, '.')=0), SUM(name=?) FROM cache_parameter_groups");
    if (!s) return s.error();
    s->Bind(1, g.name);
    auto row = s->Step();
    if (!row) return row.error();
    if (s->Int(1) > 0)
      return MakeError(Errc::kAlreadyExists, "CacheParameterGroup " + g.name + " already exists");
    if (s->Int(0) >= max_groups)
      return MakeError(Errc::kResourceExhausted, "The maximum number of cache parameter groups (" +
                                                     std::to_string(max_groups) +
                                                     ") has been reached.");
  }
  if (auto st = db_.Run(
          "INSERT INTO cache_parameter_groups(name, family, description, generation, "
          "create_time_ms) VALUES(?,?,?,0,?)",
          [&](SqliteStmt& s) {
            s.Bind(1, g.name).Bind(2, g.family).Bind(3, g.description).Bind(4, g.create_time_ms);
          });
      !st)
    return st;
  if (auto st = db_.Run("DELETE FROM parameter_group_tags WHERE group_name=?",
                        [&](SqliteStmt& s) { s.Bind(1, g.name); });
      !st)
    return st;
  int pos = 0;
  for (const auto& t : tags) {
    if (auto st =
            db_.Run("INSERT INTO parameter_group_tags(group_name, position, key, value) "
                    "VALUES(?,?,?,?)",
                    [&](SqliteStmt& s) {
                      s.Bind(1, g.name).Bind(2, int64_t{pos++}).Bind(3, t.key).Bind(4, t.value);
                    });
        !st)
      return st;
  }
  if (auto st = InsertEvent(db_, g.name, event_message, g.create_time_ms); !st) return st;
  return txn.Commit();
}

Result<std::vector<UserParameterGroup>> SqliteParameterGroupStore::ListParameterGroups() {
  std::lock_guard lk(db_.mu());
  std::vector<std::string> names;
  {
    // User groups only: a built-in group's row (its name has a dot, which user names cannot
    // have) only holds what its nodes are sent (SwitchParameterGroup).
    auto s = db_.Prepare(
        "SELECT name FROM cache_parameter_groups WHERE instr(name, '.')=0 ORDER BY name");
    if (!s) return s.error();
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      names.push_back(s->Text(0));
    }
  }
  std::vector<UserParameterGroup> out;
  for (const auto& n : names) {
    auto g = LoadParameterGroupLocked(db_, n);
    if (!g) return g.error();
    if (*g) out.push_back(std::move(**g));
  }
  return out;
}

Result<std::vector<std::string>> SqliteParameterGroupStore::GroupsUsingParameterGroup(
    const std::string& name) {
  std::lock_guard lk(db_.mu());
  auto s = db_.Prepare(
      "SELECT group_id FROM replication_groups WHERE lower(parameter_group)=? ORDER BY group_id");
  if (!s) return s.error();
  s->Bind(1, name);
  std::vector<std::string> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(s->Text(0));
  }
  return out;
}

Status SqliteParameterGroupStore::DeleteParameterGroup(const std::string& name,
                                                       const std::string& event_message) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  auto g = LoadParameterGroupLocked(db_, name);
  if (!g) return g.error();
  if (!*g) return MakeError(Errc::kNotFound, "CacheParameterGroup " + name + " not found.");
  {
    auto s = db_.Prepare(
        "SELECT group_id FROM replication_groups WHERE lower(parameter_group)=? LIMIT 1");
    if (!s) return s.error();
    s->Bind(1, name);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row)
      return MakeError(
          Errc::kFailedPrecondition,
          "Cache parameter group " + name + " is in use by replication group " + s->Text(0) + ".");
  }
  for (const char* sql : {"DELETE FROM cache_parameter_values WHERE group_name=?",
                          "DELETE FROM parameter_group_tags WHERE group_name=?",
                          "DELETE FROM cache_parameter_groups WHERE name=?"}) {
    if (auto st = db_.Run(sql, [&](SqliteStmt& s) { s.Bind(1, name); }); !st) return st;
  }
  if (auto st = InsertEvent(db_, name, event_message, NowMs()); !st) return st;
  return txn.Commit();
}

Status SqliteParameterGroupStore::ChangeParameterGroup(const ParameterGroupChange& c) {
  std::lock_guard lk(db_.mu());
  SqliteTxn txn(db_);
  if (!txn.begin_status()) return txn.begin_status();
  auto g = LoadParameterGroupLocked(db_, c.name);
  if (!g) return g.error();
  if (!*g) return MakeError(Errc::kNotFound, "CacheParameterGroup " + c.name + " not found.");
  auto upsert = [&](const std::string& k, const std::string& v, const char* source) {
    return db_.Run(
        "INSERT INTO cache_parameter_values(group_name, name, value, source) "
        "VALUES(?,?,?,?) ON CONFLICT(group_name, name) DO UPDATE SET "
        "value=excluded.value, source=excluded.source",
        [&](SqliteStmt& s) { s.Bind(1, c.name).Bind(2, k).Bind(3, v).Bind(4, source); });
  };
  for (const auto& [k, v] : c.set)
    if (auto st = upsert(k, v, "user"); !st) return st;
  for (const auto& [k, v] : c.reset)
    if (auto st = upsert(k, v, "reset"); !st) return st;
  if (auto st = db_.Run("UPDATE cache_parameter_groups SET generation=(SELECT MAX(generation) "
                        "FROM cache_parameter_groups)+1 WHERE name=?",
                        [&](SqliteStmt& s) { s.Bind(1, c.name); });
      !st)
    return st;
  if (c.requires_reboot) {
    if (auto st =
            db_.Run("UPDATE nodes SET param_pending_reboot=1 WHERE group_id IN (SELECT group_id "
                    "FROM replication_groups WHERE lower(parameter_group)=?)",
                    [&](SqliteStmt& s) { s.Bind(1, c.name); });
        !st)
      return st;
  }
  if (auto st = InsertEvent(db_, c.name, c.event_message, NowMs()); !st) return st;
  return txn.Commit();
}

Result<std::vector<ParameterApplyTask>> SqliteParameterGroupStore::ListParameterApplyTasks() {
  struct Row {
    std::string node_id, group_id, pg;
    int64_t generation;
    int64_t node_generation;
    bool pending_reboot;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lk(db_.mu());
    auto s = db_.Prepare(
        // A built-in group without a row is at generation 0 (its nodes are due only when
        // re-specced: MarkNodesRespec). While a modify-failover runs, its group waits for it.
        "SELECT n.node_id, n.group_id, lower(g.parameter_group), COALESCE(p.generation, 0), "
        "n.param_generation, n.param_pending_reboot FROM nodes n "
        "JOIN replication_groups g ON g.group_id=n.group_id "
        "LEFT JOIN cache_parameter_groups p ON p.name=lower(g.parameter_group) "
        "WHERE n.status='available' AND g.status IN ('available','modifying') "
        "AND n.param_generation != COALESCE(p.generation, 0) AND NOT EXISTS (SELECT 1 FROM "
        "operations o WHERE o.group_id=n.group_id AND o.kind IN ('rolling-restart', "
        "'modify-failover') "
        "AND o.state NOT IN ('succeeded','failed')) ORDER BY n.node_id");
    if (!s) return s.error();
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      rows.push_back(Row{s->Text(0), s->Text(1), s->Text(2), s->Int(3), s->Int(4), s->Int(5) != 0});
    }
  }
  std::vector<ParameterApplyTask> out;
  std::map<std::string, std::optional<GroupView>> groups;
  std::map<std::string, std::optional<UserParameterGroup>> pgs;
  for (const auto& r : rows) {
    if (!groups.count(r.group_id)) {
      std::lock_guard lk(db_.mu());
      auto v = FindGroupLocked(db_, r.group_id);
      if (!v) return v.error();
      groups[r.group_id] = std::move(*v);
    }
    if (!pgs.count(r.pg)) {
      std::lock_guard lk(db_.mu());
      auto p = LoadParameterGroupLocked(db_, r.pg);
      if (!p) return p.error();
      pgs[r.pg] = std::move(*p);
    }
    const auto& view = groups[r.group_id];
    const auto& pg = pgs[r.pg];
    if (!view) continue;
    for (const auto& n : view->nodes) {
      if (n.node_id != r.node_id) continue;
      ParameterApplyTask t;
      t.group = view->group;
      t.node = n;
      t.parameter_group = r.pg;
      t.generation = r.generation;
      t.node_generation = r.node_generation;
      t.node_pending_reboot = r.pending_reboot;
      if (pg) {
        t.config = pg->reset;
        for (const auto& [k, v] : pg->values) t.config[k] = v;
      }
      out.push_back(std::move(t));
    }
  }
  return out;
}

Status SqliteParameterGroupStore::MarkParametersApplied(const std::string& node_id,
                                                        int64_t generation,
                                                        std::optional<int64_t> expected) {
  std::lock_guard lk(db_.mu());
  if (expected)
    return db_.Run(
        "UPDATE nodes SET param_generation=?, param_last_error='' WHERE node_id=? "
        "AND param_generation=?",
        [&](SqliteStmt& s) { s.Bind(1, generation).Bind(2, node_id).Bind(3, *expected); });
  return db_.Run("UPDATE nodes SET param_generation=?, param_last_error='' WHERE node_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, generation).Bind(2, node_id); });
}

Status SqliteParameterGroupStore::RecordParameterApplyError(const std::string& node_id,
                                                            const std::string& error) {
  std::lock_guard lk(db_.mu());
  return db_.Run("UPDATE nodes SET param_last_error=? WHERE node_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, error).Bind(2, node_id); });
}

Status SqliteParameterGroupStore::MarkPendingReboot(const std::string& node_id) {
  std::lock_guard lk(db_.mu());
  return db_.Run("UPDATE nodes SET param_pending_reboot=1 WHERE node_id=?",
                 [&](SqliteStmt& s) { s.Bind(1, node_id); });
}

ParameterGroupStore& ParameterGroupStoreOf(Store& base) {
  return base.Feature<ParameterGroupStore>(
      [](SqliteDb& db) -> std::unique_ptr<ParameterGroupStore> {
        return std::make_unique<SqliteParameterGroupStore>(db);
      });
}

}  // namespace cf::orchestrator
