// ManagedNode: one supervised redis-server (its spec, directory, process and locks), and
// NodeRegistry: the id -> node map every part of nodes/ shares. Internal to nodes/ (includes
// Boost.Process and Asio; never include it outside this folder). The locking rules are in
// node_supervisor.h ("Threading and locks").
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/process/child.hpp>

#include "agent/redis/node_spec.h"
#include "agent/redis/redis_conn.h"

namespace cf::agent {

using Clock = std::chrono::steady_clock;

enum class RunState { kStarting, kRunning, kCrashed, kStopping, kStopped, kExited };

const char* RunStateName(RunState s);

// The spec's cluster-node-timeout (redis.conf default 5000 when the spec leaves it at 0).
uint32_t SpecNodeTimeoutMs(const NodeSpec& spec);
// Wall clock in ms (exited_at_ms).
int64_t WallMs();

struct ManagedNode {
  ManagedNode(NodeSpec s, std::string d) : spec(std::move(s)), dir(std::move(d)) {}

  // Change only when a warm pool node is claimed (ClaimWarm's rename and commit hold op_mu,
  // mu and registry_mu); read them holding at least one of those. A LaunchNode with another
  // spec for an existing id is refused.
  NodeSpec spec;
  std::string dir;
  bool reserved = false;  // guarded by registry_mu: a claim or pool retire owns this warm node

  std::mutex op_mu;  // serialises Launch/Stop/admin on this node
  std::unique_ptr<RedisConn> admin_conn;  // guarded by op_mu

  std::timed_mutex status_mu;  // timed: a heartbeat with a budget does not wait long
  std::unique_ptr<RedisConn> status_conn;  // guarded by status_mu

  std::mutex mu;  // guards everything below
  std::condition_variable cv;  // notified on exit / readiness / stop
  RunState state = RunState::kStarting;
  int64_t pid = 0;
  uint32_t restarts = 0;
  std::string last_error;
  bool adopted = false;         // process is not our child: supervised by polling
  bool exited = true;           // no live process for the current generation
  bool launching = false;       // first LaunchNode in progress: exits fail the launch, no restart
  bool awaiting_ready = false;  // spawned/adopted, the monitor flips it to running on PING
  bool stop_requested = false;  // exits are expected; no restarts
  bool removed = false;         // forgotten (stopped or failed launch)
  bool restart_pending = false;
  // Hold (NODE_EXITED): no process and no restart until RestartNode (or hold_max_ms).
  bool held = false;
  bool killed = false;          // held by KillNode: never restarted by hold_max_ms
  int64_t exited_at_ms = 0;     // wall clock of the exit that put it on hold
  bool expected_exit = false;   // RestartNode/ReconfigureNode stop it themselves
  bool trial_start = false;     // ReconfigureNode restart: an exit before ready rolls back
  ReplicaOfTarget replica_of;   // cluster mode off: rendered `replicaof` (last known role)
  uint64_t generation = 0;      // bumped per spawn/adopt; stale exit notifications are ignored
  uint32_t backoff_ms = 0;
  uint32_t ping_failures = 0;   // adopted nodes: consecutive failed liveness PINGs
  Clock::time_point started_at;          // spawn or adoption (restart backoff reset)
  Clock::time_point process_started_at;  // when the process itself started (warm pool age)
  Clock::time_point next_poll;        // adopted nodes: next liveness check
  Clock::time_point next_ready_poll;  // slow readiness polling after ready_timeout_ms
  // A claimed warm node runs with a low cluster-node-timeout until it reports cluster_state ok
  // (Redis' rejoin delay, see the header); the monitor then sets this value. 0 = none pending.
  uint32_t pending_node_timeout_ms = 0;
  Clock::time_point pending_node_timeout_until;  // set it anyway after this
  Clock::time_point next_node_timeout_check;
  std::unique_ptr<boost::process::child> child;
  std::unique_ptr<boost::asio::steady_timer> restart_timer;
  std::unique_ptr<boost::asio::steady_timer> hold_timer;
};

// id -> node. `mu` guards `nodes`, `claiming` and each node's `reserved`; it is never held
// while waiting or while taking a node lock, except inside a node's mu (claim rename and
// commit, spec changes).
struct NodeRegistry {
  std::mutex mu;
  std::condition_variable cv;  // claims/retires finished, nodes forgotten
  std::map<std::string, std::shared_ptr<ManagedNode>> nodes;  // guarded by mu
  std::set<std::string> claiming;  // guarded by mu: ids whose warm pool claim is in progress

  std::shared_ptr<ManagedNode> Find(const std::string& id);
  enum class Include { kAll, kRealOnly };
  std::vector<std::shared_ptr<ManagedNode>> Snapshot(Include which = Include::kAll);
  // Removes the node (if the map still has this one) and marks it removed.
  void Forget(const std::shared_ptr<ManagedNode>& n);
  // mu held. Nodes that are not warm pool nodes.
  size_t RealNodeCountLocked() const;
  // mu held. A claim of this id, or a claim/retire of the warm node on its port, is in
  // progress.
  bool ClaimBusyLocked(const NodeSpec& spec) const;
};

}  // namespace cf::agent
