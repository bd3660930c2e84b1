// The schema: its migrations, applied in order at Open (docs/orchestrator.md lists the tables).
#include <string>

#include "common/log.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

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
    // primary; group_change_store.cc). Its port stays reserved as a block with no node.
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
    // v7: ModifyReplicationGroup changes waiting for the maintenance window (modify/modify_store.cc).
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

}  // namespace

Status Store::Migrate() {
  SqliteDb& db = *db_;
  if (auto st = db.Exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"); !st)
    return st.error();
  int version = 0;
  {
    auto s = db.Prepare("SELECT version FROM schema_version");
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
    SqliteTxn txn(db);
    if (!txn.begin_status()) return txn.begin_status().error();
    if (auto st = db.Exec(kMigrations[version]); !st) return st.error();
    if (auto st = db.Exec("DELETE FROM schema_version"); !st) return st.error();
    if (auto st = db.Run("INSERT INTO schema_version(version) VALUES(?)",
                         [&](SqliteStmt& s) { s.Bind(1, int64_t{version + 1}); });
        !st)
      return st.error();
    if (auto st = txn.Commit(); !st) return st.error();
    ++version;
    Logger("store")->info("[store] schema migrated to version {}", version);
  }
  schema_version_ = version;
  return {};
}

}  // namespace cf::orchestrator
