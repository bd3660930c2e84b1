#include "orchestrator/failover/failover_reconciler.h"

#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/group_formation.h"
#include "orchestrator/core/replication_group_xml.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {
namespace {

pb::PeerNode PeerOf(const LoadedGroup& g, const NodeRecord& n) {
  pb::PeerNode p;
  p.set_cluster_node_id(g.view.group.cluster_enabled ? ClusterIdOf(n) : std::string());
  const HostRecord* h = g.HostOf(n);
  p.set_ip(h ? h->address : std::string());
  p.set_port(n.port);
  return p;
}

}  // namespace

bool FailoverReconciler::HostUp(const LoadedGroup& g, const NodeRecord& n) const {
  const HostRecord* h = g.HostOf(n);
  return h && !HostLost(*h, NowMs(), fo_.host_down_after_ms);
}

void FailoverReconciler::Observe(const NodeRecord& n, const pb::NodeStatus& s) {
  (void)deps_.store->RecordObservations(n.host_id, {{n.node_id, ToObserved(s, NowMs())}});
}

Status FailoverReconciler::Step(OperationRecord& op, const std::atomic<bool>&) {
  switch (op.kind) {
    case OpKind::kFailover:
      return StepFailover(op);
    case OpKind::kRecoverNode:
      return StepRecover(op);
    case OpKind::kModifyFailover:
      return StepModify(op);
    default:
      return MakeError(Errc::kInternal,
                       std::string("failover reconciler: unexpected kind ") + OpKindName(op.kind));
  }
}

// ---------------------------------------------------------------------------------------------
// failover

Status FailoverReconciler::StepFailover(OperationRecord& op) {
  auto p = FailoverPayloadFromJson(op.payload);
  if (!p) return p.error();
  auto g = LoadGroup(*deps_.store, op.group_id);
  if (!g) return g.error();
  const NodeRecord* old = FindNode(g->view, p->old_primary);
  if (!old) return MakeError(Errc::kInternal, "failover: unknown node " + p->old_primary);
  const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;

  switch (op.state) {
    case OpState::kPending: {
      if (p->reason == FailoverReason::kAutomatic) {
        // The monitor saw the primary exit; make sure it is still down (a stale
        // report must not demote a healthy primary).
        auto s = deps_.agents->GetNodeStatus(g->TargetOf(*old), old->node_id, rpc);
        if (s && s->state() == pb::NODE_RUNNING && s->role() == "master") {
          Logger("ops")->info("{} {} runs as primary again: nothing to fail over", OperationTag(op),
                              old->node_id);
          FailoverChange c;
          c.group_status = "available";
          return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
        }
      }
      if (p->reason == FailoverReason::kTest)
        return deps_.store->TransitionOperation(op, OpState::kKillPrimary,
                                                "killing primary " + old->node_id);
      return deps_.store->TransitionOperation(op, OpState::kPromote,
                                              "promoting a replica of " + p->node_group_id);
    }
    case OpState::kKillPrimary: {
      pb::KillNodeRequest req;
      req.set_node_id(old->node_id);
      auto r = deps_.agents->KillNode(g->TargetOf(*old), req, fo_.kill_timeout_ms + rpc);
      if (!r) return r.error();
      Observe(*old, *r);
      Logger("ops")->info("{} killed primary {} of node group {}", OperationTag(op), old->node_id,
                          p->node_group_id);
      return deps_.store->TransitionOperation(op, OpState::kPromote,
                                              "promoting a replica of " + p->node_group_id);
    }
    case OpState::kPromote:
      return Promote(op, *p, *g);
    case OpState::kRepointReplicas:
      return Repoint(op, *p, *g);
    case OpState::kRecoverNode:
      return RecoverOld(op, *p, *g);
    default:
      return MakeError(Errc::kInternal,
                       std::string("failover: unexpected state ") + OpStateName(op.state));
  }
}

Status FailoverReconciler::Promote(OperationRecord& op, FailoverPayload p, const LoadedGroup& g) {
  auto log = Logger("ops");
  const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;
  const bool cme = g.view.group.cluster_enabled;
  if (p.new_primary.empty()) {
    std::vector<const NodeRecord*> replicas;
    for (const auto& n : g.view.nodes)
      if (n.node_group_id == p.node_group_id && n.node_id != p.old_primary) replicas.push_back(&n);
    std::vector<ReplicaCandidate> cands(replicas.size());
    deps_.pool->ParallelFor(replicas.size(), [&](size_t i) {
      cands[i].node = replicas[i];
      cands[i].host_up = HostUp(g, *replicas[i]);
      if (!cands[i].host_up) return;
      auto s = deps_.agents->GetNodeStatus(g.TargetOf(*replicas[i]), replicas[i]->node_id, rpc);
      if (!s) return;
      cands[i].answered = true;
      cands[i].state = s->state() == pb::NODE_RUNNING ? "running" : "not running";
      cands[i].role = s->role();
      cands[i].repl_offset = s->repl_offset();
    });
    const NodeRecord* chosen = ChooseReplica(cands);
    if (!chosen)
      return MakeError(Errc::kUnavailable,
                       "no replica of node group " + p.node_group_id + " can be promoted");
    p.new_primary = chosen->node_id;
    if (auto st = deps_.store->SetOperationPayload(op, FailoverPayloadToJson(p)); !st) return st;
    log->info(
        "{} promoting {} (replication offset {}) in place of {}", OperationTag(op), p.new_primary,
        [&] {
          for (const auto& c : cands)
            if (c.node == chosen) return c.repl_offset;
          return int64_t{0};
        }(),
        p.old_primary);
  }
  const NodeRecord* target = FindNode(g.view, p.new_primary);
  if (!target) return MakeError(Errc::kInternal, "failover: unknown node " + p.new_primary);

  pb::FailoverRequest req;
  req.set_node_id(target->node_id);
  req.set_timeout_ms(static_cast<uint32_t>(fo_.failover_timeout_ms));
  req.set_force_timeout_ms(static_cast<uint32_t>(fo_.force_timeout_ms));
  if (p.reason == FailoverReason::kSwitchover) {
    req.set_mode(pb::FAILOVER_COORDINATED);
  } else if (cme) {
    // FORCE needs a majority of the slot-owning primaries to vote.
    int total = 0, reachable = 0;
    for (const auto& ng : g.view.node_groups) {
      ++total;
      if (ng.node_group_id == p.node_group_id) continue;
      const NodeRecord* prim = PlannedPrimary(g.view, ng.node_group_id);
      if (prim && HostUp(g, *prim) && prim->observed.state == "running") ++reachable;
    }
    req.set_mode(NeedsTakeover(reachable, total) ? pb::FAILOVER_TAKEOVER : pb::FAILOVER_FORCE);
  } else {
    req.set_mode(pb::FAILOVER_FORCE);
  }
  auto r = deps_.agents->Failover(g.TargetOf(*target), req, fo_.failover_timeout_ms + rpc);
  if (!r) return r.error();
  if (r->has_status()) Observe(*target, r->status());
  p.method = r->method();
  p.promoted_ms = NowMs();
  log->info("{} {} is the primary of node group {} ({}, {} ms)", OperationTag(op), target->node_id,
            p.node_group_id, r->method(), r->elapsed_ms());

  FailoverChange c;
  c.new_primary = std::make_pair(p.node_group_id, target->node_id);
  c.payload = FailoverPayloadToJson(p);
  const std::string msg = FailoverCompletedEvent(p.old_primary, target->node_id);
  c.events.push_back(NodeEvent(p.old_primary, msg));
  c.events.push_back(GroupEvent(op.group_id, msg));
  return deps_.store->TransitionWithChange(op, OpState::kRepointReplicas,
                                           "re-pointing replicas to " + target->node_id, c);
}

Status FailoverReconciler::Repoint(OperationRecord& op, const FailoverPayload& p,
                                   const LoadedGroup& g) {
  const NodeRecord* prim = FindNode(g.view, p.new_primary);
  if (!prim) return MakeError(Errc::kInternal, "failover: unknown node " + p.new_primary);
  const bool cme = g.view.group.cluster_enabled;
  const bool switchover = p.reason == FailoverReason::kSwitchover;
  std::vector<const NodeRecord*> todo;
  for (const auto& n : g.view.nodes) {
    if (n.node_group_id != p.node_group_id || n.node_id == prim->node_id) continue;
    if (n.node_id == p.old_primary && !switchover) continue;  // recovered below
    if (!HostUp(g, n)) continue;                              // the monitor recovers it later
    todo.push_back(&n);
  }
  const pb::PeerNode peer = PeerOf(g, *prim);
  ErrorCollector errors;
  deps_.pool->ParallelFor(todo.size(), [&](size_t i) {
    const NodeRecord& n = *todo[i];
    const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;
    auto s = deps_.agents->GetNodeStatus(g.TargetOf(n), n.node_id, rpc);
    if (s && s->state() != pb::NODE_RUNNING) return;  // held down: recover-node later
    Status st;
    if (cme) {
      if (s && s->role() == "slave" && s->master_cluster_node_id() == peer.cluster_node_id())
        return;
      pb::ClusterReplicateRequest req;
      req.set_node_id(n.node_id);
      req.set_master_cluster_node_id(peer.cluster_node_id());
      st = deps_.agents->ClusterReplicate(g.TargetOf(n), req, rpc);
    } else {
      pb::ReplicaOfRequest req;
      req.set_node_id(n.node_id);
      req.set_master_host(peer.ip());
      req.set_master_port(peer.port());
      st = deps_.agents->ReplicaOf(g.TargetOf(n), req, rpc);
    }
    if (!st) errors.Add(st.error());
  });
  if (auto st = errors.Result(todo.size(), "re-pointing replicas"); !st) return st;

  const NodeRecord* old = FindNode(g.view, p.old_primary);
  const bool recover =
      (p.reason == FailoverReason::kTest || p.reason == FailoverReason::kAutomatic) && old &&
      HostUp(g, *old);
  if (recover) {
    FailoverChange c;
    c.events.push_back(NodeEvent(p.old_primary, RecoveringEvent()));
    return deps_.store->TransitionWithChange(op, OpState::kRecoverNode,
                                             "recovering " + p.old_primary + " as a replica", c);
  }
  FailoverChange c;
  c.group_status = "available";
  return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
}

Status FailoverReconciler::RecoverOld(OperationRecord& op, const FailoverPayload& p,
                                      const LoadedGroup& g) {
  const NodeRecord* old = FindNode(g.view, p.old_primary);
  const NodeRecord* prim = FindNode(g.view, p.new_primary);
  if (!old || !prim) return MakeError(Errc::kInternal, "failover: unknown node");
  if (!HostUp(g, *old))
    return MakeError(Errc::kUnavailable, "host " + old->host_id + " of " + old->node_id +
                                             " is down; recovery waits for it");
  pb::RestartNodeRequest req;
  req.set_node_id(old->node_id);
  *req.mutable_replica_of() = PeerOf(g, *prim);
  req.set_ready_timeout_ms(static_cast<uint32_t>(fo_.restart_ready_timeout_ms));
  auto r = deps_.agents->RestartNode(
      g.TargetOf(*old), req, fo_.restart_ready_timeout_ms + deps_.settings.agent_rpc_timeout_ms);
  if (!r) return r.error();
  Observe(*old, *r);
  Logger("ops")->info("{} {} rejoined as a replica of {}", OperationTag(op), old->node_id,
                      prim->node_id);
  FailoverChange c;
  c.events.push_back(NodeEvent(old->node_id, FinishedRecoveryEvent()));
  c.group_status = "available";
  return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
}

Status FailoverReconciler::OnDeadline(OperationRecord& op) {
  auto log = Logger("ops");
  if (op.kind == OpKind::kModifyFailover) return StepModify(op);
  if (op.kind == OpKind::kRecoverNode) {
    auto p = RecoverPayloadFromJson(op.payload);
    FailoverChange c;
    c.events.push_back(NodeEvent(p ? p->node_id : op.group_id,
                                 "Failed to recover cache nodes 0001: " +
                                     (op.last_error.empty() ? "timed out" : op.last_error)));
    return deps_.store->TransitionWithChange(op, OpState::kFailed, "", c);
  }
  auto p = FailoverPayloadFromJson(op.payload);
  if (!p) return p.error();
  auto g = LoadGroup(*deps_.store, op.group_id);
  if (!g) return g.error();
  switch (op.state) {
    case OpState::kPending:
    case OpState::kKillPrimary:
    case OpState::kPromote: {
      // Not promoted in time: the shard must not stay without a primary.
      const NodeRecord* old = FindNode(g->view, p->old_primary);
      std::string restarted;
      if (p->reason != FailoverReason::kSwitchover && old && HostUp(*g, *old)) {
        pb::RestartNodeRequest req;
        req.set_node_id(old->node_id);
        req.set_ready_timeout_ms(static_cast<uint32_t>(fo_.restart_ready_timeout_ms));
        auto r = deps_.agents->RestartNode(
            g->TargetOf(*old), req,
            fo_.restart_ready_timeout_ms + deps_.settings.agent_rpc_timeout_ms);
        if (!r) return r.error();
        Observe(*old, *r);
        restarted = "; primary node " + old->node_id + " restarted in place";
      }
      log->error("{} failover of node group {} gave up: {}{}", OperationTag(op), p->node_group_id,
                 op.last_error, restarted);
      FailoverChange c;
      c.group_status = "available";
      c.events.push_back(GroupEvent(
          op.group_id, "Failover of node group " + p->node_group_id + " failed: " +
                           (op.last_error.empty() ? "timed out" : op.last_error) + restarted));
      return deps_.store->TransitionWithChange(op, OpState::kFailed, "", c);
    }
    case OpState::kRepointReplicas:
      return StepFailover(op);
    case OpState::kRecoverNode: {
      if (auto st = StepFailover(op); st) return st;
      // The old primary cannot be restarted now (host down): the monitor recovers
      // it when it is back; the group is usable meanwhile.
      log->warn("{} recovery of {} deferred: {}", OperationTag(op), p->old_primary, op.last_error);
      FailoverChange c;
      c.group_status = "available";
      return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
    }
    default:
      return StepFailover(op);
  }
}

// ---------------------------------------------------------------------------------------------
// recover-node

Status FailoverReconciler::StepRecover(OperationRecord& op) {
  auto p = RecoverPayloadFromJson(op.payload);
  if (!p) return p.error();
  auto g = LoadGroup(*deps_.store, op.group_id);
  if (!g) return g.error();
  const NodeRecord* n = FindNode(g->view, p->node_id);
  if (!n) return MakeError(Errc::kInternal, "recover-node: unknown node " + p->node_id);
  const NodeRecord* prim = p->as_replica ? PlannedPrimary(g->view, n->node_group_id) : nullptr;
  if (p->as_replica && (!prim || prim == n))
    return MakeError(Errc::kFailedPrecondition,
                     "node group " + n->node_group_id + " has no other primary to follow");
  const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;
  const bool cme = g->view.group.cluster_enabled;
  auto follows = [&](const pb::NodeStatus& s) {
    if (s.state() != pb::NODE_RUNNING) return false;
    if (!p->as_replica) return true;
    if (s.role() != "slave") return false;
    if (cme) return s.master_cluster_node_id() == ClusterIdOf(*prim);
    const HostRecord* h = g->HostOf(*prim);
    return h && s.master_host() == h->address && s.master_port() == prim->port;
  };

  if (op.state == OpState::kPending) {
    auto s = deps_.agents->GetNodeStatus(g->TargetOf(*n), n->node_id, rpc);
    if (!s) return s.error();
    if (follows(*s)) {
      Observe(*n, *s);
      return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", FailoverChange{});
    }
    FailoverChange c;
    if (p->as_replica) c.events.push_back(NodeEvent(n->node_id, RecoveringEvent()));
    return deps_.store->TransitionWithChange(op, OpState::kRecoverNode, "restarting " + n->node_id,
                                             c);
  }

  auto s = deps_.agents->GetNodeStatus(g->TargetOf(*n), n->node_id, rpc);
  if (!s) return s.error();
  if (!follows(*s)) {
    if (s->state() == pb::NODE_RUNNING && p->as_replica) {
      // A stray primary (its agent was cut off while the shard failed over):
      // demote it.
      Status st;
      if (cme) {
        pb::ClusterReplicateRequest req;
        req.set_node_id(n->node_id);
        req.set_master_cluster_node_id(ClusterIdOf(*prim));
        st = deps_.agents->ClusterReplicate(g->TargetOf(*n), req, rpc);
      } else {
        const HostRecord* h = g->HostOf(*prim);
        pb::ReplicaOfRequest req;
        req.set_node_id(n->node_id);
        req.set_master_host(h ? h->address : std::string());
        req.set_master_port(prim->port);
        st = deps_.agents->ReplicaOf(g->TargetOf(*n), req, rpc);
      }
      if (!st) return st;
    } else {
      pb::RestartNodeRequest req;
      req.set_node_id(n->node_id);
      if (p->as_replica) *req.mutable_replica_of() = PeerOf(*g, *prim);
      req.set_ready_timeout_ms(static_cast<uint32_t>(fo_.restart_ready_timeout_ms));
      auto r = deps_.agents->RestartNode(g->TargetOf(*n), req, fo_.restart_ready_timeout_ms + rpc);
      if (!r) return r.error();
      Observe(*n, *r);
    }
  } else {
    Observe(*n, *s);
  }
  Logger("ops")->info("{} {} {}", OperationTag(op), n->node_id,
                      p->as_replica ? "rejoined as a replica of " + prim->node_id
                                    : std::string("restarted in place"));
  FailoverChange c;
  c.events.push_back(
      NodeEvent(n->node_id, p->as_replica ? FinishedRecoveryEvent() : NodeRestartedEvent()));
  return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
}

// ---------------------------------------------------------------------------------------------
// modify-failover

Status FailoverReconciler::StepModify(OperationRecord& op) {
  auto p = FailoverSettingPayloadFromJson(op.payload);
  if (!p) return p.error();
  FailoverChange c;
  c.automatic_failover = p->automatic_failover;
  c.multi_az = p->multi_az;
  c.group_status = "available";
  std::string what;
  if (p->automatic_failover)
    what += std::string("automatic failover ") + (*p->automatic_failover ? "enabled" : "disabled");
  if (p->multi_az)
    what += std::string(what.empty() ? "" : ", ") + "Multi-AZ " +
            (*p->multi_az ? "enabled" : "disabled");
  c.events.push_back(
      GroupEvent(op.group_id, "Modified replication group " + op.group_id + ": " + what));
  if (p->automatic_failover) {
    // The nodes' spec follows: hold_max_ms is 0 with automatic failover (BuildNodeSpec). Marked
    // before the commit, so a crash in between only repeats it; the parameter applier leaves the
    // group alone while this operation is unfinished, then sends every node its spec again.
    if (auto st = deps_.store->MarkNodesRespec(op.group_id); !st) return st;
  }
  return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
}

}  // namespace cf::orchestrator
