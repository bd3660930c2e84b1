// IncreaseReplicaCount / DecreaseReplicaCount: pure validation (the request alone, then the
// request against the group) and the plan the operation carries out (ReplicaPlan, in
// operations/operation_payloads.h: DeleteReplicationGroup RetainPrimaryCluster writes one too).
// No I/O.
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
#include "orchestrator/operations/operation_payloads.h"

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

// Faults of these actions that faults.h does not have.
api::ApiError NoOperationFault(const std::string& message);
api::ApiError NodeQuotaForCustomerExceeded(const std::string& message);

}  // namespace cf::orchestrator
