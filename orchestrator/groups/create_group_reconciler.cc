#include "orchestrator/groups/create_group_reconciler.h"

#include <chrono>
#include <mutex>

#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/group_formation.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {
namespace {

constexpr char kRollbackPrefix[] = "rolling back: ";

std::string GroupTag(const LoadedGroup& g) { return "[" + g.view.group.id + "]"; }

}  // namespace

Status CreateGroupReconciler::Advance(OperationRecord& op, const std::string& step) {
  OpState next = NextState(op.kind, op.topology, op.state);
  return deps_.store->TransitionOperation(op, next, step);
}

Status CreateGroupReconciler::Step(OperationRecord& op, const std::atomic<bool>& stop) {
  auto loaded = LoadGroup(*deps_.store, op.group_id);
  if (!loaded) return loaded.error();
  LoadedGroup& g = *loaded;
  // Fill cluster node ids that were only observed (e.g. recorded by a heartbeat).
  for (auto& n : g.view.nodes)
    if (n.cluster_node_id.empty()) n.cluster_node_id = n.observed.cluster_node_id;

  switch (op.state) {
    case OpState::kPending:
      return Advance(op, "launching " + std::to_string(g.view.nodes.size()) + " nodes");
    case OpState::kLaunchNodes:
      return LaunchNodes(op, g);
    case OpState::kAssignSlots:
      return AssignSlots(op, g);
    case OpState::kMeet:
      return Meet(op, g);
    case OpState::kAwaitMembership:
      return AwaitMembership(op, g, stop);
    case OpState::kReplicate:
      return Replicate(op, g, stop);
    case OpState::kAwaitHealthy:
      return AwaitHealthy(op, g, stop);
    case OpState::kRollingBack:
      return RollBack(op, g);
    default:
      return MakeError(Errc::kInternal,
                       std::string("create-group has no step for state ") + OpStateName(op.state));
  }
}

Status CreateGroupReconciler::OnDeadline(OperationRecord& op) {
  std::string reason =
      "creation did not finish within " + std::to_string(deps_.settings.create_timeout_ms) + " ms";
  if (!op.last_error.empty()) reason += "; last error: " + op.last_error;
  Logger("ops")->error("[{}] {}; rolling back", op.group_id, reason);
  return deps_.store->TransitionOperation(op, OpState::kRollingBack, kRollbackPrefix + reason);
}

// ---- launch-nodes ----------------------------------------------------------------------------

Status CreateGroupReconciler::LaunchNodes(OperationRecord& op, const LoadedGroup& g) {
  const auto& nodes = g.view.nodes;
  if (auto st = LaunchNodesParallel(deps_, g, nodes); !st) return st;
  Logger("ops")->debug("{} {} nodes launched", GroupTag(g), nodes.size());
  return Advance(op, g.view.group.cluster_enabled ? "assigning slots" : "configuring replicas");
}

// ---- assign-slots (CME) ----------------------------------------------------------------------

Status CreateGroupReconciler::AssignSlots(OperationRecord& op, const LoadedGroup& g) {
  const auto& nodes = g.view.nodes;  // ordered by node id: epochs are stable across retries
  std::map<std::string, SlotRanges> planned;
  for (const auto& ng : g.view.node_groups) planned[ng.node_group_id] = ng.slots;
  ErrorCollector errors;
  deps_.pool->ParallelFor(nodes.size(), [&](size_t i) {
    const NodeRecord& n = nodes[i];
    pb::ClusterAddSlotsRequest req;
    req.set_node_id(n.node_id);
    req.set_config_epoch(i + 1);
    if (n.desired_role == NodeRole::kPrimary) {
      for (const auto& r : planned[n.node_group_id]) {
        auto* pr = req.add_ranges();
        pr->set_start(r.start);
        pr->set_end(r.end);
      }
    }
    if (auto st =
            deps_.agents->ClusterAddSlots(g.TargetOf(n), req, deps_.settings.agent_rpc_timeout_ms);
        !st)
      errors.Add(st.error());
  });
  if (auto st = errors.Result(nodes.size(), "add slots"); !st) return st;
  return Advance(op, "meeting nodes");
}

// ---- meet (CME) ------------------------------------------------------------------------------

Status CreateGroupReconciler::Meet(OperationRecord& op, const LoadedGroup& g) {
  const auto& nodes = g.view.nodes;
  std::vector<std::pair<const NodeRecord*, const NodeRecord*>> pairs;  // (from, to)
  if (nodes.size() <= kFullMeshMaxNodes) {
    for (size_t i = 1; i < nodes.size(); ++i)
      for (size_t j = 0; j < i; ++j) pairs.emplace_back(&nodes[i], &nodes[j]);
  } else {
    for (size_t i = 1; i < nodes.size(); ++i) pairs.emplace_back(&nodes[i], &nodes[0]);
  }
  if (auto st = MeetPairs(deps_, g, pairs); !st) return st;
  return Advance(op, "waiting for the nodes to meet");
}

// ---- await-membership (CME) ------------------------------------------------------------------

Status CreateGroupReconciler::AwaitMembership(OperationRecord& op, const LoadedGroup& g,
                                              const std::atomic<bool>& stop) {
  // Every node but the first is "new": nodes that still miss peers meet the first again.
  const NodeRecord* first = g.view.nodes.empty() ? nullptr : &g.view.nodes[0];
  const NewNodeFilter not_first = [first](const NodeRecord& n) { return &n != first; };
  const WaitReport report{&op, "waiting for the nodes to meet", [&](const std::string& why) {
                            Logger("ops")->debug("{} waiting for the nodes to meet: {}",
                                                 GroupTag(g), why);
                          }};
  if (auto st = AwaitClusterMembership(deps_, g, not_first, report,
                                       "cluster membership not complete", stop);
      !st)
    return st;
  return Advance(op, "configuring replicas");
}

// ---- replicate ------------------------------------------------------------------------------

Status CreateGroupReconciler::Replicate(OperationRecord& op, const LoadedGroup& g,
                                        const std::atomic<bool>& stop) {
  if (auto st = ReplicateToPlannedPrimaries(deps_, g, g.view.nodes, stop); !st) return st;
  return Advance(op, "waiting for replicas and cluster health");
}

// ---- await-healthy ---------------------------------------------------------------------------

Status CreateGroupReconciler::AwaitHealthy(OperationRecord& op, const LoadedGroup& g,
                                           const std::atomic<bool>& stop) {
  const WaitReport report{&op, "waiting", [&](const std::string& why) {
                            Logger("ops")->debug("{} waiting: {}", GroupTag(g), why);
                          }};
  if (auto st = AwaitGroupHealthy(deps_, g, g.view.group.cluster_enabled, report,
                                  "group not healthy", "", stop);
      !st)
    return st;
  if (auto st =
          deps_.store->CompleteCreate(op, "Replication group " + g.view.group.id + " created");
      !st)
    return st;
  Logger("ops")->info("{} available ({} nodes, {} ms after the request)", GroupTag(g),
                      g.view.nodes.size(), NowMs() - g.view.group.create_time_ms);
  return {};
}

// ---- rolling-back ----------------------------------------------------------------------------

Status CreateGroupReconciler::RollBack(OperationRecord& op, const LoadedGroup& g) {
  std::string reason = op.step.rfind(kRollbackPrefix, 0) == 0
                           ? op.step.substr(sizeof(kRollbackPrefix) - 1)
                           : op.last_error;
  auto st = StopNodes(deps_, g);
  std::string message = "Failed to create replication group " + g.view.group.id + ": " + reason;
  if (!st) {
    const int64_t give_up = op.deadline_ms + deps_.settings.rollback_timeout_ms;
    if (NowMs() < give_up) return st;
    message += " (some nodes could not be stopped: " + st.error().message +
               "; DeleteReplicationGroup retries)";
  }
  Logger("ops")->error("{} {}", GroupTag(g), message);
  return deps_.store->FailCreate(op, message);
}

}  // namespace cf::orchestrator
