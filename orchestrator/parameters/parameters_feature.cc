#include "orchestrator/parameters/parameters_feature.h"

namespace cf::orchestrator {

ParametersFeature::ParametersFeature(FeatureHost& host)
    : store(host.store),
      catalog(host.catalog),
      applier(host.store, host.agents, host.catalog, host.config),
      frontend(host.store, host.config, host.catalog, [this] { applier.Poke(); }) {
  frontend.Register(host.dispatcher);
  host.add_loop([this] { applier.Start(); }, [this] { applier.Stop(); });
}

std::vector<ParameterGroup> ParametersFeature::UserGroups() const {
  return ParameterGroupFrontend::UserGroupsForValidation(store, catalog);
}

}  // namespace cf::orchestrator
