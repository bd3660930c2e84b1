// Validation of the replication-group actions' parameters. Pure: parameters + catalogues +
// what the fleet offers in, a typed request or the exact ElastiCache fault out. No I/O; the
// frontend (replication_group_frontend.h) persists what passes.
//
// Every CreateReplicationGroup parameter of elasticache-api.md §4 is known and is either
// implemented, validated-and-stored (purely descriptive ones) or refused with
// InvalidParameterValue "... is not supported yet". Unknown parameter names are rejected with
// InvalidParameterValue naming them; nothing is silently ignored. See docs/orchestrator.md for
// the full table.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/core/query_params.h"

namespace cf::orchestrator {

inline constexpr char kDefaultSnapshotWindow[] = "05:00-06:00";
inline constexpr char kDefaultMaintenanceWindow[] = "sun:23:00-mon:01:30";
inline constexpr int kMaxTagsPerResource = 50;

// One requested shard (node group).
struct ShardRequest {
  std::string node_group_id;  // "0001"
  SlotRanges slots;           // CME: the shard's slots; CMD: empty
  int replica_count = 0;
  std::optional<std::string> primary_az;
  std::vector<std::string> replica_azs;  // empty = no preference; else one per replica
};

struct CreateGroupRequest {
  ReplicationGroupRecord group;  // every stored parameter, defaults applied
  std::vector<ShardRequest> shards;
  std::vector<Tag> tags;
  int total_nodes() const;
};

struct ValidationContext {
  const NodeTypeCatalogue* node_types = nullptr;
  const ParameterGroupCatalogue* parameter_groups = nullptr;
  // User-created cache parameter groups (names lowercase; cluster_enabled from their
  // cluster-enabled value), looked up after the built-in ones.
  std::vector<ParameterGroup> user_parameter_groups;
  GroupLimits limits;
  // Engine versions reported by the hosts that are up (e.g. "7.0.15"); empty = no host is up.
  std::vector<std::string> engine_versions;
};

Validated<CreateGroupRequest> ValidateCreateReplicationGroup(const api::QueryParams& params,
                                                             const ValidationContext& ctx);

struct DescribeGroupsRequest {
  std::optional<std::string> group_id;  // lowercase
  int max_records = 100;
  std::optional<std::string> after_id;  // decoded Marker
};
Validated<DescribeGroupsRequest> ValidateDescribeReplicationGroups(const api::QueryParams& params);

struct DeleteGroupRequest {
  std::string group_id;  // lowercase
  bool retain_primary = false;  // RetainPrimaryCluster=true (DeleteRetainingPrimary)
};
Validated<DeleteGroupRequest> ValidateDeleteReplicationGroup(const api::QueryParams& params);

}  // namespace cf::orchestrator
