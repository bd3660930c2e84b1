// ModifyReplicationGroup's "node-type" set (registered on ModifyGroupFrontend with
// AddDeferrableParameterSet from modify_feature.h): CacheNodeType. ApplyImmediately=false
// records it for the maintenance window after the same validation (modify_group_frontend.h);
// the scheduler replays it through the same handler.
//
// Validation (in the request, nothing sent to an agent): the type must be in the node-type
// catalogue (configs/node_types.yaml; else InvalidParameterValue). Scaling down below the
// memory a node holds is refused (InvalidParameterValue naming the node and both sizes), from
// each node's used_memory as last observed (the agents' heartbeats). The group must be
// `available` with no operation running (InvalidReplicationGroupState). The current type
// again: the group is returned as it is.
//
// A valid change is a durable operation (modify-node-type, node_type_reconciler.h): one store
// transaction (Store::BeginGroupOperation) records the new type and maxmemory as the group's
// desired state, the operation (its payload: NodeTypePayload, the old and the new type) and the
// event, and the group becomes `modifying`; the answer shows it so. The reconciler sets the new
// maxmemory on every node; the group is `available` again once every node runs it. On failure
// (a node refuses the limit, or it is not on every node within operations.node_type_timeout_ms)
// the old type comes back, as on ElastiCache: every node gets the old maxmemory again and the
// group records the old type, with an event.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "orchestrator/modify/modify_group_frontend.h"

namespace cf::orchestrator {

void AddNodeTypeSet(ModifyGroupFrontend& frontend, Store& store, const OrchestratorConfig& config);

// The modify-node-type operation's payload.
struct NodeTypePayload {
  std::string from_type;
  uint64_t from_maxmemory = 0;
  std::string to_type;
  uint64_t to_maxmemory = 0;
  std::string error;  // why it is rolled back ("" while it goes forward)
};
std::string NodeTypePayloadToJson(const NodeTypePayload& p);
Result<NodeTypePayload> NodeTypePayloadFromJson(const std::string& json);

// Event texts (on the replication group).
std::string NodeTypeStartedEvent(const std::string& group_id, const NodeTypePayload& p);
std::string NodeTypeScaledEvent(const std::string& group_id, const NodeTypePayload& p,
                                size_t nodes);
std::string NodeTypeFailedEvent(const std::string& group_id, const NodeTypePayload& p);

}  // namespace cf::orchestrator
