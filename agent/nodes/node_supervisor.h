// NodeSupervisor: starts, watches, restarts, re-adopts and stops the redis-server nodes of one
// host. The only code that creates or signals redis-server processes.
//
// The public face of nodes/. Its parts, each a class with a narrow interface to the
// supervisor: NodeProcesses (node_process.h: spawn, reap, stop, probe), WarmPool (warm_pool.h,
// through WarmPoolHost), NodeAdopter (node_adoption.h, through AdoptionHost), NodeRegistry
// (managed_node.h). The supervisor itself (supervisor_impl.h, node_supervisor.cc,
// supervisor_failover.cc) keeps the lifecycle below: exits, holds, restarts, the monitor.
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
// Hold (failover support, NodeSpec.hold_on_exit):
//   kRunning/kStarting ──unexpected exit, spec.hold_on_exit──> kExited [EXITED] (held: no
//      restart; exited_at_ms recorded; node.json says held) ──RestartNode──> kStarting ...
//   kExited ──hold_max_ms without RestartNode (exit holds only)──> restart in place (counted)
//   any live state ──KillNode──> SIGKILL to the group, reaped ──> kExited (held whatever the
//      spec says; no hold_max_ms restart) ──RestartNode──> kStarting ...
//   Agent start-up: a held node stays held; a hold_on_exit node whose process is gone is held
//   (not restarted): the orchestrator may have failed over meanwhile.
//   Every unexpected exit (held or restarted) calls the exit listener, which makes the fleet
//   client send a heartbeat at once.
// ReconfigureNode restart=true and RestartNode mark their own stop as expected (expected_exit),
// so it is neither restarted nor held.
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
// Warm pool (warm_pool_cluster_nodes = N > 0). Redis 7.0 keeps a cluster master's
// cluster_state at `fail` for 2 s after the process starts (CLUSTER_WRITABLE_DELAY), so a
// cold-started cluster cannot be `available` sooner. The pool keeps N idle cluster-enabled
// nodes running, each an ordinary ManagedNode with id "_warm-<port>" (WarmNodeId) and the
// spec {cluster_enabled, installed version, no maxmemory, default node timeout}, on the
// highest free ports of the range (the orchestrator allocates from the low end; a port is
// free when port and port+10000 bind). They are supervised, persisted (node.json with pid),
// restarted and re-adopted like any node, but are not nodes to the outside: CollectStatuses /
// NodeIds / max_nodes skip them; WarmClusterPorts() lists the running ones older than
// warm_min_age_ms (2.2 s) for Register/Heartbeat. A pool thread reconciles every
// warm_pool_interval_ms: retires warm nodes beyond N (or beyond max_nodes - real nodes),
// outside the port range, or stuck failing; refills up to N (waiting
// warm_pool_refill_delay_ms after the last claim, so refills do not compete with the cluster
// being formed). With --stop-nodes-on-exit warm nodes are stopped and purged; a warm node
// found dead at agent start is purged, not restarted.
//
// Claim: LaunchNode(spec) of an unknown id on a port where warm node W runs.
//
//   LaunchNode ──registry: reserve W (W.reserved), the id (claiming)──> ClaimWarm, W.op_mu:
//     wait until W runs ──> compatible? spec.cluster_enabled, nodes/<id> does not exist
//     ──> pristine? INFO: our pid, version matches; CLUSTER INFO: known_nodes 1, no slots;
//         DBSIZE 0
//     ──> rename nodes/_warm-<port> -> nodes/<id> (W.mu + registry_mu: W.dir = new dir)
//     ──> CONFIG SET maxmemory, maxmemory-policy, cluster-node-timeout, spec.config
//         (one atomic CONFIG SET; RuntimeConfigSettings; the node timeout is lowered for the
//         formation, see below)
//     ──> commit (W.mu, then registry_mu inside it): W.spec = spec, re-key the registry,
//         restarts = 0, redis.conf re-rendered, node.json written (same pid) ──> claimed.
//   Any "no" on the way (or W exiting/stopping meanwhile) retires W (SIGTERM, forget, purge)
//   and LaunchNode cold-starts the id on the port as usual.
//
// Formation node timeout. An idle master owning no slot counts itself in the minority (cluster
// size 0, quorum 1, 0 reachable), so every cluster cron of a warm node stamps Redis'
// among_minority_time; once it has slots, its cluster_state may turn ok only
// clamp(cluster-node-timeout, 500 ms, 5 s) after that stamp (the rejoin delay; cold nodes
// escape it because the first 2 s return before that code). With the usual 5000 ms a claimed
// master would need 5 s after ADDSLOTS, worse than a cold start. So the claim applies
// cluster-node-timeout min(spec, warm_formation_node_timeout_ms = 500) and the monitor thread
// sets the spec's value as soon as the node reports cluster_state ok (polled every 50 ms), or
// after warm_formation_window_ms (30 s) at the latest. A restart of the node renders the spec's
// value; an agent restart re-applies it to every adopted cluster node once it is ok. The price:
// during the formation, failure detection runs with a 500 ms node timeout.
//
// The process is untouched: a child stays our child (same bp::child, same on_exit, immediate
// exit notification), an adopted one stays polled. redis' cwd is the directory inode, so the
// relative nodes.conf / redis.log keep working after the rename (CONFIG GET dir shows the new
// path); only redis' own idea of its config file path is stale, so CONFIG REWRITE fails on a
// claimed node (the agent never uses it; it re-renders redis.conf itself). A crash of the agent
// between the rename and node.json leaves nodes/<id>/node.json naming "_warm-<port>": Start()
// treats that as an interrupted claim, kills the process and purges the directory (the
// orchestrator's retried LaunchNode cold-starts it). Concurrent LaunchNode calls for the same
// id, or for the port of a reserved warm node, wait for the claim (or retire) to finish;
// StopNode of an id being claimed waits too.
//
// Threading and locks:
//   * io thread: Boost.Process exit notifications and restart timers.
//   * monitor thread: adopted-node liveness, readiness of restarted nodes.
//   * pool thread: warm pool reconcile (fill, trim).
//   * callers (gRPC threads): LaunchNode/StopNode/GetNodeStatus/WithNode, concurrently.
//   Per node: `op_mu` serialises Launch/Claim/Stop/admin commands on that node (never held
//   while taking another node's op_mu); `mu` guards the node's state (short sections only;
//   also held across fork so the exit handler cannot run before the child is recorded);
//   `status_mu` guards the status connection, so GetNodeStatus never waits for an admin
//   command or a launch. `registry_mu` guards the id -> node map, `claiming` and each node's
//   `reserved`, and is never held while waiting or while taking a node lock; the one nesting
//   is registry_mu inside a node's mu (claim rename and commit).
//   Lock order: op_mu -> mu -> registry_mu.
//   A node's `spec` and `dir` change only in a claim (rename, commit), which holds op_mu, mu
//   and registry_mu; every reader holds at least one of the three.
//   A slow LaunchNode of one node therefore never blocks status or RPCs of other nodes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/redis/node_spec.h"
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
  uint32_t warm_pool_cluster_nodes = 0;       // idle cluster nodes kept for claims; 0 = off
  uint32_t warm_min_age_ms = 2200;            // WarmClusterPorts: process at least this old
  uint32_t warm_pool_interval_ms = 500;       // pool reconcile period
  uint32_t warm_pool_refill_delay_ms = 1000;  // refills wait this long after the last claim
  // A claim applies min(this, spec's cluster-node-timeout) and the spec's value once the node
  // reports cluster_state ok, or after warm_formation_window_ms. 0 = the spec's value at once.
  uint32_t warm_formation_node_timeout_ms = 500;
  uint32_t warm_formation_window_ms = 30000;
};

enum class ExitPolicy { kLeaveNodesRunning, kStopNodes };

// RestartNodeRequest.replica_of. Empty (no ip, no cluster id) = restart in place.
struct PeerRef {
  std::string cluster_node_id;
  std::string ip;
  uint32_t port = 0;
  bool empty() const { return cluster_node_id.empty() && ip.empty() && port == 0; }
};

enum class PromoteMode;

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

  // Starts the node (or waits for / returns the node that already runs with this spec). A
  // compatible warm pool node on spec.port is claimed instead of starting a process.
  // kInvalidArgument: bad spec or engine version; kResourceExhausted: port taken or no
  // capacity; kFailedPrecondition: same id with another spec, or stopping; kTimeout: not
  // answering PING within ready_timeout_ms (0 = default); kInternal: redis exited at start.
  Status LaunchNode(const NodeSpec& spec, uint32_t ready_timeout_ms,
                    cachefleet::v1::NodeStatus* out);
  // Stops the node; returns whether it existed. grace_ms 0 = default. Warm pool nodes
  // ("_warm-<port>") can be stopped too; they are always purged.
  Result<bool> StopNode(const std::string& node_id, bool purge_data, uint32_t grace_ms);
  // kNotFound for unknown nodes. Works for warm pool nodes too.
  Status GetNodeStatus(const std::string& node_id, cachefleet::v1::NodeStatus* out);
  // Status of every node (warm pool nodes excluded), queried in parallel. budget_ms > 0 bounds
  // the Redis part per node (a busy or hung node reports its supervisor fields only).
  void CollectStatuses(std::vector<cachefleet::v1::NodeStatus>* out, uint32_t budget_ms = 0);
  std::vector<std::string> NodeIds();  // warm pool nodes excluded
  // Ports of warm pool nodes that are running, not being claimed, and whose process started
  // at least warm_min_age_ms ago (a claimed master can reach cluster_state ok at once).
  // Ascending.
  std::vector<uint32_t> WarmClusterPorts();
  // Runs `fn` with the node's admin connection, holding the node's op lock. kNotFound for
  // unknown nodes and warm pool nodes, kUnavailable when the node is not running.
  Status WithNode(const std::string& node_id,
                  const std::function<Status(const NodeSpec&, RedisConn&)>& fn);

  // Failover primitives and settings (semantics: the comments in proto/cachefleet.proto).
  // Called (on an internal thread, possibly under a node lock: keep it short, take no node
  // lock) for every unexpected exit of a node, held or restarted. Set before Start().
  void SetExitListener(std::function<void(const std::string& node_id)> fn);
  // SIGKILL to the process group, wait until it is gone, hold the node (NODE_EXITED).
  Status KillNode(const std::string& node_id, cachefleet::v1::NodeStatus* out);
  // Starts a held/crashed node in place, or as a replica of `replica_of`; see the proto.
  Status RestartNode(const std::string& node_id, const PeerRef& replica_of,
                     uint32_t ready_timeout_ms, cachefleet::v1::NodeStatus* out);
  // Promotes a local replica. timeout_ms / force_timeout_ms 0 = 5000 / 1000.
  Status Failover(const std::string& node_id, PromoteMode mode, uint32_t timeout_ms,
                  uint32_t force_timeout_ms, cachefleet::v1::NodeStatus* out,
                  std::string* method, uint32_t* elapsed_ms);
  // Replaces the node's spec: CONFIG SET of the differences (atomic), or a restart.
  // force_restart: restart = true restarts even an unchanged spec. static_keys (restart =
  // false): written to the spec only, never CONFIG SET (taken at the next start).
  Status ReconfigureNode(const NodeSpec& spec, bool restart, uint32_t ready_timeout_ms,
                         cachefleet::v1::NodeStatus* out, bool force_restart = false,
                         const std::set<std::string>& static_keys = {});

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
