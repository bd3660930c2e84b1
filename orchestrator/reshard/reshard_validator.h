// Validation of ModifyReplicationGroupShardConfiguration (elasticache-api.md §1, §4). Pure: no
// I/O. Two stages, in the order ElastiCache applies them:
//
//   ParseModifyShardConfiguration   the request on its own: unknown parameters, required ones,
//                                   id syntax, NodeGroupCount range, ApplyImmediately=true, list
//                                   forms, NodeGroupsToRemove and NodeGroupsToRetain together.
//   CheckModifyShardConfiguration   the request against the group as it is now (after the
//                                   frontend found it): cluster mode, status, the count change,
//                                   which lists fit a scale-out or a scale-in, node group ids,
//                                   preferred AZs. Returns the plan inputs the operation keeps.
//
// Faults (docs/orchestrator.md "Resharding" has the table):
//   MissingParameter            ReplicationGroupId, NodeGroupCount, ApplyImmediately absent
//   InvalidParameterValue       unknown parameter; malformed id / count / boolean / list;
//                               NodeGroupCount < 1 or equal to the current count;
//                               ApplyImmediately=false; cluster mode disabled group;
//                               ReshardingConfiguration with more entries than new node groups,
//                               a NodeGroupId that exists or repeats, an unknown AZ, more AZs than
//                               nodes per shard; shrinking without NodeGroupsToRemove/Retain;
//                               unknown or repeated node group ids; counts that do not add up
//   InvalidParameterCombination NodeGroupsToRemove with NodeGroupsToRetain; ReshardingConfiguration
//                               when shrinking; NodeGroupsToRemove/Retain when growing
//   NodeGroupsPerReplicationGroupQuotaExceeded  NodeGroupCount above limits.max_node_groups
//   NodeQuotaForClusterExceeded the grown group would exceed limits.max_nodes_per_group
//   InvalidReplicationGroupState the group is not `available`
//   InsufficientCacheClusterCapacity  a preferred AZ whose hosts are all down
// (NodeGroupNotFoundFault is not among this action's documented errors, so unknown node
// group ids are InvalidParameterValue.)
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/reshard/reshard_types.h"

namespace cf::orchestrator {

struct ShardConfigRequest {
  struct ReshardingEntry {
    std::optional<std::string> node_group_id;  // normalized ("0004")
    std::vector<std::string> preferred_azs;
  };
  std::string group_id;  // lowercase
  int node_group_count = 0;
  std::vector<ReshardingEntry> resharding;  // empty when absent
  std::vector<std::string> to_remove;       // normalized ids, in request order
  std::vector<std::string> to_retain;
  bool has_remove = false;  // NodeGroupsToRemove given with at least one id
  bool has_retain = false;
};

Validated<ShardConfigRequest> ParseModifyShardConfiguration(const api::QueryParams& params,
                                                            const GroupLimits& limits);

struct ShardConfigContext {
  GroupLimits limits;
  // Every AZ some registered host has -> whether one of its hosts is up.
  std::map<std::string, bool> azs;
};

Validated<ReshardInputs> CheckModifyShardConfiguration(const ShardConfigRequest& req,
                                                       const GroupView& group,
                                                       const ShardConfigContext& ctx);

// The replica count new node groups get: the most common one among the group's node groups
// (ties: the larger).
int ReplicasPerNodeGroup(const GroupView& group);

}  // namespace cf::orchestrator
