#include "orchestrator/operations/reconciler_context.h"

#include <chrono>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/task_pool.h"

namespace cf::orchestrator {

const HostRecord* LoadedGroup::HostOf(const NodeRecord& n) const {
  auto it = hosts.find(n.host_id);
  return it == hosts.end() ? nullptr : &it->second;
}

AgentTarget LoadedGroup::TargetOf(const NodeRecord& n) const {
  const HostRecord* h = HostOf(n);
  return AgentTarget{n.host_id, h ? h->agent_endpoint : std::string()};
}

Result<LoadedGroup> LoadGroup(Store& store, const std::string& group_id) {
  auto v = store.GetGroup(group_id);
  if (!v) return v.error();
  if (!*v) return MakeError(Errc::kNotFound, "replication group " + group_id + " not found");
  auto hosts = store.ListHosts();
  if (!hosts) return hosts.error();
  LoadedGroup g;
  g.view = std::move(**v);
  for (auto& h : *hosts) g.hosts[h.host_id] = std::move(h);
  return g;
}

pb::NodeSpec BuildNodeSpec(const ReplicationGroupRecord& g, const NodeRecord& n,
                           int64_t cluster_node_timeout_ms, int64_t hold_max_ms) {
  pb::NodeSpec spec;
  spec.set_node_id(n.node_id);
  spec.set_group_id(g.id);
  spec.set_port(n.port);
  spec.set_cluster_enabled(g.cluster_enabled);
  spec.set_maxmemory_bytes(g.maxmemory_bytes);
  spec.set_engine_version(g.engine_version);
  if (g.cluster_enabled)
    spec.set_cluster_node_timeout_ms(static_cast<uint32_t>(cluster_node_timeout_ms));
  spec.set_hold_on_exit(true);
  spec.set_hold_max_ms(g.automatic_failover ? 0u : static_cast<uint32_t>(hold_max_ms));
  return spec;
}

std::vector<std::optional<pb::NodeStatus>> PollStatuses(const ReconcilerDeps& deps,
                                                        const LoadedGroup& g) {
  const auto& nodes = g.view.nodes;
  std::vector<std::optional<pb::NodeStatus>> out(nodes.size());
  deps.pool->ParallelFor(nodes.size(), [&](size_t i) {
    auto r = deps.agents->GetNodeStatus(g.TargetOf(nodes[i]), nodes[i].node_id,
                                        deps.settings.agent_rpc_timeout_ms);
    if (r) out[i] = std::move(*r);
  });
  // One store transaction per host.
  std::map<std::string, std::vector<std::pair<std::string, ObservedNode>>> by_host;
  const int64_t now = NowMs();
  for (size_t i = 0; i < nodes.size(); ++i)
    if (out[i]) by_host[nodes[i].host_id].emplace_back(nodes[i].node_id, ToObserved(*out[i], now));
  for (const auto& [host, obs] : by_host) {
    if (auto r = deps.store->RecordObservations(host, obs); !r)
      Logger("ops")->warn("[{}] cannot record observations: {}", g.view.group.id,
                          r.error().message);
  }
  return out;
}

Status StopNodes(const ReconcilerDeps& deps, const LoadedGroup& g) {
  const auto& nodes = g.view.nodes;
  std::vector<std::optional<Error>> errors(nodes.size());
  deps.pool->ParallelFor(nodes.size(), [&](size_t i) {
    const NodeRecord& n = nodes[i];
    if (n.status == "stopped") return;
    pb::StopNodeRequest req;
    req.set_node_id(n.node_id);
    req.set_purge_data(true);
    req.set_grace_ms(static_cast<uint32_t>(deps.settings.stop_grace_ms));
    auto r = deps.agents->StopNode(
        g.TargetOf(n), req, deps.settings.stop_grace_ms + deps.settings.agent_rpc_timeout_ms);
    if (!r) {
      errors[i] = r.error();
      return;
    }
    if (auto st = deps.store->SetNodeStatus(n.node_id, "stopped"); !st) errors[i] = st.error();
  });
  int failed = 0;
  std::optional<Error> first;
  for (auto& e : errors) {
    if (!e) continue;
    ++failed;
    if (!first) first = e;
  }
  if (!first) return {};
  return MakeError(first->code, std::to_string(failed) + " of " + std::to_string(nodes.size()) +
                                    " nodes not stopped yet; first: " + first->message);
}

bool SleepFor(int64_t ms, const std::atomic<bool>& stop) {
  using namespace std::chrono;
  auto until = steady_clock::now() + milliseconds(ms);
  while (steady_clock::now() < until) {
    if (stop) return false;
    auto left = duration_cast<milliseconds>(until - steady_clock::now());
    std::this_thread::sleep_for(std::min<milliseconds>(left, milliseconds(20)));
  }
  return !stop;
}

Status Reconciler::OnDeadline(OperationRecord& op) {
  std::atomic<bool> never{false};
  return Step(op, never);
}

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string OperationTag(const OperationRecord& op) {
  return "[" + op.group_id + "/" + OpKindName(op.kind) + "#" + std::to_string(op.id) + "]";
}

const NodeRecord* FindNode(const GroupView& v, const std::string& id) {
  for (const auto& n : v.nodes)
    if (n.node_id == id) return &n;
  return nullptr;
}

EventToWrite GroupEvent(const std::string& group_id, std::string message) {
  return {group_id, "replication-group", std::move(message)};
}

EventToWrite NodeEvent(const std::string& node_id, std::string message) {
  return {node_id, "cache-cluster", std::move(message)};
}

}  // namespace cf::orchestrator
