// CreateGroupReconciler: carries out a create-group operation (see the state diagram in
// operation_types.h) by driving the agents, never Redis itself.
//
// Steps (each idempotent; its completion is committed with the transition):
//   launch-nodes     LaunchNode on every node in parallel. A RESOURCE_EXHAUSTED reply means the
//                    port is taken by a process we do not manage: the port is blocked, the node
//                    moves to the next free port of its host (persisted), and the launch is
//                    retried. CME: each node's cluster node id is recorded.
//   assign-slots     CME: ClusterAddSlots on every node with config epochs 1..N (distinct epochs
//                    on fresh nodes avoid epoch-collision rounds); primaries get their slots.
//   meet             CME: CLUSTER MEET. Up to kFullMeshMaxNodes nodes, every pair meets directly
//                    (no wait for gossip); larger groups meet the first node (star).
//   await-membership CME: polls GetNodeStatus on all nodes every poll_interval_ms until every
//                    node knows every node and none is still in handshake. Nodes that still
//                    miss peers are re-met every second.
//   replicate        ClusterReplicate (CME; retried quickly while the master is unknown) or
//                    ReplicaOf (CMD) on every replica, in parallel.
//   await-healthy    Polls until the full health gate (§2) holds: every node's slot-owner
//                    signature equals the plan, cluster_state ok and no open slots everywhere,
//                    replicas follow their primary with master_link_up, and every node sees
//                    every replica under its primary (when the agent reports replicas_seen).
//                    Then one transaction makes the group, its node groups and nodes
//                    `available` and writes the "created" event.
// Replicas are attached as soon as the nodes know each other rather than after slot agreement:
// both travel by gossip, so waiting for them together saves a round of gossip; the gate before
// `available` is unchanged.
// A wait that exceeds step_wait_timeout_ms fails the step (retried with backoff by the
// runner). Past the operation's deadline (create_timeout_ms) the create rolls back: every node
// is stopped and purged, the group becomes `create-failed` with an event naming the last error.
// If some agent stays unreachable for rollback_timeout_ms the group is marked create-failed
// anyway (the event says so; DeleteReplicationGroup retries the stops).
#pragma once

#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {

class CreateGroupReconciler final : public Reconciler {
 public:
  using Reconciler::Reconciler;
  // One state of the create (the path above); the last one marks the group available.
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;
  // Past create_timeout_ms: moves the operation to rolling-back.
  Status OnDeadline(OperationRecord& op) override;

 private:
  Status LaunchNodes(OperationRecord& op, const LoadedGroup& g);
  Status AssignSlots(OperationRecord& op, const LoadedGroup& g);
  Status Meet(OperationRecord& op, const LoadedGroup& g);
  Status AwaitMembership(OperationRecord& op, const LoadedGroup& g, const std::atomic<bool>& stop);
  Status Replicate(OperationRecord& op, const LoadedGroup& g, const std::atomic<bool>& stop);
  Status AwaitHealthy(OperationRecord& op, const LoadedGroup& g, const std::atomic<bool>& stop);
  Status RollBack(OperationRecord& op, const LoadedGroup& g);
  Status Advance(OperationRecord& op, const std::string& step);

};

}  // namespace cf::orchestrator
