#include "orchestrator/store/store.h"

#include <algorithm>
#include <map>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {

Store::Store() = default;
Store::~Store() = default;

Status Store::Open(const std::string& path) {
  db_ = std::make_unique<SqliteDb>();
  if (auto st = db_->Open(path); !st) return st;
  return Migrate();
}

// ---------------------------------------------------------------------------------------------
// hosts

Status Store::UpsertHost(const HostRecord& h) {
  std::lock_guard lk(db_->mu());
  return db_->Run(
      "INSERT INTO hosts(host_id, address, az, agent_endpoint, port_range_start, port_range_end, "
      "max_nodes, redis_versions, boot_id, registered_ms, last_heartbeat_ms, state, "
      "warm_cluster_ports) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,'up',?) ON CONFLICT(host_id) DO UPDATE SET "
      "address=excluded.address, az=excluded.az, agent_endpoint=excluded.agent_endpoint, "
      "port_range_start=excluded.port_range_start, port_range_end=excluded.port_range_end, "
      "max_nodes=excluded.max_nodes, redis_versions=excluded.redis_versions, "
      "boot_id=excluded.boot_id, registered_ms=excluded.registered_ms, "
      "last_heartbeat_ms=excluded.last_heartbeat_ms, state='up', "
      "warm_cluster_ports=excluded.warm_cluster_ports",
      [&](SqliteStmt& s) {
        s.Bind(1, h.host_id)
            .Bind(2, h.address)
            .Bind(3, h.az)
            .Bind(4, h.agent_endpoint)
            .Bind(5, int64_t{h.port_range_start})
            .Bind(6, int64_t{h.port_range_end})
            .Bind(7, int64_t{h.max_nodes})
            .Bind(8, ToJsonArray(h.redis_versions))
            .Bind(9, h.boot_id)
            .Bind(10, h.registered_ms)
            .Bind(11, h.last_heartbeat_ms)
            .Bind(12, ToJsonPorts(h.warm_cluster_ports));
      });
}

Result<bool> Store::TouchHost(const std::string& host_id, const std::string& boot_id,
                              int64_t now_ms, const std::vector<uint32_t>& warm_cluster_ports) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "UPDATE hosts SET last_heartbeat_ms=?, state='up', warm_cluster_ports=? "
      "WHERE host_id=? AND boot_id=?");
  if (!s) return s.error();
  s->Bind(1, now_ms).Bind(2, ToJsonPorts(warm_cluster_ports)).Bind(3, host_id).Bind(4, boot_id);
  if (auto st = s->Run(); !st) return st.error();
  return s->Changes() > 0;
}

Result<std::vector<HostRecord>> Store::ListHosts() {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(std::string("SELECT ") + kHostColumns + " FROM hosts ORDER BY host_id");
  if (!s) return s.error();
  std::vector<HostRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(ReadHost(*s));
  }
  return out;
}

Result<std::optional<HostRecord>> Store::GetHost(const std::string& host_id) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(std::string("SELECT ") + kHostColumns + " FROM hosts WHERE host_id=?");
  if (!s) return s.error();
  s->Bind(1, host_id);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<HostRecord>();
  return std::optional<HostRecord>(ReadHost(*s));
}

Result<std::vector<std::string>> Store::MarkStaleHostsDown(int64_t now_ms, int64_t down_after_ms) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  std::vector<std::string> ids;
  {
    auto s = db_->Prepare("SELECT host_id FROM hosts WHERE state='up' AND last_heartbeat_ms < ?");
    if (!s) return s.error();
    s->Bind(1, now_ms - down_after_ms);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      ids.push_back(s->Text(0));
    }
  }
  for (const auto& id : ids) {
    if (auto st = db_->Run("UPDATE hosts SET state='down' WHERE host_id=?",
                           [&](SqliteStmt& s) { s.Bind(1, id); });
        !st)
      return st.error();
  }
  if (auto st = txn.Commit(); !st) return st.error();
  return ids;
}

Result<std::vector<std::string>> Store::RecordObservations(
    const std::string& host_id, const std::vector<std::pair<std::string, ObservedNode>>& obs) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  std::vector<std::string> unknown;
  for (const auto& [node_id, o] : obs) {
    auto stmt = db_->Prepare(
        "UPDATE nodes SET obs_known=1, obs_state=?, obs_role=?, obs_cluster_node_id=?, "
        "obs_master_host=?, obs_master_port=?, obs_master_cluster_node_id=?, "
        "obs_master_link_up=?, obs_slots=?, obs_cluster_state=?, obs_known_nodes=?, "
        "obs_has_open_slots=?, obs_repl_offset=?, obs_used_memory=?, obs_keys=?, obs_restarts=?, "
        "obs_redis_version=?, obs_last_error=?, obs_ms=? WHERE node_id=? AND host_id=?");
    if (!stmt) return stmt.error();
    stmt->Bind(1, o.state)
        .Bind(2, o.role)
        .Bind(3, o.cluster_node_id)
        .Bind(4, o.master_host)
        .Bind(5, int64_t{o.master_port})
        .Bind(6, o.master_cluster_node_id)
        .Bind(7, int64_t{o.master_link_up ? 1 : 0})
        .Bind(8, FormatSlotRanges(NormalizeSlotRanges(o.slots)))
        .Bind(9, o.cluster_state)
        .Bind(10, int64_t{o.cluster_known_nodes})
        .Bind(11, int64_t{o.has_open_slots ? 1 : 0})
        .Bind(12, o.repl_offset)
        .Bind(13, static_cast<int64_t>(o.used_memory))
        .Bind(14, static_cast<int64_t>(o.keys))
        .Bind(15, int64_t{o.restarts})
        .Bind(16, o.redis_version)
        .Bind(17, o.last_error)
        .Bind(18, o.observed_ms)
        .Bind(19, node_id)
        .Bind(20, host_id);
    if (auto st = stmt->Run(); !st) return st.error();
    if (stmt->Changes() == 0) unknown.push_back(node_id);
  }
  if (auto st = txn.Commit(); !st) return st.error();
  return unknown;
}

// ---------------------------------------------------------------------------------------------
// replication groups

Result<bool> Store::GroupExists(const std::string& group_id) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare("SELECT 1 FROM replication_groups WHERE group_id=?");
  if (!s) return s.error();
  s->Bind(1, group_id);
  auto row = s->Step();
  if (!row) return row.error();
  return *row;
}

Result<int64_t> Store::CreateGroup(
    NewGroup g,
    const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();

  {
    auto s = db_->Prepare("SELECT 1 FROM replication_groups WHERE group_id=?");
    if (!s) return s.error();
    s->Bind(1, g.group.id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row)
      return MakeError(Errc::kAlreadyExists,
                       "Replication group " + g.group.id + " already exists.");
  }

  // Fleet snapshot for placement, consistent with the writes below.
  auto snap = ReadFleetLocked(*db_);
  if (!snap) return snap.error();
  if (auto st = place(*snap, g.nodes); !st) return st.error();

  const ReplicationGroupRecord& r = g.group;
  if (auto st = db_->Run(std::string("INSERT INTO replication_groups(") + kGroupColumns +
                             ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         [&](SqliteStmt& s) {
                           int i = 1;
                           s.Bind(i++, r.id);
                           s.Bind(i++, r.description);
                           s.Bind(i++, GroupStatusName(r.status));
                           s.Bind(i++, int64_t{r.cluster_enabled});
                           s.Bind(i++, int64_t{r.automatic_failover});
                           s.Bind(i++, int64_t{r.multi_az});
                           s.Bind(i++, r.cache_node_type);
                           s.Bind(i++, static_cast<int64_t>(r.maxmemory_bytes));
                           s.Bind(i++, r.engine);
                           s.Bind(i++, r.engine_version);
                           s.Bind(i++, r.parameter_group);
                           s.Bind(i++, r.subnet_group);
                           s.Bind(i++, ToJsonArray(r.security_group_ids));
                           s.Bind(i++, r.preferred_maintenance_window);
                           s.Bind(i++, r.notification_topic_arn);
                           s.Bind(i++, int64_t{r.auto_minor_version_upgrade});
                           s.Bind(i++, int64_t{r.snapshot_retention_limit});
                           s.Bind(i++, r.snapshot_window);
                           s.Bind(i++, r.snapshotting_cluster_id);
                           s.Bind(i++, int64_t{r.port});
                           s.Bind(i++, r.network_type);
                           s.Bind(i++, r.ip_discovery);
                           s.Bind(i++, int64_t{r.data_tiering});
                           s.Bind(i++, int64_t{r.transit_encryption});
                           s.Bind(i++, int64_t{r.at_rest_encryption});
                           s.Bind(i++, r.create_time_ms);
                           s.Bind(i++, r.updated_ms);
                           s.Bind(i++, r.notification_topic_status);
                         });
      !st)
    return st.error();

  for (const auto& ng : g.node_groups) {
    if (auto st = db_->Run("INSERT INTO node_groups(group_id, node_group_id, slots, status) "
                           "VALUES(?,?,?,?)",
                           [&](SqliteStmt& s) {
                             s.Bind(1, r.id)
                                 .Bind(2, ng.node_group_id)
                                 .Bind(3, FormatSlotRanges(ng.slots))
                                 .Bind(4, ng.status);
                           });
        !st)
      return st.error();
  }

  for (const auto& n : g.nodes) {
    if (auto st = InsertNodeLocked(*db_, r.id, n); !st) return st.error();
  }

  int pos = 0;
  for (const auto& t : g.tags) {
    if (auto st =
            db_->Run("INSERT INTO tags(group_id, position, key, value) VALUES(?,?,?,?)",
                     [&](SqliteStmt& s) {
                       s.Bind(1, r.id).Bind(2, int64_t{pos++}).Bind(3, t.key).Bind(4, t.value);
                     });
        !st)
      return st.error();
  }

  g.operation.group_id = r.id;
  auto op_id = InsertOp(*db_, g.operation);
  if (!op_id) return op_id.error();
  if (auto st = AddEventLocked(*db_, r.id, "replication-group", g.event_message, r.create_time_ms);
      !st)
    return st.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return *op_id;
}

Result<std::optional<GroupView>> Store::GetGroup(const std::string& group_id) {
  std::lock_guard lk(db_->mu());
  return FindGroupLocked(*db_, group_id);
}

Result<std::vector<GroupView>> Store::ListGroups(const std::string& after_id, int limit) {
  std::lock_guard lk(db_->mu());
  std::vector<std::string> ids;
  {
    auto s = db_->Prepare(
        "SELECT group_id FROM replication_groups WHERE group_id > ? ORDER BY group_id LIMIT ?");
    if (!s) return s.error();
    s->Bind(1, after_id).Bind(2, int64_t{limit});
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      ids.push_back(s->Text(0));
    }
  }
  std::vector<GroupView> out;
  for (const auto& id : ids) {
    auto v = LoadGroupLocked(*db_, id);
    if (!v) return v.error();
    out.push_back(std::move(*v));
  }
  return out;
}

Result<std::pair<GroupView, int64_t>> Store::BeginDelete(const std::string& group_id,
                                                         OperationRecord op,
                                                         const std::string& event_message) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadGroupLocked(*db_, group_id);
  if (!v) return v.error();
  GroupStatus st = v->group.status;
  if (st != GroupStatus::kAvailable && st != GroupStatus::kCreateFailed)
    return MakeError(Errc::kFailedPrecondition, "Replication group must be in available state");
  {
    auto s = db_->Prepare(
        "SELECT op_id FROM operations WHERE group_id=? AND state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row)
      return MakeError(Errc::kFailedPrecondition, "Replication group must be in available state");
  }
  const int64_t now = op.created_ms;
  if (auto r = db_->Run("UPDATE replication_groups SET status='deleting', updated_ms=? "
                        "WHERE group_id=?",
                        [&](SqliteStmt& s) { s.Bind(1, now).Bind(2, group_id); });
      !r)
    return r.error();
  if (auto r = db_->Run("UPDATE node_groups SET status='deleting' WHERE group_id=?",
                        [&](SqliteStmt& s) { s.Bind(1, group_id); });
      !r)
    return r.error();
  if (auto r = db_->Run("UPDATE nodes SET status='deleting' WHERE group_id=? AND status!='stopped'",
                        [&](SqliteStmt& s) { s.Bind(1, group_id); });
      !r)
    return r.error();
  op.group_id = group_id;
  auto op_id = InsertOp(*db_, op);
  if (!op_id) return op_id.error();
  if (auto r = AddEventLocked(*db_, group_id, "replication-group", event_message, now); !r)
    return r.error();
  auto after = LoadGroupLocked(*db_, group_id);
  if (!after) return after.error();
  if (auto r = txn.Commit(); !r) return r.error();
  return std::make_pair(std::move(*after), *op_id);
}

// ---------------------------------------------------------------------------------------------
// nodes

Status Store::SetNodeClusterId(const std::string& node_id, const std::string& cluster_node_id) {
  std::lock_guard lk(db_->mu());
  return db_->Run("UPDATE nodes SET cluster_node_id=? WHERE node_id=?",
                  [&](SqliteStmt& s) { s.Bind(1, cluster_node_id).Bind(2, node_id); });
}

Status Store::SetNodeStatus(const std::string& node_id, const std::string& status) {
  std::lock_guard lk(db_->mu());
  return db_->Run("UPDATE nodes SET status=? WHERE node_id=?",
                  [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, node_id); });
}

Result<uint32_t> Store::ReallocateNodePort(const std::string& node_id, uint32_t bad_port,
                                           int64_t block_until_ms) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  std::string host_id;
  uint32_t current = 0;
  {
    auto s = db_->Prepare("SELECT host_id, port FROM nodes WHERE node_id=?");
    if (!s) return s.error();
    s->Bind(1, node_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) return MakeError(Errc::kNotFound, "node " + node_id + " not found");
    host_id = s->Text(0);
    current = static_cast<uint32_t>(s->Int(1));
  }
  if (current != bad_port) return current;  // already moved (a replay of this step)
  uint32_t start = 0, end = 0;
  {
    auto s = db_->Prepare("SELECT port_range_start, port_range_end FROM hosts WHERE host_id=?");
    if (!s) return s.error();
    s->Bind(1, host_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) return MakeError(Errc::kNotFound, "host " + host_id + " not found");
    start = static_cast<uint32_t>(s->Int(0));
    end = static_cast<uint32_t>(s->Int(1));
  }
  const int64_t now = NowMs();
  // Free the node's allocation and block the port.
  if (auto st = db_->Run("DELETE FROM port_allocations WHERE host_id=? AND port=?",
                         [&](SqliteStmt& s) { s.Bind(1, host_id).Bind(2, int64_t{bad_port}); });
      !st)
    return st.error();
  if (auto st = db_->Run("INSERT INTO port_allocations(host_id, port, node_id, blocked_until_ms) "
                         "VALUES(?,?,NULL,?)",
                         [&](SqliteStmt& s) {
                           s.Bind(1, host_id).Bind(2, int64_t{bad_port}).Bind(3, block_until_ms);
                         });
      !st)
    return st.error();
  std::vector<uint32_t> used;
  {
    auto s = db_->Prepare(
        "SELECT port FROM port_allocations WHERE host_id=? AND "
        "(node_id IS NOT NULL OR blocked_until_ms > ?)");
    if (!s) return s.error();
    s->Bind(1, host_id).Bind(2, now);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      used.push_back(static_cast<uint32_t>(s->Int(0)));
    }
  }
  used.push_back(bad_port);  // even if its block is already over
  auto port = LowestFreePort(start, end, used);
  if (!port) return MakeError(Errc::kResourceExhausted, "no free port left on host " + host_id);
  if (auto st =
          db_->Run("DELETE FROM port_allocations WHERE host_id=? AND port=? AND node_id IS NULL",
                   [&](SqliteStmt& s) { s.Bind(1, host_id).Bind(2, int64_t{*port}); });
      !st)
    return st.error();
  if (auto st = db_->Run(
          "INSERT INTO port_allocations(host_id, port, node_id) VALUES(?,?,?)",
          [&](SqliteStmt& s) { s.Bind(1, host_id).Bind(2, int64_t{*port}).Bind(3, node_id); });
      !st)
    return st.error();
  if (auto st = db_->Run("UPDATE nodes SET port=? WHERE node_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, int64_t{*port}).Bind(2, node_id); });
      !st)
    return st.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return *port;
}

// ---------------------------------------------------------------------------------------------
// parameter state other features read

Result<std::optional<UserParameterGroup>> Store::GetParameterGroup(const std::string& name) {
  std::lock_guard lk(db_->mu());
  return LoadParameterGroupLocked(*db_, name);
}

Status Store::MarkNodesRespec(const std::string& group_id) {
  std::lock_guard lk(db_->mu());
  return db_->Run("UPDATE nodes SET param_generation=-1 WHERE group_id=?",
                  [&](SqliteStmt& s) { s.Bind(1, group_id); });
}

Result<std::map<std::string, std::string>> Store::ParameterApplyStatuses() {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "SELECT n.node_id, n.param_pending_reboot, n.param_generation, "
      "COALESCE(p.generation, 0) FROM nodes n "
      "JOIN replication_groups g ON g.group_id=n.group_id "
      "LEFT JOIN cache_parameter_groups p ON p.name=lower(g.parameter_group)");
  if (!s) return s.error();
  std::map<std::string, std::string> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out[s->Text(0)] = s->Int(1)                ? "pending-reboot"
                      : s->Int(2) != s->Int(3) ? "applying"
                                               : "in-sync";
  }
  return out;
}

}  // namespace cf::orchestrator
