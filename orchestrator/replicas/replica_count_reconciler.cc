#include "orchestrator/replicas/replica_count_reconciler.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/group_formation.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {
namespace {

LoadedGroup Restrict(const LoadedGroup& g, const std::vector<NodeRecord>& nodes) {
  LoadedGroup out;
  out.hosts = g.hosts;
  out.view.group = g.view.group;
  out.view.node_groups = g.view.node_groups;
  out.view.nodes = nodes;
  return out;
}

}  // namespace

LoadedGroup WithEffectiveRoles(const LoadedGroup& g, const std::vector<std::string>& exclude) {
  LoadedGroup out = g;
  for (const auto& ng : g.view.node_groups) {
    const NodeRecord* cur = CurrentPrimary(g.view, ng.node_group_id, exclude);
    if (!cur) continue;
    const std::string primary = cur->node_id;
    for (auto& n : out.view.nodes)
      if (n.node_group_id == ng.node_group_id)
        n.desired_role = n.node_id == primary ? NodeRole::kPrimary : NodeRole::kReplica;
  }
  return out;
}

struct ReplicaCountReconciler::Context {
  LoadedGroup g;  // effective roles; removed nodes excluded (see `removed`)
  ReplicaPlan plan;
  std::vector<NodeRecord> new_nodes;
  std::vector<NodeRecord> removed;
  std::set<std::string> new_ids;
};

Status ReplicaCountReconciler::Advance(OperationRecord& op, const std::string& step) {
  return deps_.store->TransitionOperation(op, NextState(op.kind, op.topology, op.state), step);
}

Status ReplicaCountReconciler::Step(OperationRecord& op, const std::atomic<bool>& stop) {
  auto loaded = LoadGroup(*deps_.store, op.group_id);
  if (!loaded) return loaded.error();
  auto plan = ReplicaPlanFromJson(op.payload);
  if (!plan) return plan.error();
  Context c;
  c.plan = std::move(*plan);
  std::vector<std::string> added;
  for (const auto& a : c.plan.add) {
    added.push_back(a.node_id);
    c.new_ids.insert(a.node_id);
  }
  if (op.kind == OpKind::kIncreaseReplicas &&
      (op.state == OpState::kLaunchNodes || op.state == OpState::kReplicate ||
       op.state == OpState::kAwaitHealthy)) {
    // Fresh roles (a failover since the last heartbeat changes whom new replicas follow).
    std::vector<NodeRecord> old;
    for (const auto& n : loaded->view.nodes)
      if (!c.new_ids.count(n.node_id)) old.push_back(n);
    auto statuses = PollStatuses(deps_, Restrict(*loaded, old));
    const int64_t now = NowMs();
    for (size_t i = 0; i < old.size(); ++i)
      if (statuses[i])
        for (auto& n : loaded->view.nodes)
          if (n.node_id == old[i].node_id) n.observed = ToObserved(*statuses[i], now);
  }
  for (auto& n : loaded->view.nodes)
    if (n.cluster_node_id.empty()) n.cluster_node_id = n.observed.cluster_node_id;
  LoadedGroup eff = WithEffectiveRoles(*loaded, added);
  std::vector<NodeRecord> keep;
  const std::set<std::string> removing(c.plan.remove.begin(), c.plan.remove.end());
  for (const auto& n : eff.view.nodes) {
    if (removing.count(n.node_id)) {
      c.removed.push_back(n);
      continue;
    }
    if (c.new_ids.count(n.node_id)) c.new_nodes.push_back(n);
    keep.push_back(n);
  }
  c.g = Restrict(eff, keep);
  const bool cme = op.topology == Topology::kClusterModeEnabled;

  switch (op.state) {
    case OpState::kPending:
      if (op.kind == OpKind::kIncreaseReplicas)
        return Advance(op, "launching " + std::to_string(c.new_nodes.size()) + " new replicas");
      return Advance(op, cme ? "forgetting the removed replicas" : "stopping the removed replicas");
    case OpState::kLaunchNodes:
      if (auto st = LaunchNodesParallel(deps_, c.g, c.new_nodes); !st) return st;
      return Advance(op, cme ? "meeting the new replicas" : "attaching the new replicas");
    case OpState::kMeet:
      return Meet(op, c);
    case OpState::kAwaitMembership:
      return AwaitMembership(op, c, stop);
    case OpState::kReplicate:
      if (auto st = ReplicateToPlannedPrimaries(deps_, c.g, c.new_nodes, stop); !st) return st;
      return Advance(op, "waiting for the replica links");
    case OpState::kAwaitHealthy:
      return AwaitHealthy(op, c, stop);
    case OpState::kForgetNodes: {
      // Never take out a node that serves slots (it became a primary after the request).
      const LoadedGroup rm = Restrict(eff, c.removed);
      auto statuses = PollStatuses(deps_, rm);
      for (size_t i = 0; i < c.removed.size(); ++i)
        if (statuses[i] && statuses[i]->role() == "master" && statuses[i]->slots_size() > 0)
          return MakeError(Errc::kFailedPrecondition,
                           c.removed[i].node_id + " is a primary serving slots; not removing it");
      if (auto st = Forget(c); !st) return st;
      return Advance(op, "stopping the removed replicas");
    }
    case OpState::kStopNodes: {
      const LoadedGroup rm = Restrict(eff, c.removed);
      if (auto st = StopNodes(deps_, rm); !st) return st;
      if (cme)
        if (auto st = Forget(c); !st) return st;
      if (!c.plan.retain_primary.empty()) {
        const std::string msg = "Replication group " + op.group_id + " deleted; its primary " +
                                c.plan.retain_primary + " is now a standalone cache cluster";
        if (auto st = deps_.store->CompleteRetainPrimary(op, c.plan.retain_primary, msg); !st)
          return st;
        Logger("ops")->info("{} {}", OperationTag(op), msg);
        return {};
      }
      return Complete(op, c);
    }
    default:
      return MakeError(Errc::kInternal, std::string(OpKindName(op.kind)) +
                                            " has no step for state " + OpStateName(op.state));
  }
}

Status ReplicaCountReconciler::Meet(OperationRecord& op, const Context& c) {
  const NewNodeFilter is_new = [&c](const NodeRecord& n) {
    return c.new_ids.count(n.node_id) > 0;
  };
  if (auto st = MeetNewNodes(deps_, c.g, is_new); !st) return st;
  return Advance(op, "waiting for the new replicas to join");
}

Status ReplicaCountReconciler::AwaitMembership(OperationRecord& op, const Context& c,
                                               const std::atomic<bool>& stop) {
  const NewNodeFilter is_new = [&c](const NodeRecord& n) {
    return c.new_ids.count(n.node_id) > 0;
  };
  const WaitReport report{&op, "waiting for the new replicas to join", nullptr};
  if (auto st = AwaitClusterMembership(deps_, c.g, is_new, report,
                                       "the new replicas did not join", stop);
      !st)
    return st;
  return Advance(op, "attaching the new replicas");
}

Status ReplicaCountReconciler::AwaitHealthy(OperationRecord& op, const Context& c,
                                            const std::atomic<bool>& stop) {
  const bool cme = op.topology == Topology::kClusterModeEnabled;
  const WaitReport report{&op, "waiting", nullptr};
  if (auto st = AwaitGroupHealthy(deps_, c.g, cme, report, "replicas not healthy", "", stop); !st)
    return st;
  return Complete(op, c);
}

Status ReplicaCountReconciler::Forget(const Context& c) {
  return ForgetNodes(deps_, c.g, c.g.view.nodes, c.removed);
}

Status ReplicaCountReconciler::Complete(OperationRecord& op, const Context& c) {
  ReshardCompletion comp;
  comp.removed_nodes = c.plan.remove;
  const double s = (NowMs() - op.created_ms) / 1000.0;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", s);
  comp.event_message = std::string("Finished ") +
                       (c.plan.increase ? "increasing" : "decreasing") +
                       " the replica count of replication group " + op.group_id + " (" +
                       c.plan.Summary() + ") in " + secs + " s";
  if (auto st = deps_.store->CompleteReshard(op, comp); !st) return st;
  Logger("ops")->info("{} {}", OperationTag(op), comp.event_message);
  return {};
}

}  // namespace cf::orchestrator
