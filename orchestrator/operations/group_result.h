// The replication group as an action's answer: every frontend that accepts a change answers
// with the group (result/ReplicationGroup), rendered with the hosts' current liveness — a host
// past host_down_after_ms is shown down even before the fleet monitor has marked it.
#pragma once

#include <pugixml.hpp>

#include "common/result.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/core/replication_group_xml.h"

namespace cf::orchestrator {

class Store;

// Region, account and every host with its effective state; the store's error when the hosts
// cannot be read.
Result<RenderContext> MakeRenderContext(Store& store, const OrchestratorConfig& config);

// Renders `view` into result/ReplicationGroup with the hosts' current liveness (no hosts, and
// so no endpoints, when they cannot be read: the change itself is already committed).
void RenderGroupResult(Store& store, const OrchestratorConfig& config, const GroupView& view,
                       pugi::xml_node result);

}  // namespace cf::orchestrator
