// RollingRestartReconciler: carries out the rolling-restart operation (operation_types.h)
// that applies static parameters, RebootCacheCluster and an EngineVersion upgrade. Payload and
// order: rolling_restart_types.h.
//
//   pending        nothing to restart -> succeeded; else -> restart-nodes
//   restart-nodes  one action per step, each committed with the payload (the per-node progress)
//                  in one transaction (Store::UpdateOperationWithChange):
//     restart      1. GetNodeStatus (its pid) -> progress "restarting" + pid, node status
//                     `rebooting` (DescribeCacheClusters: "rebooting cluster nodes"), event
//                     "Rebooting cache node 0001" on the cache cluster.
//                  2. ReconfigureNode(restart=true, force_restart=true) with the node's full
//                     spec (BuildNodeSpec with the target engine version, plus every dynamic and
//                     static value of the parameter group) -> "restarted". A node whose pid
//                     already differs from the recorded one was restarted before a crash: not
//                     restarted again. A node that is down gets the spec and RestartNode.
//     await        GetNodeStatus every poll_interval_ms until it runs and is synced: a replica
//                  follows the node group's primary with its link up (repointed when it does
//                  not), a primary restarted in place is master (cluster mode: cluster_state
//                  ok); up to step_wait_timeout_ms, then an error (retried with backoff) ->
//                  "done", node `available`, its parameter generation recorded and
//                  pending-reboot cleared (Store FailoverChange::params_applied), event
//                  "Cache node 0001 restarted".
//     switch-over  the primary is to be restarted and its node group has a replica: the
//                  replica (restarted ones first) that runs with its link up is persisted, then
//                  Failover COORDINATED on it (no acknowledged write lost; writes pause until it
//                  caught up), the other members follow it (ReplicaOf / ClusterReplicate), and
//                  the new primary is committed with the event "Failover from primary node <p>
//                  to replica node <r> completed" (as a PrimaryClusterId switch-over).
//     done         -> succeeded: group `available` (and its EngineVersion recorded), event.
//
// No deadline and no rollback: a node that does not come back keeps the group `modifying` with
// the operation's last_error (GET /cachefleet/health), and the step is retried with backoff.
// Every agent call has a deadline (agent_rpc_timeout_ms; restarts
// failover.restart_ready_timeout_ms more; the switch-over failover.failover_timeout_ms more).
#pragma once

#include "orchestrator/catalog/parameter_group_catalog.h"
#include "orchestrator/operations/reconciler_context.h"
#include "orchestrator/rolling_restart/rolling_restart_types.h"

namespace cf::orchestrator {

class RollingRestartReconciler final : public Reconciler {
 public:
  RollingRestartReconciler(ReconcilerDeps deps, FailoverSettings settings,
                           const ParameterCatalog& catalog, const ParameterGroupCatalogue& builtins)
      : Reconciler(std::move(deps)), fo_(settings), catalog_(catalog), builtins_(builtins) {}
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;

 private:
  Status Restart(OperationRecord& op, RollingRestartPayload p, const LoadedGroup& g,
                 const RestartAction& a);
  Status Await(OperationRecord& op, RollingRestartPayload p, const LoadedGroup& g,
               const RestartAction& a, const std::atomic<bool>& stop);
  Status SwitchOver(OperationRecord& op, RollingRestartPayload p, const LoadedGroup& g,
                    const RestartAction& a);
  Status Finish(OperationRecord& op, const RollingRestartPayload& p, const LoadedGroup& g);
  // The parameter group's values, family and generation (user-created groups; built-in ones
  // have none).
  struct Params {
    std::map<std::string, std::string> values;
    std::string family;
    int64_t generation = 0;
    bool user = false;
  };
  Result<Params> LoadParams(const std::string& parameter_group);
  void Observe(const NodeRecord& n, const pb::NodeStatus& s);

  FailoverSettings fo_;
  const ParameterCatalog& catalog_;
  const ParameterGroupCatalogue& builtins_;
};

}  // namespace cf::orchestrator
