#include "agent/nodes/node_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>

#include "agent/nodes/node_status.h"
#include "agent/nodes/supervisor_impl.h"
#include "agent/redis/redis_conn.h"
#include "cachefleet.pb.h"

namespace cf::agent {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

// How often the monitor checks whether a claimed node reached cluster_state ok.
constexpr uint32_t kNodeTimeoutCheckMs = 50;

cachefleet::v1::NodeState ToProto(RunState s) {
  switch (s) {
    case RunState::kStarting: return cachefleet::v1::NODE_STARTING;
    case RunState::kRunning: return cachefleet::v1::NODE_RUNNING;
    case RunState::kCrashed: return cachefleet::v1::NODE_CRASHED;
    case RunState::kStopping: return cachefleet::v1::NODE_STOPPING;
    case RunState::kStopped: return cachefleet::v1::NODE_STOPPED;
    case RunState::kExited: return cachefleet::v1::NODE_EXITED;
  }
  return cachefleet::v1::NODE_STATE_UNSPECIFIED;
}

}  // namespace

NodeSupervisor::Impl::Impl(const SupervisorOptions& o)
    : opts(o),
      log(cf::Logger("node")),
      procs(o, [this](const std::weak_ptr<ManagedNode>& weak, uint64_t gen,
                      const std::error_code& ec) { OnChildExit(weak, gen, ec); }),
      pool(o, registry, procs, *this, shutting_down),
      adopter(o, registry, procs, *this) {}

Status NodeSupervisor::Impl::SpawnLocked(const std::shared_ptr<ManagedNode>& np) {
  if (auto s = procs.SpawnLocked(np); !s.ok()) return s;
  ManagedNode& n = *np;
  PersistLocked(n, false);
  log->debug("[{}] spawned pid {} on port {}", n.spec.node_id, n.pid, n.spec.port);
  return {};
}

Status NodeSupervisor::Impl::ValidateRunnable(const NodeSpec& spec) const {
  if (auto s = ValidateNodeSpec(spec); !s.ok()) return s;
  if (!EngineVersionMatches(opts.installed_version, spec.engine_version)) {
    return MakeError(Errc::kInvalidArgument, "engine_version '" + spec.engine_version +
                                                 "' is not installed on this host (it has " +
                                                 opts.installed_version + ")");
  }
  return {};
}

RedisConn& NodeSupervisor::Impl::AdminConn(ManagedNode& n) {
  if (!n.admin_conn) {
    n.admin_conn = std::make_unique<RedisConn>(RedisConnOptions{
        .host = opts.advertised_address,
        .port = static_cast<uint16_t>(n.spec.port),
        .connect_timeout_ms = opts.redis_connect_timeout_ms,
        .command_timeout_ms = opts.redis_command_timeout_ms});
  }
  return *n.admin_conn;
}

// --- persistence (n.mu held) ---
void NodeSupervisor::Impl::PersistLocked(ManagedNode& n, bool stopped) {
  NodeRecord rec{n.spec, stopped || n.held ? 0 : n.pid, n.restarts, stopped};
  rec.held = n.held && !stopped;
  rec.killed = n.killed && rec.held;
  rec.exited_at_ms = rec.held ? n.exited_at_ms : 0;
  rec.replica_of = n.spec.cluster_enabled ? ReplicaOfTarget{} : n.replica_of;
  if (auto s = WriteFileAtomic(n.dir + "/node.json", NodeRecordToJson(rec)); !s.ok()) {
    log->error("[{}] cannot write node.json: {}", n.spec.node_id, s.error().message);
  }
}

// io thread. The exit handler of generation `gen`.
void NodeSupervisor::Impl::OnChildExit(const std::weak_ptr<ManagedNode>& weak, uint64_t gen, const std::error_code& ec) {
  auto np = weak.lock();
  if (!np) return;
  ManagedNode& n = *np;
  std::lock_guard lk(n.mu);
  if (gen != n.generation || n.exited) return;
  int native = n.child ? n.child->native_exit_code() : -1;
  n.exited = true;
  n.awaiting_ready = false;
  std::string why = DescribeExit(native, ec);
  n.cv.notify_all();
  if (n.stop_requested || n.removed || n.expected_exit) {
    n.state = RunState::kStopped;
    log->debug("[{}] pid {} {}", n.spec.node_id, n.pid, why);
    return;
  }
  if (n.launching || n.trial_start) {
    n.state = RunState::kCrashed;
    n.last_error = "pid " + std::to_string(n.pid) + " " + why;
    return;  // LaunchNode / ReconfigureNode report it
  }
  UnexpectedExitLocked(np, "pid " + std::to_string(n.pid) + " " + why);
}

// n.mu held. The process of a node nobody was stopping is gone: hold it (spec.hold_on_exit,
// or KillNode) or restart it with backoff. Either way the exit listener hears of it (except
// for KillNode, which the caller asked for).
void NodeSupervisor::Impl::UnexpectedExitLocked(const std::shared_ptr<ManagedNode>& np, const std::string& why) {
  ManagedNode& n = *np;
  n.last_error = why;
  if (n.killed || n.spec.hold_on_exit) {
    HoldLocked(np);
    log->warn("[{}] {}; held ({})", n.spec.node_id, why,
              n.killed ? "KillNode" : "hold_on_exit: waiting for RestartNode");
  } else {
    n.state = RunState::kCrashed;
    log->warn("[{}] {}; restarting", n.spec.node_id, why);
    ScheduleRestartLocked(np);
  }
  if (!n.killed && exit_listener) exit_listener(n.spec.node_id);
}

// n.mu held, no live process. NODE_EXITED until RestartNode; exit holds of a spec with
// hold_max_ms restart in place after that long.
void NodeSupervisor::Impl::HoldLocked(const std::shared_ptr<ManagedNode>& np, int64_t exited_at_ms) {
  ManagedNode& n = *np;
  n.state = RunState::kExited;
  n.awaiting_ready = false;
  if (!n.held) n.exited_at_ms = exited_at_ms ? exited_at_ms : WallMs();
  n.held = true;
  PersistLocked(n, false);
  n.cv.notify_all();
  if (!n.killed && n.spec.hold_max_ms > 0 && !shutting_down) {
    int64_t left = n.exited_at_ms + n.spec.hold_max_ms - WallMs();
    std::weak_ptr<ManagedNode> weak = np;
    uint64_t gen = n.generation;
    n.hold_timer = std::make_unique<asio::steady_timer>(procs.io(), milliseconds(std::max<int64_t>(left, 0)));
    n.hold_timer->async_wait([this, weak, gen](const boost::system::error_code& ec) {
      if (!ec) HoldExpired(weak, gen);
    });
  } else {
    n.hold_timer.reset();
  }
}

// io thread: hold_max_ms passed without RestartNode.
void NodeSupervisor::Impl::HoldExpired(const std::weak_ptr<ManagedNode>& weak, uint64_t gen) {
  auto np = weak.lock();
  if (!np) return;
  ManagedNode& n = *np;
  std::lock_guard lk(n.mu);
  if (gen != n.generation || !n.exited || !n.held || n.killed || n.stop_requested ||
      n.removed || shutting_down) {
    return;
  }
  ++n.restarts;
  log->warn("[{}] held {} ms without RestartNode (hold_max_ms); restarting in place",
            n.spec.node_id, WallMs() - n.exited_at_ms);
  n.state = RunState::kStarting;
  if (auto s = SpawnLocked(np); !s.ok()) {
    n.held = false;
    n.state = RunState::kCrashed;
    n.last_error = "restart failed: " + s.error().message;
    log->warn("[{}] {}", n.spec.node_id, n.last_error);
    ScheduleRestartLocked(np);
    return;
  }
  n.awaiting_ready = true;
  monitor_cv.notify_all();
}

// n.mu held; any thread.
void NodeSupervisor::Impl::ScheduleRestartLocked(const std::shared_ptr<ManagedNode>& np) {
  ManagedNode& n = *np;
  if (n.restart_pending || n.stop_requested || n.removed || shutting_down) return;
  if (Clock::now() - n.started_at >= milliseconds(opts.restart_backoff_reset_ms)) n.backoff_ms = 0;
  n.backoff_ms = n.backoff_ms == 0 ? opts.restart_backoff_initial_ms
                                   : std::min(n.backoff_ms * 2, opts.restart_backoff_max_ms);
  n.restart_pending = true;
  std::weak_ptr<ManagedNode> weak = np;
  uint64_t gen = n.generation;
  n.restart_timer = std::make_unique<asio::steady_timer>(procs.io(), milliseconds(n.backoff_ms));
  n.restart_timer->async_wait([this, weak, gen](const boost::system::error_code& ec) {
    if (!ec) RestartNow(weak, gen);
  });
}

// io thread.
void NodeSupervisor::Impl::RestartNow(const std::weak_ptr<ManagedNode>& weak, uint64_t gen) {
  auto np = weak.lock();
  if (!np) return;
  ManagedNode& n = *np;
  std::lock_guard lk(n.mu);
  n.restart_pending = false;
  if (n.stop_requested || n.removed || shutting_down || gen != n.generation || !n.exited ||
      n.held) {
    return;
  }
  ++n.restarts;
  if (auto s = SpawnLocked(np); !s.ok()) {
    n.last_error = "restart failed: " + s.error().message;
    log->warn("[{}] {}", n.spec.node_id, n.last_error);
    ScheduleRestartLocked(np);
    return;
  }
  n.awaiting_ready = true;
  log->info("[{}] restarted as pid {} (restart #{})", n.spec.node_id, n.pid, n.restarts);
  monitor_cv.notify_all();
}

void NodeSupervisor::Impl::MonitorLoop() {
  std::unique_lock mlk(monitor_mu);
  while (!monitor_stop) {
    mlk.unlock();
    bool fast = false, adopted = false;
    for (auto& np : registry.Snapshot()) {
      if (MonitorOne(np)) fast = true;
      std::lock_guard lk(np->mu);
      adopted = adopted || (np->adopted && !np->exited);
    }
    mlk.lock();
    monitor_cv.wait_for(mlk, milliseconds(fast ? opts.ready_poll_interval_ms : adopted ? 20 : 50));
  }
}

// Returns true when the node wants fast polling (waiting for readiness).
bool NodeSupervisor::Impl::MonitorOne(const std::shared_ptr<ManagedNode>& np) {
  ManagedNode& n = *np;
  bool check_ready = false, check_alive = false, quick_alive = false;
  int64_t pid = 0;
  uint64_t gen = 0;
  uint32_t port = 0;
  uint32_t node_timeout_ms = 0;
  bool node_timeout_now = false;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.exited || n.launching) return false;
    auto now = Clock::now();
    check_ready = n.awaiting_ready;
    if (check_ready && now - n.started_at > milliseconds(opts.ready_timeout_ms)) {
      // Still not answering long after the start (stopped, stuck loading): poll slowly.
      check_ready = now >= n.next_ready_poll;
      if (check_ready) n.next_ready_poll = now + milliseconds(opts.adopted_poll_interval_ms);
    }
    if (n.adopted && now >= n.next_poll) {
      check_alive = true;
      n.next_poll = now + milliseconds(opts.adopted_poll_interval_ms);
    }
    // Between the full checks (PING), a cheap kill(pid, 0) every monitor cycle (~20 ms) so
    // the exit of an adopted node is reported about as fast as a child's.
    quick_alive = n.adopted && !check_alive;
    if (n.pending_node_timeout_ms && n.state == RunState::kRunning &&
        now >= n.next_node_timeout_check) {
      node_timeout_ms = n.pending_node_timeout_ms;
      node_timeout_now = now >= n.pending_node_timeout_until;
      n.next_node_timeout_check = now + milliseconds(kNodeTimeoutCheckMs);
    }
    pid = n.pid;
    gen = n.generation;
    port = n.spec.port;
  }
  if (node_timeout_ms) RestoreNodeTimeout(np, gen, port, node_timeout_ms, node_timeout_now);
  if ((check_alive || quick_alive) && !ProcessAlive(pid)) {
    std::lock_guard lk(n.mu);
    if (gen != n.generation || n.exited) return false;
    n.exited = true;
    n.awaiting_ready = false;
    n.cv.notify_all();
    if (n.stop_requested || n.removed || n.expected_exit) {
      n.state = RunState::kStopped;
      return false;
    }
    UnexpectedExitLocked(np, "pid " + std::to_string(pid) + " (adopted) is gone; exit status unknown");
    return false;
  }
  if (!check_ready && !check_alive) return false;
  auto probe = procs.Probe(port, check_ready ? 50 : 200);
  std::lock_guard lk(n.mu);
  if (gen != n.generation || n.exited || n.removed) return false;
  if (probe.ok() && *probe == pid) {
    n.ping_failures = 0;
    if (n.awaiting_ready) {
      n.awaiting_ready = false;
      if (n.state != RunState::kStopping) n.state = RunState::kRunning;
      log->info("[{}] pid {} answers PING; running", n.spec.node_id, pid);
      n.cv.notify_all();
    }
    return false;
  }
  if (check_alive && !probe.ok() && !n.awaiting_ready) {
    // Alive but not answering (stopped, busy, loading). Not a reason to restart.
    if (n.ping_failures++ % 25 == 0) {
      log->warn("[{}] pid {} alive but not answering PING: {}", n.spec.node_id, pid,
                probe.error().message);
    }
  }
  return n.awaiting_ready && Clock::now() - n.started_at <= milliseconds(opts.ready_timeout_ms);
}

// Monitor thread. Sets the node's own cluster-node-timeout once it reports cluster_state ok
// (or at once when `now`).
void NodeSupervisor::Impl::RestoreNodeTimeout(const std::shared_ptr<ManagedNode>& np, uint64_t gen, uint32_t port,
                        uint32_t timeout_ms, bool now) {
  RedisConn c({.host = opts.advertised_address,
               .port = static_cast<uint16_t>(port),
               .connect_timeout_ms = 200,
               .command_timeout_ms = 200});
  if (!now) {
    auto info = c.Command({"CLUSTER", "INFO"});
    if (!info.ok() || InfoString(ParseInfo(info->str()), "cluster_state") != "ok") return;
  }
  auto r = c.Command({"CONFIG", "SET", "cluster-node-timeout", std::to_string(timeout_ms)});
  ManagedNode& n = *np;
  std::lock_guard lk(n.mu);
  if (!r.ok()) {
    log->warn("[{}] CONFIG SET cluster-node-timeout {}: {}", n.spec.node_id, timeout_ms,
              r.error().message);
    return;
  }
  if (gen != n.generation || n.pending_node_timeout_ms != timeout_ms) return;
  n.pending_node_timeout_ms = 0;
  log->info("[{}] cluster-node-timeout {} ms ({})", n.spec.node_id, timeout_ms,
            now ? "formation window over" : "cluster_state ok");
}

// budget_ms > 0: wait at most that long for the status connection and each Redis reply.
void NodeSupervisor::Impl::FillStatus(const std::shared_ptr<ManagedNode>& np, cachefleet::v1::NodeStatus* out,
                uint32_t budget_ms) {
  ManagedNode& n = *np;
  RunState state;
  int64_t pid;
  bool exited;
  uint32_t port;
  bool cluster_enabled;
  uint64_t gen;
  {
    std::lock_guard lk(n.mu);
    state = n.state;
    pid = n.pid;
    exited = n.exited;
    port = n.spec.port;
    cluster_enabled = n.spec.cluster_enabled;
    gen = n.generation;
    out->set_node_id(n.spec.node_id);
    out->set_restarts(n.restarts);
    out->set_last_error(n.last_error);
    if (state == RunState::kExited) out->set_exited_at_ms(n.exited_at_ms);
  }
  out->set_port(port);
  out->set_state(ToProto(state));
  out->set_pid(exited ? 0 : pid);
  if (exited || state == RunState::kStopping || state == RunState::kStopped) return;
  std::unique_lock slk(n.status_mu, std::defer_lock);
  if (budget_ms > 0) {
    if (!slk.try_lock_for(milliseconds(budget_ms))) {
      out->set_last_error("status query busy (another status call in progress)");
      return;
    }
  } else {
    slk.lock();
  }
  uint32_t timeout_ms = budget_ms > 0 ? std::min(budget_ms, opts.status_timeout_ms)
                                      : opts.status_timeout_ms;
  if (!n.status_conn) {
    n.status_conn = std::make_unique<RedisConn>(RedisConnOptions{
        .host = opts.advertised_address,
        .port = static_cast<uint16_t>(port),
        .connect_timeout_ms = std::min(opts.redis_connect_timeout_ms, timeout_ms),
        .command_timeout_ms = timeout_ms});
  } else {
    n.status_conn->SetCommandTimeout(timeout_ms);
  }
  auto obs = ObserveRedis(*n.status_conn, cluster_enabled);
  if (!obs.ok() && obs.error().code == Errc::kUnavailable && !n.status_conn->connected()) {
    // Typically a connection to the node's previous process (restart): reconnect once.
    obs = ObserveRedis(*n.status_conn, cluster_enabled);
  }
  if (!obs.ok()) {
    if (state == RunState::kRunning) out->set_last_error(obs.error().message);
    return;
  }
  FillNodeStatus(*obs, out);
  int64_t answered = InfoInt(obs->info, "process_id", -1);
  if (answered != pid) {
    out->set_last_error("port " + std::to_string(port) + " answered by pid " +
                        std::to_string(answered) + ", not the node's pid " + std::to_string(pid));
    return;
  }
  if (!cluster_enabled && (out->role() == "master" || out->role() == "slave")) {
    // Remember the role, so a restart in place comes back as what it was (`replicaof`).
    ReplicaOfTarget seen;
    if (out->role() == "slave") seen = {out->master_host(), out->master_port()};
    std::lock_guard lk(n.mu);
    if (gen == n.generation && !n.exited && !n.removed && !(n.replica_of == seen)) {
      n.replica_of = seen;
      PersistLocked(n, false);
    }
  }
}

Status NodeSupervisor::Impl::LaunchFresh(const std::shared_ptr<ManagedNode>& np,
                                         Clock::time_point deadline, uint32_t ready_timeout_ms,
                                         cachefleet::v1::NodeStatus* out) {
  ManagedNode& n = *np;
  const NodeSpec& spec = n.spec;
  std::unique_lock op(n.op_mu);
  auto t0 = Clock::now();
  bool created_dir = false;
  // Forgets the node after a failed launch; a directory this launch created goes too, an older
  // one (a node stopped without purge) is kept and marked stopped again.
  auto fail = [&](Error e) -> Status {
    registry.Forget(np);
    std::error_code ec;
    if (created_dir) {
      fs::remove_all(n.dir, ec);
    } else if (fs::exists(n.dir, ec)) {
      std::lock_guard lk(n.mu);
      PersistLocked(n, true);
    }
    log->warn("[{}] launch failed: {}", spec.node_id, e.message);
    return e;
  };

  if (!PortFree(opts.advertised_address, spec.port)) {
    return fail(MakeError(Errc::kResourceExhausted,
                          "port " + std::to_string(spec.port) + " on " + opts.advertised_address +
                              " is in use by another process"));
  }
  if (spec.cluster_enabled && !PortFree(opts.advertised_address, spec.port + 10000)) {
    return fail(MakeError(Errc::kResourceExhausted,
                          "cluster bus port " + std::to_string(spec.port + 10000) + " on " +
                              opts.advertised_address + " is in use by another process"));
  }
  std::error_code ec;
  created_dir = !fs::exists(n.dir, ec);
  fs::create_directories(n.dir, ec);
  if (ec) return fail(MakeError(Errc::kIo, "create " + n.dir + ": " + ec.message()));
  {
    std::lock_guard lk(n.mu);
    if (n.stop_requested) return fail(MakeError(Errc::kFailedPrecondition, "node stopped during launch"));
    if (auto s = SpawnLocked(np); !s.ok()) return fail(s.error());
  }

  // Readiness: PING answers, polled every ready_poll_interval_ms.
  int64_t pid;
  {
    std::lock_guard lk(n.mu);
    pid = n.pid;
  }
  while (true) {
    {
      std::lock_guard lk(n.mu);
      if (n.stop_requested) {
        n.launching = false;
        return MakeError(Errc::kFailedPrecondition, "node " + spec.node_id + " stopped during launch");
      }
      if (n.exited) break;  // failed start
    }
    if (shutting_down) {
      std::lock_guard lk(n.mu);
      n.launching = false;
      n.awaiting_ready = true;
      return MakeError(Errc::kUnavailable, "agent is shutting down");
    }
    auto probe = procs.Probe(spec.port, 200);
    if (probe.ok()) {
      if (*probe != pid) {
        // Someone else answers on our port (bound between our probe and redis' bind).
        SignalGroup(pid, SIGKILL);
        procs.WaitExited(np, milliseconds(opts.kill_wait_ms));
        return fail(MakeError(Errc::kResourceExhausted,
                              "port " + std::to_string(spec.port) + " is served by pid " +
                                  std::to_string(*probe) + ", not by the node"));
      }
      std::lock_guard lk(n.mu);
      if (!n.exited) {
        n.launching = false;
        n.state = RunState::kRunning;
        n.cv.notify_all();
        log->info("[{}] running: pid {} port {}{} ({} ms)", spec.node_id, pid, spec.port,
                  spec.cluster_enabled ? " cluster" : "",
                  std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count());
        break;
      }
      continue;
    }
    if (Clock::now() >= deadline) {
      std::lock_guard lk(n.mu);
      n.launching = false;
      n.awaiting_ready = true;  // the monitor keeps polling; a retried LaunchNode waits for it
      monitor_cv.notify_all();
      return MakeError(Errc::kTimeout, "node " + spec.node_id + " (pid " + std::to_string(pid) +
                                           ") did not answer PING within " +
                                           std::to_string(ready_timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(milliseconds(opts.ready_poll_interval_ms));
  }

  bool failed;
  std::string why;
  {
    std::lock_guard lk(n.mu);
    failed = n.exited;
    why = n.last_error;
  }
  if (failed) return fail(LaunchExitError(n, why));
  op.unlock();
  FillStatus(np, out);
  return {};
}

Error NodeSupervisor::Impl::LaunchExitError(const ManagedNode& n, const std::string& why) const {
  // Config errors go to stderr before the log file is open ("*** FATAL CONFIG FILE ERROR",
  // the offending line, the reason); everything else to redis.log.
  std::string err_tail = ReadTail(n.dir + "/stderr.log", 2048);
  std::string tail = err_tail + "\n" + ReadTail(n.dir + "/redis.log", 2048);
  std::string line = err_tail.find("FATAL CONFIG FILE ERROR") != std::string::npos
                         ? SquashLines(err_tail.substr(err_tail.rfind("*** FATAL")))
                         : LastErrorLine(tail);
  Errc code = Errc::kInternal;
  if (tail.find("Address already in use") != std::string::npos) {
    code = Errc::kResourceExhausted;
  } else if (tail.find("FATAL CONFIG FILE ERROR") != std::string::npos ||
             tail.find("Bad directive") != std::string::npos) {
    code = Errc::kInvalidArgument;
  }
  return MakeError(code, "redis-server for " + n.spec.node_id + " " + why +
                             " before answering PING: " + line);
}

Status NodeSupervisor::Impl::WaitExisting(const std::shared_ptr<ManagedNode>& np,
                                          const NodeSpec& spec, Clock::time_point deadline,
                                          uint32_t ready_timeout_ms,
                                          cachefleet::v1::NodeStatus* out, bool* retry) {
  ManagedNode& n = *np;
  *retry = false;
  {
    std::unique_lock lk(n.mu);
    if (!(n.spec == spec)) {
      return MakeError(Errc::kFailedPrecondition,
                       "node " + spec.node_id + " already exists with a different spec (port " +
                           std::to_string(n.spec.port) + "); stop it first");
    }
    while (true) {
      if (n.removed) {
        *retry = true;
        return {};
      }
      if (n.stop_requested) {
        return MakeError(Errc::kFailedPrecondition, "node " + spec.node_id + " is stopping");
      }
      if (n.state == RunState::kRunning) break;
      if (n.state == RunState::kExited) {
        return MakeError(Errc::kFailedPrecondition,
                         "node " + spec.node_id + " is held (NODE_EXITED" +
                             (n.last_error.empty() ? "" : ": " + n.last_error) +
                             "); RestartNode starts it");
      }
      if (shutting_down) return MakeError(Errc::kUnavailable, "agent is shutting down");
      if (Clock::now() >= deadline) {
        return MakeError(Errc::kTimeout, "node " + spec.node_id + " exists but is " +
                                             RunStateName(n.state) + " after " +
                                             std::to_string(ready_timeout_ms) + " ms" +
                                             (n.last_error.empty() ? "" : ": " + n.last_error));
      }
      n.cv.wait_for(lk, milliseconds(opts.ready_poll_interval_ms));
    }
  }
  FillStatus(np, out);
  return {};
}

void NodeSupervisor::Impl::StopForExit(const std::shared_ptr<ManagedNode>& np) {
  ManagedNode& n = *np;
  {
    std::lock_guard lk(n.mu);
    n.stop_requested = true;
    n.state = RunState::kStopping;
    n.cv.notify_all();
  }
  std::lock_guard op(n.op_mu);
  if (auto s = procs.Terminate(np, opts.stop_grace_ms); !s.ok()) {
    log->error("[{}] {}", n.spec.node_id, s.error().message);
    return;
  }
  std::lock_guard lk(n.mu);
  if (IsWarmNodeId(n.spec.node_id)) {
    std::error_code ec;
    fs::remove_all(n.dir, ec);  // the next agent's pool starts fresh ones
    log->info("[{}] stopped and purged (agent exit)", n.spec.node_id);
    return;
  }
  // pid 0, not stopped: the next agent starts it again without counting a restart.
  n.pid = 0;
  PersistLocked(n, false);
  log->info("[{}] stopped (agent exit)", n.spec.node_id);
}

// ---------------------------------------------------------------------------------------------

NodeSupervisor::NodeSupervisor(SupervisorOptions opts)
    : opts_(std::move(opts)), impl_(std::make_unique<Impl>(opts_)) {}

NodeSupervisor::~NodeSupervisor() { Shutdown(ExitPolicy::kLeaveNodesRunning); }

Status NodeSupervisor::Impl::LockDataDir() {
  // Two agents on one data_dir would adopt and restart each other's nodes.
  const std::string lock_path = opts.data_dir + "/agent.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(Errc::kIo, "open " + lock_path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    auto holder = ReadWholeFile(lock_path);
    return MakeError(Errc::kFailedPrecondition,
                     "data_dir " + opts.data_dir + " is in use by another cachefleet-agent (pid " +
                         (holder.ok() ? *holder : std::string("?")) + ")");
  }
  std::string me = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    log->warn("cannot write {}: {}", lock_path, std::strerror(errno));
  }
  lock_fd = fd;
  return {};
}

Status NodeSupervisor::Start() {
  Impl& m = *impl_;
  std::error_code ec;
  fs::create_directories(m.NodesDir(), ec);
  if (ec) return MakeError(Errc::kIo, "cannot create " + m.NodesDir() + ": " + ec.message());
  if (auto s = m.LockDataDir(); !s.ok()) return s;
  m.procs.Start();
  m.started = true;
  m.adopter.AdoptAll(m.NodesDir());
  m.monitor_thread = std::thread([&m] { m.MonitorLoop(); });
  m.pool.Start();
  size_t real = m.registry.Snapshot(NodeRegistry::Include::kRealOnly).size();
  m.log->info("supervising {} node(s) and {} warm pool node(s) from {}; warm pool target {}",
              real, m.registry.Snapshot().size() - real, m.NodesDir(),
              opts_.warm_pool_cluster_nodes);
  return {};
}

void NodeSupervisor::BeginShutdown() { impl_->shutting_down = true; }

void NodeSupervisor::Shutdown(ExitPolicy policy) {
  Impl& m = *impl_;
  if (m.shut_down) return;
  m.shut_down = true;
  m.shutting_down = true;
  if (!m.started) return;
  m.pool.Stop();  // a spawn in progress sees shutting_down
  m.registry.cv.notify_all();
  {
    std::lock_guard lk(m.monitor_mu);
    m.monitor_stop = true;
  }
  m.monitor_cv.notify_all();
  if (m.monitor_thread.joinable()) m.monitor_thread.join();

  auto all = m.registry.Snapshot();
  if (policy == ExitPolicy::kStopNodes) {
    std::vector<std::thread> stoppers;
    for (auto& np : all) stoppers.emplace_back([&m, np] { m.StopForExit(np); });
    for (auto& t : stoppers) t.join();
  } else {
    for (auto& np : all) {
      std::lock_guard lk(np->mu);
      if (np->child && !np->exited) np->child->detach();  // ~child() would SIGKILL it
      if (!np->exited) {
        m.log->info("[{}] left running: pid {}", np->spec.node_id, np->pid);
      }
    }
  }
  m.procs.Stop();
  for (auto& np : all) {
    std::lock_guard lk(np->mu);
    if (np->child && !np->exited) np->child->detach();
    np->child.reset();
    np->restart_timer.reset();
    np->hold_timer.reset();
  }
  {
    std::lock_guard lk(m.registry.mu);
    m.registry.nodes.clear();
  }
  if (m.lock_fd >= 0) {
    ::close(m.lock_fd);  // releases the flock
    m.lock_fd = -1;
  }
}

Status NodeSupervisor::LaunchNode(const NodeSpec& spec, uint32_t ready_timeout_ms,
                                  cachefleet::v1::NodeStatus* out) {
  Impl& m = *impl_;
  if (auto s = m.ValidateRunnable(spec); !s.ok()) return s;
  if (spec.port < opts_.port_range_start || spec.port > opts_.port_range_end) {
    return MakeError(Errc::kInvalidArgument,
                     "port " + std::to_string(spec.port) + " is outside this host's range " +
                         std::to_string(opts_.port_range_start) + "-" +
                         std::to_string(opts_.port_range_end));
  }
  uint32_t timeout_ms = ready_timeout_ms ? ready_timeout_ms : opts_.ready_timeout_ms;
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::shared_ptr<ManagedNode> np, warm;
    bool fresh = false;
    {
      std::unique_lock lk(m.registry.mu);
      // A claim of this id, or a claim/retire of the warm node on this port, is in progress:
      // its outcome decides what this call finds.
      while (true) {
        if (m.shutting_down) return MakeError(Errc::kUnavailable, "agent is shutting down");
        if (!m.registry.ClaimBusyLocked(spec)) break;
        if (Clock::now() >= deadline) {
          return MakeError(Errc::kTimeout, "node " + spec.node_id + " / port " +
                                               std::to_string(spec.port) +
                                               " still busy with a warm pool claim");
        }
        m.registry.cv.wait_for(lk, milliseconds(opts_.ready_poll_interval_ms));
      }
      auto it = m.registry.nodes.find(spec.node_id);
      if (it != m.registry.nodes.end()) {
        np = it->second;
      } else {
        if (opts_.max_nodes > 0 && m.registry.RealNodeCountLocked() >= opts_.max_nodes) {
          return MakeError(Errc::kResourceExhausted,
                           "host runs max_nodes=" + std::to_string(opts_.max_nodes) + " nodes");
        }
        for (const auto& [id, other] : m.registry.nodes) {
          if (other->spec.port != spec.port) continue;
          if (!IsWarmNodeId(id)) {
            return MakeError(Errc::kResourceExhausted,
                             "port " + std::to_string(spec.port) + " is used by node " + id);
          }
          warm = other;
        }
        if (warm) {
          warm->reserved = true;
          m.registry.claiming.insert(spec.node_id);
        } else {
          np = std::make_shared<ManagedNode>(spec, m.NodeDir(spec.node_id));
          np->launching = true;
          m.registry.nodes[spec.node_id] = np;
          fresh = true;
        }
      }
    }
    if (warm) {
      bool cold = false;
      auto s = m.pool.Claim(warm, spec, deadline, out, &cold);
      {
        std::lock_guard lk(m.registry.mu);
        m.registry.claiming.erase(spec.node_id);
        warm->reserved = false;
      }
      m.registry.cv.notify_all();
      m.pool.Kick(true);
      if (!cold) return s;
      continue;  // the warm node was retired: the next round cold-starts on the port
    }
    if (fresh) return m.LaunchFresh(np, deadline, timeout_ms, out);
    bool retry = false;
    auto s = m.WaitExisting(np, spec, deadline, timeout_ms, out, &retry);
    if (!retry) return s;
  }
  return MakeError(Errc::kUnavailable, "node " + spec.node_id + " is being stopped/started; retry");
}

Result<bool> NodeSupervisor::StopNode(const std::string& node_id, bool purge_data,
                                      uint32_t grace_ms) {
  Impl& m = *impl_;
  if (!IsValidNodeId(node_id)) {
    return MakeError(Errc::kInvalidArgument, "bad node_id '" + node_id + "'");
  }
  if (IsWarmNodeId(node_id)) purge_data = true;  // warm pool nodes are disposable
  {
    // A claim of this id in progress: stop what it produces.
    std::unique_lock lk(m.registry.mu);
    auto until = Clock::now() + milliseconds(opts_.ready_timeout_ms);
    while (m.registry.claiming.count(node_id) && !m.shutting_down && Clock::now() < until) {
      m.registry.cv.wait_for(lk, milliseconds(opts_.ready_poll_interval_ms));
    }
  }
  auto np = m.registry.Find(node_id);
  std::error_code ec;
  if (!np) {
    if (purge_data) fs::remove_all(m.NodeDir(node_id), ec);
    return false;
  }
  ManagedNode& n = *np;
  {
    std::lock_guard lk(n.mu);
    // A warm node may have been claimed (renamed) since Find: then `node_id` is gone.
    if (n.spec.node_id != node_id) return false;
    n.stop_requested = true;  // no more restarts; a pending restart timer becomes a no-op
    if (n.state != RunState::kStopped) n.state = RunState::kStopping;
    n.cv.notify_all();
  }
  std::lock_guard op(n.op_mu);
  bool already_removed;
  {
    std::lock_guard lk(n.mu);
    already_removed = n.removed;
  }
  if (!already_removed) {
    uint32_t grace = grace_ms ? grace_ms : opts_.stop_grace_ms;
    if (auto s = m.procs.Terminate(np, grace); !s.ok()) return s.error();
    m.registry.Forget(np);
    n.admin_conn.reset();
    {
      std::lock_guard slk(n.status_mu);
      n.status_conn.reset();
    }
    std::lock_guard lk(n.mu);
    n.state = RunState::kStopped;
    if (!purge_data && fs::exists(n.dir + "/node.json", ec)) m.PersistLocked(n, true);
    m.log->info("[{}] stopped{}", node_id, purge_data ? " and purged" : "");
  }
  if (purge_data) {
    fs::remove_all(n.dir, ec);
    if (ec) return MakeError(Errc::kIo, "remove " + n.dir + ": " + ec.message());
  }
  return true;
}

Status NodeSupervisor::GetNodeStatus(const std::string& node_id, cachefleet::v1::NodeStatus* out) {
  auto np = impl_->registry.Find(node_id);
  if (!np) return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  impl_->FillStatus(np, out);
  return {};
}

void NodeSupervisor::CollectStatuses(std::vector<cachefleet::v1::NodeStatus>* out,
                                     uint32_t budget_ms) {
  auto all = impl_->registry.Snapshot(NodeRegistry::Include::kRealOnly);
  out->assign(all.size(), cachefleet::v1::NodeStatus());
  if (all.size() == 1) {
    impl_->FillStatus(all[0], &(*out)[0], budget_ms);
    return;
  }
  std::vector<std::future<void>> fs;
  fs.reserve(all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    fs.push_back(std::async(std::launch::async, [this, &all, out, i, budget_ms] {
      impl_->FillStatus(all[i], &(*out)[i], budget_ms);
    }));
  }
  for (auto& f : fs) f.get();
}

std::vector<std::string> NodeSupervisor::NodeIds() {
  std::vector<std::string> ids;
  for (auto& np : impl_->registry.Snapshot(NodeRegistry::Include::kRealOnly)) {
    std::lock_guard lk(np->mu);
    ids.push_back(np->spec.node_id);
  }
  return ids;
}

std::vector<uint32_t> NodeSupervisor::WarmClusterPorts() { return impl_->pool.ReadyPorts(); }

Status NodeSupervisor::WithNode(const std::string& node_id,
                                const std::function<Status(const NodeSpec&, RedisConn&)>& fn) {
  auto np = impl_->registry.Find(node_id);
  if (!np) return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  ManagedNode& n = *np;
  std::lock_guard op(n.op_mu);
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != node_id || IsWarmNodeId(node_id)) {
      return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
    }
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, "node " + node_id + " is stopping");
    if (n.state != RunState::kRunning) {
      return MakeError(Errc::kUnavailable, "node " + node_id + " is " + RunStateName(n.state) +
                                               (n.last_error.empty() ? "" : " (" + n.last_error + ")") +
                                               "; retry when it runs");
    }
  }
  return fn(n.spec, impl_->AdminConn(n));
}

void NodeSupervisor::SetExitListener(std::function<void(const std::string&)> fn) {
  impl_->exit_listener = std::move(fn);
}

}  // namespace cf::agent
