#include "orchestrator/placement/placement_planner.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace cf::orchestrator {
namespace {

struct PlannerHost {
  const PlacementHost* host = nullptr;
  std::set<uint32_t> used;              // used + planned ports
  std::set<uint32_t> warm;              // warm ports in the range, not used or planned
  uint32_t count = 0;                   // node_count + planned
  uint32_t group_count = 0;             // nodes of this group planned here
  std::map<int, uint32_t> shard_count;  // shard -> nodes planned here

  bool HasCapacity(bool cluster_mode) const {
    if (host->max_nodes != 0 && count >= host->max_nodes) return false;
    return FreePort(cluster_mode).has_value();
  }
  // Cluster-mode nodes: the lowest warm port, else the lowest cold one. Others: never a warm
  // port (a process is listening there).
  std::optional<uint32_t> FreePort(bool cluster_mode) const {
    if (cluster_mode && !warm.empty()) return *warm.begin();
    if (host->port_range_end < host->port_range_start) return std::nullopt;
    for (uint32_t p = host->port_range_start;; ++p) {
      if (!used.count(p) && !warm.count(p)) return p;
      if (p == host->port_range_end) break;
    }
    return std::nullopt;
  }
  void Take(uint32_t port) {
    used.insert(port);
    warm.erase(port);
  }
};

}  // namespace

std::optional<uint32_t> LowestFreePort(uint32_t start, uint32_t end,
                                       const std::vector<uint32_t>& used) {
  std::set<uint32_t> u(used.begin(), used.end());
  if (end < start) return std::nullopt;
  for (uint32_t p = start;; ++p) {
    if (!u.count(p)) return p;
    if (p == end) break;
  }
  return std::nullopt;
}

Result<std::vector<NodePlacement>> PlanPlacement(const std::vector<PlacementHost>& hosts,
                                                 const std::vector<PlacementRequest>& nodes) {
  std::set<std::string> known_azs;
  for (const auto& h : hosts) known_azs.insert(h.az);
  for (const auto& n : nodes) {
    if (n.preferred_az && !known_azs.count(*n.preferred_az)) {
      std::string known;
      for (const auto& az : known_azs) known += (known.empty() ? "" : ", ") + az;
      return MakeError(Errc::kInvalidArgument,
                       "Invalid availability zone: " + *n.preferred_az +
                           (known.empty() ? std::string(" (no hosts are registered)")
                                          : " (available zones: " + known + ")"));
    }
  }

  std::vector<const PlacementHost*> sorted;
  for (const auto& h : hosts) sorted.push_back(&h);
  std::sort(sorted.begin(), sorted.end(),
            [](const PlacementHost* a, const PlacementHost* b) { return a->host_id < b->host_id; });
  std::vector<PlannerHost> states;
  for (const PlacementHost* hp : sorted) {
    const PlacementHost& h = *hp;
    if (!h.up || !h.offers_version) continue;
    PlannerHost s;
    s.host = &h;
    s.used = std::set<uint32_t>(h.used_ports.begin(), h.used_ports.end());
    s.count = h.node_count;
    for (uint32_t p : h.warm_ports)
      if (p >= h.port_range_start && p <= h.port_range_end && !s.used.count(p)) s.warm.insert(p);
    states.push_back(std::move(s));
  }

  // Constrained nodes first (they have fewer choices), primaries before replicas.
  std::vector<size_t> order(nodes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    auto key = [&](size_t i) {
      // Replicas in rounds (every shard's first replica, then every second one, ...) so that
      // no shard is left with only crowded hosts at the end.
      return std::make_tuple(nodes[i].preferred_az ? 0 : 1,
                             nodes[i].role == NodeRole::kPrimary ? 0 : 1, nodes[i].member,
                             nodes[i].shard);
    };
    return key(a) < key(b);
  });

  std::map<std::string, uint32_t> group_in_az;                  // az -> nodes of this group
  std::map<std::pair<int, std::string>, uint32_t> shard_in_az;  // (shard, az) -> nodes
  std::vector<NodePlacement> out(nodes.size());

  for (size_t idx : order) {
    const PlacementRequest& n = nodes[idx];
    PlannerHost* best = nullptr;
    std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, size_t> best_key{};
    const size_t nstates = states.size();
    const size_t rotate = nstates ? static_cast<size_t>(n.shard + n.member) % nstates : 0;
    for (size_t i = 0; i < nstates; ++i) {
      PlannerHost& s = states[i];
      if (n.preferred_az && s.host->az != *n.preferred_az) continue;
      if (!s.HasCapacity(n.cluster_mode)) continue;
      const bool free_az = !n.preferred_az.has_value();
      auto sc = s.shard_count.find(n.shard);
      auto key = std::make_tuple(sc == s.shard_count.end() ? 0u : sc->second,
                                 free_az ? shard_in_az[{n.shard, s.host->az}] : 0u,
                                 free_az ? group_in_az[s.host->az] : 0u, s.group_count, s.count,
                                 (i + nstates - rotate) % nstates);
      if (!best || key < best_key) {
        best = &s;
        best_key = key;
      }
    }
    if (!best) {
      std::string where = n.preferred_az ? " in availability zone " + *n.preferred_az : "";
      return MakeError(Errc::kResourceExhausted,
                       "Insufficient capacity to place node " + n.node_id + where +
                           ": no host that is up, offers the engine version and has a free "
                           "port is left.");
    }
    uint32_t port = *best->FreePort(n.cluster_mode);
    best->Take(port);
    best->count++;
    best->group_count++;
    best->shard_count[n.shard]++;
    group_in_az[best->host->az]++;
    shard_in_az[{n.shard, best->host->az}]++;
    out[idx] = NodePlacement{n.node_id, best->host->host_id, best->host->az, port};
  }
  return out;
}

}  // namespace cf::orchestrator
