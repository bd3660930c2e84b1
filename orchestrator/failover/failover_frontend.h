// FailoverFrontend: the TestFailover action.
//
//   ReplicationGroupId, NodeGroupId    both required (MissingParameter); syntax
//   checked before any
//                                      lookup (InvalidParameterValue);
//                                      NodeGroupId 1-4 digits, zero-padded ("1"
//                                      -> "0001"); unknown parameters ->
//                                      InvalidParameterValue.
//   unknown group                      ReplicationGroupNotFoundFault (404)
//   unknown node group                 NodeGroupNotFoundFault (404)
//   automatic failover disabled        InvalidReplicationGroupState
//   group not `available`, or another  InvalidReplicationGroupState (a failover
//   of the same group operation running                  is still running: "the
//   first node replacement must
//                                      complete before a subsequent call")
//   no replica of the node group runs  InvalidCacheClusterState
//   more than failover.test_failover_max_per_window node groups tested in the
//   rolling failover.test_failover_window_ms   TestFailoverNotAvailableFault
// Accepted: one transaction writes the failover operation (reason test), the
// group `modifying` and the event "Test Failover API called for node group
// <id>"; the answer is the group; the runner is poked. Different groups fail
// over concurrently (one operation per group).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

class FailoverFrontend {
 public:
  FailoverFrontend(Store& store, const OrchestratorConfig& config,
                   std::function<void(int64_t)> poke);
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> TestFailover(const api::ApiRequest& req, pugi::xml_node result);

 private:
  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
};

}  // namespace cf::orchestrator
