// Observing one live redis-server: one pipelined round trip (INFO + CLUSTER MYID/NODES/INFO)
// parsed into a RedisObservation, and the pure mapping of an observation onto the
// cachefleet.v1.NodeStatus message.
#pragma once

#include <string>
#include <vector>

#include "agent/redis/redis_text.h"
#include "common/result.h"

namespace cachefleet::v1 {
class NodeStatus;
}

namespace cf::agent {

class RedisConn;

struct RedisObservation {
  InfoMap info;                            // INFO server replication memory keyspace
  bool cluster_enabled = false;
  std::string myid;                        // CLUSTER MYID
  std::vector<ClusterNodeEntry> nodes;     // CLUSTER NODES
  InfoMap cluster_info;                    // CLUSTER INFO
};

// One pipelined round trip. Uses the connection's command timeout.
Result<RedisObservation> ObserveRedis(RedisConn& conn, bool cluster_enabled);

// Fills the Redis-derived fields of `out` (role, replication, memory, keys, version, and in
// cluster mode cluster id/state/known nodes/slots/slot owners/open slots/unhealthy peers).
// Leaves node_id/port/state/pid/restarts/last_error alone.
void FillNodeStatus(const RedisObservation& obs, cachefleet::v1::NodeStatus* out);

}  // namespace cf::agent
