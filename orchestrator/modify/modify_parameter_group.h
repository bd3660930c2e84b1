// ModifyReplicationGroup's "parameter-group" set (registered on ModifyGroupFrontend with
// AddParameterSet from modify_feature.h): CacheParameterGroupName, applied at once whatever
// ApplyImmediately says (ElastiCache applies parameter group changes as soon as possible).
//
// Checks: the group exists (built-in or user-created, else CacheParameterGroupNotFound 404);
// its family is the replication group's engine family and its cluster mode (cluster-enabled)
// the group's, else InvalidParameterCombination; switching to a built-in group from a
// user-created one is refused as not supported yet (the applier only pushes user-created
// groups). The group must be `available` with no operation running (InvalidReplicationGroupState).
//
// One store transaction (Store::SwitchParameterGroup) switches the group, marks its nodes
// pending-reboot when the new group sets static parameters, adds the old group's dynamic
// parameters the new group does not set as `reset` rows of the new group (catalogue default, so
// the agent gets an explicit value: it refuses to drop a config key at runtime), and writes an
// event. The nodes' recorded generation then differs from the new group's (generations are
// unique across groups), so the parameter applier brings every node to the new values.
#pragma once

#include <functional>
#include <vector>

#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/catalog/parameter_group_catalog.h"

namespace cf::orchestrator {

// user_groups: the user-created groups as validation sees them (name, family, cluster mode).
void AddParameterGroupSet(ModifyGroupFrontend& frontend, Store& store,
                          const OrchestratorConfig& config, const ParameterCatalog& catalog,
                          std::function<std::vector<ParameterGroup>()> user_groups,
                          std::function<void()> poke_applier);

}  // namespace cf::orchestrator
