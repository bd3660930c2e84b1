#include "orchestrator/modify/node_type_reconciler.h"

#include <mutex>

#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/group_formation.h"
#include "orchestrator/operations/node_params.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

bool IsRefusal(const Error& e) {
  return e.code == Errc::kFailedPrecondition || e.code == Errc::kInvalidArgument;
}

}  // namespace

Status NodeTypeReconciler::Step(OperationRecord& op, const std::atomic<bool>&) {
  auto p = NodeTypePayloadFromJson(op.payload);
  if (!p) return p.error();
  auto g = LoadGroup(*deps_.store, op.group_id);
  if (!g) return g.error();
  switch (op.state) {
    case OpState::kPending:
      return CheckMemory(op, *p, *g);
    case OpState::kResizeNodes:
      return Resize(op, *p, *g);
    case OpState::kRollingBack:
      return RollBack(op, *p, *g);
    default:
      return MakeError(Errc::kInternal,
                       std::string("modify-node-type: unexpected state ") + OpStateName(op.state));
  }
}

Status NodeTypeReconciler::OnDeadline(OperationRecord& op) {
  if (op.state == OpState::kRollingBack) {
    std::atomic<bool> no_stop{false};
    return Step(op, no_stop);
  }
  auto p = NodeTypePayloadFromJson(op.payload);
  if (!p) return p.error();
  std::string why = "not applied to every node within " +
                    std::to_string(op.deadline_ms - op.created_ms) + " ms";
  if (!op.last_error.empty()) why += "; last error: " + op.last_error;
  return StartRollback(op, *p, why);
}

// ---- pending: does the data fit the new type? ---------------------------------------------------

Status NodeTypeReconciler::CheckMemory(OperationRecord& op, const NodeTypePayload& p,
                                       const LoadedGroup& g) {
  const auto statuses = PollStatuses(deps_, g);
  const auto& nodes = g.view.nodes;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeRecord& n = nodes[i];
    uint64_t used = n.observed.known ? n.observed.used_memory : 0;
    if (statuses[i]) used = ToObserved(*statuses[i], NowMs()).used_memory;
    if (used <= p.to_maxmemory) continue;
    NodeTypePayload failed = p;
    failed.error = "cache cluster " + n.node_id + " holds " + std::to_string(used) +
                   " bytes, more than the " + std::to_string(p.to_maxmemory) + " of " + p.to_type;
    Logger("ops")->warn("{} {}", OperationTag(op), failed.error);
    FailoverChange c;
    c.node_type = std::make_pair(p.from_type, p.from_maxmemory);
    c.group_status = "available";
    c.payload = NodeTypePayloadToJson(failed);
    c.events.push_back(
        {op.group_id, "replication-group", NodeTypeFailedEvent(op.group_id, failed)});
    return deps_.store->TransitionWithChange(op, OpState::kFailed, "", c);
  }
  return deps_.store->TransitionOperation(
      op, OpState::kResizeNodes,
      "setting maxmemory " + std::to_string(p.to_maxmemory) + " on " +
          std::to_string(nodes.size()) + " node(s)");
}

// ---- resize-nodes ---------------------------------------------------------------------------

Status NodeTypeReconciler::Resize(OperationRecord& op, NodeTypePayload p, const LoadedGroup& g) {
  bool refused = false;
  if (auto st = SendAll(g, p.to_maxmemory, &refused); !st) {
    if (!refused) return st;  // retried until the deadline
    Logger("ops")->warn("{} {} refused: {}", OperationTag(op), p.to_type, st.error().message);
    return StartRollback(op, std::move(p), st.error().message);
  }
  FailoverChange c;
  c.group_status = "available";
  c.events.push_back({op.group_id, "replication-group",
                      NodeTypeScaledEvent(op.group_id, p, g.view.nodes.size())});
  if (auto st = deps_.store->TransitionWithChange(op, OpState::kSucceeded, "", c); !st) return st;
  Logger("ops")->info("{} node type {} -> {}", OperationTag(op), p.from_type, p.to_type);
  return {};
}

// ---- rolling-back ---------------------------------------------------------------------------

Status NodeTypeReconciler::StartRollback(OperationRecord& op, NodeTypePayload p,
                                         const std::string& why) {
  p.error = why;
  FailoverChange c;
  c.node_type = std::make_pair(p.from_type, p.from_maxmemory);
  c.payload = NodeTypePayloadToJson(p);
  Logger("ops")->error("{} {}; back to {}", OperationTag(op), why, p.from_type);
  return deps_.store->TransitionWithChange(op, OpState::kRollingBack,
                                           "restoring the memory limit of " + p.from_type, c);
}

Status NodeTypeReconciler::RollBack(OperationRecord& op, const NodeTypePayload& p,
                                    const LoadedGroup& g) {
  bool refused = false;
  if (auto st = SendAll(g, p.from_maxmemory, &refused); !st) return st;  // retried, no deadline
  FailoverChange c;
  c.group_status = "available";
  c.events.push_back({op.group_id, "replication-group", NodeTypeFailedEvent(op.group_id, p)});
  return deps_.store->TransitionWithChange(op, OpState::kFailed, "", c);
}

// ---- the agent calls ------------------------------------------------------------------------

Status NodeTypeReconciler::SendAll(const LoadedGroup& g, uint64_t maxmemory, bool* refused) {
  // The spec the parameter applier would send, with `maxmemory`. (Static values go as
  // static_keys: kept in the spec, never CONFIG SET.) A built-in group has a row (reset
  // values) once a group switched back to it.
  std::map<std::string, std::string> all;
  std::string family;
  auto pg = deps_.store->GetParameterGroup(g.view.group.parameter_group);
  if (!pg) return pg.error();
  if (*pg) {
    all = (*pg)->reset;
    for (const auto& [k, v] : (*pg)->values) all[k] = v;
    family = (*pg)->family;
  }
  ReplicationGroupRecord gr = g.view.group;
  gr.maxmemory_bytes = maxmemory;
  const auto& nodes = g.view.nodes;
  ErrorCollector errors;
  std::mutex mu;
  deps_.pool->ParallelFor(nodes.size(), [&](size_t i) {
    const NodeRecord& n = nodes[i];
    pb::ReconfigureNodeRequest r;
    *r.mutable_spec() =
        BuildNodeSpec(gr, n, deps_.cluster_node_timeout_ms, deps_.hold_max_ms);
    if (!family.empty()) AddParameterConfig(all, catalog_, family, r);
    r.set_restart(false);
    auto s = deps_.agents->ReconfigureNode(g.TargetOf(n), r, deps_.settings.agent_rpc_timeout_ms);
    if (s) return;
    Error e = s.error();
    e.message = "cache cluster " + n.node_id + ": " + e.message;
    if (IsRefusal(e)) {
      std::lock_guard lk(mu);
      *refused = true;
    }
    errors.Add(e);
  });
  return errors.Result(nodes.size(), "ReconfigureNode maxmemory " + std::to_string(maxmemory));
}

}  // namespace cf::orchestrator
