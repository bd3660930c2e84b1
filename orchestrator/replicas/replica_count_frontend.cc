#include "orchestrator/replicas/replica_count_frontend.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/placement/placement_planner.h"
#include "orchestrator/operations/group_result.h"

namespace cf::orchestrator {

using api::ApiError;

Status PlaceNewReplicas(const FleetSnapshot& snap, const GroupView& g,
                        const std::vector<ReplicaPlan::NewReplica>& add,
                        int64_t host_down_after_ms, std::vector<NodeRecord>& nodes) {
  const int64_t now = NowMs();
  const std::string& version = g.group.engine_version;
  std::vector<PlacementHost> all;
  for (size_t i = 0; i < snap.hosts.size(); ++i) {
    const HostRecord& h = snap.hosts[i];
    PlacementHost p;
    p.host_id = h.host_id;
    p.az = h.az;
    p.up = HostIsUp(h, now, host_down_after_ms);
    p.offers_version = std::find(h.redis_versions.begin(), h.redis_versions.end(), version) !=
                       h.redis_versions.end();
    p.port_range_start = h.port_range_start;
    p.port_range_end = h.port_range_end;
    p.used_ports = snap.used_ports[i];
    p.warm_ports = h.warm_cluster_ports;
    p.max_nodes = h.max_nodes;
    p.node_count = snap.node_counts[i];
    all.push_back(std::move(p));
  }
  auto usable = [](const PlacementHost& h) {
    return h.up && h.offers_version &&
           (h.max_nodes == 0 || h.node_count < h.max_nodes) &&
           LowestFreePort(h.port_range_start, h.port_range_end, h.used_ports).has_value();
  };
  // Node groups in order of first appearance.
  std::vector<std::string> order;
  for (const auto& a : add)
    if (std::find(order.begin(), order.end(), a.node_group_id) == order.end())
      order.push_back(a.node_group_id);
  for (size_t s = 0; s < order.size(); ++s) {
    const std::string& ng = order[s];
    std::set<std::string> used_hosts, used_azs;
    for (const auto& n : g.nodes)
      if (n.node_group_id == ng) {
        used_hosts.insert(n.host_id);
        used_azs.insert(n.az);
      }
    std::vector<size_t> idx;  // indexes into add / nodes
    std::set<std::string> preferred;
    for (size_t i = 0; i < add.size(); ++i)
      if (add[i].node_group_id == ng) {
        idx.push_back(i);
        if (add[i].preferred_az) preferred.insert(*add[i].preferred_az);
      }
    // The narrowest tier that still has enough usable hosts (and every preferred AZ).
    auto tier = [&](int level) {
      std::vector<size_t> out;
      for (size_t h = 0; h < all.size(); ++h) {
        if (level == 0 && (used_azs.count(all[h].az) || used_hosts.count(all[h].host_id)))
          continue;
        if (level == 1 && used_hosts.count(all[h].host_id)) continue;
        out.push_back(h);
      }
      return out;
    };
    std::vector<size_t> chosen;
    for (int level = 0; level <= 2; ++level) {
      auto cand = tier(level);
      size_t ok = 0;
      std::set<std::string> azs;
      for (size_t h : cand)
        if (usable(all[h])) {
          ++ok;
          azs.insert(all[h].az);
        }
      bool has_preferred = true;
      for (const auto& az : preferred)
        if (!azs.count(az)) has_preferred = false;
      if (level == 2 || (ok >= idx.size() && has_preferred)) {
        chosen = cand;
        break;
      }
    }
    std::vector<PlacementHost> hosts;
    for (size_t h : chosen) hosts.push_back(all[h]);
    std::vector<PlacementRequest> reqs;
    for (size_t k = 0; k < idx.size(); ++k) {
      const auto& a = add[idx[k]];
      PlacementRequest p;
      p.node_id = a.node_id;
      p.shard = static_cast<int>(s);
      p.member = a.member_index - 1;
      p.role = NodeRole::kReplica;
      p.cluster_mode = g.group.cluster_enabled;
      p.preferred_az = a.preferred_az;
      reqs.push_back(std::move(p));
    }
    auto plan = PlanPlacement(hosts, reqs);
    if (!plan) return plan.error();
    for (size_t k = 0; k < idx.size(); ++k) {
      const NodePlacement& np = (*plan)[k];
      NodeRecord& n = nodes[idx[k]];
      n.host_id = np.host_id;
      n.az = np.az;
      n.port = np.port;
      for (auto& h : all)
        if (h.host_id == np.host_id) {
          h.used_ports.push_back(np.port);
          h.node_count++;
          h.warm_ports.erase(std::remove(h.warm_ports.begin(), h.warm_ports.end(), np.port),
                             h.warm_ports.end());
        }
    }
  }
  return {};
}

ReplicaCountFrontend::ReplicaCountFrontend(Store& store, const OrchestratorConfig& config,
                                           std::function<void(int64_t)> poke)
    : store_(store), config_(config), poke_(std::move(poke)) {}

void ReplicaCountFrontend::Register(api::Dispatcher& d) {
  d.Register("IncreaseReplicaCount", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return Handle(r, n, true);
  });
  d.Register("DecreaseReplicaCount", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return Handle(r, n, false);
  });
}

std::optional<ApiError> ReplicaCountFrontend::Handle(const api::ApiRequest& req,
                                                     pugi::xml_node result, bool increase) {
  auto parsed = ParseReplicaCountRequest(req.params, increase, config_.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ReplicaCountRequest& rr = std::get<ReplicaCountRequest>(parsed);

  auto view = store_.GetGroup(rr.group_id);
  if (!view) return faults::StoreFailure(view.error());
  if (!*view) return faults::ReplicationGroupNotFound(rr.group_id);
  const GroupView& g = **view;
  auto hosts = store_.ListHosts();
  if (!hosts) return faults::StoreFailure(hosts.error());
  const int64_t now = NowMs();
  ReplicaCountContext ctx;
  ctx.limits = config_.limits;
  for (const auto& h : *hosts)
    ctx.azs[h.az] = ctx.azs[h.az] || HostIsUp(h, now, config_.host_down_after_ms);
  auto checked = CheckReplicaCount(rr, g, ctx);
  if (auto* e = std::get_if<ApiError>(&checked)) return *e;
  const ReplicaPlan& plan = std::get<ReplicaPlan>(checked);
  for (const auto& a : plan.add)
    if (a.preferred_az && !ctx.azs[*a.preferred_az])
      return faults::InsufficientCacheClusterCapacity(
          "No host in availability zone " + *a.preferred_az + " is up.");

  NewReshard r;
  r.group_id = g.group.id;
  for (const auto& a : plan.add) {
    NodeRecord n;
    n.node_id = a.node_id;
    n.group_id = g.group.id;
    n.node_group_id = a.node_group_id;
    n.member_index = a.member_index;
    n.desired_role = NodeRole::kReplica;
    n.status = "creating";
    n.create_time_ms = now;
    r.new_nodes.push_back(std::move(n));
  }
  r.removed_nodes = plan.remove;
  r.operation = NewPendingOperation(
      increase ? OpKind::kIncreaseReplicas : OpKind::kDecreaseReplicas,
      g.group.cluster_enabled ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled,
      now);
  OperationRecord& op = r.operation;
  op.payload = ReplicaPlanToJson(plan);
  r.event_message = std::string(increase ? "Increasing" : "Decreasing") +
                    " the replica count of replication group " + g.group.id + " (" +
                    plan.Summary() + ")";

  const int64_t down_after = config_.host_down_after_ms;
  auto place = [&](const FleetSnapshot& snap, std::vector<NodeRecord>& nodes) -> Status {
    return PlaceNewReplicas(snap, g, plan.add, down_after, nodes);
  };
  auto begun = store_.BeginReshard(std::move(r), place);
  if (!begun) return faults::GroupChangeFault(begun.error(), rr.group_id);
  RenderGroupResult(store_, config_, begun->first, result);
  Logger("api")->info("[{}] {} replica count accepted: {}", rr.group_id,
                      increase ? "increase" : "decrease", plan.Summary());
  if (poke_) poke_(begun->second);
  return std::nullopt;
}

}  // namespace cf::orchestrator
