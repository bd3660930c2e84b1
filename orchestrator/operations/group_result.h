// What a frontend that accepts a group change records and answers: the new operation (pending,
// for the runner) and the group (result/ReplicationGroup), rendered with the hosts' current
// liveness — a host past host_down_after_ms is shown down even before the fleet monitor has
// marked it.
#pragma once

#include <pugixml.hpp>

#include "common/result.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/core/replication_group_xml.h"

namespace cf::orchestrator {

class Store;

// A new operation as a frontend records it: pending, step "waiting for a worker", created and
// updated at now_ms.
OperationRecord NewPendingOperation(OpKind kind, Topology topology, int64_t now_ms);

// Region, account and every host with its effective state; the store's error when the hosts
// cannot be read.
Result<RenderContext> MakeRenderContext(Store& store, const OrchestratorConfig& config);

// Renders `view` into result/ReplicationGroup with the hosts' current liveness (no hosts, and
// so no endpoints, when they cannot be read: the change itself is already committed).
void RenderGroupResult(Store& store, const OrchestratorConfig& config, const GroupView& view,
                       pugi::xml_node result);

}  // namespace cf::orchestrator
