// What starts a rolling restart (rolling_restart_reconciler.h):
//
//   * static parameters: StartPendingRollingRestarts, run after every pass of the parameter
//     applier (wired in app.cc): every `available` group without an unfinished operation whose nodes
//     are pending-reboot (a static parameter of its user parameter group changed, it switched
//     to a group that sets one, or it was created with one) gets a rolling restart of those
//     nodes. A busy group gets it once it is available again. ElastiCache itself waits for a
//     reboot; cachefleet restarts at once, replicas first with a switch-over, so the group stays
//     writable.
//   * RebootCacheCluster (CacheClusterId, CacheNodeIdsToReboot.CacheNodeId.N; every cache
//     cluster has the one node 0001): restarts that node (a primary in place: a brief
//     unavailability, as on ElastiCache; a replica: its primary keeps serving). Faults:
//     MissingParameter; malformed id / unknown parameter / unknown node id ->
//     InvalidParameterValue; unknown cluster -> CacheClusterNotFound (404); a standalone cluster
//     -> InvalidParameterValue (not supported yet); the group not `available`, an operation
//     running or the node not `available` -> InvalidCacheClusterState. Answers the CacheCluster,
//     status `rebooting cluster nodes` (also in DescribeCacheClusters until it is back).
//   * ModifyReplicationGroup EngineVersion (the "engine-version" parameter set, ApplyImmediately
//     =true): matched like DescribeCacheEngineVersions (`7`, `7.0`, `7.0.15`: the highest match)
//     against the versions every host running one of the group's nodes reports; none ->
//     InvalidParameterValue naming what they offer; lower than the group's -> InvalidParameterValue
//     (no downgrade); another major version (parameter group family) -> InvalidParameterValue;
//     the same -> the group unchanged; higher -> a rolling restart of every node with the new
//     version, the group's EngineVersion recorded at its end. The set is deferrable:
//     ApplyImmediately=false records it (after ValidateEngineVersion) for the maintenance
//     window, where the maintenance scheduler replays it through the same handler.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "orchestrator/api/api_types.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/catalog/parameter_group_catalog.h"

namespace cf::orchestrator {

class Store;

// Starts the rolling restarts of pending-reboot groups; returns how many started.
int StartPendingRollingRestarts(Store& store, const std::function<void(int64_t)>& poke);

class RebootFrontend {
 public:
  RebootFrontend(Store& store, const OrchestratorConfig& config,
                 std::function<void(int64_t)> poke)
      : store_(store), config_(config), poke_(std::move(poke)) {}
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> RebootCacheCluster(const api::ApiRequest& req,
                                                  pugi::xml_node result);

 private:
  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
};

// The EngineVersion checks, writing nothing: a fault, or the resolved version (`changes` false
// when it is the group's).
struct EngineVersionCheck {
  std::optional<api::ApiError> fault;
  bool changes = false;
  std::string version;  // resolved full version
};
EngineVersionCheck ValidateEngineVersion(Store& store, const OrchestratorConfig& config,
                                         const ParameterCatalog& catalog,
                                         const api::ApiRequest& req, const GroupView& group);

// Registers the "engine-version" set (EngineVersion) on the frontend.
void AddEngineVersionSet(ModifyGroupFrontend& frontend, Store& store,
                         const OrchestratorConfig& config, const ParameterCatalog& catalog,
                         std::function<void(int64_t)> poke);

}  // namespace cf::orchestrator
