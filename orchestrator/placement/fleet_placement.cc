#include "orchestrator/placement/fleet_placement.h"

#include <algorithm>

namespace cf::orchestrator {

bool HostIsUp(const HostRecord& h, int64_t now_ms, int64_t down_after_ms) {
  return h.state == HostState::kUp && now_ms - h.last_heartbeat_ms <= down_after_ms;
}

Status PlaceOnFleet(const FleetSnapshot& snap, const std::vector<PlacementRequest>& placement,
                    const std::string& engine_version, int64_t host_down_after_ms,
                    std::vector<NodeRecord>& nodes) {
  const int64_t now = NowMs();
  std::vector<PlacementHost> ph;
  for (size_t i = 0; i < snap.hosts.size(); ++i) {
    const HostRecord& h = snap.hosts[i];
    PlacementHost p;
    p.host_id = h.host_id;
    p.az = h.az;
    p.up = HostIsUp(h, now, host_down_after_ms);
    p.offers_version = std::find(h.redis_versions.begin(), h.redis_versions.end(),
                                 engine_version) != h.redis_versions.end();
    p.port_range_start = h.port_range_start;
    p.port_range_end = h.port_range_end;
    p.used_ports = snap.used_ports[i];
    p.warm_ports = h.warm_cluster_ports;
    p.max_nodes = h.max_nodes;
    p.node_count = snap.node_counts[i];
    ph.push_back(std::move(p));
  }
  auto plan = PlanPlacement(ph, placement);
  if (!plan) return plan.error();
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].host_id = (*plan)[i].host_id;
    nodes[i].az = (*plan)[i].az;
    nodes[i].port = (*plan)[i].port;
  }
  return {};
}

NewMember MakeNewMember(const std::string& group_id, const std::string& node_group_id,
                        std::string node_id, int member, int shard, bool cluster_mode,
                        int64_t now_ms) {
  NewMember m;
  NodeRecord& n = m.node;
  n.node_id = std::move(node_id);
  n.group_id = group_id;
  n.node_group_id = node_group_id;
  n.member_index = member + 1;
  n.desired_role = member == 0 ? NodeRole::kPrimary : NodeRole::kReplica;
  n.status = "creating";
  n.create_time_ms = now_ms;
  PlacementRequest& p = m.placement;
  p.node_id = n.node_id;
  p.shard = shard;
  p.member = member;
  p.role = n.desired_role;
  p.cluster_mode = cluster_mode;
  return m;
}

}  // namespace cf::orchestrator
