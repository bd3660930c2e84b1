#include "orchestrator/rolling_restart/rolling_restart_reconciler.h"

#include <chrono>

#include "common/log.h"
#include "orchestrator/operations/operation_payloads.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/group_formation.h"
#include "orchestrator/operations/node_params.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {
void RollingRestartReconciler::Observe(const NodeRecord& n, const pb::NodeStatus& s) {
  (void)deps_.store->RecordObservations(n.host_id, {{n.node_id, ToObserved(s, NowMs())}});
}

Result<RollingRestartReconciler::Params> RollingRestartReconciler::LoadParams(
    const std::string& parameter_group) {
  Params out;
  if (builtins_.Find(parameter_group)) return out;
  auto pg = deps_.store->GetParameterGroup(parameter_group);
  if (!pg) return pg.error();
  if (!*pg) return out;
  out.values = (*pg)->reset;
  for (const auto& [k, v] : (*pg)->values) out.values[k] = v;
  out.family = (*pg)->family;
  out.generation = (*pg)->generation;
  out.user = true;
  return out;
}

Status RollingRestartReconciler::Step(OperationRecord& op, const std::atomic<bool>& stop) {
  auto p = RollingRestartPayloadFromJson(op.payload);
  if (!p) return p.error();
  auto g = LoadGroup(*deps_.store, op.group_id);
  if (!g) return g.error();
  if (op.state == OpState::kPending) {
    if (p->nodes.empty()) return Finish(op, *p, *g);
    return deps_.store->TransitionOperation(op, OpState::kRestartNodes, "restarting cache nodes");
  }
  if (op.state != OpState::kRestartNodes)
    return MakeError(Errc::kInternal,
                     std::string("rolling restart: unexpected state ") + OpStateName(op.state));
  const RestartAction a = NextRestartAction(g->view, *p);
  switch (a.kind) {
    case RestartAction::kRestart:
      return Restart(op, std::move(*p), *g, a);
    case RestartAction::kAwait:
      return Await(op, std::move(*p), *g, a, stop);
    case RestartAction::kSwitchOver:
      return SwitchOver(op, std::move(*p), *g, a);
    case RestartAction::kDone:
      return Finish(op, *p, *g);
  }
  return MakeError(Errc::kInternal, "rolling restart: unknown action");
}

Status RollingRestartReconciler::Restart(OperationRecord& op, RollingRestartPayload p,
                                         const LoadedGroup& g, const RestartAction& a) {
  auto log = Logger("ops");
  const NodeRecord* n = FindNode(g.view, a.node_id);
  if (!n) return MakeError(Errc::kInternal, "rolling restart: unknown node " + a.node_id);
  const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;
  const AgentTarget target = g.TargetOf(*n);
  auto& prog = p.progress[n->node_id];
  auto status = deps_.agents->GetNodeStatus(target, n->node_id, rpc);
  if (!status) return status.error();
  Observe(*n, *status);

  if (prog.phase.empty()) {
    // Recorded before the agent is asked: a resumed operation compares the pid.
    auto params = LoadParams(g.view.group.parameter_group);
    if (!params) return params.error();
    prog.phase = "restarting";
    prog.pid_before = status->state() == pb::NODE_RUNNING ? status->pid() : 0;
    prog.generation = params->generation;
    FailoverChange c;
    c.node_status[n->node_id] = "rebooting";
    c.events.push_back(NodeEvent(n->node_id, CacheNodeRebootingEvent()));
    log->info("{} restarting {} ({}{})", OperationTag(op), n->node_id,
              a.in_place_primary ? "primary, in place" : "replica",
              p.reason == RestartReason::kEngineVersion ? ", engine " + p.engine_version : "");
    return deps_.store->UpdateOperationWithChange(op, "restarting " + n->node_id,
                                                  RollingRestartPayloadToJson(p), c);
  }

  const bool running = status->state() == pb::NODE_RUNNING;
  const bool restarted_already =
      running && status->pid() != 0 && prog.pid_before != 0 && status->pid() != prog.pid_before;
  if (!restarted_already) {
    auto params = LoadParams(g.view.group.parameter_group);
    if (!params) return params.error();
    ReplicationGroupRecord gr = g.view.group;
    if (!p.engine_version.empty()) gr.engine_version = p.engine_version;
    pb::ReconfigureNodeRequest req;
    *req.mutable_spec() = BuildNodeSpec(gr, *n, deps_.cluster_node_timeout_ms, deps_.hold_max_ms);
    if (params->user) AddParameterConfig(params->values, catalog_, params->family, req);
    req.set_restart(true);
    req.set_force_restart(true);
    req.set_ready_timeout_ms(static_cast<uint32_t>(fo_.restart_ready_timeout_ms));
    auto r = deps_.agents->ReconfigureNode(target, req, fo_.restart_ready_timeout_ms + rpc);
    if (!r) return r.error();
    Observe(*n, *r);
    if (r->state() != pb::NODE_RUNNING) {
      // It was down: it only took the spec; start it (a replica as one of the primary).
      pb::RestartNodeRequest rr;
      rr.set_node_id(n->node_id);
      const NodeRecord* prim = PlannedPrimary(g.view, n->node_group_id);
      if (prim && prim != n) {
        pb::PeerNode* peer = rr.mutable_replica_of();
        peer->set_cluster_node_id(g.view.group.cluster_enabled ? ClusterIdOf(*prim) : "");
        const HostRecord* h = g.HostOf(*prim);
        peer->set_ip(h ? h->address : std::string());
        peer->set_port(prim->port);
      }
      rr.set_ready_timeout_ms(static_cast<uint32_t>(fo_.restart_ready_timeout_ms));
      auto s = deps_.agents->RestartNode(target, rr, fo_.restart_ready_timeout_ms + rpc);
      if (!s) return s.error();
      Observe(*n, *s);
    }
  } else {
    log->info("{} {} was restarted before the resume (pid {} -> {}): not restarted again",
              OperationTag(op), n->node_id, prog.pid_before, status->pid());
  }
  prog.phase = "restarted";
  return deps_.store->UpdateOperationWithChange(op, "waiting for " + n->node_id,
                                                RollingRestartPayloadToJson(p), FailoverChange{});
}

Status RollingRestartReconciler::Await(OperationRecord& op, RollingRestartPayload p,
                                       const LoadedGroup& g, const RestartAction& a,
                                       const std::atomic<bool>& stop) {
  const NodeRecord* n = FindNode(g.view, a.node_id);
  if (!n) return MakeError(Errc::kInternal, "rolling restart: unknown node " + a.node_id);
  const NodeRecord* prim = PlannedPrimary(g.view, n->node_group_id);
  const bool as_primary = !prim || prim == n;
  const bool cme = g.view.group.cluster_enabled;
  const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;
  const HostRecord* ph = prim ? g.HostOf(*prim) : nullptr;
  const int64_t until = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  std::string why = "no answer";
  bool repointed = false;
  int64_t healthy_since = 0;  // cluster mode: when the node and its peers first looked settled
  while (true) {
    auto s = deps_.agents->GetNodeStatus(g.TargetOf(*n), n->node_id, rpc);
    if (s) {
      Observe(*n, *s);
      bool ok = false;
      if (s->state() != pb::NODE_RUNNING) {
        why = "not running";
      } else if (as_primary) {
        ok = s->role() == "master" && (!cme || s->cluster_state() == "ok");
        if (!ok) why = "role " + s->role() + ", cluster_state " + s->cluster_state();
      } else {
        const bool follows = s->role() == "slave" &&
                             (cme ? s->master_cluster_node_id() == ClusterIdOf(*prim)
                                  : ph && s->master_host() == ph->address &&
                                        s->master_port() == prim->port);
        ok = follows && s->master_link_up();
        if (!follows) {
          why = "does not follow " + prim->node_id;
          if (!repointed && s->role() == "slave") {
            // It follows someone else (a stale replicaof): point it at the primary once.
            repointed = true;
            Status st;
            if (cme) {
              pb::ClusterReplicateRequest req;
              req.set_node_id(n->node_id);
              req.set_master_cluster_node_id(ClusterIdOf(*prim));
              st = deps_.agents->ClusterReplicate(g.TargetOf(*n), req, rpc);
            } else {
              pb::ReplicaOfRequest req;
              req.set_node_id(n->node_id);
              req.set_master_host(ph ? ph->address : std::string());
              req.set_master_port(prim->port);
              st = deps_.agents->ReplicaOf(g.TargetOf(*n), req, rpc);
            }
            if (!st) why += " (repoint: " + st.error().message + ")";
          }
        } else if (!ok) {
          why = "replication link to " + prim->node_id + " down";
        }
      }
      if (ok && cme) {
        // Cluster mode: every other node must see it healthy again (their cluster-bus links to
        // the restarted process are re-established by their cron), for a settle time: a
        // switch-over right away may lose its votes (a voter without a link drops its ACK, and
        // then refuses a second vote for that primary for 2 x cluster-node-timeout). Settle:
        // cluster-node-timeout / 5 (1 s with the lab's 5 s).
        ok = s->cluster_state() == "ok" && s->unhealthy_peers_size() == 0;
        if (!ok) why = "cluster_state " + s->cluster_state() + ", its view of peers unsettled";
        const std::string me = ClusterIdOf(*n);
        for (const auto& o : g.view.nodes) {
          if (!ok) break;
          if (o.node_id == n->node_id) continue;
          auto os = deps_.agents->GetNodeStatus(g.TargetOf(o), o.node_id, rpc);
          if (!os || os->state() != pb::NODE_RUNNING) continue;  // a peer that is down: not ours
          for (const auto& p : os->unhealthy_peers())
            if (p == me) {
              ok = false;
              why = o.node_id + " still flags it";
            }
        }
        if (!ok) {
          healthy_since = 0;
        } else {
          if (healthy_since == 0) healthy_since = SteadyMs();
          if (SteadyMs() - healthy_since < deps_.cluster_node_timeout_ms / 5) {
            ok = false;
            why = "settling";
          }
        }
      }
      if (ok) break;
    } else {
      why = s.error().message;
    }
    if (SteadyMs() >= until)
      return MakeError(Errc::kTimeout,
                       "cache node " + n->node_id + " not back after its restart: " + why);
    if (!SleepFor(deps_.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }
  auto& prog = p.progress[n->node_id];
  prog.phase = "done";
  FailoverChange c;
  c.node_status[n->node_id] = "available";
  c.events.push_back(NodeEvent(n->node_id, CacheNodeRestartedEvent()));
  // The spec was built from the values at the restart or later; the generation recorded when
  // the restart was is conservative: a change since leaves the node behind (the applier, or the
  // next rolling restart when it is static, catches up).
  if (prog.generation != 0)
    c.params_applied[n->node_id] = {g.view.group.parameter_group, prog.generation};
  Logger("ops")->info("{} {} is back ({} of {} restarted)", OperationTag(op), n->node_id,
                      RestartedCount(p), p.nodes.size());
  return deps_.store->UpdateOperationWithChange(op, "restarted " + n->node_id,
                                                RollingRestartPayloadToJson(p), c);
}

Status RollingRestartReconciler::SwitchOver(OperationRecord& op, RollingRestartPayload p,
                                            const LoadedGroup& g, const RestartAction& a) {
  auto log = Logger("ops");
  const int64_t rpc = deps_.settings.agent_rpc_timeout_ms;
  const bool cme = g.view.group.cluster_enabled;
  const NodeRecord* old = FindNode(g.view, a.node_id);
  if (!old) return MakeError(Errc::kInternal, "rolling restart: unknown node " + a.node_id);
  auto chosen_it = p.switch_to.find(a.node_group_id);
  if (chosen_it == p.switch_to.end()) {
    std::string why;
    for (const auto& id : a.candidates) {
      const NodeRecord* c = FindNode(g.view, id);
      if (!c) continue;
      auto s = deps_.agents->GetNodeStatus(g.TargetOf(*c), c->node_id, rpc);
      if (!s) {
        why += " " + id + ": " + s.error().message + ";";
        continue;
      }
      Observe(*c, *s);
      if (s->state() == pb::NODE_RUNNING && s->role() == "slave" && s->master_link_up()) {
        p.switch_to[a.node_group_id] = c->node_id;
        log->info("{} switching node group {} over from {} to {}", OperationTag(op),
                  a.node_group_id, old->node_id, c->node_id);
        return deps_.store->UpdateOperationWithChange(
            op, "switching node group " + a.node_group_id + " over to " + c->node_id,
            RollingRestartPayloadToJson(p), FailoverChange{});
      }
      why += " " + id + ": not a running replica with its link up;";
    }
    return MakeError(Errc::kUnavailable, "no replica of node group " + a.node_group_id +
                                             " is ready for the switch-over:" + why);
  }
  const NodeRecord* target = FindNode(g.view, chosen_it->second);
  if (!target) return MakeError(Errc::kInternal, "rolling restart: unknown node " + chosen_it->second);

  pb::FailoverRequest req;
  req.set_node_id(target->node_id);
  req.set_mode(pb::FAILOVER_COORDINATED);
  req.set_timeout_ms(static_cast<uint32_t>(fo_.failover_timeout_ms));
  req.set_force_timeout_ms(static_cast<uint32_t>(fo_.force_timeout_ms));
  auto r = deps_.agents->Failover(g.TargetOf(*target), req, fo_.failover_timeout_ms + rpc);
  if (!r) return r.error();
  if (r->has_status()) Observe(*target, r->status());
  log->info("{} {} is the primary of node group {} ({}, {} ms)", OperationTag(op), target->node_id,
            a.node_group_id, r->method(), r->elapsed_ms());

  // The other members (the old primary included) follow the new primary. Idempotent.
  const HostRecord* th = g.HostOf(*target);
  for (const auto& n : g.view.nodes) {
    if (n.node_group_id != a.node_group_id || n.node_id == target->node_id) continue;
    auto s = deps_.agents->GetNodeStatus(g.TargetOf(n), n.node_id, rpc);
    if (!s) return s.error();
    if (s->state() != pb::NODE_RUNNING) continue;  // restarted as a replica of it below
    Status st;
    if (cme) {
      if (s->role() == "slave" && s->master_cluster_node_id() == ClusterIdOf(*target)) continue;
      pb::ClusterReplicateRequest cr;
      cr.set_node_id(n.node_id);
      cr.set_master_cluster_node_id(ClusterIdOf(*target));
      st = deps_.agents->ClusterReplicate(g.TargetOf(n), cr, rpc);
    } else {
      pb::ReplicaOfRequest ro;
      ro.set_node_id(n.node_id);
      ro.set_master_host(th ? th->address : std::string());
      ro.set_master_port(target->port);
      st = deps_.agents->ReplicaOf(g.TargetOf(n), ro, rpc);
    }
    if (!st) return st;
  }

  p.switched[a.node_group_id] = true;
  FailoverChange c;
  c.new_primary = std::make_pair(a.node_group_id, target->node_id);
  const std::string msg = FailoverCompletedEvent(old->node_id, target->node_id);
  c.events.push_back(NodeEvent(old->node_id, msg));
  c.events.push_back(GroupEvent(op.group_id, msg));
  return deps_.store->UpdateOperationWithChange(op, "switched node group " + a.node_group_id,
                                                RollingRestartPayloadToJson(p), c);
}

Status RollingRestartReconciler::Finish(OperationRecord& op, const RollingRestartPayload& p,
                                        const LoadedGroup& g) {
  FailoverChange c;
  c.group_status = "available";
  for (const auto& id : p.nodes)
    if (FindNode(g.view, id)) c.node_status[id] = "available";
  if (p.reason == RestartReason::kEngineVersion && !p.engine_version.empty())
    c.engine_version = p.engine_version;
  c.events.push_back(GroupEvent(op.group_id, RollingRestartFinishedEvent(op.group_id, p)));
  Logger("ops")->info("{} rolling restart finished ({} node(s))", OperationTag(op), p.nodes.size());
  return deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c);
}

}  // namespace cf::orchestrator
