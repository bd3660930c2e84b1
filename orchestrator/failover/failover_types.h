// Failover: the pure decisions (which replica to promote, FORCE or TAKEOVER, the
// TestFailover rate limit, which hosts are lost) over the operation's payloads and event
// texts (operations/operation_payloads.h, shared with modify/ and rolling_restart/). No I/O:
// the reconciler (failover_reconciler.h), the monitor (failover_monitor.h) and the frontend
// (failover_frontend.h) call these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/operations/operation_payloads.h"

namespace cf::orchestrator {

// ---- decisions ----

// A replica candidate as the orchestrator sees it right now.
struct ReplicaCandidate {
  const NodeRecord* node = nullptr;
  bool answered = false;  // GetNodeStatus answered
  bool host_up = false;   // its host heartbeats
  std::string state;      // "running", "exited", ...
  std::string role;       // "slave" expected
  int64_t repl_offset = 0;
};

// The replica to promote: running, answering, on a host that is up, a replica;
// the highest replication offset wins (the most replicated data); ties go to
// the lowest member index. nullptr when none qualifies.
const NodeRecord* ChooseReplica(const std::vector<ReplicaCandidate>& candidates);

// Cluster mode: FORCE needs a majority of the slot-owning primaries to vote.
// `reachable` is the number of primaries (excluding the failed one) that
// answer; `total` all primaries, the failed one included. True when TAKEOVER is
// needed (no majority reachable).
bool NeedsTakeover(int reachable, int total);

// TestFailover rate limit: `recent` = node groups tested in the window (the new
// call not included). True when one more is allowed.
bool TestFailoverAllowed(int recent, int max_per_window);

// Host loss: a host is lost when its last heartbeat is older than
// down_after_ms. A primary on a lost host is failed over once every replica of
// its shard that is on a host that is up reports master_link_up false (the
// replicas agree the primary is gone), and at least one such replica exists.
bool HostLost(const HostRecord& h, int64_t now_ms, int64_t down_after_ms);
bool ReplicasLostPrimary(const std::vector<const NodeRecord*>& replicas_on_up_hosts);

}  // namespace cf::orchestrator
