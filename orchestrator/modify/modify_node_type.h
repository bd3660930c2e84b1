// ModifyReplicationGroup's "node-type" set (registered on ModifyGroupFrontend with
// AddDeferrableParameterSet from main.cc): CacheNodeType. ApplyImmediately=false records it for
// the maintenance window after the same validation (modify_group_frontend.h); the scheduler
// replays it through the same handler.
//
// The type must be in the node-type catalogue (configs/node_types.yaml; else
// InvalidParameterValue). Scaling down below the memory a node holds is refused
// (InvalidParameterValue naming the node and both sizes): each node's used_memory is asked from
// its agent (GetNodeStatus), the last observation is used when the agent does not answer. The
// group must be `available` with no operation running (InvalidReplicationGroupState).
//
// Applied in the request: ReconfigureNode(restart=false) on every node with its spec
// (BuildNodeSpec with the configured hold_max_ms, plus the user parameter group's dynamic
// parameters as the parameter applier sends them) carrying the new maxmemory_bytes (the agent
// CONFIG SETs maxmemory). When every node took it, one transaction (ModifyStore::SetGroupNodeType)
// records the type and maxmemory with an event; so the group shows the new type only once every
// node runs it. A node that refuses: the nodes already changed get the old maxmemory back and
// the request fails (InvalidReplicationGroupState naming the node); nothing is recorded.
// Requests of this set are serialised.
#pragma once

#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/catalog/parameter_group_catalog.h"

namespace cf::orchestrator {

void AddNodeTypeSet(ModifyGroupFrontend& frontend, Store& store, const OrchestratorConfig& config,
                    const ParameterCatalog& catalog, AgentApi& agents);

}  // namespace cf::orchestrator
