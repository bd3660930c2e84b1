// Renders a replication group as the ElastiCache ReplicationGroup XML shape
// (elasticache-api.md §2, §5, §8). Pure: records in, pugixml elements out.
//
// Endpoints are the host's advertised address and the node's allocated port. Roles, the CME
// Slots and the configuration endpoint come from what the agents observe; while a group is
// creating (no observation yet) the planned values are shown.
#pragma once

#include <map>
#include <pugixml.hpp>
#include <string>

#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator {

struct RenderContext {
  std::string region;
  std::string account_id;
  std::map<std::string, HostRecord> hosts;  // by host id
};

// Fills `out` (an empty <ReplicationGroup> element) with the group's fields.
void RenderReplicationGroup(const GroupView& view, const RenderContext& ctx, pugi::xml_node out);

// "2024-05-01T12:00:00.000Z"
std::string FormatTimestamp(int64_t ms_since_epoch);
std::string ReplicationGroupArn(const RenderContext& ctx, const std::string& group_id);

// The node a shard currently treats as primary: the observed master if there is one, else the
// node planned as primary. nullptr for an empty shard.
const NodeRecord* ShardPrimary(const GroupView& view, const std::string& node_group_id);

}  // namespace cf::orchestrator
