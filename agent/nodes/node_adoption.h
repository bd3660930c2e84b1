// NodeAdopter: what a starting agent does with the nodes a previous agent left in
// <data_dir>/nodes: re-adopts a redis-server that still runs in its node's directory (not our
// child: the supervisor's monitor polls it), holds what was held (or a hold_on_exit node whose
// process is gone), starts again what is gone, purges dead warm pool nodes, and discards an
// interrupted warm pool claim. Design: node_supervisor.h ("Restart of the agent").
// Internal to nodes/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/nodes/managed_node.h"
#include "agent/nodes/node_supervisor.h"
#include "common/log.h"
#include "common/result.h"

namespace cf::agent {

class NodeProcesses;

// What adoption needs from the supervisor (node mu held in all three).
class AdoptionHost {
 public:
  virtual ~AdoptionHost() = default;
  // NODE_EXITED until RestartNode; exited_at_ms 0 = now.
  virtual void HoldLocked(const std::shared_ptr<ManagedNode>& np, int64_t exited_at_ms) = 0;
  // Spawns the node's process and records it in node.json.
  virtual Status SpawnLocked(const std::shared_ptr<ManagedNode>& np) = 0;
  // Restart with backoff.
  virtual void ScheduleRestartLocked(const std::shared_ptr<ManagedNode>& np) = 0;
};

class NodeAdopter {
 public:
  NodeAdopter(const SupervisorOptions& opts, NodeRegistry& registry, NodeProcesses& procs,
              AdoptionHost& host);

  // Every directory of `nodes_dir`: adopt, hold, restart, purge or ignore (logged).
  void AdoptAll(const std::string& nodes_dir);

 private:
  void Adopt(const std::string& dir);
  // n.mu held. The recorded pid runs in the node's directory: supervise it by polling.
  void AdoptRunningLocked(const std::shared_ptr<ManagedNode>& np, int64_t pid);
  void DiscardInterruptedClaim(const NodeRecord& rec, const std::string& dir);

  const SupervisorOptions& opts_;
  NodeRegistry& registry_;
  NodeProcesses& procs_;
  AdoptionHost& host_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace cf::agent
