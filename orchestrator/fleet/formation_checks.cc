#include "orchestrator/fleet/formation_checks.h"

#include <algorithm>
#include <map>

namespace cf::orchestrator {
namespace {

namespace pb = ::cachefleet::v1;

SlotRanges FromPb(const google::protobuf::RepeatedPtrField<pb::SlotRange>& ranges) {
  SlotRanges out;
  for (const auto& r : ranges) out.push_back(SlotRange{r.start(), r.end()});
  return NormalizeSlotRanges(out);
}

const char* StateName(pb::NodeState s) {
  switch (s) {
    case pb::NODE_STARTING:
      return "starting";
    case pb::NODE_RUNNING:
      return "running";
    case pb::NODE_CRASHED:
      return "crashed";
    case pb::NODE_STOPPING:
      return "stopping";
    case pb::NODE_STOPPED:
      return "stopped";
    case pb::NODE_EXITED:
      return "exited";
    default:
      return "unknown";
  }
}

}  // namespace

std::string SlotSignature(const pb::NodeStatus& status) {
  std::vector<std::string> entries;
  for (const auto& o : status.slot_owners()) {
    SlotRanges r = FromPb(o.ranges());
    if (r.empty()) continue;
    entries.push_back(o.cluster_node_id() + ":" + FormatSlotRanges(r));
  }
  std::sort(entries.begin(), entries.end());
  std::string sig;
  for (const auto& e : entries) sig += (sig.empty() ? "" : " ") + e;
  return sig;
}

std::string ExpectedSignature(const std::vector<NodeProbe>& probes,
                              const std::vector<NodeGroupRecord>& node_groups) {
  std::vector<std::string> entries;
  for (const auto& p : probes) {
    if (p.node->desired_role != NodeRole::kPrimary) continue;
    for (const auto& ng : node_groups) {
      if (ng.node_group_id != p.node->node_group_id) continue;
      entries.push_back(p.node->cluster_node_id + ":" +
                        FormatSlotRanges(NormalizeSlotRanges(ng.slots)));
    }
  }
  std::sort(entries.begin(), entries.end());
  std::string sig;
  for (const auto& e : entries) sig += (sig.empty() ? "" : " ") + e;
  return sig;
}

std::string CheckMembership(const std::vector<NodeProbe>& probes) {
  for (const auto& p : probes) {
    const std::string& id = p.node->node_id;
    if (!p.status) return id + " did not answer";
    if (p.status->cluster_known_nodes() < probes.size())
      return id + " knows " + std::to_string(p.status->cluster_known_nodes()) + " of " +
             std::to_string(probes.size()) + " nodes";
    if (p.status->unhealthy_peers_size() > 0)
      return id + " still sees " + p.status->unhealthy_peers(0) + " as unhealthy/handshake";
  }
  return "";
}

std::string CheckAgreement(const std::vector<NodeProbe>& probes,
                           const std::vector<NodeGroupRecord>& node_groups) {
  if (auto why = CheckMembership(probes); !why.empty()) return why;
  const std::string want = ExpectedSignature(probes, node_groups);
  for (const auto& p : probes)
    if (SlotSignature(*p.status) != want)
      return p.node->node_id + " does not agree on slot ownership yet";
  return "";
}

std::string CheckRolesSeen(const std::vector<NodeProbe>& probes) {
  // Supported when some replica lists itself (an agent that fills replicas_seen always does).
  bool reported = false;
  for (const auto& p : probes) {
    if (!p.status || p.node->desired_role != NodeRole::kReplica) continue;
    for (const auto& r : p.status->replicas_seen())
      if (r.cluster_node_id() == p.status->cluster_node_id()) reported = true;
  }
  if (!reported) return "";
  for (const auto& viewer : probes) {
    if (!viewer.status) return viewer.node->node_id + " did not answer";
    std::map<std::string, std::string> seen;  // replica id -> master id in this view
    for (const auto& r : viewer.status->replicas_seen())
      seen[r.cluster_node_id()] = r.master_cluster_node_id();
    for (const auto& p : probes) {
      const std::string id = p.status ? p.status->cluster_node_id() : p.node->cluster_node_id;
      if (p.node->desired_role == NodeRole::kReplica) {
        auto it = seen.find(id);
        if (it == seen.end() || it->second != p.primary_cluster_node_id)
          return viewer.node->node_id + " does not see " + p.node->node_id +
                 " as a replica of its primary yet";
      } else if (seen.count(id)) {
        return viewer.node->node_id + " sees primary " + p.node->node_id + " as a replica";
      }
    }
  }
  return "";
}

std::string CheckClusterHealthy(const std::vector<NodeProbe>& probes,
                                const std::vector<NodeGroupRecord>& node_groups) {
  if (auto why = CheckAgreement(probes, node_groups); !why.empty()) return why;
  for (const auto& p : probes) {
    const std::string& id = p.node->node_id;
    const pb::NodeStatus& s = *p.status;
    if (s.state() != pb::NODE_RUNNING) return id + " is " + StateName(s.state());
    if (s.has_open_slots()) return id + " has open slots";
    if (p.node->desired_role == NodeRole::kPrimary) {
      if (s.role() != "master") return id + " is not a master yet";
    } else {
      if (s.role() != "slave" || s.master_cluster_node_id() != p.primary_cluster_node_id)
        return id + " does not replicate its primary yet";
      if (!s.master_link_up()) return id + " replication link is not up yet";
    }
    if (s.cluster_state() != "ok") return id + " reports cluster_state " + s.cluster_state();
  }
  return CheckRolesSeen(probes);
}

std::string CheckReplicationHealthy(const std::vector<NodeProbe>& probes) {
  for (const auto& p : probes) {
    const std::string& id = p.node->node_id;
    if (!p.status) return id + " did not answer";
    const pb::NodeStatus& s = *p.status;
    if (s.state() != pb::NODE_RUNNING) return id + " is " + StateName(s.state());
    if (p.node->desired_role == NodeRole::kPrimary) {
      if (s.role() != "master") return id + " is not a master";
    } else {
      if (s.role() != "slave" || s.master_port() != p.primary_port ||
          s.master_host() != p.primary_address)
        return id + " does not replicate its primary yet";
      if (!s.master_link_up()) return id + " replication link is not up yet";
    }
  }
  return "";
}

ObservedNode ToObserved(const pb::NodeStatus& s, int64_t now_ms) {
  ObservedNode o;
  o.known = true;
  o.state = StateName(s.state());
  o.role = s.role();
  o.cluster_node_id = s.cluster_node_id();
  o.master_host = s.master_host();
  o.master_port = s.master_port();
  o.master_cluster_node_id = s.master_cluster_node_id();
  o.master_link_up = s.master_link_up();
  o.slots = FromPb(s.slots());
  o.cluster_state = s.cluster_state();
  o.cluster_known_nodes = s.cluster_known_nodes();
  o.has_open_slots = s.has_open_slots();
  o.repl_offset = s.repl_offset();
  o.used_memory = s.used_memory();
  o.keys = s.keys();
  o.restarts = s.restarts();
  o.redis_version = s.redis_version();
  o.last_error = s.last_error();
  o.observed_ms = now_ms;
  return o;
}

}  // namespace cf::orchestrator
