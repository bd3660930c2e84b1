#include "agent/nodes/managed_node.h"

#include <cstdlib>

namespace cf::agent {

using std::chrono::milliseconds;

const char* RunStateName(RunState s) {
  switch (s) {
    case RunState::kStarting: return "starting";
    case RunState::kRunning: return "running";
    case RunState::kCrashed: return "crashed";
    case RunState::kStopping: return "stopping";
    case RunState::kStopped: return "stopped";
    case RunState::kExited: return "exited (held)";
  }
  return "?";
}

// The cluster-node-timeout a node started from `spec` runs with (spec.config wins, as in the
// rendered redis.conf).
uint32_t SpecNodeTimeoutMs(const NodeSpec& spec) {
  if (auto it = spec.config.find("cluster-node-timeout"); it != spec.config.end()) {
    char* end = nullptr;
    unsigned long v = std::strtoul(it->second.c_str(), &end, 10);
    if (end && *end == '\0' && v > 0 && v <= UINT32_MAX) return static_cast<uint32_t>(v);
  }
  return spec.cluster_node_timeout_ms ? spec.cluster_node_timeout_ms : kDefaultClusterNodeTimeoutMs;
}

int64_t WallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<ManagedNode> NodeRegistry::Find(const std::string& id) {
  std::lock_guard lk(mu);
  auto it = nodes.find(id);
  return it == nodes.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ManagedNode>> NodeRegistry::Snapshot(Include which) {
  std::lock_guard lk(mu);
  std::vector<std::shared_ptr<ManagedNode>> out;
  for (auto& [id, n] : nodes) {
    if (which == Include::kAll || !IsWarmNodeId(id)) out.push_back(n);
  }
  return out;
}

void NodeRegistry::Forget(const std::shared_ptr<ManagedNode>& n) {
  {
    std::lock_guard lk(mu);
    auto it = nodes.find(n->spec.node_id);
    if (it != nodes.end() && it->second == n) nodes.erase(it);
  }
  cv.notify_all();
  std::lock_guard lk(n->mu);
  n->removed = true;
  n->cv.notify_all();
}

size_t NodeRegistry::RealNodeCountLocked() const {
  size_t count = 0;
  for (const auto& [id, n] : nodes) count += IsWarmNodeId(id) ? 0 : 1;
  return count;
}

bool NodeRegistry::ClaimBusyLocked(const NodeSpec& spec) const {
  if (claiming.count(spec.node_id)) return true;
  if (nodes.count(spec.node_id)) return false;
  for (const auto& [id, n] : nodes) {
    if (n->spec.port == spec.port && n->reserved) return true;
  }
  return false;
}

}  // namespace cf::agent
