// FailoverReconciler: carries out the failover-family operations
// (operation_types.h):
//
//   failover (payload failover_types.h FailoverPayload; the reason picks the
//   path)
//     pending          checks that there is something to do: an automatic
//     failover whose old
//                      primary answers as a running master again ends here
//                      (succeeded, no event). TestFailover -> kill-primary,
//                      others -> promote.
//     kill-primary     TestFailover: KillNode(old primary) (the process really
//     dies; the agent
//                      holds it down: NODE_EXITED).
//     promote          chooses the replica once (running, answering, on a host
//     that is up,
//                      highest replication offset; persisted in the payload
//                      before the agent is asked, so a resumed operation
//                      promotes the same node) and calls Failover on it: FORCE
//                      (TAKEOVER when a majority of the cluster's primaries is
//                      not reachable), COORDINATED for a PrimaryClusterId
//                      switch-over. Committed with the swap of the desired
//                      roles and the events "Failover from primary node <p> to
//                      replica node <r> completed" (cache cluster <p>, then the
//                      group).
//     repoint-replicas the other replicas (and, after a switch-over, the old
//     primary) follow the
//                      new primary: ReplicaOf (CMD) / ClusterReplicate (CME).
//                      Replicas that are down are left to the monitor
//                      (recover-node later).
//     recover-node     test / automatic: event "Recovering cache nodes 0001"
//     (old primary) on
//                      entry; RestartNode(old primary, replica_of = new
//                      primary); then the group is `available` again with
//                      "Finished recovery for cache nodes 0001". host-down /
//                      switch-over end after repoint-replicas (the monitor
//                      recovers the old primary when its host returns).
//     Past the deadline (failover.operation_timeout_ms) before the promotion:
//     the old primary is restarted in place (when its host is up) and the
//     operation fails with an event; the group is `available` again. After the
//     promotion the deadline only ends a recovery that cannot happen (host
//     down): the monitor recovers the node later.
//
//   recover-node (RecoverPayload): pending checks the node really needs it
//   (running and
//     following the primary -> succeeded, no event); recover-node: RestartNode
//     (as a replica of the shard's current primary, or in place), or ReplicaOf
//     / ClusterReplicate when it runs as a stray primary. Events: "Recovering
//     cache nodes 0001" ... "Finished recovery for cache nodes 0001", or "Cache
//     node 0001 restarted" in place.
//
//   modify-failover (FailoverSettingPayload): applies AutomaticFailover /
//   MultiAZ in one
//     transaction with the event; the group is `available` again. A change of
//     AutomaticFailover first marks the group's nodes for a new spec
//     (Store::MarkNodesRespec): the parameter applier then sends each node its
//     spec with the new hold_max_ms.
//
// Every agent call has a deadline; every step is idempotent (KillNode of a held
// node, Failover of a node that is already primary, ReplicaOf /
// ClusterReplicate of the current master and RestartNode of a node that follows
// replica_of all succeed without acting).
#pragma once

#include "orchestrator/failover/failover_types.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {

class FailoverReconciler final : public Reconciler {
 public:
  FailoverReconciler(ReconcilerDeps deps, FailoverSettings settings)
      : Reconciler(std::move(deps)), fo_(settings) {}
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;
  Status OnDeadline(OperationRecord& op) override;

 private:
  Status StepFailover(OperationRecord& op);
  Status StepRecover(OperationRecord& op);
  Status StepModify(OperationRecord& op);
  Status Promote(OperationRecord& op, FailoverPayload p, const LoadedGroup& g);
  Status Repoint(OperationRecord& op, const FailoverPayload& p, const LoadedGroup& g);
  Status RecoverOld(OperationRecord& op, const FailoverPayload& p, const LoadedGroup& g);
  bool HostUp(const LoadedGroup& g, const NodeRecord& n) const;
  void Observe(const NodeRecord& n, const pb::NodeStatus& s);

  FailoverSettings fo_;
};

}  // namespace cf::orchestrator
