// ModifyGroupFrontend: the ModifyReplicationGroup action.
//
// Dispatch: every known parameter of the action (2017 model + later ones,
// elasticache-api.md §4) belongs to at most one *parameter set*; a set
// validates its parameters against the group and starts what they need. A
// request may touch one set only (else InvalidParameterCombination); known
// parameters no set claims yet are refused with InvalidParameterValue "... is
// not supported by cachefleet yet."; unknown ones with InvalidParameterValue
// "Unknown parameter". Other engineers add sets with AddParameterSet (one
// function per set, in their own files).
//
// The failover set (this file): PrimaryClusterId, AutomaticFailoverEnabled,
// MultiAZEnabled.
//   * PrimaryClusterId: a planned switch-over to the named replica (Failover
//   COORDINATED: no
//     acknowledged write is lost). Needs ApplyImmediately=true (no maintenance
//     window yet); not a member of the group -> CacheClusterNotFound (404); the
//     current primary -> InvalidParameterValue; not running / link down ->
//     InvalidCacheClusterState. Cannot be combined with
//     AutomaticFailoverEnabled / MultiAZEnabled in one request.
//   * AutomaticFailoverEnabled: false on a cluster-mode-enabled group ->
//   InvalidParameterValue;
//     true needs >= 1 replica in every node group ->
//     InvalidParameterCombination; false while Multi-AZ stays enabled ->
//     InvalidParameterCombination.
//   * MultiAZEnabled: true needs automatic failover (as it will be) and >= 1
//   replica in every
//     node group -> InvalidParameterCombination.
//   The group must be `available` with no operation running
//   (InvalidReplicationGroupState). Nothing changes -> the group is returned as
//   it is. Otherwise one transaction writes the operation (failover /
//   modify-failover) and the group `modifying`; Describe shows
//   AutomaticFailover `enabling` / `disabling` until it is applied.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/orch_types.h"
#include "orchestrator/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

// Every ModifyReplicationGroup parameter of the model (top-level names).
const std::set<std::string>& ModifyReplicationGroupParams();

class ModifyGroupFrontend {
 public:
  // Validates the set's parameters of `req` against `group`, starts what they
  // need and fills `result` (the <ModifyReplicationGroupResult> element) with
  // the ReplicationGroup.
  using SetHandler = std::function<std::optional<api::ApiError>(
      const api::ApiRequest& req, const GroupView& group, pugi::xml_node result)>;

  ModifyGroupFrontend(Store& store, const OrchestratorConfig& config,
                      std::function<void(int64_t)> poke);
  void Register(api::Dispatcher& dispatcher);
  // Claims the top-level parameter names (each may belong to one set only).
  void AddParameterSet(const std::string& name, std::vector<std::string> params,
                       SetHandler handler);

  std::optional<api::ApiError> ModifyReplicationGroup(const api::ApiRequest& req,
                                                      pugi::xml_node result);

 private:
  std::optional<api::ApiError> ModifyFailover(const api::ApiRequest& req, const GroupView& group,
                                              pugi::xml_node result);

  struct ParamSet {
    std::string name;
    std::vector<std::string> params;
    SetHandler handler;
  };

  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
  std::vector<ParamSet> sets_;
};

}  // namespace cf::orchestrator
