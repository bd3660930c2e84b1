// Orchestrator configuration: the YAML file given with --config, the node-type catalogue and
// the built-in cache parameter groups it points at.
//
// Relative paths (node_types, parameter_groups, store.path) resolve against the directory of
// the config file. Every duration setting carries its unit in the name. Loading validates
// everything and returns an error naming the offending key; nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace cf::orchestrator {

struct HostPort {
  std::string host;
  uint16_t port = 0;  // 0 = pick a free port
};

// Parses "127.0.0.1:8080" / "[::1]:0". Errors name `what`.
Result<HostPort> ParseHostPort(const std::string& text, const std::string& what);

struct NodeType {
  std::string name;       // "cache.t3.micro"
  uint64_t memory_bytes;  // usable memory -> maxmemory of each node
};

class NodeTypeCatalogue {
 public:
  NodeTypeCatalogue() = default;
  NodeTypeCatalogue(std::string default_type, std::map<std::string, NodeType> types)
      : default_(std::move(default_type)), types_(std::move(types)) {}
  const std::string& default_type() const { return default_; }
  // nullptr when the type is unknown. Names are matched exactly (AWS is case-sensitive here).
  const NodeType* Find(const std::string& name) const;
  const std::map<std::string, NodeType>& all() const { return types_; }

 private:
  std::string default_;
  std::map<std::string, NodeType> types_;
};

struct ParameterGroup {
  std::string name;    // "default.redis7.cluster.on"
  std::string family;  // "redis7"
  std::string description;
  bool cluster_enabled = false;
};

class ParameterGroupCatalogue {
 public:
  ParameterGroupCatalogue() = default;
  explicit ParameterGroupCatalogue(std::vector<ParameterGroup> groups)
      : groups_(std::move(groups)) {}
  // Case-insensitive lookup (AWS stores parameter group names in lowercase).
  const ParameterGroup* Find(const std::string& name) const;
  // The default group for a family and cluster mode, e.g. ("redis7", true) ->
  // default.redis7.cluster.on. nullptr if the catalogue has none.
  const ParameterGroup* DefaultFor(const std::string& family, bool cluster_enabled) const;
  const std::vector<ParameterGroup>& all() const { return groups_; }

 private:
  std::vector<ParameterGroup> groups_;
};

// Limits ElastiCache enforces per replication group.
struct GroupLimits {
  int max_node_groups = 90;       // NumNodeGroups upper bound
  int max_nodes_per_group = 500;  // primaries + replicas
  int max_replicas_per_shard = 5;
};

// Settings of the durable-operation workers (operations, reconcilers).
struct OperationSettings {
  int worker_threads = 4;                 // operations run concurrently
  int rpc_threads = 32;                   // fan-out pool for parallel agent calls
  int64_t create_timeout_ms = 120000;     // create gives up (create-failed) after this
  int64_t agent_rpc_timeout_ms = 5000;    // deadline of every short agent call
  int64_t launch_timeout_ms = 20000;      // deadline of LaunchNode (includes redis start)
  int64_t node_ready_timeout_ms = 15000;  // LaunchNodeRequest.ready_timeout_ms
  int64_t poll_interval_ms = 20;          // status polls while forming a group
  int64_t step_wait_timeout_ms = 15000;   // one wait step (agreement, links up) before a retry
  int64_t retry_initial_backoff_ms = 50;
  int64_t retry_max_backoff_ms = 5000;
  int64_t rollback_timeout_ms = 60000;      // create-failed rollback stops nodes for this long
  int64_t node_type_timeout_ms = 60000;     // CacheNodeType: not on every node by then: roll back
  int64_t stop_grace_ms = 5000;             // StopNodeRequest.grace_ms
  int64_t port_block_ms = 600000;           // a port found in use by a foreign process is skipped
  int64_t stuck_operation_warn_ms = 60000;  // watchdog: warn when no progress for this long
  // Resharding (reshard_reconciler.h):
  int64_t move_deadline_ms = 21600000;           // one MoveSlots stream, whole call
  int64_t move_stall_timeout_ms = 120000;        // a MoveSlots stream silent this long is retried
  int64_t move_progress_write_ms = 200;          // persist a running move's progress this often
  int64_t progress_log_interval_ms = 1000;       // one progress info line per operation at most
  int64_t move_error_event_interval_ms = 10000;  // retried move failures: one event per move
  // Scale-in: removed nodes stay up (answering MOVED to clients with a stale slot map) this
  // long after CLUSTER FORGET, before StopNode.
  int64_t removed_node_grace_ms = 2000;
};

// Failover (failover_reconciler.h, failover_monitor.h, failover_frontend.h). YAML: `failover:`.
struct FailoverSettings {
  int test_failover_max_per_window = 15;        // node groups per group per window (AWS: 15/24 h)
  int64_t test_failover_window_ms = 86400000;   // the rolling window
  int64_t host_down_after_ms = 1500;            // no heartbeat this long + replica links down
  int64_t monitor_interval_ms = 100;            // detection scan (also woken by NODE_EXITED)
  int64_t failover_timeout_ms = 5000;           // FailoverRequest.timeout_ms
  int64_t force_timeout_ms = 400;               // FailoverRequest.force_timeout_ms
  int64_t kill_timeout_ms = 5000;               // KillNode deadline
  int64_t restart_ready_timeout_ms = 10000;     // RestartNodeRequest.ready_timeout_ms
  int64_t operation_timeout_ms = 60000;         // not promoted by then: restart in place, failed
  int64_t hold_max_ms = 30000;                  // NodeSpec.hold_max_ms of groups without AF
};

// The maintenance scheduler (maintenance_scheduler.h). YAML: `maintenance:`. Its clock is
// virtual = clock_start + (real - orchestrator start) x clock_speed, so that a lab or a test
// reaches a maintenance window in seconds instead of a week (docs/orchestrator.md).
struct MaintenanceSettings {
  double clock_speed = 1.0;               // virtual seconds per real second
  std::optional<int64_t> clock_start_ms;  // virtual time at start-up (default: the real time)
  int64_t tick_ms = 1000;                 // scan interval (changes also wake it)
};

struct OrchestratorConfig {
  std::string config_dir;  // directory of the config file (for relative paths)

  // api
  HostPort api_listen{"127.0.0.1", 8080};
  int api_threads = 2;
  int max_clock_skew_s = 900;
  std::map<std::string, std::string> credentials;  // access key id -> secret

  std::string region = "us-east-1";
  std::string account_id = "123456789012";

  // fleet
  HostPort fleet_listen{"127.0.0.1", 7001};
  int64_t heartbeat_interval_ms = 1000;
  int64_t host_down_after_ms = 5000;

  std::string store_path;  // absolute after loading

  NodeTypeCatalogue node_types;
  ParameterGroupCatalogue parameter_groups;

  int64_t cluster_node_timeout_ms = 5000;
  std::string log_level = "info";

  GroupLimits limits;
  OperationSettings operations;
  FailoverSettings failover;
  MaintenanceSettings maintenance;
};

// Reads and validates the config file and the files it references.
Result<OrchestratorConfig> LoadOrchestratorConfig(const std::string& path);
// Same, from YAML text; relative paths resolve against base_dir.
Result<OrchestratorConfig> ParseOrchestratorConfig(const std::string& yaml_text,
                                                   const std::string& base_dir);
// The node-type and parameter-group files on their own (used by tests).
Result<NodeTypeCatalogue> ParseNodeTypes(const std::string& yaml_text);
Result<ParameterGroupCatalogue> ParseParameterGroups(const std::string& yaml_text);

}  // namespace cf::orchestrator
