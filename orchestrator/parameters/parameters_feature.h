// The parameters feature as the application registers it: the cache parameter group actions
// and the applier loop that brings every node to its group's values.
#pragma once

#include <vector>

#include "orchestrator/operations/feature_host.h"
#include "orchestrator/parameters/parameter_group_applier.h"
#include "orchestrator/parameters/parameter_group_frontend.h"

namespace cf::orchestrator {

struct ParametersFeature {
  explicit ParametersFeature(FeatureHost& host);
  // The user parameter groups, as the validators of other features see them.
  std::vector<ParameterGroup> UserGroups() const;

  Store& store;
  const ParameterCatalog& catalog;
  ParameterApplier applier;  // loop; Poke after a change
  ParameterGroupFrontend frontend;
};

inline ParametersFeature::ParametersFeature(FeatureHost& host)
    : store(host.store),
      catalog(host.catalog),
      applier(host.store, host.agents, host.catalog, host.config),
      frontend(host.store, host.config, host.catalog, [this] { applier.Poke(); }) {
  frontend.Register(host.dispatcher);
  host.add_loop([this] { applier.Start(); }, [this] { applier.Stop(); });
}

inline std::vector<ParameterGroup> ParametersFeature::UserGroups() const {
  return ParameterGroupFrontend::UserGroupsForValidation(store, catalog);
}

}  // namespace cf::orchestrator
