// Pure checks of a group's formation progress, computed from the NodeStatus the agents report
// (redis-cluster-ops.md §2, the health gate). Each returns "" when the condition holds, else a
// short reason naming the first node that is not there yet (used as the step text and as the
// error when a wait times out).
#pragma once

#include <string>
#include <vector>

#include "cachefleet.pb.h"
#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator {

// A node as planned, plus what the agent reported for it.
struct NodeProbe {
  const NodeRecord* node = nullptr;
  const cachefleet::v1::NodeStatus* status = nullptr;  // nullptr = no answer
  std::string primary_cluster_node_id;  // replicas: their master's cluster node id (CME)
  std::string primary_address;          // replicas: their master's address (CMD)
  uint32_t primary_port = 0;            // replicas: their master's port (CMD)
};

// Config agreement signature of one node's view: "id:ranges" of every slot owner, sorted.
std::string SlotSignature(const cachefleet::v1::NodeStatus& status);
// The signature the finished group must have: every primary with its planned slots.
std::string ExpectedSignature(const std::vector<NodeProbe>& probes,
                              const std::vector<NodeGroupRecord>& node_groups);

// CME: every node answers, knows all nodes, and flags no peer as fail/handshake/noaddr.
std::string CheckMembership(const std::vector<NodeProbe>& probes);
// CME: membership, plus every node's slot signature equals the expected one.
std::string CheckAgreement(const std::vector<NodeProbe>& probes,
                           const std::vector<NodeGroupRecord>& node_groups);
// CME: every node sees every replica under its primary (NodeStatus.replicas_seen). Skipped ("")
// when the agents do not report replicas_seen (no replica lists itself).
std::string CheckRolesSeen(const std::vector<NodeProbe>& probes);
// CME, the full health gate: agreement, cluster_state ok everywhere, no open slots, primaries
// are masters, every replica follows its primary with the link up, roles seen by all.
std::string CheckClusterHealthy(const std::vector<NodeProbe>& probes,
                                const std::vector<NodeGroupRecord>& node_groups);
// CMD: the primary is a master; every replica follows it with the link up.
std::string CheckReplicationHealthy(const std::vector<NodeProbe>& probes);

// NodeStatus -> the store's observed columns.
ObservedNode ToObserved(const cachefleet::v1::NodeStatus& s, int64_t now_ms);

}  // namespace cf::orchestrator
