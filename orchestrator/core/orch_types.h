// Domain records of the orchestrator: what the store holds and the frontend, planners and
// reconcilers pass around. Plain structs, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/slot_range.h"

namespace cf::orchestrator {

// Milliseconds since the Unix epoch (wall clock, for timestamps users see).
int64_t NowMs();

enum class HostState { kUp, kDown };
const char* HostStateName(HostState s);

// A registered agent.
struct HostRecord {
  std::string host_id;
  std::string address;  // advertised to clients and peers (an IP)
  std::string az;
  std::string agent_endpoint;  // host:port of the Agent gRPC service
  uint32_t port_range_start = 0;
  uint32_t port_range_end = 0;  // inclusive
  uint32_t max_nodes = 0;       // 0 = limited by the port range only
  std::vector<std::string> redis_versions;
  // Warm pool: ports where the agent keeps an idle cluster-enabled redis-server that a
  // cluster-mode LaunchNode claims (no 2 s start-up delay). Refreshed by every heartbeat.
  std::vector<uint32_t> warm_cluster_ports;
  std::string boot_id;
  int64_t registered_ms = 0;
  int64_t last_heartbeat_ms = 0;
  HostState state = HostState::kUp;
};

// ReplicationGroup.Status values.
enum class GroupStatus {
  kCreating,
  kAvailable,
  kModifying,
  kDeleting,
  kCreateFailed,
  kSnapshotting
};
const char* GroupStatusName(GroupStatus s);
std::optional<GroupStatus> ParseGroupStatus(const std::string& s);

enum class NodeRole { kPrimary, kReplica };
const char* NodeRoleName(NodeRole r);  // "primary" / "replica"

// Everything a CreateReplicationGroup request set, after validation and defaulting. Every
// parameter is stored and returned (or kept for the later issues that use it).
struct ReplicationGroupRecord {
  std::string id;  // lowercase
  std::string description;
  GroupStatus status = GroupStatus::kCreating;
  bool cluster_enabled = false;
  bool automatic_failover = false;
  bool multi_az = false;
  std::string cache_node_type;
  uint64_t maxmemory_bytes = 0;
  std::string engine = "redis";
  std::string engine_version;  // full version, e.g. "7.0.15"
  std::string parameter_group;
  std::string subnet_group;  // "default" or ""
  std::vector<std::string> security_group_ids;
  std::string preferred_maintenance_window;
  std::string notification_topic_arn;
  std::string notification_topic_status = "active";  // active | inactive
  bool auto_minor_version_upgrade = true;
  int snapshot_retention_limit = 0;
  std::string snapshot_window;
  std::string snapshotting_cluster_id;  // "" = none
  int port = 6379;                      // requested Port (nodes use their allocated ports)
  std::string network_type = "ipv4";
  std::string ip_discovery = "ipv4";
  bool data_tiering = false;
  bool transit_encryption = false;
  bool at_rest_encryption = false;
  int64_t create_time_ms = 0;
  int64_t updated_ms = 0;
  // ModifyReplicationGroup parameters waiting for the maintenance window (ApplyImmediately
  // false; table pending_modifications, schema v7): parameter name -> value as requested.
  // Filled by the store's group loads (GetGroup, ListGroups, ...), not by every row read.
  std::map<std::string, std::string> pending_modifications;
};

struct NodeGroupRecord {
  std::string group_id;
  std::string node_group_id;  // "0001"
  SlotRanges slots;           // planned slots (CME); empty for CMD
  std::string status = "creating";
};

// What the agents last reported for a node (heartbeats and status polls).
struct ObservedNode {
  bool known = false;  // false until the first report
  std::string state;   // "starting", "running", "crashed", ...
  std::string role;    // "master" / "slave" (Redis' words); "" = unknown
  std::string cluster_node_id;
  std::string master_host;
  uint32_t master_port = 0;
  std::string master_cluster_node_id;
  bool master_link_up = false;
  SlotRanges slots;
  std::string cluster_state;
  uint32_t cluster_known_nodes = 0;
  bool has_open_slots = false;
  int64_t repl_offset = 0;
  uint64_t used_memory = 0;
  uint64_t keys = 0;
  uint32_t restarts = 0;
  std::string redis_version;
  std::string last_error;
  int64_t observed_ms = 0;
};

// One cache cluster (= one redis-server node) of a group.
struct NodeRecord {
  std::string node_id;  // "<group>-0001-001" (CME) / "<group>-001" (CMD)
  std::string group_id;
  std::string node_group_id;  // "0001"
  int member_index = 1;       // 1-based position in its node group (001, 002, ...)
  std::string host_id;
  uint32_t port = 0;
  std::string az;
  NodeRole desired_role = NodeRole::kPrimary;
  std::string status = "creating";  // creating / available / deleting / stopped
  std::string cluster_node_id;      // recorded by the create operation from LaunchNode
  int64_t create_time_ms = 0;
  ObservedNode observed;
};

struct Tag {
  std::string key;
  std::string value;
};

struct EventRecord {
  int64_t id = 0;
  std::string source_id;
  std::string source_type = "replication-group";
  std::string message;
  int64_t date_ms = 0;
};

// A replication group with everything needed to render it.
struct GroupView {
  ReplicationGroupRecord group;
  std::vector<NodeGroupRecord> node_groups;  // ordered by node_group_id
  std::vector<NodeRecord> nodes;             // ordered by node_id
  std::vector<Tag> tags;
  // While a reshard runs: PendingModifiedValues.Resharding.SlotMigration.ProgressPercentage.
  std::optional<double> resharding_progress;
  // While a modify-failover operation runs: the AutomaticFailover value it applies (Describe
  // shows enabling / disabling).
  std::optional<bool> automatic_failover_pending;
};

}  // namespace cf::orchestrator
