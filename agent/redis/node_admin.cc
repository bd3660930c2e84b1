#include "agent/redis/node_admin.h"

#include <arpa/inet.h>

#include <vector>

#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"

namespace cf::agent {
namespace {

Status RequireCluster(const NodeSpec& spec, const char* what) {
  if (!spec.cluster_enabled) {
    return MakeError(Errc::kFailedPrecondition,
                     std::string(what) + ": node " + spec.node_id + " runs with cluster mode off");
  }
  return {};
}

Result<std::vector<ClusterNodeEntry>> ReadClusterNodes(RedisConn& conn) {
  auto r = conn.Command({"CLUSTER", "NODES"});
  if (!r.ok()) return r.error();
  return ParseClusterNodes(r->str());
}

Error Annotate(const Error& e, const std::string& what) {
  return MakeError(e.code, what + ": " + e.message);
}

}  // namespace

std::string NormalizeIp(const std::string& ip) {
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
    return inet_ntop(AF_INET, buf, out, sizeof out) ? std::string(out) : std::string();
  }
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
    return inet_ntop(AF_INET6, buf, out, sizeof out) ? std::string(out) : std::string();
  }
  return {};
}

Status AdminClusterMeet(RedisConn& conn, const NodeSpec& spec, const std::string& peer_ip,
                        uint32_t peer_port) {
  if (auto s = RequireCluster(spec, "ClusterMeet"); !s.ok()) return s;
  std::string ip = NormalizeIp(peer_ip);
  if (ip.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "ClusterMeet: peer_ip '" + peer_ip + "' is not an IP address");
  }
  if (peer_port == 0 || peer_port > kMaxNodePort) {
    return MakeError(Errc::kInvalidArgument,
                     "ClusterMeet: peer_port " + std::to_string(peer_port) + " out of range");
  }
  auto nodes = ReadClusterNodes(conn);
  if (!nodes.ok()) return Annotate(nodes.error(), "ClusterMeet " + spec.node_id);
  for (const auto& n : *nodes) {
    if (n.port == peer_port && NormalizeIp(n.ip) == ip) return {};  // known or handshaking
  }
  if (peer_port == spec.port && ip == NormalizeIp(conn.options().host)) return {};  // itself
  auto r = conn.Command({"CLUSTER", "MEET", ip, std::to_string(peer_port)});
  if (!r.ok()) {
    Error e = r.error();
    if (e.message.find("Invalid node address") != std::string::npos) e.code = Errc::kInvalidArgument;
    return Annotate(e, "ClusterMeet " + spec.node_id + " -> " + ip + ":" + std::to_string(peer_port));
  }
  return {};
}

Status AdminClusterAddSlots(RedisConn& conn, const NodeSpec& spec, const SlotRanges& ranges,
                            uint64_t config_epoch) {
  if (auto s = RequireCluster(spec, "ClusterAddSlots"); !s.ok()) return s;
  for (const auto& r : ranges) {
    if (r.start > r.end || r.end >= kNumSlots) {
      return MakeError(Errc::kInvalidArgument, "ClusterAddSlots: bad slot range " +
                                                   std::to_string(r.start) + "-" +
                                                   std::to_string(r.end));
    }
  }
  std::string what = "ClusterAddSlots " + spec.node_id;
  auto nodes = ReadClusterNodes(conn);
  if (!nodes.ok()) return Annotate(nodes.error(), what);
  const ClusterNodeEntry* me = FindMyself(*nodes);
  if (!me) return MakeError(Errc::kInternal, what + ": no 'myself' line in CLUSTER NODES");

  std::vector<bool> owned(kNumSlots, false);
  for (const auto& r : me->slots) {
    for (uint32_t s = r.start; s <= r.end; ++s) owned[s] = true;
  }
  std::vector<uint32_t> missing;
  for (uint32_t s : ExpandSlots(NormalizeSlotRanges(ranges))) {
    if (!owned[s]) missing.push_back(s);
  }

  if (config_epoch > 0 && me->config_epoch != config_epoch) {
    auto r = conn.Command({"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(config_epoch)});
    if (!r.ok()) {
      if (r.error().code != Errc::kFailedPrecondition) return Annotate(r.error(), what);
      // "the node already has an epoch" / "knows other nodes": fine once the slots are ours.
      if (!missing.empty()) {
        return MakeError(Errc::kFailedPrecondition,
                         what + ": cannot set config epoch " + std::to_string(config_epoch) +
                             " (node epoch " + std::to_string(me->config_epoch) + ", knows " +
                             std::to_string(nodes->size()) + " nodes) and " +
                             std::to_string(missing.size()) +
                             " requested slots are not assigned yet: " + r.error().message);
      }
    }
  }
  if (missing.empty()) return {};
  std::vector<std::string> argv = {"CLUSTER", "ADDSLOTSRANGE"};
  for (const auto& r : RangesFromSlots(std::move(missing))) {
    argv.push_back(std::to_string(r.start));
    argv.push_back(std::to_string(r.end));
  }
  auto r = conn.Command(argv);
  if (!r.ok()) return Annotate(r.error(), what);
  return {};
}

Status AdminClusterReplicate(RedisConn& conn, const NodeSpec& spec, const std::string& master_id) {
  if (auto s = RequireCluster(spec, "ClusterReplicate"); !s.ok()) return s;
  std::string what = "ClusterReplicate " + spec.node_id;
  if (master_id.empty() || master_id.find_first_of(" \t\r\n") != std::string::npos) {
    return MakeError(Errc::kInvalidArgument, what + ": bad master_cluster_node_id");
  }
  auto nodes = ReadClusterNodes(conn);
  if (!nodes.ok()) return Annotate(nodes.error(), what);
  const ClusterNodeEntry* me = FindMyself(*nodes);
  if (!me) return MakeError(Errc::kInternal, what + ": no 'myself' line in CLUSTER NODES");
  if (me->id == master_id) {
    return MakeError(Errc::kInvalidArgument, what + ": a node cannot replicate itself");
  }
  if (me->is_replica() && me->master_id == master_id) return {};
  const ClusterNodeEntry* m = FindNodeById(*nodes, master_id);
  if (!m || m->HasFlag("handshake")) {
    return MakeError(Errc::kFailedPrecondition,
                     what + ": master " + master_id + " is not known to the node yet; retry");
  }
  if (m->is_replica()) {
    return MakeError(Errc::kFailedPrecondition,
                     what + ": " + master_id + " is a replica, not a master");
  }
  auto r = conn.Command({"CLUSTER", "REPLICATE", master_id});
  if (!r.ok()) return Annotate(r.error(), what);
  return {};
}

Status AdminReplicaOf(RedisConn& conn, const NodeSpec& spec, const std::string& master_host,
                      uint32_t master_port) {
  std::string what = "ReplicaOf " + spec.node_id;
  if (spec.cluster_enabled) {
    return MakeError(Errc::kFailedPrecondition,
                     what + ": REPLICAOF is not allowed in cluster mode (use ClusterReplicate)");
  }
  if (master_host.empty()) {
    auto r = conn.Command({"REPLICAOF", "NO", "ONE"});
    if (!r.ok()) return Annotate(r.error(), what);
    return {};
  }
  if (master_host.find_first_of(" \t\r\n") != std::string::npos || master_port == 0 ||
      master_port > 65535) {
    return MakeError(Errc::kInvalidArgument, what + ": bad master address");
  }
  std::string self_ip = NormalizeIp(conn.options().host);
  std::string ip = NormalizeIp(master_host);
  if (master_port == spec.port && (ip == self_ip || master_host == conn.options().host)) {
    return MakeError(Errc::kInvalidArgument, what + ": a node cannot replicate itself");
  }
  auto info = conn.Command({"INFO", "replication"});
  if (!info.ok()) return Annotate(info.error(), what);
  InfoMap m = ParseInfo(info->str());
  if (InfoString(m, "role") == "slave" && InfoString(m, "master_host") == master_host &&
      InfoInt(m, "master_port") == static_cast<int64_t>(master_port)) {
    return {};
  }
  auto r = conn.Command({"REPLICAOF", master_host, std::to_string(master_port)});
  if (!r.ok()) return Annotate(r.error(), what);
  return {};
}

}  // namespace cf::agent
