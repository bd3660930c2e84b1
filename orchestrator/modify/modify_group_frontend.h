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
// ApplyImmediately (modify_group_frontend.cc): a set added with AddDeferrableParameterSet also
// has a validator that checks exactly what its handler checks and writes nothing. With
// ApplyImmediately=false (or absent: ElastiCache's default) a valid request of such a set is
// recorded in the group's pending modifications (shown in PendingModifiedValues) with an
// event, and the maintenance scheduler replays it in the group's maintenance window through
// ReplayPending: the set's handler with ApplyImmediately=true. A successful
// ApplyImmediately=true request clears the pending values of its parameters (an immediate
// change supersedes). Sets added with AddParameterSet ignore ApplyImmediately (they decide).
// Deferrable sets take scalar parameters only.
//
// The failover set (this file, deferrable): PrimaryClusterId, AutomaticFailoverEnabled,
// MultiAZEnabled.
//   * PrimaryClusterId: a planned switch-over to the named replica (Failover
//   COORDINATED: no
//     acknowledged write is lost). Not a member of the group -> CacheClusterNotFound (404); the
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
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;
struct FailoverChange;

// Every ModifyReplicationGroup parameter of the model (top-level names).
const std::set<std::string>& ModifyReplicationGroupParams();

class ModifyGroupFrontend {
 public:
  // Validates the set's parameters of `req` against `group`, starts what they
  // need and fills `result` (the <ModifyReplicationGroupResult> element) with
  // the ReplicationGroup.
  using SetHandler = std::function<std::optional<api::ApiError>(
      const api::ApiRequest& req, const GroupView& group, pugi::xml_node result)>;

  // What a deferrable set's validator found: a fault, or whether the request changes
  // anything (false: the values requested are the current ones).
  struct SetValidation {
    std::optional<api::ApiError> fault;
    bool changes = true;
  };
  using SetValidator =
      std::function<SetValidation(const api::ApiRequest& req, const GroupView& group)>;

  ModifyGroupFrontend(Store& store, const OrchestratorConfig& config,
                      std::function<void(int64_t)> poke);
  void Register(api::Dispatcher& dispatcher);
  // Claims the top-level parameter names (each may belong to one set only).
  void AddParameterSet(const std::string& name, std::vector<std::string> params,
                       SetHandler handler);
  // The same for a set whose changes may wait for the maintenance window (see above).
  void AddDeferrableParameterSet(const std::string& name, std::vector<std::string> params,
                                 SetValidator validate, SetHandler handler);
  // Called after pending modifications were recorded (wakes the maintenance scheduler).
  void SetPendingListener(std::function<void()> listener) {
    pending_listener_ = std::move(listener);
  }

  std::optional<api::ApiError> ModifyReplicationGroup(const api::ApiRequest& req,
                                                      pugi::xml_node result);
  // What a set's handler does once its request is valid and changes something: records `op`
  // with `change` (Store::BeginGroupOperation: the group must still be `available` with no
  // operation running, else InvalidReplicationGroupState), fills `result` with the group as it
  // now is and pokes the runner.
  std::optional<api::ApiError> BeginOperation(const GroupView& group, const OperationRecord& op,
                                              const FailoverChange& change,
                                              pugi::xml_node result);
  // The maintenance scheduler's replay of one recorded batch: `params` (parameter -> value)
  // sent as a ModifyReplicationGroup with ApplyImmediately=true, through the same validation
  // and handler. Leaves the pending rows alone (the scheduler removes the batch it replayed).
  std::optional<api::ApiError> ReplayPending(const std::string& group_id,
                                             const std::map<std::string, std::string>& params,
                                             pugi::xml_node result);

 private:
  struct ParamSet {
    std::string name;
    std::vector<std::string> params;
    SetHandler handler;
    SetValidator validate;  // empty: ApplyImmediately is the handler's business
  };

  std::optional<api::ApiError> Dispatch(const api::ApiRequest& req, pugi::xml_node result,
                                        bool replay);
  std::optional<api::ApiError> ModifyFailover(const api::ApiRequest& req, const GroupView& group,
                                              pugi::xml_node result);
  SetValidation ValidateFailover(const api::ApiRequest& req, const GroupView& group);
  // the ApplyImmediately=false path
  std::optional<api::ApiError> Defer(const ParamSet& set, const std::vector<std::string>& names,
                                     const api::ApiRequest& req, const GroupView& group,
                                     pugi::xml_node result);
  void Supersede(const std::string& group_id, const std::vector<std::string>& names);

  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
  std::vector<ParamSet> sets_;
  std::function<void()> pending_listener_;
};

}  // namespace cf::orchestrator
