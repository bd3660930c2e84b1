// Placement planner: chooses a host and a port for every node of a new replication group.
// A pure function (STYLE.md #8): hosts and the requested nodes in, placements out; no I/O.
//
// Rules, in order of priority:
//   1. A node with a preferred AZ goes to a host in that AZ. An AZ no registered host has is
//      an invalid parameter (Errc::kInvalidArgument); an AZ whose hosts are down or full is a
//      capacity problem (Errc::kResourceExhausted).
//   2. Only hosts that are up, offer the engine version and have capacity (a free port in their
//      range and fewer than max_nodes nodes) are used; otherwise Errc::kResourceExhausted
//      (InsufficientCacheClusterCapacity).
//   3. A primary and its replicas go to different hosts whenever there are enough hosts.
//   4. Nodes without a preference spread across AZs: a shard's nodes avoid AZs the shard
//      already uses, and the group's nodes fill the least-used AZ first (what ElastiCache does).
//   5. The group spreads across hosts, then load spreads across hosts (fewest nodes first);
//      remaining ties rotate with (shard + member) over the hosts sorted by id, the way
//      redis-cli offsets replicas, so the plan is deterministic and even.
//   6. Each node gets the lowest free port of its host (ports are per host).
//
// Warm pool: agents may keep idle cluster-enabled redis-servers on some ports (warm_ports); a
// cluster-mode LaunchNode on such a port claims the process and skips Redis' 2 s start-up
// delay. Warm ports change the port, never the host: a cluster-mode node takes the lowest
// warm port of the host the rules above chose (else a cold port), every other node treats
// warm ports as used. (Preferring warm hosts was tried: greedily it unbalances groups when
// pools are uneven. Size each agent's pool to the nodes per host of the groups you create.)
//
// Example: hosts a(lab-a), b(lab-b), c(lab-c), 3 shards x 1 replica, no preferences ->
// primaries on a, b, c; shard 1's replica on b, shard 2's on c, shard 3's on a.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator {

// What placement needs to know about the fleet, read inside the create transaction.
struct FleetSnapshot {
  std::vector<HostRecord> hosts;
  // Per host (same order as hosts): ports allocated or blocked, and the node count.
  std::vector<std::vector<uint32_t>> used_ports;
  std::vector<uint32_t> node_counts;
};

struct PlacementHost {
  std::string host_id;
  std::string az;
  bool up = true;
  bool offers_version = true;  // the host reports the requested engine version
  uint32_t port_range_start = 0;
  uint32_t port_range_end = 0;       // inclusive
  std::vector<uint32_t> used_ports;  // allocated (or blocked) ports on this host
  std::vector<uint32_t> warm_ports;  // the agent's warm cluster-mode processes (see below)
  uint32_t max_nodes = 0;            // 0 = limited by the port range only
  uint32_t node_count = 0;           // nodes already placed on this host
};

struct PlacementRequest {
  std::string node_id;
  int shard = 0;   // index of the node's node group in the request
  int member = 0;  // 0 = the primary, 1.. = replicas (rotates tie-breaks across hosts)
  NodeRole role = NodeRole::kPrimary;
  std::optional<std::string> preferred_az;
  bool cluster_mode = false;  // may claim a warm port
};

struct NodePlacement {
  std::string node_id;
  std::string host_id;
  std::string az;
  uint32_t port = 0;
};

// Places every node; the result is in the order of `nodes`.
Result<std::vector<NodePlacement>> PlanPlacement(const std::vector<PlacementHost>& hosts,
                                                 const std::vector<PlacementRequest>& nodes);

// The lowest port in [start, end] not in `used` (any order); nullopt when all are used.
std::optional<uint32_t> LowestFreePort(uint32_t start, uint32_t end,
                                       const std::vector<uint32_t>& used);

}  // namespace cf::orchestrator
