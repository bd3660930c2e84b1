// NodeTypeReconciler: carries out the modify-node-type operation (ModifyReplicationGroup
// CacheNodeType, modify_node_type.h; states in operation_types.h). The frontend recorded the
// new type and maxmemory as the group's desired state; the payload holds the old and the new.
//
//   pending       GetNodeStatus on every node (fresh used_memory; the last observation when a
//                 node does not answer). A node that holds more than the new type: -> failed,
//                 the old type recorded again, group `available`, event (nothing was sent).
//                 Else -> resize-nodes.
//   resize-nodes  ReconfigureNode(restart=false) on every node in parallel, with its full spec
//                 (BuildNodeSpec, plus the parameter group's values as the parameter applier
//                 sends them) carrying the new maxmemory_bytes (the agent CONFIG SETs maxmemory;
//                 the same spec again changes nothing, so a resumed step may send it twice).
//                 Every node took it: -> succeeded, group `available`, event "... scaled from
//                 A to B (maxmemory N bytes on K node(s))" in the same transaction.
//   rolling-back  the same call with the old maxmemory on every node; then -> failed, group
//                 `available`, event "Failed to scale replication group ... (why); it keeps A".
//
// Failure midway (ElastiCache keeps the old type when a scaling fails):
//   * a node refuses the new limit (the agent answers FAILED_PRECONDITION / INVALID_ARGUMENT):
//     resize-nodes -> rolling-back at once;
//   * an agent that does not answer (or any other error): the step is retried with the
//     runner's backoff until the operation's deadline (operations.node_type_timeout_ms after
//     the request); then OnDeadline: -> rolling-back.
//   The transition to rolling-back records the old type and maxmemory as the group's desired
//   state and the reason in the payload, in one transaction. Rolling back has no deadline: its
//   step is retried with backoff until every node runs the old limit (the group stays
//   `modifying` with the operation's last_error meanwhile), so no node is left with a limit
//   the records do not show.
#pragma once

#include "orchestrator/catalog/parameter_group_catalog.h"
#include "orchestrator/modify/modify_node_type.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {

class NodeTypeReconciler final : public Reconciler {
 public:
  NodeTypeReconciler(ReconcilerDeps deps, const ParameterCatalog& catalog)
      : Reconciler(std::move(deps)), catalog_(catalog) {}
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;
  // pending / resize-nodes: -> rolling-back; rolling-back: its step (no deadline).
  Status OnDeadline(OperationRecord& op) override;

 private:
  Status CheckMemory(OperationRecord& op, const NodeTypePayload& p, const LoadedGroup& g);
  Status Resize(OperationRecord& op, NodeTypePayload p, const LoadedGroup& g);
  Status RollBack(OperationRecord& op, const NodeTypePayload& p, const LoadedGroup& g);
  Status StartRollback(OperationRecord& op, NodeTypePayload p, const std::string& why);
  // ReconfigureNode with `maxmemory` on every node in parallel; `refused` is set when a node
  // refused the limit (an answer, not a lost call).
  Status SendAll(const LoadedGroup& g, uint64_t maxmemory, bool* refused);

  const ParameterCatalog& catalog_;
};

}  // namespace cf::orchestrator
