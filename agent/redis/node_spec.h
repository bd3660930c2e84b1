// What one redis-server node is (NodeSpec), how its redis.conf is rendered, what the agent
// records about it on disk (NodeRecord -> node.json), and engine-version matching.
// Pure code plus two small file helpers; no gRPC/protobuf (the service converts).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace cf::agent {

inline constexpr uint32_t kDefaultClusterNodeTimeoutMs = 5000;
inline constexpr uint32_t kMaxNodePort = 65535 - 10000;  // the bus port must fit too

// Mirrors cachefleet.v1.NodeSpec.
struct NodeSpec {
  std::string node_id;
  std::string group_id;
  uint32_t port = 0;
  bool cluster_enabled = false;
  uint64_t maxmemory_bytes = 0;
  std::string engine_version;
  std::map<std::string, std::string> config;  // extra directives, "key value" verbatim
  uint32_t cluster_node_timeout_ms = 0;        // 0 = kDefaultClusterNodeTimeoutMs
  // Failover support: an unexpected exit is held (NODE_EXITED) instead of restarted; after
  // hold_max_ms (0 = never) without RestartNode the agent restarts the node in place itself.
  bool hold_on_exit = false;
  uint32_t hold_max_ms = 0;
  bool operator==(const NodeSpec&) const = default;
};

// Cluster mode disabled: the primary a replica follows (rendered as `replicaof host port`).
struct ReplicaOfTarget {
  std::string host;  // "" = none (the node is a primary)
  uint32_t port = 0;
  bool empty() const { return host.empty(); }
  bool operator==(const ReplicaOfTarget&) const = default;
};

// What <data_dir>/nodes/<node_id>/node.json holds.
struct NodeRecord {
  NodeSpec spec;
  int64_t pid = 0;        // last process the agent started (or adopted); 0 = none yet
  uint32_t restarts = 0;  // unexpected exits restarted by the agent since launch
  bool stopped = false;   // stopped on request (kept without purge): do not restart on boot
  // Held down (NODE_EXITED): an unexpected exit of a hold_on_exit node, or KillNode. A
  // restarted agent keeps it held; only RestartNode (or hold_max_ms for exit holds) starts it.
  bool held = false;
  bool killed = false;        // held by KillNode: no hold_max_ms restart
  int64_t exited_at_ms = 0;   // wall-clock ms of the exit that put it on hold
  // Cluster mode disabled: the primary the node last followed (restart in place keeps the
  // role: the rendered redis.conf carries `replicaof`). Empty for a primary.
  ReplicaOfTarget replica_of;
  bool operator==(const NodeRecord&) const = default;
};

// Node ids become directory names: [A-Za-z0-9._-], 1..128 chars, not "." or "..".
bool IsValidNodeId(std::string_view id);
// Checks ids, port range and spec.config (keys [a-z0-9-], no newlines, no directive the agent
// owns such as port/bind/dir/cluster-config-file). Ids starting with '_' are the agent's own
// (warm pool). kInvalidArgument on failure.
Status ValidateNodeSpec(const NodeSpec& spec);

// Warm pool nodes (idle cluster-enabled nodes the agent keeps running) are named
// "_warm-<port>". ElastiCache ids start with a letter, so these never collide.
std::string WarmNodeId(uint32_t port);
bool IsWarmNodeId(std::string_view id);

// The redis.conf for a node living in `node_dir` (absolute) reachable at `advertised_address`.
// `dir` is absolute; logfile and cluster-config-file are relative to it (redis chdirs into
// `dir` while reading the config), so a running node keeps working when its directory is
// renamed (a warm pool node being claimed).
// `replica_of` (cluster mode disabled only): rendered as `replicaof host port`, so the node
// starts as a replica and never serves as a primary meanwhile.
std::string RenderRedisConf(const NodeSpec& spec, const std::string& node_dir,
                            const std::string& advertised_address,
                            const ReplicaOfTarget& replica_of = {});

// The CONFIG SET arguments that give a running node started from another spec (same port,
// same cluster mode) the runtime settings of `spec`: maxmemory, maxmemory-policy,
// cluster-node-timeout, then every spec.config entry (which wins). kFailedPrecondition when a
// spec.config value cannot be expressed as one CONFIG SET argument with the same meaning as
// the redis.conf line (quotes, escapes, whitespace outside the known multi-argument
// directives): such a spec needs a cold start.
Result<std::vector<std::pair<std::string, std::string>>> RuntimeConfigSettings(
    const NodeSpec& spec);

std::string NodeRecordToJson(const NodeRecord& rec);
Result<NodeRecord> NodeRecordFromJson(std::string_view json);

// "Redis server v=7.0.15 sha=..." -> "7.0.15".
Result<std::string> ParseRedisServerVersion(std::string_view version_output);
// True when `requested` is empty or a dotted prefix of `installed` ("7", "7.0", "7.0.15" all
// match "7.0.15"; "7.0.1" and "7.2" do not).
bool EngineVersionMatches(std::string_view installed, std::string_view requested);

// Writes via a temporary file + fsync + rename so a crash never leaves a torn file.
Status WriteFileAtomic(const std::string& path, std::string_view content);
Result<std::string> ReadWholeFile(const std::string& path);

}  // namespace cf::agent
