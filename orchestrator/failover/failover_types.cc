#include "orchestrator/failover/failover_types.h"

namespace cf::orchestrator {

const NodeRecord* ChooseReplica(const std::vector<ReplicaCandidate>& candidates) {
  const ReplicaCandidate* best = nullptr;
  for (const auto& c : candidates) {
    if (!c.node || !c.answered || !c.host_up || c.state != "running" || c.role != "slave") continue;
    if (!best || c.repl_offset > best->repl_offset ||
        (c.repl_offset == best->repl_offset && c.node->member_index < best->node->member_index))
      best = &c;
  }
  return best ? best->node : nullptr;
}

bool NeedsTakeover(int reachable, int total) { return reachable < total / 2 + 1; }

bool TestFailoverAllowed(int recent, int max_per_window) { return recent < max_per_window; }

bool HostLost(const HostRecord& h, int64_t now_ms, int64_t down_after_ms) {
  return now_ms - h.last_heartbeat_ms > down_after_ms;
}

bool ReplicasLostPrimary(const std::vector<const NodeRecord*>& replicas_on_up_hosts) {
  if (replicas_on_up_hosts.empty()) return false;
  for (const NodeRecord* r : replicas_on_up_hosts) {
    if (!r->observed.known) return false;
    if (r->observed.state == "running" && r->observed.master_link_up) return false;
  }
  return true;
}

}  // namespace cf::orchestrator
