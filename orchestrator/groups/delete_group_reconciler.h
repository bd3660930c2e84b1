// DeleteGroupReconciler: carries out a delete-group operation (operation_types.h).
//
//   pending     -> stop-nodes
//   stop-nodes  StopNode(purge_data=true) on every node not yet stopped, in parallel; each
//               stopped node is marked so a retry only calls the rest. An unreachable agent
//               fails the step, which the runner retries with backoff for ever: the group
//               stays `deleting` and never becomes `available` again.
//               When all are stopped, one transaction removes the nodes, port allocations,
//               node groups, tags and the group and writes the "deleted" event.
// Delete has no deadline and no cancel: once recorded it is past the point of no return.
#pragma once

#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {

class DeleteGroupReconciler final : public Reconciler {
 public:
  using Reconciler::Reconciler;
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;
};

}  // namespace cf::orchestrator
