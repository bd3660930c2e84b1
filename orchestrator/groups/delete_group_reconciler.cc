#include "orchestrator/groups/delete_group_reconciler.h"

#include "common/log.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

Status DeleteGroupReconciler::Step(OperationRecord& op, const std::atomic<bool>& stop) {
  switch (op.state) {
    case OpState::kPending:
      return deps_.store->TransitionOperation(op, OpState::kStopNodes, "stopping nodes");
    case OpState::kStopNodes: {
      auto g = LoadGroup(*deps_.store, op.group_id);
      if (!g) return g.error();
      if (auto st = StopNodes(deps_, *g); !st) return st;
      if (auto st =
              deps_.store->CompleteDelete(op, "Replication group " + op.group_id + " deleted");
          !st)
        return st;
      Logger("ops")->info("[{}] deleted ({} nodes stopped)", op.group_id, g->view.nodes.size());
      return {};
    }
    default:
      return MakeError(Errc::kInternal,
                       std::string("delete-group has no step for state ") + OpStateName(op.state));
  }
}

}  // namespace cf::orchestrator
