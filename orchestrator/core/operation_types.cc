#include "orchestrator/core/operation_types.h"

#include <algorithm>

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

namespace {

constexpr auto kCme = Topology::kClusterModeEnabled;
constexpr auto kCmd = Topology::kClusterModeDisabled;
using S = OpState;

// THE operation table: every kind's paths and side exits. NextState, IsValidTransition and the
// state diagrams of docs/orchestrator.md ("The operation table", checked by a core unit test)
// all come from here.
std::vector<OpKindPaths> BuildTable() {
  return {
      {OpKind::kCreateGroup,
       false,
       {{"cluster mode enabled", kCme,
         {S::kPending, S::kLaunchNodes, S::kAssignSlots, S::kMeet, S::kAwaitMembership,
          S::kReplicate, S::kAwaitHealthy, S::kSucceeded}},
        {"cluster mode disabled", kCmd,
         {S::kPending, S::kLaunchNodes, S::kReplicate, S::kAwaitHealthy, S::kSucceeded}},
        {"rollback", std::nullopt, {S::kRollingBack, S::kFailed}}},
       {{{}, S::kRollingBack, "past operations.create_timeout_ms; the point of no return"}}},
      {OpKind::kDeleteGroup,
       false,
       {{"", std::nullopt, {S::kPending, S::kStopNodes, S::kSucceeded}}},
       {}},
      {OpKind::kReshardScaleOut,
       true,
       {{"", std::nullopt,
         {S::kPending, S::kLaunchNodes, S::kMeet, S::kAwaitMembership, S::kReplicate,
          S::kPlanMoves, S::kMoveSlots, S::kAwaitHealthy, S::kSucceeded}}},
       {}},
      {OpKind::kReshardScaleIn,
       true,
       {{"", std::nullopt,
         {S::kPending, S::kPlanMoves, S::kMoveSlots, S::kAwaitHealthy, S::kForgetNodes,
          S::kStopNodes, S::kSucceeded}}},
       {}},
      {OpKind::kIncreaseReplicas,
       false,
       {{"cluster mode enabled", kCme,
         {S::kPending, S::kLaunchNodes, S::kMeet, S::kAwaitMembership, S::kReplicate,
          S::kAwaitHealthy, S::kSucceeded}},
        {"cluster mode disabled", kCmd,
         {S::kPending, S::kLaunchNodes, S::kReplicate, S::kAwaitHealthy, S::kSucceeded}}},
       {}},
      {OpKind::kDecreaseReplicas,
       false,
       {{"cluster mode enabled", kCme, {S::kPending, S::kForgetNodes, S::kStopNodes, S::kSucceeded}},
        {"cluster mode disabled", kCmd, {S::kPending, S::kStopNodes, S::kSucceeded}}},
       {}},
      {OpKind::kFailover,
       false,
       {{"automatic", std::nullopt,
         {S::kPending, S::kPromote, S::kRepointReplicas, S::kRecoverNode, S::kSucceeded}},
        {"TestFailover", std::nullopt,
         {S::kPending, S::kKillPrimary, S::kPromote, S::kRepointReplicas, S::kRecoverNode,
          S::kSucceeded}},
        {"old primary follows (nothing to recover)", std::nullopt,
         {S::kPending, S::kPromote, S::kRepointReplicas, S::kSucceeded}},
        {"nothing to fail over (the primary is back)", std::nullopt,
         {S::kPending, S::kSucceeded}}},
       {{{S::kPending, S::kKillPrimary, S::kPromote}, S::kFailed,
         "past the deadline before the promotion; the old primary restarted in place"}}},
      {OpKind::kRecoverNode,
       false,
       {{"", std::nullopt, {S::kPending, S::kRecoverNode, S::kSucceeded}},
        {"the node already runs as it should", std::nullopt, {S::kPending, S::kSucceeded}}},
       {{{S::kPending, S::kRecoverNode}, S::kFailed, "past the deadline"}}},
      {OpKind::kModifyFailover,
       false,
       {{"", std::nullopt, {S::kPending, S::kSucceeded}}},
       {{{S::kPending}, S::kFailed, "legal; the reconciler never takes it today"}}},
      {OpKind::kRollingRestart,
       false,
       {{"", std::nullopt, {S::kPending, S::kRestartNodes, S::kSucceeded}},
        {"nothing to restart", std::nullopt, {S::kPending, S::kSucceeded}}},
       {}},
      {OpKind::kModifyNodeType,
       false,
       {{"", std::nullopt, {S::kPending, S::kResizeNodes, S::kSucceeded}},
        {"rollback (the old type back on every node)", std::nullopt,
         {S::kRollingBack, S::kFailed}}},
       {{{S::kPending}, S::kFailed, "a node holds more than the new type; nothing was sent"},
        {{S::kPending, S::kResizeNodes}, S::kRollingBack,
         "a node refused the limit, or past operations.node_type_timeout_ms"}}},
  };
}

bool Applies(const OpVariant& v, Topology topology) {
  return !v.topology || *v.topology == topology;
}

}  // namespace

const std::vector<OpKindPaths>& OperationTable() {
  static const std::vector<OpKindPaths> table = BuildTable();
  return table;
}

const OpKindPaths& PathsOf(OpKind kind) {
  for (const auto& k : OperationTable())
    if (k.kind == kind) return k;
  return OperationTable().front();  // unreachable: every kind has a row (a unit test checks)
}

OpState NextState(OpKind kind, Topology topology, OpState from) {
  for (const auto& v : PathsOf(kind).variants) {
    if (!Applies(v, topology)) continue;
    for (size_t i = 0; i + 1 < v.states.size(); ++i)
      if (v.states[i] == from) return v.states[i + 1];
  }
  return from;
}

bool IsValidTransition(OpKind kind, Topology topology, OpState from, OpState to) {
  if (IsTerminal(from)) return false;  // a finished operation is never overwritten
  if (from == to) return false;
  const OpKindPaths& k = PathsOf(kind);
  if (k.cluster_mode_only && topology != kCme) return false;
  for (const auto& v : k.variants) {
    if (!Applies(v, topology)) continue;
    for (size_t i = 0; i + 1 < v.states.size(); ++i)
      if (v.states[i] == from && v.states[i + 1] == to) return true;
  }
  for (const auto& e : k.exits)
    if (e.to == to &&
        (e.from.empty() || std::find(e.from.begin(), e.from.end(), from) != e.from.end()))
      return true;
  return false;
}

std::string OperationTableMarkdown() {
  std::string out = "```\n";
  for (const auto& k : OperationTable()) {
    out += OpKindName(k.kind);
    out += k.cluster_mode_only ? " (cluster mode enabled groups only)\n" : "\n";
    for (const auto& v : k.variants) {
      std::string line = "  ";
      if (*v.name) line += std::string(v.name) + ": ";
      for (size_t i = 0; i < v.states.size(); ++i)
        line += (i ? " → " : "") + std::string(OpStateName(v.states[i]));
      out += line + "\n";
    }
    for (const auto& e : k.exits) {
      std::string from;
      for (OpState s : e.from) from += (from.empty() ? "" : " | ") + std::string(OpStateName(s));
      out += "  exit: " + (from.empty() ? std::string("any non-terminal state") : from) + " → " +
             OpStateName(e.to) + ": " + e.why + "\n";
    }
  }
  return out + "```\n";
}

Status CheckTransition(OpKind kind, Topology topology, OpState from, OpState to) {
  if (IsValidTransition(kind, topology, from, to)) return {};
  return MakeError(Errc::kFailedPrecondition, std::string("illegal ") + OpKindName(kind) +
                                                  " transition " + OpStateName(from) + " -> " +
                                                  OpStateName(to));
}

}  // namespace cf::orchestrator
