#include "orchestrator/core/operation_types.h"

namespace cf::orchestrator {

const char* OpKindName(OpKind k) {
  switch (k) {
    case OpKind::kCreateGroup:
      return "create-group";
    case OpKind::kDeleteGroup:
      return "delete-group";
    case OpKind::kReshardScaleOut:
      return "reshard-scale-out";
    case OpKind::kReshardScaleIn:
      return "reshard-scale-in";
    case OpKind::kIncreaseReplicas:
      return "increase-replica-count";
    case OpKind::kDecreaseReplicas:
      return "decrease-replica-count";
    case OpKind::kFailover:
      return "failover";
    case OpKind::kRecoverNode:
      return "recover-node";
    case OpKind::kModifyFailover:
      return "modify-failover";
    case OpKind::kRollingRestart:
      return "rolling-restart";
    case OpKind::kModifyNodeType:
      return "modify-node-type";
  }
  return "unknown";
}

std::optional<OpKind> ParseOpKind(const std::string& s) {
  if (s == "create-group") return OpKind::kCreateGroup;
  if (s == "delete-group") return OpKind::kDeleteGroup;
  if (s == "reshard-scale-out") return OpKind::kReshardScaleOut;
  if (s == "reshard-scale-in") return OpKind::kReshardScaleIn;
  if (s == "increase-replica-count") return OpKind::kIncreaseReplicas;
  if (s == "decrease-replica-count") return OpKind::kDecreaseReplicas;
  if (s == "failover") return OpKind::kFailover;
  if (s == "recover-node") return OpKind::kRecoverNode;
  if (s == "modify-failover") return OpKind::kModifyFailover;
  if (s == "rolling-restart") return OpKind::kRollingRestart;
  if (s == "modify-node-type") return OpKind::kModifyNodeType;
  return std::nullopt;
}

bool IsReshard(OpKind k) { return k == OpKind::kReshardScaleOut || k == OpKind::kReshardScaleIn; }

const char* OpStateName(OpState s) {
  switch (s) {
    case OpState::kPending:
      return "pending";
    case OpState::kLaunchNodes:
      return "launch-nodes";
    case OpState::kAssignSlots:
      return "assign-slots";
    case OpState::kMeet:
      return "meet";
    case OpState::kAwaitMembership:
      return "await-membership";
    case OpState::kReplicate:
      return "replicate";
    case OpState::kAwaitHealthy:
      return "await-healthy";
    case OpState::kRollingBack:
      return "rolling-back";
    case OpState::kStopNodes:
      return "stop-nodes";
    case OpState::kPlanMoves:
      return "plan-moves";
    case OpState::kMoveSlots:
      return "move-slots";
    case OpState::kForgetNodes:
      return "forget-nodes";
    case OpState::kKillPrimary:
      return "kill-primary";
    case OpState::kPromote:
      return "promote";
    case OpState::kRepointReplicas:
      return "repoint-replicas";
    case OpState::kRecoverNode:
      return "recover-node";
    case OpState::kRestartNodes:
      return "restart-nodes";
    case OpState::kResizeNodes:
      return "resize-nodes";
    case OpState::kSucceeded:
      return "succeeded";
    case OpState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::optional<OpState> ParseOpState(const std::string& s) {
  for (OpState st :
       {OpState::kPending, OpState::kLaunchNodes, OpState::kAssignSlots, OpState::kMeet,
        OpState::kAwaitMembership, OpState::kReplicate, OpState::kAwaitHealthy,
        OpState::kRollingBack, OpState::kStopNodes, OpState::kPlanMoves, OpState::kMoveSlots,
        OpState::kForgetNodes, OpState::kKillPrimary, OpState::kPromote,
        OpState::kRepointReplicas, OpState::kRecoverNode, OpState::kRestartNodes,
        OpState::kResizeNodes, OpState::kSucceeded, OpState::kFailed})
    if (s == OpStateName(st)) return st;
  return std::nullopt;
}

bool IsTerminal(OpState s) { return s == OpState::kSucceeded || s == OpState::kFailed; }

OpState NextState(OpKind kind, Topology topology, OpState from) {
  const bool cme = topology == Topology::kClusterModeEnabled;
  switch (kind) {
    case OpKind::kCreateGroup:
      switch (from) {
        case OpState::kPending:
          return OpState::kLaunchNodes;
        case OpState::kLaunchNodes:
          return cme ? OpState::kAssignSlots : OpState::kReplicate;
        case OpState::kAssignSlots:
          return OpState::kMeet;
        case OpState::kMeet:
          return OpState::kAwaitMembership;
        case OpState::kAwaitMembership:
          return OpState::kReplicate;
        case OpState::kReplicate:
          return OpState::kAwaitHealthy;
        case OpState::kAwaitHealthy:
          return OpState::kSucceeded;
        case OpState::kRollingBack:
          return OpState::kFailed;
        default:
          return from;
      }
    case OpKind::kDeleteGroup:
      switch (from) {
        case OpState::kPending:
          return OpState::kStopNodes;
        case OpState::kStopNodes:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kReshardScaleOut:
      switch (from) {
        case OpState::kPending:
          return OpState::kLaunchNodes;
        case OpState::kLaunchNodes:
          return OpState::kMeet;
        case OpState::kMeet:
          return OpState::kAwaitMembership;
        case OpState::kAwaitMembership:
          return OpState::kReplicate;
        case OpState::kReplicate:
          return OpState::kPlanMoves;
        case OpState::kPlanMoves:
          return OpState::kMoveSlots;
        case OpState::kMoveSlots:
          return OpState::kAwaitHealthy;
        case OpState::kAwaitHealthy:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kReshardScaleIn:
      switch (from) {
        case OpState::kPending:
          return OpState::kPlanMoves;
        case OpState::kPlanMoves:
          return OpState::kMoveSlots;
        case OpState::kMoveSlots:
          return OpState::kAwaitHealthy;
        case OpState::kAwaitHealthy:
          return OpState::kForgetNodes;
        case OpState::kForgetNodes:
          return OpState::kStopNodes;
        case OpState::kStopNodes:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kIncreaseReplicas:
      switch (from) {
        case OpState::kPending:
          return OpState::kLaunchNodes;
        case OpState::kLaunchNodes:
          return cme ? OpState::kMeet : OpState::kReplicate;
        case OpState::kMeet:
          return OpState::kAwaitMembership;
        case OpState::kAwaitMembership:
          return OpState::kReplicate;
        case OpState::kReplicate:
          return OpState::kAwaitHealthy;
        case OpState::kAwaitHealthy:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kDecreaseReplicas:
      switch (from) {
        case OpState::kPending:
          return cme ? OpState::kForgetNodes : OpState::kStopNodes;
        case OpState::kForgetNodes:
          return OpState::kStopNodes;
        case OpState::kStopNodes:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kFailover:
      switch (from) {
        case OpState::kPending:
        case OpState::kKillPrimary:
          return OpState::kPromote;
        case OpState::kPromote:
          return OpState::kRepointReplicas;
        case OpState::kRepointReplicas:
          return OpState::kRecoverNode;
        case OpState::kRecoverNode:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kRecoverNode:
      switch (from) {
        case OpState::kPending:
          return OpState::kRecoverNode;
        case OpState::kRecoverNode:
          return OpState::kSucceeded;
        default:
          return from;
      }
    case OpKind::kModifyFailover:
      return from == OpState::kPending ? OpState::kSucceeded : from;
    case OpKind::kRollingRestart:
      if (from == OpState::kPending) return OpState::kRestartNodes;
      return from == OpState::kRestartNodes ? OpState::kSucceeded : from;
    case OpKind::kModifyNodeType:
      if (from == OpState::kPending) return OpState::kResizeNodes;
      if (from == OpState::kResizeNodes) return OpState::kSucceeded;
      return from == OpState::kRollingBack ? OpState::kFailed : from;
  }
  return from;
}

bool IsValidTransition(OpKind kind, Topology topology, OpState from, OpState to) {
  if (IsTerminal(from)) return false;  // a finished operation is never overwritten
  if (from == to) return false;
  const bool cme = topology == Topology::kClusterModeEnabled;
  switch (kind) {
    case OpKind::kCreateGroup:
      if (to == OpState::kRollingBack) return from != OpState::kRollingBack;
      switch (from) {
        case OpState::kPending:
          return to == OpState::kLaunchNodes;
        case OpState::kLaunchNodes:
          return to == (cme ? OpState::kAssignSlots : OpState::kReplicate);
        case OpState::kAssignSlots:
          return cme && to == OpState::kMeet;
        case OpState::kMeet:
          return cme && to == OpState::kAwaitMembership;
        case OpState::kAwaitMembership:
          return cme && to == OpState::kReplicate;
        case OpState::kReplicate:
          return to == OpState::kAwaitHealthy;
        case OpState::kAwaitHealthy:
          return to == OpState::kSucceeded;
        case OpState::kRollingBack:
          return to == OpState::kFailed;
        default:
          return false;
      }
    case OpKind::kDeleteGroup:
      switch (from) {
        case OpState::kPending:
          return to == OpState::kStopNodes;
        case OpState::kStopNodes:
          return to == OpState::kSucceeded;
        default:
          return false;
      }
    case OpKind::kReshardScaleOut:
    case OpKind::kReshardScaleIn:
      // One path each, no rollback, no skips: exactly the diagram's successor.
      return cme && NextState(kind, topology, from) == to;
    case OpKind::kIncreaseReplicas:
    case OpKind::kDecreaseReplicas:
      // One path per topology (NextState), no rollback, no skips.
      return NextState(kind, topology, from) == to;
    case OpKind::kFailover:
      switch (from) {
        case OpState::kPending:  // kSucceeded: nothing to fail over (the primary is back)
          return to == OpState::kKillPrimary || to == OpState::kPromote ||
                 to == OpState::kSucceeded || to == OpState::kFailed;
        case OpState::kKillPrimary:
          return to == OpState::kPromote || to == OpState::kFailed;
        case OpState::kPromote:
          return to == OpState::kRepointReplicas || to == OpState::kFailed;
        case OpState::kRepointReplicas:
          return to == OpState::kRecoverNode || to == OpState::kSucceeded;
        case OpState::kRecoverNode:
          return to == OpState::kSucceeded;
        default:
          return false;
      }
    case OpKind::kRecoverNode:
      switch (from) {
        case OpState::kPending:  // kSucceeded: the node already runs as it should
          return to == OpState::kRecoverNode || to == OpState::kSucceeded ||
                 to == OpState::kFailed;
        case OpState::kRecoverNode:
          return to == OpState::kSucceeded || to == OpState::kFailed;
        default:
          return false;
      }
    case OpKind::kModifyFailover:
      return from == OpState::kPending && (to == OpState::kSucceeded || to == OpState::kFailed);
    case OpKind::kRollingRestart:  // no rollback: a node runs its new spec once restarted
      if (from == OpState::kPending)
        return to == OpState::kRestartNodes || to == OpState::kSucceeded;
      return from == OpState::kRestartNodes && to == OpState::kSucceeded;
    case OpKind::kModifyNodeType:  // the old type comes back on failure
      if (from == OpState::kPending)
        return to == OpState::kResizeNodes || to == OpState::kRollingBack || to == OpState::kFailed;
      if (from == OpState::kResizeNodes)
        return to == OpState::kSucceeded || to == OpState::kRollingBack;
      return from == OpState::kRollingBack && to == OpState::kFailed;
  }
  return false;
}

Status CheckTransition(OpKind kind, Topology topology, OpState from, OpState to) {
  if (IsValidTransition(kind, topology, from, to)) return {};
  return MakeError(Errc::kFailedPrecondition, std::string("illegal ") + OpKindName(kind) +
                                                  " transition " + OpStateName(from) + " -> " +
                                                  OpStateName(to));
}

}  // namespace cf::orchestrator
