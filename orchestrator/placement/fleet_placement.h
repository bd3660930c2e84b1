// Glue between the store's view of the fleet and the pure placement planner, shared by every
// frontend that places new nodes (create, reshard scale-out).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/placement/placement_planner.h"

namespace cf::orchestrator {

// A host is up when the monitor says so and its last heartbeat is recent enough.
bool HostIsUp(const HostRecord& h, int64_t now_ms, int64_t down_after_ms);

// Places `nodes` (one per entry of `placement`, same order) on the snapshot's hosts: host
// state, free ports, warm ports and load come from the snapshot; only hosts offering
// `engine_version` qualify. Fills host_id, az and port of every node, or returns the planner's
// error and changes nothing.
Status PlaceOnFleet(const FleetSnapshot& snap, const std::vector<PlacementRequest>& placement,
                    const std::string& engine_version, int64_t host_down_after_ms,
                    std::vector<NodeRecord>& nodes);

// A new node and its placement request: member `member` (0 = the primary) of node group
// `node_group_id`, the node group being the `shard`-th of the request. The node is `creating`
// (created at now_ms); the request has no preferred AZ yet.
struct NewMember {
  NodeRecord node;
  PlacementRequest placement;
};
NewMember MakeNewMember(const std::string& group_id, const std::string& node_group_id,
                        std::string node_id, int member, int shard, bool cluster_mode,
                        int64_t now_ms);

}  // namespace cf::orchestrator
