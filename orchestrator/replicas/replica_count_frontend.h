// ReplicaCountFrontend: the IncreaseReplicaCount and DecreaseReplicaCount actions.
//
// parse (replica_count_validator.h) -> load the group (ReplicationGroupNotFoundFault 404) ->
// check against it -> ONE store transaction (Store::BeginReshard, which also serves topology
// changes inside node groups): the group `modifying`, the new replicas placed (PlaceNewReplicas)
// with status `creating`, or the removed replicas `deleting`, the operation
// (increase-replica-count / decrease-replica-count, payload = the ReplicaPlan) and the event
// "Increasing replica count ..." -> answer with the ReplicationGroup (Status modifying) -> poke
// the runner. A rejection changes nothing.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/replicas/replica_count_validator.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

// Places new replicas of existing node groups (pure; reuses the placement planner). For each
// node group in turn the planner sees only hosts in AZs the node group does not use yet, or
// failing that hosts it does not use, or failing that every host (a preferred AZ only ever
// narrows to hosts of that AZ); ports and load of earlier node groups of the same call count.
// Fills host_id, az and port of `nodes` (one per plan.add entry, same order).
Status PlaceNewReplicas(const FleetSnapshot& snap, const GroupView& group,
                        const std::vector<ReplicaPlan::NewReplica>& add,
                        int64_t host_down_after_ms, std::vector<NodeRecord>& nodes);

class ReplicaCountFrontend {
 public:
  ReplicaCountFrontend(Store& store, const OrchestratorConfig& config,
                       std::function<void(int64_t)> poke);
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> Handle(const api::ApiRequest& req, pugi::xml_node result,
                                      bool increase);

 private:
  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
};

}  // namespace cf::orchestrator
