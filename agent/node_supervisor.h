// NodeSupervisor: starts, watches, restarts, re-adopts and stops the redis-server nodes of one
// host. The only code that creates or signals redis-server processes.
//
// Files: each node lives in <data_dir>/nodes/<node_id>/ with redis.conf (re-rendered on every
// start), nodes.conf (cluster config; kept across restarts so the node keeps its cluster id),
// redis.log, stderr.log (what redis printed before its log was open) and node.json (NodeRecord:
// spec, pid, restarts, stopped).
//
// Node lifecycle (internal states; the proto NodeState in brackets):
//
//   LaunchNode ──> kStarting [STARTING] ──PING ok──> kRunning [RUNNING]
//                     │ exits before ready: launch fails, node forgotten
//                     │ (its directory removed if this launch created it)
//   kRunning ──unexpected exit──> kCrashed [CRASHED] ──backoff 100ms..5s, respawn──┐
//      ^                                                                          │
//      └──────────────────────────────PING ok──────────────────────────────────────┘
//   any ──StopNode──> kStopping [STOPPING] ──SIGTERM, SIGKILL after grace, exit──> forgotten
//
// Process handling follows reference/toolchain.md: Boost.Process v1 children in their own
// process group, fds >= 3 closed on exec, stdout to /dev/null, stderr appended to stderr.log,
// `on_exit` (on the supervisor's io thread) is the only reaper. Stopping sends SIGTERM to the
// group and SIGKILL after the grace period.
//
// Restart of the agent: Start() takes an flock on <data_dir>/agent.lock (one agent per
// data_dir) and reads every node.json. A node whose recorded pid is alive and is redis-server
// running in that node's directory (/proc/<pid>/cmdline and /proc/<pid>/cwd, then PING + INFO
// process_id) is adopted: it is not our child, so a monitor thread polls it (kill(pid,0) +
// zombie check + PING every 200 ms) and restarts it like a crashed child when it disappears.
// Zombies count as dead: an orphaned node that dies is reaped by init, or by nobody when init
// does not reap (containers). Nodes whose process is gone are started again (counted in
// `restarts` unless the agent stopped them itself on exit).
//
// Threading and locks:
//   * io thread: Boost.Process exit notifications and restart timers.
//   * monitor thread: adopted-node liveness, readiness of restarted nodes.
//   * callers (gRPC threads): LaunchNode/StopNode/GetNodeStatus/WithNode, concurrently.
//   Per node: `op_mu` serialises Launch/Stop/admin commands on that node (never held while
//   taking another node's op_mu); `mu` guards the node's state (short sections only; also held
//   across fork so the exit handler cannot run before the child is recorded); `status_mu`
//   guards the status connection, so GetNodeStatus never waits for an admin command or a
//   launch. `registry_mu_` guards the id -> node map and is never held while waiting.
//   A slow LaunchNode of one node therefore never blocks status or RPCs of other nodes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/node_spec.h"
#include "common/result.h"

namespace cachefleet::v1 {
class NodeStatus;
}

namespace cf::agent {

class RedisConn;

struct SupervisorOptions {
  std::string data_dir;            // absolute; nodes live in <data_dir>/nodes/<node_id>
  std::string advertised_address;  // bind / announce address of every node
  std::string redis_server_path;   // resolved executable
  std::string installed_version;   // e.g. "7.0.15"
  uint32_t port_range_start = 1;
  uint32_t port_range_end = 65535 - 10000;
  uint32_t max_nodes = 0;          // 0 = unlimited
  uint32_t redis_connect_timeout_ms = 500;
  uint32_t redis_command_timeout_ms = 2000;
  uint32_t status_timeout_ms = 1000;
  uint32_t ready_timeout_ms = 10000;
  uint32_t stop_grace_ms = 5000;
  uint32_t kill_wait_ms = 5000;            // after SIGKILL, how long to wait for the exit
  uint32_t restart_backoff_initial_ms = 100;
  uint32_t restart_backoff_max_ms = 5000;
  uint32_t restart_backoff_reset_ms = 30000;  // uptime after which the backoff starts over
  uint32_t ready_poll_interval_ms = 5;
  uint32_t adopted_poll_interval_ms = 200;
};

enum class ExitPolicy { kLeaveNodesRunning, kStopNodes };

class NodeSupervisor {
 public:
  explicit NodeSupervisor(SupervisorOptions opts);
  ~NodeSupervisor();  // Shutdown(kLeaveNodesRunning) unless already shut down
  NodeSupervisor(const NodeSupervisor&) = delete;
  NodeSupervisor& operator=(const NodeSupervisor&) = delete;

  // Creates <data_dir>/nodes, starts the io and monitor threads, and adopts or restarts every
  // node recorded there. Errors only for an unusable data_dir.
  Status Start();
  // Makes waits (readiness, stop) return early. Call before stopping the gRPC server.
  void BeginShutdown();
  // Stops the threads. kStopNodes stops every node (they start again with the next agent);
  // kLeaveNodesRunning detaches them so the next agent re-adopts them.
  void Shutdown(ExitPolicy policy);

  // Starts the node (or waits for / returns the node that already runs with this spec).
  // kInvalidArgument: bad spec or engine version; kResourceExhausted: port taken or no
  // capacity; kFailedPrecondition: same id with another spec, or stopping; kTimeout: not
  // answering PING within ready_timeout_ms (0 = default); kInternal: redis exited at start.
  Status LaunchNode(const NodeSpec& spec, uint32_t ready_timeout_ms,
                    cachefleet::v1::NodeStatus* out);
  // Stops the node; returns whether it existed. grace_ms 0 = default.
  Result<bool> StopNode(const std::string& node_id, bool purge_data, uint32_t grace_ms);
  // kNotFound for unknown nodes.
  Status GetNodeStatus(const std::string& node_id, cachefleet::v1::NodeStatus* out);
  // Status of every node, queried in parallel.
  void CollectStatuses(std::vector<cachefleet::v1::NodeStatus>* out);
  std::vector<std::string> NodeIds();
  // Runs `fn` with the node's admin connection, holding the node's op lock. kNotFound for
  // unknown nodes, kUnavailable when the node is not running.
  Status WithNode(const std::string& node_id,
                  const std::function<Status(const NodeSpec&, RedisConn&)>& fn);

  const SupervisorOptions& options() const { return opts_; }

 private:
  struct Impl;
  SupervisorOptions opts_;
  std::unique_ptr<Impl> impl_;
};

// Resolves `redis_server` (a path, or a name looked up on PATH) to an executable path.
Result<std::string> ResolveExecutable(const std::string& redis_server);
// Runs `<exe> --version` and returns the version ("7.0.15").
Result<std::string> DetectRedisVersion(const std::string& exe);

}  // namespace cf::agent
