// Idempotent cluster/replication administration of one node over its RedisConn. Each function
// first reads the node's own view (CLUSTER NODES / INFO replication) and only sends the
// mutating command when the desired state is not already there, so the orchestrator can retry
// any of them freely (see the rules at the top of proto/cachefleet.proto).
//
// Error codes (cf::Errc -> gRPC status in the service):
//   kInvalidArgument    bad arguments (not an IP, slot outside 0..16383, replicate itself)
//   kFailedPrecondition wrong mode or state (cluster mode off, master not known yet, slot
//                       owned by someone else, node not empty); the Redis text is kept
//   kUnavailable/kTimeout the node did not answer in time
#pragma once

#include <cstdint>
#include <string>

#include "agent/redis/node_spec.h"
#include "common/result.h"
#include "common/slot_range.h"

namespace cf::agent {

class RedisConn;

// CLUSTER MEET peer_ip peer_port, unless the node already knows (or is handshaking with) a node
// at that address, or the address is its own.
Status AdminClusterMeet(RedisConn& conn, const NodeSpec& spec, const std::string& peer_ip,
                        uint32_t peer_port);

// CLUSTER SET-CONFIG-EPOCH (when config_epoch > 0 and the node's epoch differs) then
// CLUSTER ADDSLOTSRANGE for the requested slots the node does not own yet. SET-CONFIG-EPOCH
// failing because the node already has an epoch / knows peers is accepted when every requested
// slot is already assigned to it; otherwise kFailedPrecondition.
Status AdminClusterAddSlots(RedisConn& conn, const NodeSpec& spec, const SlotRanges& ranges,
                            uint64_t config_epoch);

// CLUSTER REPLICATE master_id unless the node already replicates it. kFailedPrecondition when
// the node does not know the master yet (the caller retries after MEET converges).
Status AdminClusterReplicate(RedisConn& conn, const NodeSpec& spec, const std::string& master_id);

// REPLICAOF host port (cluster mode off only); empty host = REPLICAOF NO ONE. No-op when the
// node already follows host:port (or is already a master for NO ONE).
Status AdminReplicaOf(RedisConn& conn, const NodeSpec& spec, const std::string& master_host,
                      uint32_t master_port);

// Canonical text form of an IP literal ("::1" for "0:0::1"); "" when not an IP.
std::string NormalizeIp(const std::string& ip);

}  // namespace cf::agent
