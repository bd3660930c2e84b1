// IncreaseReplicaCount / DecreaseReplicaCount: pure validation (the request alone, then the
// request against the group) and the plan the operation carries out. No I/O.
//
// Rules (docs/orchestrator.md "Replica count"):
//   * ReplicationGroupId, ApplyImmediately required (MissingParameter); ApplyImmediately=false
//     -> InvalidParameterValue (only true is supported, as in ElastiCache).
//   * Exactly one of NewReplicaCount / ReplicaConfiguration (Decrease: or ReplicasToRemove);
//     none -> InvalidParameterValue, several -> InvalidParameterCombination.
//   * Counts 0..limits.max_replicas_per_shard (5); Increase never lowers a node group, Decrease
//     never raises one (InvalidParameterValue); nothing to change -> NoOperationFault.
//   * Minimum replicas per node group after a decrease: 1 when Multi-AZ or automatic failover
//     is enabled (CME always has automatic failover), else 0 (InvalidParameterValue).
//   * ReplicasToRemove: member clusters of the group, never a node group's current primary.
//   * ConfigureShard: NodeGroupId required and existing; PreferredAvailabilityZones has
//     NewReplicaCount + 1 entries (primary first; new replicas use the entries after the
//     existing members), each an AZ some host has; PreferredOutpostArns refused.
//   * More than limits.max_nodes_per_group nodes -> NodeQuotaForCustomerExceeded (the quota
//     fault the actions document).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

struct ReplicaCountRequest {
  bool increase = true;
  std::string group_id;
  std::optional<int> new_replica_count;
  struct Shard {
    std::string node_group_id;
    int new_replica_count = 0;
    std::vector<std::string> preferred_azs;  // primary first
  };
  std::vector<Shard> shards;                    // ReplicaConfiguration
  std::vector<std::string> replicas_to_remove;  // Decrease only, lowercase member ids
};

// What the operation does (also its payload JSON).
struct ReplicaPlan {
  bool increase = true;
  struct NewReplica {
    std::string node_id;
    std::string node_group_id;
    int member_index = 0;
    std::optional<std::string> preferred_az;
  };
  std::vector<NewReplica> add;
  std::vector<std::string> remove;                      // node ids
  // DeleteReplicationGroup RetainPrimaryCluster: this node becomes a standalone cache cluster
  // and the group is deleted once `remove` are stopped.
  std::string retain_primary;
  std::map<std::string, std::pair<int, int>> replicas;  // node group -> (before, after)
  // "0001 1->2, 0002 1->2"
  std::string Summary() const;
};
std::string ReplicaPlanToJson(const ReplicaPlan& p);
Result<ReplicaPlan> ReplicaPlanFromJson(const std::string& json);

struct ReplicaCountContext {
  GroupLimits limits;
  std::map<std::string, bool> azs;  // every AZ a registered host has -> some host up
};

template <class T>
using ReplicaValidated = std::variant<T, api::ApiError>;

ReplicaValidated<ReplicaCountRequest> ParseReplicaCountRequest(const api::QueryParams& params,
                                                               bool increase,
                                                               const GroupLimits& limits);
ReplicaValidated<ReplicaPlan> CheckReplicaCount(const ReplicaCountRequest& req,
                                                const GroupView& group,
                                                const ReplicaCountContext& ctx);

// The node of a node group that currently acts as primary: the one the agents report as
// master (among nodes not listed in `ignore`), else the planned primary; nullptr when none.
const NodeRecord* CurrentPrimary(const GroupView& g, const std::string& node_group_id,
                                 const std::vector<std::string>& ignore = {});

// Faults of these actions that faults.h does not have.
api::ApiError NoOperationFault(const std::string& message);
api::ApiError NodeQuotaForCustomerExceeded(const std::string& message);

}  // namespace cf::orchestrator
