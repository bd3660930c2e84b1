// WarmPool: keeps warm_pool_cluster_nodes idle cluster-enabled redis-servers ("_warm-<port>")
// running on the highest free ports of the range, and hands one over when LaunchNode asks for
// a cluster node on its port (Claim). Design, the claim sequence and the formation node
// timeout: node_supervisor.h ("Warm pool", "Claim"). Internal to nodes/.
//
// Narrow interface: the pool sees the registry (to find, reserve and re-key its nodes), the
// process layer (to stop them), and the few supervisor operations in WarmPoolHost.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/nodes/managed_node.h"
#include "agent/nodes/node_supervisor.h"
#include "common/log.h"
#include "common/result.h"

namespace cf::agent {

class NodeProcesses;

// What the pool needs from the supervisor.
class WarmPoolHost {
 public:
  virtual ~WarmPoolHost() = default;
  virtual std::string NodeDir(const std::string& id) const = 0;
  // Starts a node registered with `launching` set; OK once it answers PING.
  virtual Status LaunchFresh(const std::shared_ptr<ManagedNode>& np, Clock::time_point deadline,
                             uint32_t ready_timeout_ms, cachefleet::v1::NodeStatus* out) = 0;
  virtual void FillStatus(const std::shared_ptr<ManagedNode>& np, cachefleet::v1::NodeStatus* out,
                          uint32_t budget_ms) = 0;
  // n.mu held: writes node.json.
  virtual void PersistLocked(ManagedNode& n, bool stopped) = 0;
  // n.op_mu held: the node's admin connection (created on first use).
  virtual RedisConn& AdminConn(ManagedNode& n) = 0;
};

class WarmPool {
 public:
  WarmPool(const SupervisorOptions& opts, NodeRegistry& registry, NodeProcesses& procs,
           WarmPoolHost& host, const std::atomic<bool>& shutting_down);
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  void Start();  // the pool thread
  void Stop();   // stops and joins it (a spawn in progress sees shutting_down)
  // Reconcile soon; after_claim also delays refills by warm_pool_refill_delay_ms.
  void Kick(bool after_claim);

  // LaunchNode of an unknown id on the port of warm node `np` (reserved by the caller).
  // Claimed: OK and *cold false. *cold true: the warm node is gone (retired here or before),
  // cold-start the id. Errors: shutting down, or a warm node that would not die.
  Status Claim(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
               Clock::time_point deadline, cachefleet::v1::NodeStatus* out, bool* cold);
  // Ports of running, unreserved warm nodes at least warm_min_age_ms old. Ascending.
  std::vector<uint32_t> ReadyPorts();

 private:
  NodeSpec WarmSpec(uint32_t port) const;
  // n.op_mu held. Stops the node, forgets it and removes its directory.
  Status RetireLocked(const std::shared_ptr<ManagedNode>& np, const std::string& why);
  // n.op_mu held. "" when the warm node is pristine and runs a matching version, else why not.
  std::string CheckPristine(ManagedNode& n, const NodeSpec& spec, int64_t pid);
  // n.op_mu held. "" when every runtime setting of `spec` was applied, else why not. With
  // warm_formation_node_timeout_ms below the spec's cluster-node-timeout, that lower value is
  // applied and the spec's is returned in *pending_node_timeout_ms (else 0).
  std::string ApplyRuntimeConfig(ManagedNode& n, const NodeSpec& spec,
                                 uint32_t* pending_node_timeout_ms);
  // Claim's last step (n.mu held): the node becomes `spec` in the registry and on disk.
  void CommitClaimLocked(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
                         const std::string& new_dir, uint32_t pending_node_timeout_ms);
  void Loop();
  void Reconcile();
  bool SpawnWarm(uint32_t port);
  bool RetireWarm(const std::shared_ptr<ManagedNode>& np, const std::string& why);

  const SupervisorOptions& opts_;
  NodeRegistry& registry_;
  NodeProcesses& procs_;
  WarmPoolHost& host_;
  const std::atomic<bool>& shutting_down_;
  std::shared_ptr<spdlog::logger> log_;

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                    // guarded by mu_
  bool kick_ = false;                    // guarded by mu_
  Clock::time_point last_claim_;         // guarded by mu_
  std::map<uint32_t, Clock::time_point> port_cooldown_;  // pool thread only: failed spawns
  uint64_t warnings_ = 0;                // pool thread only
};

}  // namespace cf::agent
