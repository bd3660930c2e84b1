// NodeProcesses: the process side of a node — spawn redis-server (Boost.Process, own process
// group, fds closed on exec, stderr to stderr.log), reap it (`on_exit` on the io thread, the
// only reaper), signal and stop it (SIGTERM, SIGKILL after the grace period), probe its port.
// It knows nothing of restarts, holds or the warm pool: exits are handed to the supervisor's
// ExitHandler. Also the /proc and log-tail helpers the supervisor and adoption use.
// Internal to nodes/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "agent/nodes/managed_node.h"
#include "agent/nodes/node_supervisor.h"
#include "common/log.h"
#include "common/result.h"

namespace cf::agent {

// Alive = exists and is not a zombie.
bool ProcessAlive(int64_t pid);
// Is `pid` the redis-server of the node in `dir` (cwd, else title or command line)?
bool LooksLikeNodeProcess(int64_t pid, uint32_t port, const std::string& dir);
// How long ago `pid` started; -1 unknown.
int64_t ProcessAgeMs(int64_t pid);
// Signal to the process group of `pid` (or to the pid when it has no group).
void SignalGroup(int64_t pid, int sig);
// Whether `port` on `address` can be bound now.
bool PortFree(const std::string& address, uint32_t port);
// "killed by signal 9 (SIGKILL)", "exited with code 1", ...
std::string DescribeExit(int native_status, const std::error_code& ec);
// The last max_bytes of a file, without trailing newlines ("" when unreadable).
std::string ReadTail(const std::string& path, size_t max_bytes);
// "a\n\nb\n" -> "a | b".
std::string SquashLines(const std::string& text);
// The interesting line of a log tail: the last one mentioning an error, else the last line.
std::string LastErrorLine(const std::string& tail);
// What redis printed last in `dir` (stderr before the log was open, then redis.log).
std::string ExitReason(const std::string& dir);

class NodeProcesses {
 public:
  // io thread: the child of generation `gen` of the node exited.
  using ExitHandler = std::function<void(const std::weak_ptr<ManagedNode>&, uint64_t gen,
                                         const std::error_code&)>;

  NodeProcesses(const SupervisorOptions& opts, ExitHandler on_exit);
  NodeProcesses(const NodeProcesses&) = delete;
  NodeProcesses& operator=(const NodeProcesses&) = delete;

  void Start();  // the io thread (exit notifications, timers)
  void Stop();   // stops and joins the io thread
  boost::asio::io_context& io() { return io_; }

  // n.mu held. Renders redis.conf and spawns redis-server; resets the node's per-process
  // fields (pid, exited, held, adopted, ...). Persisting node.json is the caller's.
  Status SpawnLocked(const std::shared_ptr<ManagedNode>& np);
  // Waits until the current process has exited (children: on_exit; adopted: polled) or
  // `timeout` passes. n.mu not held.
  bool WaitExited(const std::shared_ptr<ManagedNode>& np, std::chrono::milliseconds timeout);
  // SIGTERM (+SIGCONT) to the group, SIGKILL after grace_ms; kTimeout when it survives that.
  Status Terminate(const std::shared_ptr<ManagedNode>& np, uint32_t grace_ms);
  // PING (must succeed) + INFO server; returns the process_id that answered.
  Result<int64_t> Probe(uint32_t port, uint32_t timeout_ms) const;

 private:
  const SupervisorOptions& opts_;
  ExitHandler on_exit_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::io_context io_;  // declared before anything holding timers
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::mutex spawn_mu_;  // one fork at a time
};

}  // namespace cf::agent
