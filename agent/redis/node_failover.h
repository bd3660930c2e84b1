// The Redis side of the failover primitives (proto Failover and RestartNode with replica_of),
// over one node's RedisConn. No process handling here: NodeSupervisor holds the node's op lock,
// checks it runs, and calls these.
//
// Every Redis call has a deadline: before each command the connection's command timeout is set
// to what is left of the caller's deadline (capped at 1 s, at least 10 ms), and every wait polls
// every `poll_ms` (5 ms by default) until the deadline.
//
// PromoteReplica (Failover RPC):
//   cluster mode:   myself master owning slots -> "already primary". Otherwise
//                   COORDINATED: CLUSTER FAILOVER            (method "CLUSTER FAILOVER")
//                   FORCE:       CLUSTER FAILOVER FORCE      (method "FORCE"), and
//                                CLUSTER FAILOVER TAKEOVER after force_timeout_ms ("TAKEOVER")
//                   TAKEOVER:    CLUSTER FAILOVER TAKEOVER   (method "TAKEOVER")
//                   then poll CLUSTER NODES until myself is a master owning slots.
//   cluster off:    role master -> "already primary". Otherwise
//                   FORCE/TAKEOVER: REPLICAOF NO ONE          (method "REPLICAOF NO ONE")
//                   COORDINATED: on the primary the replica follows, FAILOVER TO <replica's
//                   address as the primary lists it> <port> TIMEOUT <ms left>  ("FAILOVER"),
//                   then poll the replica's role until master; on timeout FAILOVER ABORT is sent
//                   to the primary (best effort) so it does not keep writes paused.
//   A replica that is a master without slots (cluster) is kFailedPrecondition; a refused
//   command is kFailedPrecondition with Redis' text; the deadline is kTimeout.
//
// FollowClusterMaster (RestartNode with replica_of, cluster mode): polls CLUSTER NODES until
// the node follows master_id. While it still claims slots it waits for gossip (Redis turns a
// master whose slots were all claimed at a higher epoch into a replica of the claimer); once it
// owns none it sends CLUSTER REPLICATE master_id (AdminClusterReplicate: retried while the
// master is not known yet).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "agent/redis/node_spec.h"
#include "common/result.h"

namespace cf::agent {

class RedisConn;

enum class PromoteMode { kCoordinated, kForce, kTakeover };

struct PromoteOptions {
  PromoteMode mode = PromoteMode::kForce;
  std::chrono::steady_clock::time_point deadline;
  uint32_t force_timeout_ms = 1000;   // FORCE -> TAKEOVER escalation (cluster mode)
  uint32_t poll_ms = 5;
  std::string self_ip;                // the replica's address (cluster mode off: FAILOVER TO)
  uint32_t connect_timeout_ms = 500;  // to the primary (cluster mode off, COORDINATED)
};

// Returns the method used (see above).
Result<std::string> PromoteReplica(RedisConn& conn, const NodeSpec& spec, const PromoteOptions& o);

Status FollowClusterMaster(RedisConn& conn, const NodeSpec& spec, const std::string& master_id,
                           std::chrono::steady_clock::time_point deadline, uint32_t poll_ms = 10);

// Sets conn's command timeout to what is left until `deadline` (capped at cap_ms, >= 10 ms).
// False when the deadline has passed.
bool ArmDeadline(RedisConn& conn, std::chrono::steady_clock::time_point deadline,
                 uint32_t cap_ms = 1000);

}  // namespace cf::agent
