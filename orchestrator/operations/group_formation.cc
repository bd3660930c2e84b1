#include "orchestrator/operations/group_formation.h"

#include <chrono>

#include "common/log.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {
namespace {

constexpr int kMaxPortMovesPerLaunch = 8;

std::string GroupTag(const LoadedGroup& g) { return "[" + g.view.group.id + "]"; }

Status LaunchOne(const ReconcilerDeps& deps, const LoadedGroup& g, NodeRecord node) {
  auto log = Logger("ops");
  bool restarted_stale = false;
  for (int moves = 0;;) {
    pb::LaunchNodeRequest req;
    *req.mutable_spec() =
        BuildNodeSpec(g.view.group, node, deps.cluster_node_timeout_ms, deps.hold_max_ms);
    req.set_ready_timeout_ms(static_cast<uint32_t>(deps.settings.node_ready_timeout_ms));
    const AgentTarget target = g.TargetOf(node);
    auto r = deps.agents->LaunchNode(target, req, deps.settings.launch_timeout_ms);
    if (r) {
      if (r->port() != 0 && r->port() != node.port)
        return MakeError(Errc::kInternal, node.node_id + " runs on port " +
                                              std::to_string(r->port()) + ", expected " +
                                              std::to_string(node.port));
      const int64_t now = NowMs();
      (void)deps.store->RecordObservations(node.host_id, {{node.node_id, ToObserved(*r, now)}});
      if (g.view.group.cluster_enabled) {
        if (r->cluster_node_id().empty())
          return MakeError(Errc::kUnavailable,
                           node.node_id + ": agent reported no cluster node id");
        if (auto st = deps.store->SetNodeClusterId(node.node_id, r->cluster_node_id()); !st)
          return st;
      }
      return {};
    }
    const Error& e = r.error();
    if (e.code == Errc::kResourceExhausted && moves < kMaxPortMovesPerLaunch) {
      auto port = deps.store->ReallocateNodePort(node.node_id, node.port,
                                                 NowMs() + deps.settings.port_block_ms);
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
      auto s = deps.agents->StopNode(
          target, stop, deps.settings.stop_grace_ms + deps.settings.agent_rpc_timeout_ms);
      if (!s) return s.error();
      restarted_stale = true;
      continue;
    }
    return e;
  }
}

}  // namespace

void ErrorCollector::Add(const Error& e) {
  std::lock_guard lk(mu_);
  if (!first_) first_ = e;
  ++count_;
}

Status ErrorCollector::Result(size_t total, const std::string& what) {
  std::lock_guard lk(mu_);
  if (!first_) return {};
  return MakeError(first_->code, what + ": " + std::to_string(count_) + " of " +
                                     std::to_string(total) + " failed; first: " + first_->message);
}

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

Status LaunchNodesParallel(const ReconcilerDeps& deps, const LoadedGroup& g,
                           const std::vector<NodeRecord>& nodes) {
  ErrorCollector errors;
  deps.pool->ParallelFor(nodes.size(), [&](size_t i) {
    if (auto st = LaunchOne(deps, g, nodes[i]); !st) errors.Add(st.error());
  });
  return errors.Result(nodes.size(), "launch");
}

Status MeetPairs(const ReconcilerDeps& deps, const LoadedGroup& g,
                 const std::vector<std::pair<const NodeRecord*, const NodeRecord*>>& pairs) {
  ErrorCollector errors;
  deps.pool->ParallelFor(pairs.size(), [&](size_t k) {
    const NodeRecord& from = *pairs[k].first;
    const NodeRecord& to = *pairs[k].second;
    const HostRecord* peer = g.HostOf(to);
    pb::ClusterMeetRequest req;
    req.set_node_id(from.node_id);
    req.set_peer_ip(peer ? peer->address : "");
    req.set_peer_port(to.port);
    if (auto st =
            deps.agents->ClusterMeet(g.TargetOf(from), req, deps.settings.agent_rpc_timeout_ms);
        !st)
      errors.Add(st.error());
  });
  return errors.Result(pairs.size(), "meet");
}

Status ReplicateToPlannedPrimaries(const ReconcilerDeps& deps, const LoadedGroup& g,
                                   const std::vector<NodeRecord>& replicas,
                                   const std::atomic<bool>& stop) {
  const bool cme = g.view.group.cluster_enabled;
  const int64_t deadline = SteadyMs() + deps.settings.step_wait_timeout_ms;
  ErrorCollector errors;
  deps.pool->ParallelFor(replicas.size(), [&](size_t i) {
    const NodeRecord& n = replicas[i];
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
      if (auto st = deps.agents->ReplicaOf(g.TargetOf(n), req, deps.settings.agent_rpc_timeout_ms);
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
          deps.agents->ClusterReplicate(g.TargetOf(n), req, deps.settings.agent_rpc_timeout_ms);
      if (st) return;
      // FAILED_PRECONDITION: the master is not known to the node yet; that resolves quickly.
      if (st.error().code != Errc::kFailedPrecondition || SteadyMs() >= deadline ||
          !SleepFor(deps.settings.poll_interval_ms, stop)) {
        errors.Add(st.error());
        return;
      }
    }
  });
  return errors.Result(replicas.size(), "replicate");
}

const NodeRecord* FirstEstablishedNode(const std::vector<NodeRecord>& nodes,
                                       const NewNodeFilter& is_new) {
  for (const auto& n : nodes)
    if (!is_new(n)) return &n;
  return nullptr;
}

std::vector<std::pair<const NodeRecord*, const NodeRecord*>> NewNodeMeetPairs(
    const std::vector<NodeRecord>& nodes, const NewNodeFilter& is_new) {
  std::vector<std::pair<const NodeRecord*, const NodeRecord*>> pairs;
  const NodeRecord* anchor = FirstEstablishedNode(nodes, is_new);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!is_new(nodes[i])) continue;
    if (nodes.size() <= kFullMeshMaxNodes) {
      for (size_t j = 0; j < nodes.size(); ++j)
        if (j != i && (!is_new(nodes[j]) || j < i)) pairs.emplace_back(&nodes[i], &nodes[j]);
    } else if (anchor) {
      pairs.emplace_back(&nodes[i], anchor);
    }
  }
  return pairs;
}

void RemeetStragglers(const ReconcilerDeps& deps, const LoadedGroup& g,
                      const std::vector<std::optional<pb::NodeStatus>>& statuses,
                      const NewNodeFilter& is_new, const NodeRecord& anchor) {
  const auto& nodes = g.view.nodes;
  const HostRecord* host = g.HostOf(anchor);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!is_new(nodes[i])) continue;
    if (i < statuses.size() && statuses[i] && statuses[i]->cluster_known_nodes() >= nodes.size())
      continue;
    pb::ClusterMeetRequest req;
    req.set_node_id(nodes[i].node_id);
    req.set_peer_ip(host ? host->address : "");
    req.set_peer_port(anchor.port);
    (void)deps.agents->ClusterMeet(g.TargetOf(nodes[i]), req, deps.settings.agent_rpc_timeout_ms);
  }
}

Status MeetNewNodes(const ReconcilerDeps& deps, const LoadedGroup& g, const NewNodeFilter& is_new) {
  const auto pairs = NewNodeMeetPairs(g.view.nodes, is_new);
  return MeetPairs(deps, g, pairs);
}

Status AwaitFormation(const ReconcilerDeps& deps, const LoadedGroup& g, const FormationWait& w,
                      const std::atomic<bool>& stop) {
  const int64_t deadline = SteadyMs() + deps.settings.step_wait_timeout_ms;
  std::string last_why;
  while (true) {
    auto statuses = PollStatuses(deps, g);
    auto probes = BuildProbes(g, statuses);
    std::string why = w.check(probes);
    if (why.empty()) return {};
    if (why != last_why) {
      w.on_wait(why);
      last_why = why;
    }
    const int64_t now = SteadyMs();
    if (now >= deadline) return MakeError(Errc::kTimeout, w.timeout_message(why));
    if (w.after_poll) w.after_poll(statuses, now);
    if (!SleepFor(deps.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }
}

namespace {

std::function<void(const std::string&)> Reporter(const ReconcilerDeps& deps,
                                                 const WaitReport& report) {
  return [&deps, &report](const std::string& why) {
    if (report.log) report.log(why);
    (void)deps.store->SetOperationStep(*report.op, report.step_text + ": " + why);
  };
}

}  // namespace

Status AwaitClusterMembership(const ReconcilerDeps& deps, const LoadedGroup& g,
                              const NewNodeFilter& is_new, const WaitReport& report,
                              const std::string& timeout_text, const std::atomic<bool>& stop) {
  const NodeRecord* anchor = FirstEstablishedNode(g.view.nodes, is_new);
  int64_t last_meet = SteadyMs();
  FormationWait w;
  w.check = CheckMembership;
  w.on_wait = Reporter(deps, report);
  w.timeout_message = [&](const std::string& why) {
    return timeout_text + " within " + std::to_string(deps.settings.step_wait_timeout_ms) +
           " ms: " + why;
  };
  w.after_poll = [&](const std::vector<std::optional<pb::NodeStatus>>& statuses, int64_t now) {
    if (now - last_meet >= kRemeetEveryMs && anchor) {
      // Self-healing: nodes that still miss peers meet the anchor again (idempotent).
      last_meet = now;
      RemeetStragglers(deps, g, statuses, is_new, *anchor);
    }
  };
  return AwaitFormation(deps, g, w, stop);
}

Status AwaitGroupHealthy(const ReconcilerDeps& deps, const LoadedGroup& g, bool cluster_mode,
                         const WaitReport& report, const std::string& timeout_text,
                         const std::string& timeout_suffix, const std::atomic<bool>& stop) {
  FormationWait w;
  w.check = [&](const std::vector<NodeProbe>& probes) {
    return cluster_mode ? CheckClusterHealthy(probes, g.view.node_groups)
                        : CheckReplicationHealthy(probes);
  };
  w.on_wait = Reporter(deps, report);
  w.timeout_message = [&](const std::string& why) {
    return timeout_text + " within " + std::to_string(deps.settings.step_wait_timeout_ms) +
           " ms" + timeout_suffix + ": " + why;
  };
  return AwaitFormation(deps, g, w, stop);
}

Status ForgetNodes(const ReconcilerDeps& deps, const LoadedGroup& g,
                   const std::vector<NodeRecord>& on, const std::vector<NodeRecord>& forgotten) {
  pb::ForgetRequest proto;
  for (const auto& n : forgotten)
    if (!n.cluster_node_id.empty()) proto.add_forget_cluster_node_ids(n.cluster_node_id);
  if (proto.forget_cluster_node_ids_size() == 0) return {};
  ErrorCollector errors;
  deps.pool->ParallelFor(on.size(), [&](size_t i) {
    pb::ForgetRequest req = proto;
    req.set_node_id(on[i].node_id);
    if (auto st = deps.agents->ClusterForget(g.TargetOf(on[i]), req,
                                             deps.settings.agent_rpc_timeout_ms);
        !st)
      errors.Add(st.error());
  });
  return errors.Result(on.size(), "cluster forget");
}

}  // namespace cf::orchestrator
