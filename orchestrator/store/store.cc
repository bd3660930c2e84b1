#include "orchestrator/store/store.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "orchestrator/store/sqlite_db.h"

namespace cf::orchestrator {
namespace {

using nlohmann::json;

// Migrations: index i brings the schema from version i to i + 1. Never edit a released entry;
// append a new one.
const char* const kMigrations[] = {
    // v1: the foundation issue.
    R"sql(
CREATE TABLE hosts(
  host_id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  az TEXT NOT NULL,
  agent_endpoint TEXT NOT NULL,
  port_range_start INTEGER NOT NULL,
  port_range_end INTEGER NOT NULL,
  max_nodes INTEGER NOT NULL DEFAULT 0,
  redis_versions TEXT NOT NULL DEFAULT '[]',
  boot_id TEXT NOT NULL,
  registered_ms INTEGER NOT NULL,
  last_heartbeat_ms INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('up', 'down'))
);
CREATE TABLE replication_groups(
  group_id TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  status TEXT NOT NULL,
  cluster_enabled INTEGER NOT NULL,
  automatic_failover INTEGER NOT NULL,
  multi_az INTEGER NOT NULL,
  cache_node_type TEXT NOT NULL,
  maxmemory_bytes INTEGER NOT NULL,
  engine TEXT NOT NULL,
  engine_version TEXT NOT NULL,
  parameter_group TEXT NOT NULL,
  subnet_group TEXT NOT NULL,
  security_group_ids TEXT NOT NULL,
  preferred_maintenance_window TEXT NOT NULL,
  notification_topic_arn TEXT NOT NULL,
  auto_minor_version_upgrade INTEGER NOT NULL,
  snapshot_retention_limit INTEGER NOT NULL,
  snapshot_window TEXT NOT NULL,
  snapshotting_cluster_id TEXT NOT NULL,
  port INTEGER NOT NULL,
  network_type TEXT NOT NULL,
  ip_discovery TEXT NOT NULL,
  data_tiering INTEGER NOT NULL,
  transit_encryption INTEGER NOT NULL,
  at_rest_encryption INTEGER NOT NULL,
  create_time_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE node_groups(
  group_id TEXT NOT NULL REFERENCES replication_groups(group_id) ON DELETE CASCADE,
  node_group_id TEXT NOT NULL,
  slots TEXT NOT NULL,
  status TEXT NOT NULL,
  PRIMARY KEY (group_id, node_group_id)
);
CREATE TABLE nodes(
  node_id TEXT PRIMARY KEY,
  group_id TEXT NOT NULL REFERENCES replication_groups(group_id) ON DELETE CASCADE,
  node_group_id TEXT NOT NULL,
  member_index INTEGER NOT NULL,
  host_id TEXT NOT NULL REFERENCES hosts(host_id),
  port INTEGER NOT NULL,
  az TEXT NOT NULL,
  desired_role TEXT NOT NULL CHECK (desired_role IN ('primary', 'replica')),
  status TEXT NOT NULL,
  cluster_node_id TEXT NOT NULL DEFAULT '',
  create_time_ms INTEGER NOT NULL,
  obs_known INTEGER NOT NULL DEFAULT 0,
  obs_state TEXT NOT NULL DEFAULT '',
  obs_role TEXT NOT NULL DEFAULT '',
  obs_cluster_node_id TEXT NOT NULL DEFAULT '',
  obs_master_host TEXT NOT NULL DEFAULT '',
  obs_master_port INTEGER NOT NULL DEFAULT 0,
  obs_master_cluster_node_id TEXT NOT NULL DEFAULT '',
  obs_master_link_up INTEGER NOT NULL DEFAULT 0,
  obs_slots TEXT NOT NULL DEFAULT '',
  obs_cluster_state TEXT NOT NULL DEFAULT '',
  obs_known_nodes INTEGER NOT NULL DEFAULT 0,
  obs_has_open_slots INTEGER NOT NULL DEFAULT 0,
  obs_repl_offset INTEGER NOT NULL DEFAULT 0,
  obs_used_memory INTEGER NOT NULL DEFAULT 0,
  obs_keys INTEGER NOT NULL DEFAULT 0,
  obs_restarts INTEGER NOT NULL DEFAULT 0,
  obs_redis_version TEXT NOT NULL DEFAULT '',
  obs_last_error TEXT NOT NULL DEFAULT '',
  obs_ms INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (group_id, node_group_id) REFERENCES node_groups(group_id, node_group_id)
    ON DELETE CASCADE
);
CREATE INDEX nodes_by_group ON nodes(group_id);
CREATE INDEX nodes_by_host ON nodes(host_id);
CREATE TABLE port_allocations(
  host_id TEXT NOT NULL REFERENCES hosts(host_id),
  port INTEGER NOT NULL,
  node_id TEXT UNIQUE REFERENCES nodes(node_id) ON DELETE CASCADE,
  blocked_until_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (host_id, port)
);
CREATE TABLE tags(
  group_id TEXT NOT NULL REFERENCES replication_groups(group_id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (group_id, key)
);
CREATE TABLE operations(
  op_id INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  topology TEXT NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  payload TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX operations_one_active_per_group ON operations(group_id)
  WHERE state NOT IN ('succeeded', 'failed');
CREATE TABLE events(
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  source_id TEXT NOT NULL,
  source_type TEXT NOT NULL,
  message TEXT NOT NULL,
  date_ms INTEGER NOT NULL
);
CREATE INDEX events_by_source ON events(source_id, date_ms);
)sql",
    // v2: the agents' warm pool ports (JSON array), refreshed by every heartbeat.
    R"sql(
ALTER TABLE hosts ADD COLUMN warm_cluster_ports TEXT NOT NULL DEFAULT '[]';
)sql",
    // v3: resharding. The planned slot moves with their persisted progress, and the highest
    // ProgressPercentage a reshard has shown (x1000).
    R"sql(
CREATE TABLE slot_moves(
  op_id INTEGER NOT NULL,
  move_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  from_node_group TEXT NOT NULL,
  to_node_group TEXT NOT NULL,
  slots TEXT NOT NULL,
  slots_done TEXT NOT NULL DEFAULT '',
  keys_estimate INTEGER NOT NULL DEFAULT 0,
  keys_total INTEGER NOT NULL DEFAULT -1,
  keys_moved INTEGER NOT NULL DEFAULT 0,
  bytes_moved INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'retrying', 'done')),
  retries INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  started_ms INTEGER NOT NULL DEFAULT 0,
  updated_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (op_id, move_id)
);
ALTER TABLE operations ADD COLUMN progress_milli INTEGER NOT NULL DEFAULT 0;
)sql",
    // v4: user-created cache parameter groups (values set or reset by Modify/Reset), the
    // parameter generation each node runs, and tags of cache clusters and parameter groups.
    R"sql(
CREATE TABLE cache_parameter_groups(
  name TEXT PRIMARY KEY,
  family TEXT NOT NULL,
  description TEXT NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0,
  create_time_ms INTEGER NOT NULL
);
CREATE TABLE cache_parameter_values(
  group_name TEXT NOT NULL REFERENCES cache_parameter_groups(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('user', 'reset')),
  PRIMARY KEY (group_name, name)
);
ALTER TABLE nodes ADD COLUMN param_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN param_pending_reboot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN param_last_error TEXT NOT NULL DEFAULT '';
CREATE TABLE cluster_tags(
  node_id TEXT NOT NULL REFERENCES nodes(node_id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (node_id, key)
);
CREATE TABLE parameter_group_tags(
  group_name TEXT NOT NULL,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (group_name, key)
);
)sql",
    // v5: standalone cache clusters (DeleteReplicationGroup RetainPrimaryCluster keeps the
    // primary; store_standalone.cc). Its port stays reserved as a block with no node.
    R"sql(
CREATE TABLE standalone_clusters(
  cluster_id TEXT PRIMARY KEY,
  former_group_id TEXT NOT NULL,
  host_id TEXT NOT NULL REFERENCES hosts(host_id),
  port INTEGER NOT NULL,
  az TEXT NOT NULL,
  status TEXT NOT NULL,
  cache_node_type TEXT NOT NULL,
  maxmemory_bytes INTEGER NOT NULL,
  engine TEXT NOT NULL,
  engine_version TEXT NOT NULL,
  parameter_group TEXT NOT NULL,
  preferred_maintenance_window TEXT NOT NULL,
  snapshot_window TEXT NOT NULL,
  snapshot_retention_limit INTEGER NOT NULL,
  security_group_ids TEXT NOT NULL,
  notification_topic_arn TEXT NOT NULL,
  auto_minor_version_upgrade INTEGER NOT NULL,
  create_time_ms INTEGER NOT NULL
);
)sql",
    // v6: NotificationTopicStatus (ModifyReplicationGroup; shown in DescribeCacheClusters'
    // NotificationConfiguration).
    R"sql(
ALTER TABLE replication_groups ADD COLUMN notification_topic_status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE standalone_clusters ADD COLUMN notification_topic_status TEXT NOT NULL DEFAULT 'active';
)sql",
    // v7: ModifyReplicationGroup changes waiting for the maintenance window (store_pending.cc).
    R"sql(
CREATE TABLE pending_modifications(
  group_id TEXT NOT NULL REFERENCES replication_groups(group_id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  request_id INTEGER NOT NULL,
  requested_ms INTEGER NOT NULL,
  PRIMARY KEY (group_id, name)
);
)sql",
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

std::string ToJsonArray(const std::vector<std::string>& v) { return json(v).dump(); }

std::vector<std::string> FromJsonArray(const std::string& s) {
  auto j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& e : j)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

std::string ToJsonPorts(const std::vector<uint32_t>& v) { return json(v).dump(); }

std::vector<uint32_t> FromJsonPorts(const std::string& s) {
  auto j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  std::vector<uint32_t> out;
  if (!j.is_array()) return out;
  for (const auto& e : j)
    if (e.is_number_unsigned()) out.push_back(e.get<uint32_t>());
  return out;
}

SlotRanges ParseSlotsColumn(const std::string& s) {
  if (s.empty()) return {};
  auto r = ParseSlotRanges(s);
  return r ? *r : SlotRanges{};
}

const char* TopologyName(Topology t) {
  return t == Topology::kClusterModeEnabled ? "cluster-mode-enabled" : "cluster-mode-disabled";
}

constexpr char kHostColumns[] =
    "host_id, address, az, agent_endpoint, port_range_start, port_range_end, max_nodes, "
    "redis_versions, boot_id, registered_ms, last_heartbeat_ms, state, warm_cluster_ports";

HostRecord ReadHost(const SqliteStmt& s) {
  HostRecord h;
  h.host_id = s.Text(0);
  h.address = s.Text(1);
  h.az = s.Text(2);
  h.agent_endpoint = s.Text(3);
  h.port_range_start = static_cast<uint32_t>(s.Int(4));
  h.port_range_end = static_cast<uint32_t>(s.Int(5));
  h.max_nodes = static_cast<uint32_t>(s.Int(6));
  h.redis_versions = FromJsonArray(s.Text(7));
  h.boot_id = s.Text(8);
  h.registered_ms = s.Int(9);
  h.last_heartbeat_ms = s.Int(10);
  h.state = s.Text(11) == "down" ? HostState::kDown : HostState::kUp;
  h.warm_cluster_ports = FromJsonPorts(s.Text(12));
  return h;
}

constexpr char kGroupColumns[] =
    "group_id, description, status, cluster_enabled, automatic_failover, multi_az, "
    "cache_node_type, maxmemory_bytes, engine, engine_version, parameter_group, subnet_group, "
    "security_group_ids, preferred_maintenance_window, notification_topic_arn, "
    "auto_minor_version_upgrade, snapshot_retention_limit, snapshot_window, "
    "snapshotting_cluster_id, port, network_type, ip_discovery, data_tiering, "
    "transit_encryption, at_rest_encryption, create_time_ms, updated_ms, notification_topic_status";

ReplicationGroupRecord ReadGroup(const SqliteStmt& s) {
  ReplicationGroupRecord g;
  int i = 0;
  g.id = s.Text(i++);
  g.description = s.Text(i++);
  g.status = ParseGroupStatus(s.Text(i++)).value_or(GroupStatus::kCreating);
  g.cluster_enabled = s.Int(i++) != 0;
  g.automatic_failover = s.Int(i++) != 0;
  g.multi_az = s.Int(i++) != 0;
  g.cache_node_type = s.Text(i++);
  g.maxmemory_bytes = static_cast<uint64_t>(s.Int(i++));
  g.engine = s.Text(i++);
  g.engine_version = s.Text(i++);
  g.parameter_group = s.Text(i++);
  g.subnet_group = s.Text(i++);
  g.security_group_ids = FromJsonArray(s.Text(i++));
  g.preferred_maintenance_window = s.Text(i++);
  g.notification_topic_arn = s.Text(i++);
  g.auto_minor_version_upgrade = s.Int(i++) != 0;
  g.snapshot_retention_limit = static_cast<int>(s.Int(i++));
  g.snapshot_window = s.Text(i++);
  g.snapshotting_cluster_id = s.Text(i++);
  g.port = static_cast<int>(s.Int(i++));
  g.network_type = s.Text(i++);
  g.ip_discovery = s.Text(i++);
  g.data_tiering = s.Int(i++) != 0;
  g.transit_encryption = s.Int(i++) != 0;
  g.at_rest_encryption = s.Int(i++) != 0;
  g.create_time_ms = s.Int(i++);
  g.updated_ms = s.Int(i++);
  g.notification_topic_status = s.Text(i++);
  return g;
}

constexpr char kNodeColumns[] =
    "node_id, group_id, node_group_id, member_index, host_id, port, az, desired_role, status, "
    "cluster_node_id, create_time_ms, obs_known, obs_state, obs_role, obs_cluster_node_id, "
    "obs_master_host, obs_master_port, obs_master_cluster_node_id, obs_master_link_up, "
    "obs_slots, obs_cluster_state, obs_known_nodes, obs_has_open_slots, obs_repl_offset, "
    "obs_used_memory, obs_keys, obs_restarts, obs_redis_version, obs_last_error, obs_ms";

NodeRecord ReadNode(const SqliteStmt& s) {
  NodeRecord n;
  int i = 0;
  n.node_id = s.Text(i++);
  n.group_id = s.Text(i++);
  n.node_group_id = s.Text(i++);
  n.member_index = static_cast<int>(s.Int(i++));
  n.host_id = s.Text(i++);
  n.port = static_cast<uint32_t>(s.Int(i++));
  n.az = s.Text(i++);
  n.desired_role = s.Text(i++) == "replica" ? NodeRole::kReplica : NodeRole::kPrimary;
  n.status = s.Text(i++);
  n.cluster_node_id = s.Text(i++);
  n.create_time_ms = s.Int(i++);
  ObservedNode& o = n.observed;
  o.known = s.Int(i++) != 0;
  o.state = s.Text(i++);
  o.role = s.Text(i++);
  o.cluster_node_id = s.Text(i++);
  o.master_host = s.Text(i++);
  o.master_port = static_cast<uint32_t>(s.Int(i++));
  o.master_cluster_node_id = s.Text(i++);
  o.master_link_up = s.Int(i++) != 0;
  o.slots = ParseSlotsColumn(s.Text(i++));
  o.cluster_state = s.Text(i++);
  o.cluster_known_nodes = static_cast<uint32_t>(s.Int(i++));
  o.has_open_slots = s.Int(i++) != 0;
  o.repl_offset = s.Int(i++);
  o.used_memory = static_cast<uint64_t>(s.Int(i++));
  o.keys = static_cast<uint64_t>(s.Int(i++));
  o.restarts = static_cast<uint32_t>(s.Int(i++));
  o.redis_version = s.Text(i++);
  o.last_error = s.Text(i++);
  o.observed_ms = s.Int(i++);
  return n;
}

constexpr char kOpColumns[] =
    "op_id, group_id, kind, topology, state, step, attempt, retries, last_error, created_ms, "
    "updated_ms, deadline_ms, finished_ms, payload, progress_milli";

OperationRecord ReadOp(const SqliteStmt& s) {
  OperationRecord op;
  int i = 0;
  op.id = s.Int(i++);
  op.group_id = s.Text(i++);
  op.kind = ParseOpKind(s.Text(i++)).value_or(OpKind::kCreateGroup);
  op.topology = s.Text(i++) == "cluster-mode-enabled" ? Topology::kClusterModeEnabled
                                                      : Topology::kClusterModeDisabled;
  op.state = ParseOpState(s.Text(i++)).value_or(OpState::kFailed);
  op.step = s.Text(i++);
  op.attempt = s.Int(i++);
  op.retries = s.Int(i++);
  op.last_error = s.Text(i++);
  op.created_ms = s.Int(i++);
  op.updated_ms = s.Int(i++);
  op.deadline_ms = s.Int(i++);
  op.finished_ms = s.Int(i++);
  op.payload = s.Text(i++);
  op.progress_milli = s.Int(i++);
  return op;
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

// Runs a statement that returns no rows.
Status RunSql(SqliteDb& db, const std::string& sql,
              const std::function<void(SqliteStmt&)>& bind = nullptr) {
  auto st = db.Prepare(sql);
  if (!st) return st.error();
  if (bind) bind(*st);
  return st->Run();
}

Result<int64_t> InsertOp(SqliteDb& db, const OperationRecord& op) {
  auto st = db.Prepare(
      "INSERT INTO operations(group_id, kind, topology, state, step, attempt, retries, "
      "last_error, created_ms, updated_ms, deadline_ms, finished_ms, payload) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st) return st.error();
  st->Bind(1, op.group_id)
      .Bind(2, OpKindName(op.kind))
      .Bind(3, TopologyName(op.topology))
      .Bind(4, OpStateName(op.state))
      .Bind(5, op.step)
      .Bind(6, op.attempt)
      .Bind(7, op.retries)
      .Bind(8, op.last_error)
      .Bind(9, op.created_ms)
      .Bind(10, op.updated_ms)
      .Bind(11, op.deadline_ms)
      .Bind(12, op.finished_ms)
      .Bind(13, op.payload.empty() ? std::string("{}") : op.payload);
  if (auto r = st->Run(); !r) {
    if (r.error().code == Errc::kAlreadyExists)
      return MakeError(Errc::kFailedPrecondition,
                       "another operation is already running on " + op.group_id);
    return r.error();
  }
  return db.LastInsertRowId();
}

// The fleet as placement sees it: hosts, their allocated or still-blocked ports, node counts.
Result<FleetSnapshot> ReadFleetLocked(SqliteDb& db) {
  FleetSnapshot snap;
  auto s = db.Prepare(std::string("SELECT ") + kHostColumns + " FROM hosts ORDER BY host_id");
  if (!s) return s.error();
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    snap.hosts.push_back(ReadHost(*s));
  }
  const int64_t now = NowMs();
  for (const auto& h : snap.hosts) {
    std::vector<uint32_t> used;
    auto p = db.Prepare(
        "SELECT port FROM port_allocations WHERE host_id=? AND "
        "(node_id IS NOT NULL OR blocked_until_ms > ?)");
    if (!p) return p.error();
    p->Bind(1, h.host_id).Bind(2, now);
    while (true) {
      auto row = p->Step();
      if (!row) return row.error();
      if (!*row) break;
      used.push_back(static_cast<uint32_t>(p->Int(0)));
    }
    auto c = db.Prepare("SELECT COUNT(*) FROM nodes WHERE host_id=?");
    if (!c) return c.error();
    c->Bind(1, h.host_id);
    auto row = c->Step();
    if (!row) return row.error();
    snap.used_ports.push_back(std::move(used));
    snap.node_counts.push_back(static_cast<uint32_t>(c->Int(0)));
  }
  return snap;
}

// Inserts a node of group_id and allocates its port (an expired block on the same port is
// replaced by the allocation).
Status InsertNodeLocked(SqliteDb& db, const std::string& group_id, const NodeRecord& n) {
  if (auto st = RunSql(
          db,
          "INSERT INTO nodes(node_id, group_id, node_group_id, member_index, host_id, port, az, "
          "desired_role, status, cluster_node_id, create_time_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
          [&](SqliteStmt& s) {
            s.Bind(1, n.node_id)
                .Bind(2, group_id)
                .Bind(3, n.node_group_id)
                .Bind(4, int64_t{n.member_index})
                .Bind(5, n.host_id)
                .Bind(6, int64_t{n.port})
                .Bind(7, n.az)
                .Bind(8, NodeRoleName(n.desired_role))
                .Bind(9, n.status)
                .Bind(10, n.cluster_node_id)
                .Bind(11, n.create_time_ms);
          });
      !st) {
    if (st.error().code == Errc::kAlreadyExists)
      return MakeError(Errc::kFailedPrecondition,
                       "Cache cluster id " + n.node_id +
                           " (a member of the new group) is already in use by another "
                           "replication group.");
    return st.error();
  }
  if (auto st = RunSql(db,
                       "DELETE FROM port_allocations WHERE host_id=? AND port=? AND "
                       "node_id IS NULL",
                       [&](SqliteStmt& s) { s.Bind(1, n.host_id).Bind(2, int64_t{n.port}); });
      !st)
    return st.error();
  if (auto st = RunSql(
          db, "INSERT INTO port_allocations(host_id, port, node_id) VALUES(?,?,?)",
          [&](SqliteStmt& s) { s.Bind(1, n.host_id).Bind(2, int64_t{n.port}).Bind(3, n.node_id); });
      !st)
    return MakeError(Errc::kInternal, "port " + std::to_string(n.port) + " on " + n.host_id +
                                          " is already allocated: " + st.error().message);
  return {};
}

}  // namespace

Store::Store() = default;
Store::~Store() = default;

Status Store::Open(const std::string& path) {
  std::lock_guard lk(mu_);
  db_ = std::make_unique<SqliteDb>();
  if (auto st = db_->Open(path); !st) return st;
  return Migrate();
}

Status Store::Migrate() {
  if (auto st = db_->Exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
      !st)
    return st;
  int version = 0;
  {
    auto s = db_->Prepare("SELECT version FROM schema_version");
    if (!s) return s.error();
    auto row = s->Step();
    if (!row) return row.error();
    if (*row) version = static_cast<int>(s->Int(0));
  }
  if (version > kSchemaVersion)
    return MakeError(Errc::kFailedPrecondition, "store schema version " + std::to_string(version) +
                                                    " is newer than this orchestrator (" +
                                                    std::to_string(kSchemaVersion) + ")");
  while (version < kSchemaVersion) {
    SqliteTxn txn(*db_);
    if (!txn.begin_status()) return txn.begin_status();
    if (auto st = db_->Exec(kMigrations[version]); !st) return st;
    if (auto st = db_->Exec("DELETE FROM schema_version"); !st) return st;
    if (auto st = RunSql(*db_, "INSERT INTO schema_version(version) VALUES(?)",
                         [&](SqliteStmt& s) { s.Bind(1, int64_t{version + 1}); });
        !st)
      return st;
    if (auto st = txn.Commit(); !st) return st;
    ++version;
    Logger("store")->info("[store] schema migrated to version {}", version);
  }
  schema_version_ = version;
  return {};
}

// ---------------------------------------------------------------------------------------------
// hosts

Status Store::UpsertHost(const HostRecord& h) {
  std::lock_guard lk(mu_);
  return RunSql(
      *db_,
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
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(
      "UPDATE hosts SET last_heartbeat_ms=?, state='up', warm_cluster_ports=? "
      "WHERE host_id=? AND boot_id=?");
  if (!s) return s.error();
  s->Bind(1, now_ms).Bind(2, ToJsonPorts(warm_cluster_ports)).Bind(3, host_id).Bind(4, boot_id);
  if (auto st = s->Run(); !st) return st.error();
  return s->Changes() > 0;
}

Result<std::vector<HostRecord>> Store::ListHosts() {
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kHostColumns + " FROM hosts WHERE host_id=?");
  if (!s) return s.error();
  s->Bind(1, host_id);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<HostRecord>();
  return std::optional<HostRecord>(ReadHost(*s));
}

Result<std::vector<std::string>> Store::MarkStaleHostsDown(int64_t now_ms, int64_t down_after_ms) {
  std::lock_guard lk(mu_);
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
    if (auto st = RunSql(*db_, "UPDATE hosts SET state='down' WHERE host_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, id); });
        !st)
      return st.error();
  }
  if (auto st = txn.Commit(); !st) return st.error();
  return ids;
}

Result<std::vector<std::string>> Store::RecordObservations(
    const std::string& host_id, const std::vector<std::pair<std::string, ObservedNode>>& obs) {
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
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
  if (auto st = RunSql(*db_,
                       std::string("INSERT INTO replication_groups(") + kGroupColumns +
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
    if (auto st = RunSql(*db_,
                         "INSERT INTO node_groups(group_id, node_group_id, slots, status) "
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
    if (auto st = RunSql(*db_, "INSERT INTO tags(group_id, position, key, value) VALUES(?,?,?,?)",
                         [&](SqliteStmt& s) {
                           s.Bind(1, r.id).Bind(2, int64_t{pos++}).Bind(3, t.key).Bind(4, t.value);
                         });
        !st)
      return st.error();
  }

  g.operation.group_id = r.id;
  auto op_id = InsertOp(*db_, g.operation);
  if (!op_id) return op_id.error();
  if (auto st = AddEventLocked(r.id, "replication-group", g.event_message, r.create_time_ms); !st)
    return st.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return *op_id;
}

Result<GroupView> Store::LoadIdleAvailableGroupLocked(const std::string& group_id) {
  auto v = LoadGroupLocked(group_id);
  if (!v) return v.error();
  if (v->group.status != GroupStatus::kAvailable)
    return MakeError(Errc::kFailedPrecondition, "Replication group " + group_id +
                                                    " is not in available state (it is " +
                                                    GroupStatusName(v->group.status) + ").");
  {
    auto s = db_->Prepare(
        "SELECT op_id FROM operations WHERE group_id=? AND state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row)
      return MakeError(Errc::kFailedPrecondition,
                       "Replication group " + group_id + " has an operation in progress.");
  }
  return v;
}

Result<GroupView> Store::LoadGroupLocked(const std::string& group_id) {
  GroupView v;
  {
    auto s = db_->Prepare(std::string("SELECT ") + kGroupColumns +
                          " FROM replication_groups WHERE group_id=?");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) return MakeError(Errc::kNotFound, "ReplicationGroup " + group_id + " not found.");
    v.group = ReadGroup(*s);
  }
  {
    auto s = db_->Prepare(
        "SELECT node_group_id, slots, status FROM node_groups WHERE group_id=? "
        "ORDER BY node_group_id");
    if (!s) return s.error();
    s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      NodeGroupRecord ng;
      ng.group_id = group_id;
      ng.node_group_id = s->Text(0);
      ng.slots = ParseSlotsColumn(s->Text(1));
      ng.status = s->Text(2);
      v.node_groups.push_back(std::move(ng));
    }
  }
  {
    auto s = db_->Prepare(std::string("SELECT ") + kNodeColumns +
                          " FROM nodes WHERE group_id=? ORDER BY node_id");
    if (!s) return s.error();
    s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      v.nodes.push_back(ReadNode(*s));
    }
  }
  {
    auto s = db_->Prepare("SELECT key, value FROM tags WHERE group_id=? ORDER BY position");
    if (!s) return s.error();
    s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      v.tags.push_back(Tag{s->Text(0), s->Text(1)});
    }
  }
  {
    auto s = db_->Prepare(
        "SELECT progress_milli FROM operations WHERE group_id=? AND "
        "kind IN ('reshard-scale-out','reshard-scale-in') AND "
        "state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row) v.resharding_progress = static_cast<double>(s->Int(0)) / 1000.0;
  }
  {
    // A running modify-failover operation (failover_store.cc): enabling / disabling.
    auto s = db_->Prepare(
        "SELECT json_extract(payload, '$.automatic_failover') FROM operations WHERE group_id=? "
        "AND kind='modify-failover' AND state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row && !s->IsNull(0)) v.automatic_failover_pending = s->Int(0) != 0;
  }
  if (auto st = LoadPendingLocked(group_id, v.group.pending_modifications); !st)
    return st.error();
  return v;
}

Result<std::optional<GroupView>> Store::GetGroup(const std::string& group_id) {
  std::lock_guard lk(mu_);
  auto v = LoadGroupLocked(group_id);
  if (!v) {
    if (v.error().code == Errc::kNotFound) return std::optional<GroupView>();
    return v.error();
  }
  return std::optional<GroupView>(std::move(*v));
}

Result<std::vector<GroupView>> Store::ListGroups(const std::string& after_id, int limit) {
  std::lock_guard lk(mu_);
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
    auto v = LoadGroupLocked(id);
    if (!v) return v.error();
    out.push_back(std::move(*v));
  }
  return out;
}

Result<std::pair<GroupView, int64_t>> Store::BeginDelete(const std::string& group_id,
                                                         OperationRecord op,
                                                         const std::string& event_message) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadGroupLocked(group_id);
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
  if (auto r = RunSql(*db_,
                      "UPDATE replication_groups SET status='deleting', updated_ms=? "
                      "WHERE group_id=?",
                      [&](SqliteStmt& s) { s.Bind(1, now).Bind(2, group_id); });
      !r)
    return r.error();
  if (auto r = RunSql(*db_, "UPDATE node_groups SET status='deleting' WHERE group_id=?",
                      [&](SqliteStmt& s) { s.Bind(1, group_id); });
      !r)
    return r.error();
  if (auto r =
          RunSql(*db_, "UPDATE nodes SET status='deleting' WHERE group_id=? AND status!='stopped'",
                 [&](SqliteStmt& s) { s.Bind(1, group_id); });
      !r)
    return r.error();
  op.group_id = group_id;
  auto op_id = InsertOp(*db_, op);
  if (!op_id) return op_id.error();
  if (auto r = AddEventLocked(group_id, "replication-group", event_message, now); !r)
    return r.error();
  auto after = LoadGroupLocked(group_id);
  if (!after) return after.error();
  if (auto r = txn.Commit(); !r) return r.error();
  return std::make_pair(std::move(*after), *op_id);
}

// ---------------------------------------------------------------------------------------------
// nodes

Status Store::SetNodeClusterId(const std::string& node_id, const std::string& cluster_node_id) {
  std::lock_guard lk(mu_);
  return RunSql(*db_, "UPDATE nodes SET cluster_node_id=? WHERE node_id=?",
                [&](SqliteStmt& s) { s.Bind(1, cluster_node_id).Bind(2, node_id); });
}

Status Store::SetNodeStatus(const std::string& node_id, const std::string& status) {
  std::lock_guard lk(mu_);
  return RunSql(*db_, "UPDATE nodes SET status=? WHERE node_id=?",
                [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, node_id); });
}

Result<uint32_t> Store::ReallocateNodePort(const std::string& node_id, uint32_t bad_port,
                                           int64_t block_until_ms) {
  std::lock_guard lk(mu_);
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
  if (auto st = RunSql(*db_, "DELETE FROM port_allocations WHERE host_id=? AND port=?",
                       [&](SqliteStmt& s) { s.Bind(1, host_id).Bind(2, int64_t{bad_port}); });
      !st)
    return st.error();
  if (auto st = RunSql(*db_,
                       "INSERT INTO port_allocations(host_id, port, node_id, blocked_until_ms) "
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
  if (auto st = RunSql(
          *db_, "DELETE FROM port_allocations WHERE host_id=? AND port=? AND node_id IS NULL",
          [&](SqliteStmt& s) { s.Bind(1, host_id).Bind(2, int64_t{*port}); });
      !st)
    return st.error();
  if (auto st = RunSql(
          *db_, "INSERT INTO port_allocations(host_id, port, node_id) VALUES(?,?,?)",
          [&](SqliteStmt& s) { s.Bind(1, host_id).Bind(2, int64_t{*port}).Bind(3, node_id); });
      !st)
    return st.error();
  if (auto st = RunSql(*db_, "UPDATE nodes SET port=? WHERE node_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, int64_t{*port}).Bind(2, node_id); });
      !st)
    return st.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return *port;
}

// ---------------------------------------------------------------------------------------------
// operations

Result<std::vector<OperationRecord>> Store::ListUnfinishedOperations() {
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kOpColumns + " FROM operations WHERE op_id=?");
  if (!s) return s.error();
  s->Bind(1, op_id);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<OperationRecord>();
  return std::optional<OperationRecord>(ReadOp(*s));
}

Result<OperationRecord> Store::ClaimOperation(int64_t op_id) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  if (auto st = RunSql(*db_, "UPDATE operations SET attempt=attempt+1, updated_ms=? WHERE op_id=?",
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

Status Store::TransitionLocked(OperationRecord& op, OpState to, const std::string& step,
                               int64_t now) {
  if (auto st = CheckTransition(op.kind, op.topology, op.state, to); !st) return st;
  auto s = db_->Prepare(
      "UPDATE operations SET state=?, step=?, updated_ms=?, finished_ms=? "
      "WHERE op_id=? AND attempt=? AND state=?");
  if (!s) return s.error();
  s->Bind(1, OpStateName(to))
      .Bind(2, step)
      .Bind(3, now)
      .Bind(4, IsTerminal(to) ? now : int64_t{0})
      .Bind(5, op.id)
      .Bind(6, op.attempt)
      .Bind(7, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition, "operation " + std::to_string(op.id) + " attempt " +
                                                    std::to_string(op.attempt) + " is stale");
  op.state = to;
  op.step = step;
  op.updated_ms = now;
  if (IsTerminal(to)) op.finished_ms = now;
  return {};
}

Status Store::TransitionOperation(OperationRecord& op, OpState to, const std::string& step) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(copy, to, step, NowMs()); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::SetOperationStep(OperationRecord& op, const std::string& step) {
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
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
  if (auto st = TransitionLocked(copy, to, "", now); !st) return st;
  if (auto st = RunSql(*db_,
                       std::string("UPDATE replication_groups SET status=?, updated_ms=? "
                                   "WHERE group_id=?") + group_guard,
                       [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, now).Bind(3, op.group_id); });
      !st)
    return st;
  if (auto st = RunSql(*db_, "UPDATE node_groups SET status=? WHERE group_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, op.group_id); });
      !st)
    return st;
  if (auto st = RunSql(*db_, std::string("UPDATE nodes SET status=? WHERE group_id=?") + node_guard,
                       [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, op.group_id); });
      !st)
    return st;
  if (auto st = AddEventLocked(op.group_id, "replication-group", event_message, now); !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::CompleteCreate(OperationRecord& op, const std::string& event_message) {
  std::lock_guard lk(mu_);
  return FinishCreateLocked(op, OpState::kSucceeded, "available", " AND status='creating'", "",
                            event_message);
}

Status Store::FailCreate(OperationRecord& op, const std::string& event_message) {
  std::lock_guard lk(mu_);
  return FinishCreateLocked(op, OpState::kFailed, "create-failed", "",
                            " AND status!='stopped'", event_message);
}

Status Store::CompleteDelete(OperationRecord& op, const std::string& event_message) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(copy, OpState::kSucceeded, "", now); !st) return st;
  // Explicit deletes (rather than relying on cascades) keep the order obvious.
  for (const char* sql :
       {"DELETE FROM port_allocations WHERE node_id IN "
        "(SELECT node_id FROM nodes WHERE group_id=?)",
        "DELETE FROM nodes WHERE group_id=?", "DELETE FROM node_groups WHERE group_id=?",
        "DELETE FROM tags WHERE group_id=?", "DELETE FROM replication_groups WHERE group_id=?"}) {
    if (auto st = RunSql(*db_, sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id); }); !st) return st;
  }
  if (auto st = AddEventLocked(op.group_id, "replication-group", event_message, now); !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

// ---------------------------------------------------------------------------------------------
// resharding

Result<std::pair<GroupView, int64_t>> Store::BeginReshard(
    NewReshard r,
    const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadIdleAvailableGroupLocked(r.group_id);
  if (!v) return v.error();
  if (!r.new_nodes.empty()) {
    auto snap = ReadFleetLocked(*db_);
    if (!snap) return snap.error();
    if (auto st = place(*snap, r.new_nodes); !st) return st.error();
  }
  const int64_t now = r.operation.created_ms;
  for (const auto& ng : r.new_node_groups) {
    if (auto st = RunSql(*db_,
                         "INSERT INTO node_groups(group_id, node_group_id, slots, status) "
                         "VALUES(?,?,?,?)",
                         [&](SqliteStmt& s) {
                           s.Bind(1, r.group_id)
                               .Bind(2, ng.node_group_id)
                               .Bind(3, FormatSlotRanges(ng.slots))
                               .Bind(4, ng.status);
                         });
        !st) {
      if (st.error().code == Errc::kAlreadyExists)
        return MakeError(Errc::kInvalidArgument,
                         "NodeGroupId " + ng.node_group_id + " already exists.");
      return st.error();
    }
  }
  for (const auto& n : r.new_nodes)
    if (auto st = InsertNodeLocked(*db_, r.group_id, n); !st) return st.error();
  for (const auto& id : r.removed_node_groups) {
    for (const char* sql :
         {"UPDATE node_groups SET status='deleting' WHERE group_id=? AND node_group_id=?",
          "UPDATE nodes SET status='deleting' WHERE group_id=? AND node_group_id=?"}) {
      if (auto st = RunSql(*db_, sql, [&](SqliteStmt& s) { s.Bind(1, r.group_id).Bind(2, id); });
          !st)
        return st.error();
    }
  }
  for (const auto& id : r.removed_nodes) {
    if (auto st = RunSql(*db_, "UPDATE nodes SET status='deleting' WHERE group_id=? AND node_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, r.group_id).Bind(2, id); });
        !st)
      return st.error();
  }
  if (auto st = RunSql(*db_,
                       "UPDATE replication_groups SET status='modifying', updated_ms=? "
                       "WHERE group_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, now).Bind(2, r.group_id); });
      !st)
    return st.error();
  r.operation.group_id = r.group_id;
  auto op_id = InsertOp(*db_, r.operation);
  if (!op_id) return op_id.error();
  if (auto st = AddEventLocked(r.group_id, "replication-group", r.event_message, now); !st)
    return st.error();
  auto after = LoadGroupLocked(r.group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::make_pair(std::move(*after), *op_id);
}

Status Store::SavePlannedMoves(OperationRecord& op, const std::vector<SlotMoveRecord>& moves,
                               const std::map<std::string, SlotRanges>& planned_slots,
                               const std::string& step) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(copy, OpState::kMoveSlots, step, now); !st) return st;
  if (auto st = RunSql(*db_, "DELETE FROM slot_moves WHERE op_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, op.id); });
      !st)
    return st;
  for (const auto& m : moves) {
    if (auto st = RunSql(*db_,
                         "INSERT INTO slot_moves(op_id, move_id, seq, from_node_group, "
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
    if (auto st =
            RunSql(*db_, "UPDATE node_groups SET slots=? WHERE group_id=? AND node_group_id=?",
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

Result<std::vector<SlotMoveRecord>> Store::ListSlotMoves(int64_t op_id) {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kMoveColumns +
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
}  // namespace

Result<int64_t> Store::StartSlotMoveAttempt(const OperationRecord& op, const std::string& move_id) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  const int64_t now = NowMs();
  auto s = db_->Prepare(std::string("UPDATE slot_moves SET attempt=attempt+1, status='running', "
                                    "started_ms=CASE WHEN started_ms=0 THEN ? ELSE started_ms END, "
                                    "updated_ms=? WHERE op_id=? AND move_id=? AND status!='done'") +
                        kOwnsMoveSql);
  if (!s) return s.error();
  s->Bind(1, now).Bind(2, now).Bind(3, op.id).Bind(4, move_id).Bind(5, op.id).Bind(6, op.attempt);
  if (auto st = s->Run(); !st) return st.error();
  if (s->Changes() == 0) return StaleMove(op, move_id);
  auto q = db_->Prepare("SELECT attempt FROM slot_moves WHERE op_id=? AND move_id=?");
  if (!q) return q.error();
  q->Bind(1, op.id).Bind(2, move_id);
  auto row = q->Step();
  if (!row) return row.error();
  if (!*row) return StaleMove(op, move_id);
  const int64_t attempt = q->Int(0);
  if (auto st = txn.Commit(); !st) return st.error();
  return attempt;
}

Status Store::RecordSlotMoveProgress(const OperationRecord& op, const SlotMoveRecord& m) {
  std::lock_guard lk(mu_);
  const int64_t now = NowMs();
  const bool done = m.status == SlotMoveStatus::kDone;
  auto s =
      db_->Prepare(std::string("UPDATE slot_moves SET slots_done=?, keys_total=?, keys_moved=?, "
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

Status Store::RecordSlotMoveError(OperationRecord& op, const std::string& move_id, int64_t attempt,
                                  const std::string& error, const std::string& event_message) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  {
    auto s =
        db_->Prepare(std::string("UPDATE slot_moves SET retries=retries+1, last_error=?, "
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
  if (auto st = RunSql(
          *db_,
          "UPDATE operations SET retries=retries+1, last_error=?, updated_ms=? "
          "WHERE op_id=? AND attempt=?",
          [&](SqliteStmt& s) { s.Bind(1, error).Bind(2, now).Bind(3, op.id).Bind(4, op.attempt); });
      !st)
    return st;
  if (!event_message.empty())
    if (auto st = AddEventLocked(op.group_id, "replication-group", event_message, now); !st)
      return st;
  if (auto st = txn.Commit(); !st) return st;
  op.retries++;
  op.last_error = error;
  op.updated_ms = now;
  return {};
}

Status Store::RaiseReshardProgress(OperationRecord& op, int64_t progress_milli) {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(
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

Status Store::SetNodeGroupSlots(const std::string& group_id,
                                const std::map<std::string, SlotRanges>& slots) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  for (const auto& [ng, ranges] : slots) {
    if (auto st =
            RunSql(*db_, "UPDATE node_groups SET slots=? WHERE group_id=? AND node_group_id=?",
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

Status Store::CompleteReshard(OperationRecord& op, const ReshardCompletion& c) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(copy, OpState::kSucceeded, "", now); !st) return st;
  if (auto st = RunSql(*db_, "UPDATE operations SET progress_milli=100000 WHERE op_id=?",
                       [&](SqliteStmt& s) { s.Bind(1, op.id); });
      !st)
    return st;
  copy.progress_milli = 100000;
  for (const auto& id : c.removed_nodes) {
    for (const char* sql : {"DELETE FROM port_allocations WHERE node_id=?",
                            "DELETE FROM nodes WHERE group_id=? AND node_id=?"}) {
      const bool two = std::string(sql).find("group_id") != std::string::npos;
      if (auto st = RunSql(*db_, sql,
                           [&](SqliteStmt& s) {
                             if (two)
                               s.Bind(1, op.group_id).Bind(2, id);
                             else
                               s.Bind(1, id);
                           });
          !st)
        return st;
    }
  }
  for (const auto& id : c.removed_node_groups) {
    for (const char* sql : {"DELETE FROM port_allocations WHERE node_id IN "
                            "(SELECT node_id FROM nodes WHERE group_id=? AND node_group_id=?)",
                            "DELETE FROM nodes WHERE group_id=? AND node_group_id=?",
                            "DELETE FROM node_groups WHERE group_id=? AND node_group_id=?"}) {
      if (auto st = RunSql(*db_, sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id).Bind(2, id); });
          !st)
        return st;
    }
  }
  for (const auto& [ng, ranges] : c.slots) {
    if (auto st = RunSql(*db_,
                         "UPDATE node_groups SET slots=?, status='available' "
                         "WHERE group_id=? AND node_group_id=?",
                         [&](SqliteStmt& s) {
                           s.Bind(1, FormatSlotRanges(NormalizeSlotRanges(ranges)))
                               .Bind(2, op.group_id)
                               .Bind(3, ng);
                         });
        !st)
      return st;
  }
  for (const char* sql : {"UPDATE node_groups SET status='available' WHERE group_id=?",
                          "UPDATE nodes SET status='available' WHERE group_id=?"}) {
    if (auto st = RunSql(*db_, sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id); }); !st) return st;
  }
  if (auto st = RunSql(*db_,
                       "UPDATE replication_groups SET status='available', updated_ms=? "
                       "WHERE group_id=? AND status='modifying'",
                       [&](SqliteStmt& s) { s.Bind(1, now).Bind(2, op.group_id); });
      !st)
    return st;
  if (auto st = AddEventLocked(op.group_id, "replication-group", c.event_message, now); !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Result<std::vector<OperationRecord>> Store::ListOperations(const std::string& group_id,
                                                           int finished_limit) {
  std::lock_guard lk(mu_);
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

Status Store::AddEventLocked(const std::string& source_id, const std::string& source_type,
                             const std::string& message, int64_t date_ms) {
  return RunSql(*db_,
                "INSERT INTO events(source_id, source_type, message, date_ms) VALUES(?,?,?,?)",
                [&](SqliteStmt& s) {
                  s.Bind(1, source_id).Bind(2, source_type).Bind(3, message).Bind(4, date_ms);
                });
}

Status Store::AddEvent(const std::string& source_id, const std::string& source_type,
                       const std::string& message, int64_t date_ms) {
  std::lock_guard lk(mu_);
  return AddEventLocked(source_id, source_type, message, date_ms);
}

Result<std::vector<EventRecord>> Store::ListEvents(const std::string& source_id) {
  std::lock_guard lk(mu_);
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
