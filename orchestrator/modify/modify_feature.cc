#include "orchestrator/modify/modify_feature.h"

#include <pugixml.hpp>

#include "orchestrator/modify/modify_node_type.h"

#include "orchestrator/modify/modify_parameter_group.h"
#include "orchestrator/modify/modify_settings.h"

namespace cf::orchestrator {

ModifyFeature::ModifyFeature(FeatureHost& host,
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
