// The modify feature as the application registers it: ModifyReplicationGroup with its
// parameter sets (settings, parameter group switch, node type; other features add theirs in
// the application's wiring), the handler of the modify-node-type operation
// (node_type_reconciler.h), and ApplyImmediately=false: the maintenance scheduler loop replays
// the pending values in each group's window (GET /cachefleet/maintenance shows its clock).
#pragma once

#include <functional>
#include <vector>

#include "orchestrator/modify/maintenance_scheduler.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/node_type_reconciler.h"
#include "orchestrator/operations/feature_host.h"

namespace cf::orchestrator {

struct ModifyFeature {
  // user_groups: the user parameter groups (the parameters feature's); poke_applier: after a
  // parameter group switch.
  ModifyFeature(FeatureHost& host, std::function<std::vector<ParameterGroup>()> user_groups,
                std::function<void()> poke_applier);
  NodeTypeReconciler node_type;
  ModifyGroupFrontend frontend;
  MaintenanceScheduler scheduler;
};

}  // namespace cf::orchestrator
