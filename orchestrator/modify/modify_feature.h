// The modify feature as the application registers it: ModifyReplicationGroup with its
// parameter sets (settings, parameter group switch, node type; other features add theirs in
// the application's wiring), the handler of the modify-node-type operation
// (node_type_reconciler.h), and ApplyImmediately=false: the maintenance scheduler loop replays
// the pending values in each group's window (GET /cachefleet/maintenance shows its clock).
#pragma once

#include <functional>
#include <vector>

#include <pugixml.hpp>

#include "orchestrator/modify/maintenance_scheduler.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/modify_node_type.h"
#include "orchestrator/modify/modify_parameter_group.h"
#include "orchestrator/modify/modify_settings.h"
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

inline ModifyFeature::ModifyFeature(FeatureHost& host,
                                    std::function<std::vector<ParameterGroup>()> user_groups,
                                    std::function<void()> poke_applier)
    : node_type(host.deps, host.catalog),
      frontend(host.store, host.config, host.poke),
      scheduler(host.store, host.config.maintenance,
                [this](const std::string& group_id,
                       const std::map<std::string, std::string>& params) {
                  pugi::xml_document doc;
                  return frontend.ReplayPending(group_id, params,
                                                doc.append_child("ModifyReplicationGroupResult"));
                }) {
  AddSettingsParameterSet(frontend, host.store, host.config);
  AddParameterGroupSet(frontend, host.store, host.config, host.catalog, std::move(user_groups),
                       std::move(poke_applier));
  AddNodeTypeSet(frontend, host.store, host.config);
  host.add_handler(OpKind::kModifyNodeType, &node_type);
  frontend.Register(host.dispatcher);
  frontend.SetPendingListener([this] { scheduler.Poke(); });
  host.add_get_json(kMaintenancePath, [this](const std::string&) { return scheduler.StatusJson(); });
  host.add_loop([this] { scheduler.Start(); }, [this] { scheduler.Stop(); });
}

}  // namespace cf::orchestrator
