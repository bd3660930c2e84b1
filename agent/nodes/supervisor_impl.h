// NodeSupervisor::Impl: the supervisor's state and the node lifecycle it owns itself (exit
// handling, holds, restarts with backoff, the monitor thread, status, launch, the failover
// primitives). The parts with their own class: NodeProcesses (spawn/reap/stop), WarmPool,
// NodeAdopter. Its definitions live in node_supervisor.cc (lifecycle, launch, stop, status)
// and supervisor_failover.cc (KillNode, RestartNode, Failover, ReconfigureNode).
// Internal to nodes/.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>

#include "agent/nodes/managed_node.h"
#include "agent/nodes/node_adoption.h"
#include "agent/nodes/node_process.h"
#include "agent/nodes/node_supervisor.h"
#include "agent/nodes/warm_pool.h"
#include "common/log.h"

namespace cachefleet::v1 {
class NodeStatus;
}

namespace cf::agent {

struct NodeSupervisor::Impl final : WarmPoolHost, AdoptionHost {
  explicit Impl(const SupervisorOptions& o);

  const SupervisorOptions& opts;
  std::shared_ptr<spdlog::logger> log;

  NodeProcesses procs;  // declared before anything holding timers (its io_context)
  std::thread monitor_thread;
  std::mutex monitor_mu;
  std::condition_variable monitor_cv;
  bool monitor_stop = false;  // guarded by monitor_mu
  std::atomic<bool> shutting_down{false};
  bool started = false;
  bool shut_down = false;
  int lock_fd = -1;  // flock on <data_dir>/agent.lock: one agent per data_dir
  std::function<void(const std::string&)> exit_listener;  // set before Start

  NodeRegistry registry;
  WarmPool pool;
  NodeAdopter adopter;

  std::string NodesDir() const { return opts.data_dir + "/nodes"; }
  std::string NodeDir(const std::string& id) const override { return NodesDir() + "/" + id; }

  // --- lifecycle (n.mu held where the name says Locked) ---
  void PersistLocked(ManagedNode& n, bool stopped) override;
  Status SpawnLocked(const std::shared_ptr<ManagedNode>& np) override;  // spawn + node.json
  // io thread. The exit handler of generation `gen`.
  void OnChildExit(const std::weak_ptr<ManagedNode>& weak, uint64_t gen, const std::error_code& ec);
  // The process of a node nobody was stopping is gone: hold it (spec.hold_on_exit, or
  // KillNode) or restart it with backoff; the exit listener hears of it (except KillNode's).
  void UnexpectedExitLocked(const std::shared_ptr<ManagedNode>& np, const std::string& why);
  // No live process. NODE_EXITED until RestartNode; exit holds of a spec with hold_max_ms
  // restart in place after that long.
  void HoldLocked(const std::shared_ptr<ManagedNode>& np, int64_t exited_at_ms = 0) override;
  void HoldExpired(const std::weak_ptr<ManagedNode>& weak, uint64_t gen);  // io thread
  void ScheduleRestartLocked(const std::shared_ptr<ManagedNode>& np) override;
  void RestartNow(const std::weak_ptr<ManagedNode>& weak, uint64_t gen);  // io thread

  // --- monitor thread: adopted liveness + readiness of restarted/adopted nodes ---
  void MonitorLoop();
  // Returns true when the node wants fast polling (waiting for readiness).
  bool MonitorOne(const std::shared_ptr<ManagedNode>& np);
  // Sets the node's own cluster-node-timeout once it reports cluster_state ok (or at once
  // when `now`).
  void RestoreNodeTimeout(const std::shared_ptr<ManagedNode>& np, uint64_t gen, uint32_t port,
                          uint32_t timeout_ms, bool now);

  // --- status ---
  // budget_ms > 0: wait at most that long for the status connection and each Redis reply.
  void FillStatus(const std::shared_ptr<ManagedNode>& np, cachefleet::v1::NodeStatus* out,
                  uint32_t budget_ms = 0) override;

  // --- start, launch, stop ---
  Status LockDataDir();  // flock on <data_dir>/agent.lock
  Status LaunchFresh(const std::shared_ptr<ManagedNode>& np, Clock::time_point deadline,
                     uint32_t ready_timeout_ms, cachefleet::v1::NodeStatus* out) override;
  // LaunchFresh after redis exited before answering PING: redis' own words, classified.
  Error LaunchExitError(const ManagedNode& n, const std::string& why) const;
  Status WaitExisting(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
                      Clock::time_point deadline, uint32_t ready_timeout_ms,
                      cachefleet::v1::NodeStatus* out, bool* retry);
  // n.op_mu held. Waits until the node (spawned, awaiting readiness) answers PING; an exit
  // before that is kInternal with redis' last words.
  Status WaitRunning(ManagedNode& n, Clock::time_point deadline, uint32_t timeout_ms);
  void StopForExit(const std::shared_ptr<ManagedNode>& np);
  // n.op_mu held. The node's admin connection (created on first use).
  RedisConn& AdminConn(ManagedNode& n) override;
  // ValidateNodeSpec + the engine version is the installed one (kInvalidArgument).
  Status ValidateRunnable(const NodeSpec& spec) const;

  // --- ReconfigureNode (supervisor_failover.cc; n.op_mu held) ---
  // Replaces the spec (n.mu, then registry.mu) and re-renders redis.conf and node.json.
  void CommitSpec(ManagedNode& n, const NodeSpec& to);
  // restart=false: one CONFIG SET of the runtime differences, then the spec.
  Status ReconfigureLive(ManagedNode& n, const NodeSpec& old, const NodeSpec& spec,
                         Clock::time_point deadline, const std::set<std::string>& static_keys);
  // restart=true: SAVE, stop, start with the new spec; back to the old one if redis refuses.
  Status ReconfigureRestart(const std::shared_ptr<ManagedNode>& np, const NodeSpec& old,
                            const NodeSpec& spec, Clock::time_point deadline,
                            uint32_t timeout_ms);
};

}  // namespace cf::agent
