#include "orchestrator/create_group_reconciler.h"

#include <chrono>
#include <mutex>

#include "common/log.h"
#include "orchestrator/formation_checks.h"
#include "orchestrator/store.h"
#include "orchestrator/task_pool.h"

namespace cf::orchestrator {
namespace {

constexpr char kRollbackPrefix[] = "rolling back: ";
constexpr int kMaxPortMovesPerLaunch = 8;
constexpr int64_t kRemeetEveryMs = 1000;

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string GroupTag(const LoadedGroup& g) { return "[" + g.view.group.id + "]"; }

// Collects the first error of parallel tasks and how many failed.
class ErrorCollector {
 public:
  void Add(const Error& e) {
    std::lock_guard lk(mu_);
    if (!first_) first_ = e;
    ++count_;
  }
  Status Result(size_t total, const std::string& what) {
    std::lock_guard lk(mu_);
    if (!first_) return {};
    return MakeError(first_->code, what + ": " + std::to_string(count_) + " of " +
                                       std::to_string(total) +
                                       " failed; first: " + first_->message);
  }

 private:
  std::mutex mu_;
  std::optional<Error> first_;
  size_t count_ = 0;
};

// The cluster node id of a node: recorded at launch, else as last observed.
std::string ClusterIdOf(const NodeRecord& n) {
  return !n.cluster_node_id.empty() ? n.cluster_node_id : n.observed.cluster_node_id;
}

const NodeRecord* PlannedPrimary(const GroupView& v, const std::string& node_group_id) {
  for (const auto& n : v.nodes)
    if (n.node_group_id == node_group_id && n.desired_role == NodeRole::kPrimary) return &n;
  return nullptr;
}

std::vector<NodeProbe> BuildProbes(const LoadedGroup& g,
                                   const std::vector<std::optional<pb::NodeStatus>>& statuses) {
  std::vector<NodeProbe> probes;
  for (size_t i = 0; i < g.view.nodes.size(); ++i) {
    const NodeRecord& n = g.view.nodes[i];
    NodeProbe p;
    p.node = &n;
    p.status = statuses[i] ? &*statuses[i] : nullptr;
    if (const NodeRecord* prim = PlannedPrimary(g.view, n.node_group_id)) {
      p.primary_cluster_node_id = ClusterIdOf(*prim);
      const HostRecord* h = g.HostOf(*prim);
      p.primary_address = h ? h->address : "";
      p.primary_port = prim->port;
    }
    probes.push_back(p);
  }
  return probes;
}

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

Status CreateGroupReconciler::LaunchOne(const LoadedGroup& g, NodeRecord node) {
  auto log = Logger("ops");
  bool restarted_stale = false;
  for (int moves = 0;;) {
    pb::LaunchNodeRequest req;
    *req.mutable_spec() = BuildNodeSpec(g.view.group, node, deps_.cluster_node_timeout_ms);
    req.set_ready_timeout_ms(static_cast<uint32_t>(deps_.settings.node_ready_timeout_ms));
    const AgentTarget target = g.TargetOf(node);
    auto r = deps_.agents->LaunchNode(target, req, deps_.settings.launch_timeout_ms);
    if (r) {
      if (r->port() != 0 && r->port() != node.port)
        return MakeError(Errc::kInternal, node.node_id + " runs on port " +
                                              std::to_string(r->port()) + ", expected " +
                                              std::to_string(node.port));
      const int64_t now = NowMs();
      (void)deps_.store->RecordObservations(node.host_id, {{node.node_id, ToObserved(*r, now)}});
      if (g.view.group.cluster_enabled) {
        if (r->cluster_node_id().empty())
          return MakeError(Errc::kUnavailable,
                           node.node_id + ": agent reported no cluster node id");
        if (auto st = deps_.store->SetNodeClusterId(node.node_id, r->cluster_node_id()); !st)
          return st;
      }
      return {};
    }
    const Error& e = r.error();
    if (e.code == Errc::kResourceExhausted && moves < kMaxPortMovesPerLaunch) {
      auto port = deps_.store->ReallocateNodePort(node.node_id, node.port,
                                                  NowMs() + deps_.settings.port_block_ms);
      if (!port) return port.error();
      log->warn("{} port {} on {} is in use by another process; {} moves to port {} ({})",
                GroupTag(g), node.port, node.host_id, node.node_id, *port, e.message);
      node.port = *port;
      ++moves;
      continue;
    }
    if (e.code == Errc::kFailedPrecondition && !restarted_stale &&
        e.message.find("different spec") != std::string::npos) {
      // A launch of an earlier attempt (other port) survived: the node holds no data yet.
      log->warn("{} {} exists on {} with another spec; restarting it ({})", GroupTag(g),
                node.node_id, node.host_id, e.message);
      pb::StopNodeRequest stop;
      stop.set_node_id(node.node_id);
      stop.set_purge_data(true);
      auto s = deps_.agents->StopNode(
          target, stop, deps_.settings.stop_grace_ms + deps_.settings.agent_rpc_timeout_ms);
      if (!s) return s.error();
      restarted_stale = true;
      continue;
    }
    return e;
  }
}

Status CreateGroupReconciler::LaunchNodes(OperationRecord& op, const LoadedGroup& g) {
  const auto& nodes = g.view.nodes;
  ErrorCollector errors;
  deps_.pool->ParallelFor(nodes.size(), [&](size_t i) {
    if (auto st = LaunchOne(g, nodes[i]); !st) errors.Add(st.error());
  });
  if (auto st = errors.Result(nodes.size(), "launch"); !st) return st;
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
  std::vector<std::pair<size_t, size_t>> pairs;  // (from, to)
  if (nodes.size() <= kFullMeshMaxNodes) {
    for (size_t i = 1; i < nodes.size(); ++i)
      for (size_t j = 0; j < i; ++j) pairs.emplace_back(i, j);
  } else {
    for (size_t i = 1; i < nodes.size(); ++i) pairs.emplace_back(i, 0);
  }
  ErrorCollector errors;
  deps_.pool->ParallelFor(pairs.size(), [&](size_t k) {
    const NodeRecord& from = nodes[pairs[k].first];
    const NodeRecord& to = nodes[pairs[k].second];
    const HostRecord* peer = g.HostOf(to);
    pb::ClusterMeetRequest req;
    req.set_node_id(from.node_id);
    req.set_peer_ip(peer ? peer->address : "");
    req.set_peer_port(to.port);
    if (auto st =
            deps_.agents->ClusterMeet(g.TargetOf(from), req, deps_.settings.agent_rpc_timeout_ms);
        !st)
      errors.Add(st.error());
  });
  if (auto st = errors.Result(pairs.size(), "meet"); !st) return st;
  return Advance(op, "waiting for the nodes to meet");
}

// ---- await-membership (CME) ------------------------------------------------------------------

Status CreateGroupReconciler::AwaitMembership(OperationRecord& op, const LoadedGroup& g,
                                              const std::atomic<bool>& stop) {
  const int64_t deadline = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  int64_t last_meet = SteadyMs();
  std::string last_why;
  const auto& nodes = g.view.nodes;
  while (true) {
    auto statuses = PollStatuses(deps_, g);
    auto probes = BuildProbes(g, statuses);
    std::string why = CheckMembership(probes);
    if (why.empty()) return Advance(op, "configuring replicas");
    if (why != last_why) {
      Logger("ops")->debug("{} waiting for the nodes to meet: {}", GroupTag(g), why);
      (void)deps_.store->SetOperationStep(op, "waiting for the nodes to meet: " + why);
      last_why = why;
    }
    const int64_t now = SteadyMs();
    if (now >= deadline)
      return MakeError(Errc::kTimeout, "cluster membership not complete within " +
                                           std::to_string(deps_.settings.step_wait_timeout_ms) +
                                           " ms: " + why);
    if (now - last_meet >= kRemeetEveryMs && !nodes.empty()) {
      // Self-healing: nodes that still miss peers meet the first node again (idempotent).
      last_meet = now;
      const HostRecord* first_host = g.HostOf(nodes[0]);
      for (size_t i = 1; i < nodes.size(); ++i) {
        if (statuses[i] && statuses[i]->cluster_known_nodes() >= nodes.size()) continue;
        pb::ClusterMeetRequest req;
        req.set_node_id(nodes[i].node_id);
        req.set_peer_ip(first_host ? first_host->address : "");
        req.set_peer_port(nodes[0].port);
        (void)deps_.agents->ClusterMeet(g.TargetOf(nodes[i]), req,
                                        deps_.settings.agent_rpc_timeout_ms);
      }
    }
    if (!SleepFor(deps_.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }
}

// ---- replicate ------------------------------------------------------------------------------

Status CreateGroupReconciler::Replicate(OperationRecord& op, const LoadedGroup& g,
                                        const std::atomic<bool>& stop) {
  const auto& nodes = g.view.nodes;
  const bool cme = g.view.group.cluster_enabled;
  const int64_t deadline = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  ErrorCollector errors;
  deps_.pool->ParallelFor(nodes.size(), [&](size_t i) {
    const NodeRecord& n = nodes[i];
    if (n.desired_role != NodeRole::kReplica) return;
    const NodeRecord* prim = PlannedPrimary(g.view, n.node_group_id);
    if (!prim) {
      errors.Add(MakeError(Errc::kInternal, n.node_id + ": shard has no primary"));
      return;
    }
    if (!cme) {
      const HostRecord* h = g.HostOf(*prim);
      pb::ReplicaOfRequest req;
      req.set_node_id(n.node_id);
      req.set_master_host(h ? h->address : "");
      req.set_master_port(prim->port);
      if (auto st =
              deps_.agents->ReplicaOf(g.TargetOf(n), req, deps_.settings.agent_rpc_timeout_ms);
          !st)
        errors.Add(st.error());
      return;
    }
    std::string master_id = ClusterIdOf(*prim);
    if (master_id.empty()) {
      errors.Add(MakeError(Errc::kUnavailable, prim->node_id + ": cluster node id unknown"));
      return;
    }
    pb::ClusterReplicateRequest req;
    req.set_node_id(n.node_id);
    req.set_master_cluster_node_id(master_id);
    while (true) {
      auto st =
          deps_.agents->ClusterReplicate(g.TargetOf(n), req, deps_.settings.agent_rpc_timeout_ms);
      if (st) return;
      // FAILED_PRECONDITION: the master is not known to the node yet; that resolves quickly.
      if (st.error().code != Errc::kFailedPrecondition || SteadyMs() >= deadline ||
          !SleepFor(deps_.settings.poll_interval_ms, stop)) {
        errors.Add(st.error());
        return;
      }
    }
  });
  if (auto st = errors.Result(nodes.size(), "replicate"); !st) return st;
  return Advance(op, "waiting for replicas and cluster health");
}

// ---- await-healthy ---------------------------------------------------------------------------

Status CreateGroupReconciler::AwaitHealthy(OperationRecord& op, const LoadedGroup& g,
                                           const std::atomic<bool>& stop) {
  const int64_t deadline = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  std::string last_why;
  while (true) {
    auto statuses = PollStatuses(deps_, g);
    auto probes = BuildProbes(g, statuses);
    std::string why = g.view.group.cluster_enabled ? CheckClusterHealthy(probes, g.view.node_groups)
                                                   : CheckReplicationHealthy(probes);
    if (why.empty()) {
      if (auto st =
              deps_.store->CompleteCreate(op, "Replication group " + g.view.group.id + " created");
          !st)
        return st;
      Logger("ops")->info("{} available ({} nodes, {} ms after the request)", GroupTag(g),
                          g.view.nodes.size(), NowMs() - g.view.group.create_time_ms);
      return {};
    }
    if (why != last_why) {
      Logger("ops")->debug("{} waiting: {}", GroupTag(g), why);
      (void)deps_.store->SetOperationStep(op, "waiting: " + why);
      last_why = why;
    }
    if (SteadyMs() >= deadline)
      return MakeError(Errc::kTimeout, "group not healthy within " +
                                           std::to_string(deps_.settings.step_wait_timeout_ms) +
                                           " ms: " + why);
    if (!SleepFor(deps_.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }
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
