// ReplicationGroupFrontend: the CreateReplicationGroup, DescribeReplicationGroups and
// DeleteReplicationGroup actions. Validate (replication_group_validator.h), then persist the
// desired state and the operation in one store transaction, answer at once, and poke the
// operation runner (DESIGN.md "Durable operations"). Rejections change nothing.
//
// Handlers do no network I/O; they run on the API server's threads and only touch the store
// (whose mutex serialises them with everything else).
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

class ReplicationGroupFrontend {
 public:
  // poke(op_id) hands a new operation to the runner.
  ReplicationGroupFrontend(Store& store, const OrchestratorConfig& config,
                           std::function<void(int64_t)> poke);

  // Where CreateReplicationGroup finds the user-created cache parameter groups (set by main;
  // unset = built-in groups only).
  void SetUserParameterGroups(std::function<std::vector<ParameterGroup>()> f) {
    user_parameter_groups_ = std::move(f);
  }

  // Registers the three actions with the dispatcher.
  void Register(api::Dispatcher& dispatcher);

  std::optional<api::ApiError> CreateReplicationGroup(const api::ApiRequest& req,
                                                      pugi::xml_node result);
  std::optional<api::ApiError> DescribeReplicationGroups(const api::ApiRequest& req,
                                                         pugi::xml_node result);
  std::optional<api::ApiError> DeleteReplicationGroup(const api::ApiRequest& req,
                                                      pugi::xml_node result);

 private:
  // DeleteReplicationGroup with RetainPrimaryCluster=true:
  // only cluster-mode-disabled groups (one primary) qualify (else InvalidParameterValue); the
  // group must be `available` (InvalidReplicationGroupState). One transaction (Store::BeginDelete)
  // records a decrease-replica-count operation whose plan removes every replica and retains the
  // current primary; the answer is the group `deleting`. The operation stops the replicas, then
  // Store::CompleteRetainPrimary turns the primary into a standalone cache cluster and deletes
  // the group.
  std::optional<api::ApiError> DeleteRetainingPrimary(const std::string& group_id,
                                                      pugi::xml_node result);

  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
  std::function<std::vector<ParameterGroup>()> user_parameter_groups_;
};

}  // namespace cf::orchestrator
