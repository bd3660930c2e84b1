// ReplicaCountReconciler: carries out IncreaseReplicaCount / DecreaseReplicaCount (operation
// kinds increase-replica-count / decrease-replica-count; diagrams in operation_types.h) through
// the agents. Payload: the ReplicaPlan (replica_count_validator.h).
//
// Roles: every step works on the group's EFFECTIVE roles: in each node group the node the
// agents report as master (new nodes excluded) is the primary, so replicas added after a
// failover follow the current primary, not the one planned at create time.
//
// Increase (every step idempotent, completion committed with the transition):
//   launch-nodes      LaunchNode of the new replicas (group_formation.h; hold_on_exit comes
//                     with the common NodeSpec).
//   meet (CME)        every new node meets every node of the group (a star on the first old
//                     node above kFullMeshMaxNodes).
//   await-membership  (CME) every node knows every node; new nodes missing peers re-meet.
//   replicate         CME ClusterReplicate / CMD ReplicaOf of each new replica to its node
//                     group's current primary.
//   await-healthy     CME: the create's full health gate (agreement, cluster_state ok, links up,
//                     every node sees every replica); CMD: every replica follows the primary
//                     with the link up. Then one transaction: nodes and group `available`,
//                     event "Finished increasing ...".
// Decrease:
//   forget-nodes (CME) refuses while a removed node is a master owning slots, then CLUSTER
//                     FORGET of the removed nodes on every remaining node.
//   stop-nodes        StopNode(purge) of the removed nodes, (CME) FORGET once more, then one
//                     transaction deletes their rows and ports; group `available`; event.
// No deadline, no rollback: a failing step is retried with backoff (last_error says why).
#pragma once

#include "orchestrator/operations/reconciler_context.h"
#include "orchestrator/replicas/replica_count_validator.h"

namespace cf::orchestrator {

class ReplicaCountReconciler final : public Reconciler {
 public:
  using Reconciler::Reconciler;
  // One state of an increase/decrease-replica-count operation (the path above).
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;

 private:
  struct Context;
  Status Advance(OperationRecord& op, const std::string& step);
  Status Meet(OperationRecord& op, const Context& c);
  Status AwaitMembership(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status AwaitHealthy(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status Forget(const Context& c);
  Status Complete(OperationRecord& op, const Context& c);

};

// A copy of the group whose desired roles are the effective ones: per node group, the single
// node the agents report as master (nodes in `exclude` ignored) becomes the primary.
LoadedGroup WithEffectiveRoles(const LoadedGroup& g, const std::vector<std::string>& exclude);

}  // namespace cf::orchestrator
