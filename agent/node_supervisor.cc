#include "agent/node_supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/args.hpp>
#include <boost/process/async.hpp>
#include <boost/process/child.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/search_path.hpp>

#include "agent/node_admin.h"
#include "agent/node_failover.h"
#include "agent/node_status.h"
#include "agent/redis_conn.h"
#include "cachefleet.pb.h"
#include "common/log.h"

namespace cf::agent {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum class RunState { kStarting, kRunning, kCrashed, kStopping, kStopped, kExited };

// How often the monitor checks whether a claimed node reached cluster_state ok.
constexpr uint32_t kNodeTimeoutCheckMs = 50;

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

// Runs in the child between fork and exec (async-signal-safe calls only): own process group,
// default signal mask and SIGPIPE, stderr appended to a file, every other fd >= 3 close-on-exec
// so redis does not inherit the agent's sockets.
struct ChildSetup : bp::extend::handler {
  const char* stderr_path = nullptr;
  template <class E>
  void on_exec_setup(E&) const {
    ::setpgid(0, 0);
    sigset_t s;
    sigemptyset(&s);
    ::sigprocmask(SIG_SETMASK, &s, nullptr);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &sa, nullptr);
    if (stderr_path) {
      int fd = ::open(stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 2);
        if (fd != 2) ::close(fd);
      }
    }
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3, n = static_cast<int>(::sysconf(_SC_OPEN_MAX)); fd < n; ++fd) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
  }
  // Also from the parent, so a signal to the group right after the spawn cannot miss.
  template <class E>
  void on_success(E& e) const {
    ::setpgid(e.pid, e.pid);
  }
};

// Alive = exists and is not a zombie.
bool ProcessAlive(int64_t pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  auto stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size()) return true;
  char st = (*stat)[paren + 2];
  return st != 'Z' && st != 'X';
}

std::string ProcCmdline(int64_t pid) {
  auto raw = ReadWholeFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!raw.ok()) return {};
  std::string s = *raw;
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

// Is `pid` the redis-server of the node in `dir`? redis chdirs into its `dir`, so the cwd is
// the strongest proof; when /proc/<pid>/cwd is unreadable, fall back to the process title
// ("redis-server 127.0.0.1:30001 [cluster]") or the config path in the command line.
bool LooksLikeNodeProcess(int64_t pid, uint32_t port, const std::string& dir) {
  if (!ProcessAlive(pid)) return false;
  std::string cmd = ProcCmdline(pid);
  if (cmd.find("redis-server") == std::string::npos) return false;
  std::error_code ec;
  auto cwd = fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec);
  if (!ec) return fs::path(dir).lexically_normal() == cwd.lexically_normal();
  if (cmd.find(dir + "/redis.conf") != std::string::npos) return true;
  const std::string needle = ":" + std::to_string(port);
  for (size_t p = cmd.find(needle); p != std::string::npos; p = cmd.find(needle, p + 1)) {
    size_t end = p + needle.size();
    if (end == cmd.size() || !std::isdigit(static_cast<unsigned char>(cmd[end]))) return true;
  }
  return false;
}

// How long ago `pid` started (/proc/<pid>/stat starttime against /proc/uptime); -1 unknown.
int64_t ProcessAgeMs(int64_t pid) {
  auto stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  auto up = ReadWholeFile("/proc/uptime");
  if (!stat.ok() || !up.ok()) return -1;
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream in(stat->substr(paren + 1));
  std::string tok;
  unsigned long long start_ticks = 0;
  for (int field = 3; field <= 22; ++field) {  // field 3 is the state, 22 the start time
    if (!(in >> tok)) return -1;
    if (field == 22) start_ticks = std::strtoull(tok.c_str(), nullptr, 10);
  }
  double uptime_s = std::strtod(up->c_str(), nullptr);
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0 || uptime_s <= 0) return -1;
  double age_ms = (uptime_s - static_cast<double>(start_ticks) / static_cast<double>(hz)) * 1000.0;
  return age_ms < 0 ? 0 : static_cast<int64_t>(age_ms);
}

void SignalGroup(int64_t pid, int sig) {
  if (pid <= 0) return;
  if (::kill(-static_cast<pid_t>(pid), sig) != 0) ::kill(static_cast<pid_t>(pid), sig);
}

bool PortFree(const std::string& address, uint32_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return false;
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as redis does
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
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

std::string DescribeExit(int native_status, const std::error_code& ec) {
  if (ec || native_status < 0) {
    return "exited; status unknown" + (ec ? " (" + ec.message() + ")" : std::string());
  }
  if (WIFSIGNALED(native_status)) {
    int sig = WTERMSIG(native_status);
    const char* name = ::sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  if (WIFEXITED(native_status)) return "exited with code " + std::to_string(WEXITSTATUS(native_status));
  return "exited (status " + std::to_string(native_status) + ")";
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  auto all = ReadWholeFile(path);
  if (!all.ok()) return {};
  std::string s = all->size() > max_bytes ? all->substr(all->size() - max_bytes) : *all;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// "a\n\nb\n" -> "a | b".
std::string SquashLines(const std::string& text) {
  std::string out, line;
  for (char c : text + "\n") {
    if (c == '\n' || c == '\r') {
      if (!line.empty()) out += (out.empty() ? "" : " | ") + line;
      line.clear();
    } else {
      line += c;
    }
  }
  return out;
}

// The interesting line of a log tail: the last one mentioning an error, else the last line.
std::string LastErrorLine(const std::string& tail) {
  std::string best, last;
  size_t pos = 0;
  while (pos < tail.size()) {
    size_t nl = tail.find('\n', pos);
    std::string line = tail.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty()) {
      last = line;
      if (line.find("rror") != std::string::npos || line.find("FATAL") != std::string::npos ||
          line.find("Bad directive") != std::string::npos || line.find("in use") != std::string::npos ||
          line.find("Can't") != std::string::npos) {
        best = line;
      }
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return best.empty() ? last : best;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

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
  std::unique_ptr<bp::child> child;
  std::unique_ptr<asio::steady_timer> restart_timer;
  std::unique_ptr<asio::steady_timer> hold_timer;
};

struct NodeSupervisor::Impl {
  explicit Impl(const SupervisorOptions& o) : opts(o), log(cf::Logger("node")) {}

  const SupervisorOptions& opts;
  std::shared_ptr<spdlog::logger> log;

  asio::io_context io;  // declared before anything holding timers
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread io_thread;
  std::thread monitor_thread;
  std::mutex monitor_mu;
  std::condition_variable monitor_cv;
  bool monitor_stop = false;  // guarded by monitor_mu
  std::atomic<bool> shutting_down{false};
  bool started = false;
  bool shut_down = false;
  int lock_fd = -1;  // flock on <data_dir>/agent.lock: one agent per data_dir

  std::mutex spawn_mu;  // one fork at a time
  std::function<void(const std::string&)> exit_listener;  // set before Start

  std::mutex registry_mu;
  std::condition_variable registry_cv;  // claims/retires finished, nodes forgotten
  std::map<std::string, std::shared_ptr<ManagedNode>> nodes;  // guarded by registry_mu
  std::set<std::string> claiming;  // guarded by registry_mu: ids whose claim is in progress

  // Warm pool thread.
  std::thread pool_thread;
  std::mutex pool_mu;
  std::condition_variable pool_cv;
  bool pool_stop = false;           // guarded by pool_mu
  bool pool_kick = false;           // guarded by pool_mu
  Clock::time_point last_claim;     // guarded by pool_mu
  std::map<uint32_t, Clock::time_point> port_cooldown;  // pool thread only: failed spawns
  uint64_t pool_warnings = 0;       // pool thread only

  std::string NodesDir() const { return opts.data_dir + "/nodes"; }
  std::string NodeDir(const std::string& id) const { return NodesDir() + "/" + id; }

  std::shared_ptr<ManagedNode> Find(const std::string& id) {
    std::lock_guard lk(registry_mu);
    auto it = nodes.find(id);
    return it == nodes.end() ? nullptr : it->second;
  }
  enum class Include { kAll, kRealOnly };
  std::vector<std::shared_ptr<ManagedNode>> Snapshot(Include which = Include::kAll) {
    std::lock_guard lk(registry_mu);
    std::vector<std::shared_ptr<ManagedNode>> out;
    for (auto& [id, n] : nodes) {
      if (which == Include::kAll || !IsWarmNodeId(id)) out.push_back(n);
    }
    return out;
  }
  void Forget(const std::shared_ptr<ManagedNode>& n) {
    {
      std::lock_guard lk(registry_mu);
      auto it = nodes.find(n->spec.node_id);
      if (it != nodes.end() && it->second == n) nodes.erase(it);
    }
    registry_cv.notify_all();
    std::lock_guard lk(n->mu);
    n->removed = true;
    n->cv.notify_all();
  }
  // registry_mu held.
  size_t RealNodeCountLocked() const {
    size_t count = 0;
    for (const auto& [id, n] : nodes) count += IsWarmNodeId(id) ? 0 : 1;
    return count;
  }
  // registry_mu held. A claim of this id, or a claim/retire of the warm node on its port, is
  // in progress.
  bool ClaimBusyLocked(const NodeSpec& spec) const {
    if (claiming.count(spec.node_id)) return true;
    if (nodes.count(spec.node_id)) return false;
    for (const auto& [id, n] : nodes) {
      if (n->spec.port == spec.port && n->reserved) return true;
    }
    return false;
  }
  void KickPool(bool after_claim) {
    {
      std::lock_guard lk(pool_mu);
      pool_kick = true;
      if (after_claim) last_claim = Clock::now();
    }
    pool_cv.notify_all();
  }

  // --- persistence (n.mu held) ---
  void PersistLocked(ManagedNode& n, bool stopped) {
    NodeRecord rec{n.spec, stopped || n.held ? 0 : n.pid, n.restarts, stopped};
    rec.held = n.held && !stopped;
    rec.killed = n.killed && rec.held;
    rec.exited_at_ms = rec.held ? n.exited_at_ms : 0;
    rec.replica_of = n.spec.cluster_enabled ? ReplicaOfTarget{} : n.replica_of;
    if (auto s = WriteFileAtomic(n.dir + "/node.json", NodeRecordToJson(rec)); !s.ok()) {
      log->error("[{}] cannot write node.json: {}", n.spec.node_id, s.error().message);
    }
  }

  // --- probing ---
  // PING (must succeed) + INFO server; returns the process_id that answered.
  Result<int64_t> Probe(uint32_t port, uint32_t timeout_ms) {
    RedisConn c({.host = opts.advertised_address,
                 .port = static_cast<uint16_t>(port),
                 .connect_timeout_ms = timeout_ms,
                 .command_timeout_ms = timeout_ms});
    auto r = c.Pipeline({{"PING"}, {"INFO", "server"}});
    if (!r.ok()) return r.error();
    if (!(*r)[0].ok()) return (*r)[0].error();
    if (!(*r)[1].ok()) return (*r)[1].error();
    return InfoInt(ParseInfo((*r)[1]->str()), "process_id", -1);
  }

  // --- spawning (n.mu held) ---
  Status SpawnLocked(const std::shared_ptr<ManagedNode>& np) {
    ManagedNode& n = *np;
    const std::string conf = n.dir + "/redis.conf";
    if (auto s = WriteFileAtomic(conf, RenderRedisConf(n.spec, n.dir, opts.advertised_address,
                                                       n.replica_of));
        !s.ok()) {
      return s;
    }
    const std::string err_path = n.dir + "/stderr.log";
    uint64_t gen = ++n.generation;
    std::weak_ptr<ManagedNode> weak = np;
    std::vector<std::string> args = {conf, "--daemonize", "no"};
    std::unique_ptr<bp::child> c;
    std::error_code ec;
    try {
      std::lock_guard lk(spawn_mu);
      ChildSetup setup;
      setup.stderr_path = err_path.c_str();
      c = std::make_unique<bp::child>(
          opts.redis_server_path, bp::args(args), bp::std_out > bp::null, bp::std_in < bp::null,
          setup,
          bp::on_exit([this, weak, gen](int, const std::error_code& exit_ec) {
            OnChildExit(weak, gen, exit_ec);
          }),
          io, ec);
    } catch (const std::exception& e) {
      return MakeError(Errc::kInternal, "spawn " + opts.redis_server_path + ": " + e.what());
    }
    if (ec) return MakeError(Errc::kInternal, "spawn " + opts.redis_server_path + ": " + ec.message());
    n.child = std::move(c);
    n.pid = n.child->id();
    n.exited = false;
    n.held = false;
    n.killed = false;
    n.exited_at_ms = 0;
    n.expected_exit = false;
    n.adopted = false;
    n.ping_failures = 0;
    n.started_at = Clock::now();
    n.process_started_at = n.started_at;
    n.pending_node_timeout_ms = 0;  // the rendered redis.conf has the spec's value
    PersistLocked(n, false);
    log->debug("[{}] spawned pid {} on port {}", n.spec.node_id, n.pid, n.spec.port);
    return {};
  }

  // io thread. The exit handler of generation `gen`.
  void OnChildExit(const std::weak_ptr<ManagedNode>& weak, uint64_t gen, const std::error_code& ec) {
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
  void UnexpectedExitLocked(const std::shared_ptr<ManagedNode>& np, const std::string& why) {
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
  void HoldLocked(const std::shared_ptr<ManagedNode>& np, int64_t exited_at_ms = 0) {
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
      n.hold_timer = std::make_unique<asio::steady_timer>(io, milliseconds(std::max<int64_t>(left, 0)));
      n.hold_timer->async_wait([this, weak, gen](const boost::system::error_code& ec) {
        if (!ec) HoldExpired(weak, gen);
      });
    } else {
      n.hold_timer.reset();
    }
  }

  // io thread: hold_max_ms passed without RestartNode.
  void HoldExpired(const std::weak_ptr<ManagedNode>& weak, uint64_t gen) {
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
  void ScheduleRestartLocked(const std::shared_ptr<ManagedNode>& np) {
    ManagedNode& n = *np;
    if (n.restart_pending || n.stop_requested || n.removed || shutting_down) return;
    if (Clock::now() - n.started_at >= milliseconds(opts.restart_backoff_reset_ms)) n.backoff_ms = 0;
    n.backoff_ms = n.backoff_ms == 0 ? opts.restart_backoff_initial_ms
                                     : std::min(n.backoff_ms * 2, opts.restart_backoff_max_ms);
    n.restart_pending = true;
    std::weak_ptr<ManagedNode> weak = np;
    uint64_t gen = n.generation;
    n.restart_timer = std::make_unique<asio::steady_timer>(io, milliseconds(n.backoff_ms));
    n.restart_timer->async_wait([this, weak, gen](const boost::system::error_code& ec) {
      if (!ec) RestartNow(weak, gen);
    });
  }

  // io thread.
  void RestartNow(const std::weak_ptr<ManagedNode>& weak, uint64_t gen) {
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

  // --- monitor thread: adopted liveness + readiness of restarted/adopted nodes ---
  void MonitorLoop() {
    std::unique_lock mlk(monitor_mu);
    while (!monitor_stop) {
      mlk.unlock();
      bool fast = false, adopted = false;
      for (auto& np : Snapshot()) {
        if (MonitorOne(np)) fast = true;
        std::lock_guard lk(np->mu);
        adopted = adopted || (np->adopted && !np->exited);
      }
      mlk.lock();
      monitor_cv.wait_for(mlk, milliseconds(fast ? opts.ready_poll_interval_ms : adopted ? 20 : 50));
    }
  }

  // Returns true when the node wants fast polling (waiting for readiness).
  bool MonitorOne(const std::shared_ptr<ManagedNode>& np) {
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
    auto probe = Probe(port, check_ready ? 50 : 200);
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
  void RestoreNodeTimeout(const std::shared_ptr<ManagedNode>& np, uint64_t gen, uint32_t port,
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

  // --- stopping (n.op_mu held) ---
  // Waits until the current process has exited or `timeout` passes.
  bool WaitExited(const std::shared_ptr<ManagedNode>& np, milliseconds timeout) {
    ManagedNode& n = *np;
    auto deadline = Clock::now() + timeout;
    std::unique_lock lk(n.mu);
    while (!n.exited) {
      if (n.adopted) {
        int64_t pid = n.pid;
        uint64_t gen = n.generation;
        lk.unlock();
        bool alive = ProcessAlive(pid);
        lk.lock();
        if (!alive && gen == n.generation && !n.exited) {
          n.exited = true;
          n.state = RunState::kStopped;
          n.cv.notify_all();
          break;
        }
        if (n.exited) break;
        if (Clock::now() >= deadline) return false;
        n.cv.wait_for(lk, milliseconds(10));
      } else {
        if (n.cv.wait_until(lk, deadline) == std::cv_status::timeout && !n.exited) return false;
      }
    }
    return true;
  }

  Status Terminate(const std::shared_ptr<ManagedNode>& np, uint32_t grace_ms) {
    ManagedNode& n = *np;
    int64_t pid;
    {
      std::lock_guard lk(n.mu);
      if (n.exited) return {};
      pid = n.pid;
    }
    SignalGroup(pid, SIGTERM);
    SignalGroup(pid, SIGCONT);  // a SIGSTOPped node (failover drills) must see the SIGTERM
    if (WaitExited(np, milliseconds(grace_ms))) return {};
    log->warn("[{}] pid {} still running {} ms after SIGTERM; sending SIGKILL", n.spec.node_id, pid,
              grace_ms);
    SignalGroup(pid, SIGKILL);
    if (WaitExited(np, milliseconds(opts.kill_wait_ms))) return {};
    return MakeError(Errc::kTimeout, "node " + n.spec.node_id + ": pid " + std::to_string(pid) +
                                         " did not exit after SIGKILL");
  }

  // --- status ---
  // budget_ms > 0: wait at most that long for the status connection and each Redis reply.
  void FillStatus(const std::shared_ptr<ManagedNode>& np, cachefleet::v1::NodeStatus* out,
                  uint32_t budget_ms = 0) {
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

  // --- launch ---
  Status LaunchFresh(const std::shared_ptr<ManagedNode>& np, Clock::time_point deadline,
                     uint32_t ready_timeout_ms, cachefleet::v1::NodeStatus* out);
  Status WaitExisting(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
                      Clock::time_point deadline, uint32_t ready_timeout_ms,
                      cachefleet::v1::NodeStatus* out, bool* retry);

  // n.op_mu held. Waits until the node (spawned, awaiting readiness) answers PING; an exit
  // before that is kInternal with redis' last words.
  Status WaitRunning(ManagedNode& n, Clock::time_point deadline, uint32_t timeout_ms);

  void Adopt(const std::string& dir);
  void DiscardInterruptedClaim(const NodeRecord& rec, const std::string& dir);
  void StopForExit(const std::shared_ptr<ManagedNode>& np);

  // --- warm pool ---
  NodeSpec WarmSpec(uint32_t port) const {
    NodeSpec s;
    s.node_id = WarmNodeId(port);
    s.port = port;
    s.cluster_enabled = true;
    s.engine_version = opts.installed_version;
    return s;
  }
  // n.op_mu held. Stops the node, forgets it and removes its directory.
  Status RetireLocked(const std::shared_ptr<ManagedNode>& np, const std::string& why);
  // LaunchNode of an unknown id on the port of warm node `np` (reserved by the caller).
  // Claimed: OK and *cold false. *cold true: the warm node is gone (retired here or before),
  // cold-start the id. Errors: shutting down, or a warm node that would not die.
  Status ClaimWarm(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
                   Clock::time_point deadline, cachefleet::v1::NodeStatus* out, bool* cold);
  // n.op_mu held. "" when the warm node is pristine and runs a matching version, else why not.
  std::string CheckPristine(ManagedNode& n, const NodeSpec& spec, int64_t pid);
  // n.op_mu held. "" when every runtime setting of `spec` was applied, else why not. With
  // warm_formation_node_timeout_ms below the spec's cluster-node-timeout, that lower value is
  // applied and the spec's is returned in *pending_node_timeout_ms (else 0).
  std::string ApplyRuntimeConfig(ManagedNode& n, const NodeSpec& spec,
                                 uint32_t* pending_node_timeout_ms);
  void PoolLoop();
  void ReconcilePool();
  bool SpawnWarm(uint32_t port);
  bool RetireWarm(const std::shared_ptr<ManagedNode>& np, const std::string& why);
};

// A warm node that fails this many restarts in a row (and is not running) is replaced.
constexpr uint32_t kWarmMaxRestarts = 3;
constexpr auto kWarmPortCooldown = std::chrono::seconds(10);

Status NodeSupervisor::Impl::RetireLocked(const std::shared_ptr<ManagedNode>& np,
                                          const std::string& why) {
  ManagedNode& n = *np;
  std::string id, dir;
  {
    std::lock_guard lk(n.mu);
    n.stop_requested = true;  // no restarts; a pending restart timer becomes a no-op
    if (n.state != RunState::kStopped) n.state = RunState::kStopping;
    n.cv.notify_all();
    id = n.spec.node_id;
    dir = n.dir;
  }
  if (auto s = Terminate(np, opts.stop_grace_ms); !s.ok()) return s;
  Forget(np);
  n.admin_conn.reset();
  {
    std::lock_guard slk(n.status_mu);
    n.status_conn.reset();
  }
  {
    std::lock_guard lk(n.mu);
    n.state = RunState::kStopped;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) log->warn("[{}] remove {}: {}", id, dir, ec.message());
  log->info("[{}] retired: {}", id, why);
  return {};
}

std::string NodeSupervisor::Impl::CheckPristine(ManagedNode& n, const NodeSpec& spec,
                                                int64_t pid) {
  if (!n.admin_conn) {
    n.admin_conn = std::make_unique<RedisConn>(RedisConnOptions{
        .host = opts.advertised_address,
        .port = static_cast<uint16_t>(n.spec.port),
        .connect_timeout_ms = opts.redis_connect_timeout_ms,
        .command_timeout_ms = opts.redis_command_timeout_ms});
  }
  auto r = n.admin_conn->Pipeline({{"INFO", "server"}, {"DBSIZE"}, {"CLUSTER", "INFO"}});
  if (!r.ok()) return "not answering: " + r.error().message;
  for (const auto& reply : *r) {
    if (!reply.ok()) return reply.error().message;
  }
  InfoMap info = ParseInfo((*r)[0]->str());
  int64_t answered = InfoInt(info, "process_id", -1);
  if (answered != pid) return "port answered by pid " + std::to_string(answered);
  std::string version = InfoString(info, "redis_version");
  if (!EngineVersionMatches(version, spec.engine_version)) {
    return "it runs redis " + version + ", the spec wants " + spec.engine_version;
  }
  if ((*r)[1]->integer() != 0) return "it holds " + std::to_string((*r)[1]->integer()) + " keys";
  InfoMap cluster = ParseInfo((*r)[2]->str());
  int64_t known = InfoInt(cluster, "cluster_known_nodes", -1);
  int64_t slots = InfoInt(cluster, "cluster_slots_assigned", -1);
  if (known != 1 || slots != 0) {
    return "not pristine: knows " + std::to_string(known) + " node(s), " + std::to_string(slots) +
           " slot(s) assigned";
  }
  return {};
}

std::string NodeSupervisor::Impl::ApplyRuntimeConfig(ManagedNode& n, const NodeSpec& spec,
                                                     uint32_t* pending_node_timeout_ms) {
  *pending_node_timeout_ms = 0;
  auto settings = RuntimeConfigSettings(spec);
  if (!settings.ok()) return settings.error().message;
  std::vector<std::string> argv = {"CONFIG", "SET"};
  for (const auto& [k, v] : *settings) {
    argv.push_back(k);
    uint32_t spec_timeout = SpecNodeTimeoutMs(spec);
    if (k == "cluster-node-timeout" && opts.warm_formation_node_timeout_ms > 0 &&
        opts.warm_formation_node_timeout_ms < spec_timeout) {
      argv.push_back(std::to_string(opts.warm_formation_node_timeout_ms));
      *pending_node_timeout_ms = spec_timeout;
    } else {
      argv.push_back(v);
    }
  }
  // One CONFIG SET with every pair is atomic in Redis 7: all applied or none.
  auto r = n.admin_conn->Command(argv);
  if (!r.ok()) return "CONFIG SET failed: " + r.error().message;
  return {};
}

Status NodeSupervisor::Impl::ClaimWarm(const std::shared_ptr<ManagedNode>& np,
                                       const NodeSpec& spec, Clock::time_point deadline,
                                       cachefleet::v1::NodeStatus* out, bool* cold) {
  ManagedNode& n = *np;
  *cold = false;
  auto t0 = Clock::now();
  std::unique_lock op(n.op_mu);
  std::string warm_id, why;  // `why` set: retire the warm node and cold-start the id
  int64_t pid = 0;
  {
    std::unique_lock lk(n.mu);
    if (n.removed) {
      *cold = true;
      return {};
    }
    warm_id = n.spec.node_id;
    // A warm node that is still starting (just spawned or restarted) is worth waiting for.
    while (!n.stop_requested && !n.exited && n.state == RunState::kStarting && !shutting_down &&
           Clock::now() < deadline) {
      n.cv.wait_for(lk, milliseconds(opts.ready_poll_interval_ms));
    }
    if (shutting_down) return MakeError(Errc::kUnavailable, "agent is shutting down");
    if (n.stop_requested) {
      why = "it is being stopped";
    } else if (n.exited || n.state != RunState::kRunning) {
      why = std::string("it is ") + RunStateName(n.state) +
            (n.last_error.empty() ? "" : " (" + n.last_error + ")");
    } else if (!spec.cluster_enabled) {
      why = "the spec has cluster mode off";
    } else {
      n.launching = true;  // from here an exit fails the claim instead of restarting the node
    }
    pid = n.pid;
  }
  const std::string new_dir = NodeDir(spec.node_id);
  std::error_code ec;
  if (why.empty() && fs::exists(new_dir, ec)) {
    why = new_dir + " exists (the data of a node stopped without purge)";
  }
  if (why.empty()) why = CheckPristine(n, spec, pid);
  // Rename before anything changes in the process: a crash of the agent from here on leaves
  // nodes/<id> with a node.json naming the warm node, which the next agent discards; before
  // it, the warm node is untouched. n.dir changes under n.mu + registry_mu (+ op_mu held).
  auto alive_locked = [&] {
    return !n.exited && !n.removed && !n.stop_requested && n.pid == pid;
  };
  if (why.empty()) {
    std::lock_guard lk(n.mu);
    if (!alive_locked()) {
      why = "it exited or was stopped during the claim";
    } else if (fs::rename(n.dir, new_dir, ec); ec) {
      why = "rename " + n.dir + ": " + ec.message();
    } else {
      std::lock_guard rlk(registry_mu);
      n.dir = new_dir;
    }
  }
  uint32_t pending_node_timeout_ms = 0;
  if (why.empty()) why = ApplyRuntimeConfig(n, spec, &pending_node_timeout_ms);
  if (why.empty()) {
    // Commit. n.mu, then registry_mu inside it (the only nesting; see the header).
    std::lock_guard lk(n.mu);
    if (!alive_locked()) {
      why = "it exited or was stopped during the claim";
    } else {
      {
        std::lock_guard rlk(registry_mu);
        auto it = nodes.find(n.spec.node_id);
        if (it != nodes.end() && it->second == np) nodes.erase(it);
        n.spec = spec;
        nodes[spec.node_id] = np;
      }
      n.launching = false;
      n.restarts = 0;
      n.backoff_ms = 0;
      n.ping_failures = 0;
      n.last_error.clear();
      n.pending_node_timeout_ms = pending_node_timeout_ms;
      n.pending_node_timeout_until = Clock::now() + milliseconds(opts.warm_formation_window_ms);
      n.next_node_timeout_check = Clock::now();
      // Same directives a restart will render; the process already has them (CONFIG SET).
      if (auto s = WriteFileAtomic(new_dir + "/redis.conf",
                                   RenderRedisConf(spec, new_dir, opts.advertised_address));
          !s.ok()) {
        log->warn("[{}] {}", spec.node_id, s.error().message);
      }
      PersistLocked(n, false);
    }
  }
  if (!why.empty()) {
    log->info("[{}] warm node {} on port {} not claimed ({}); cold start", spec.node_id, warm_id,
              spec.port, why);
    if (auto s = RetireLocked(np, "replaced by a cold start of " + spec.node_id); !s.ok()) {
      return s;
    }
    *cold = true;
    return {};
  }
  // redis' cwd is the directory inode, so it followed the rename.
  std::error_code cwd_ec;
  if (!fs::equivalent("/proc/" + std::to_string(pid) + "/cwd", new_dir, cwd_ec)) {
    log->error("[{}] pid {} does not run in {} after the rename ({})", spec.node_id, pid, new_dir,
               cwd_ec ? cwd_ec.message() : "other directory");
  }
  log->info("[{}] claimed warm node {} (pid {}, port {}) in {} ms", spec.node_id, warm_id, pid,
            spec.port, std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count());
  op.unlock();
  FillStatus(np, out);
  return {};
}

void NodeSupervisor::Impl::PoolLoop() {
  std::unique_lock lk(pool_mu);
  while (!pool_stop) {
    pool_kick = false;
    lk.unlock();
    try {
      ReconcilePool();
    } catch (const std::exception& e) {
      log->error("warm pool: {}", e.what());
    }
    lk.lock();
    auto wait = milliseconds(opts.warm_pool_interval_ms);
    auto refill_at = last_claim + milliseconds(opts.warm_pool_refill_delay_ms);
    auto now = Clock::now();
    if (refill_at > now) {
      auto until_refill = std::chrono::duration_cast<milliseconds>(refill_at - now);
      wait = std::min(wait, until_refill + milliseconds(1));
    }
    pool_cv.wait_for(lk, wait, [this] { return pool_stop || pool_kick; });
  }
}

void NodeSupervisor::Impl::ReconcilePool() {
  if (shutting_down) return;
  std::vector<std::shared_ptr<ManagedNode>> warm;
  std::set<uint32_t> used_ports;
  size_t real = 0;
  {
    std::lock_guard lk(registry_mu);
    for (auto& [id, np] : nodes) {
      used_ports.insert(np->spec.port);
      if (!IsWarmNodeId(id)) {
        ++real;
      } else if (!np->reserved) {
        warm.push_back(np);
      }
    }
  }
  size_t target = opts.warm_pool_cluster_nodes;
  if (opts.max_nodes > 0) {
    target = std::min<size_t>(target, opts.max_nodes > real ? opts.max_nodes - real : 0);
  }

  // Retire warm nodes outside the range or failing, then the excess (lowest ports first: the
  // orchestrator allocates from the low end).
  std::vector<std::pair<uint32_t, std::shared_ptr<ManagedNode>>> keep;
  for (auto& np : warm) {
    std::string why;
    uint32_t port;
    {
      std::lock_guard lk(np->mu);
      if (np->stop_requested || np->removed) continue;  // being stopped by someone else
      port = np->spec.port;
      if (port < opts.port_range_start || port > opts.port_range_end) {
        why = "port outside the range";
      } else if (np->restarts >= kWarmMaxRestarts && np->state != RunState::kRunning) {
        why = "keeps failing: " + np->last_error;
      }
    }
    if (!why.empty()) {
      RetireWarm(np, why);
    } else {
      keep.emplace_back(port, np);
    }
  }
  std::sort(keep.begin(), keep.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t excess = keep.size() > target ? keep.size() - target : 0;
  for (size_t i = 0; i < excess; ++i) {
    RetireWarm(keep[i].second, "the pool wants " + std::to_string(target) + " node(s)");
  }
  if (keep.size() >= target) return;
  {
    std::lock_guard lk(pool_mu);
    if (Clock::now() < last_claim + milliseconds(opts.warm_pool_refill_delay_ms)) return;
  }
  size_t missing = target - keep.size();
  auto now = Clock::now();
  for (uint32_t port = opts.port_range_end; missing > 0 && port >= opts.port_range_start; --port) {
    if (shutting_down) return;
    if (used_ports.count(port)) continue;
    if (auto cd = port_cooldown.find(port); cd != port_cooldown.end()) {
      if (now < cd->second) continue;
      port_cooldown.erase(cd);
    }
    if (!PortFree(opts.advertised_address, port) ||
        !PortFree(opts.advertised_address, port + 10000)) {
      log->debug("warm pool: port {} or {} is busy", port, port + 10000);
      continue;
    }
    if (SpawnWarm(port)) {
      --missing;
    } else {
      port_cooldown[port] = Clock::now() + kWarmPortCooldown;
    }
  }
  if (missing > 0 && pool_warnings++ % 20 == 0) {
    log->warn("warm pool: {} node(s) short of {}; no free port pair in {}-{}", missing, target,
              opts.port_range_start, opts.port_range_end);
  }
}

bool NodeSupervisor::Impl::SpawnWarm(uint32_t port) {
  NodeSpec spec = WarmSpec(port);
  const std::string dir = NodeDir(spec.node_id);
  auto np = std::make_shared<ManagedNode>(spec, dir);
  np->launching = true;
  {
    std::lock_guard lk(registry_mu);
    if (shutting_down || nodes.count(spec.node_id)) return false;
    for (const auto& [id, other] : nodes) {
      if (other->spec.port == port) return false;
    }
    nodes[spec.node_id] = np;
  }
  // Leftovers of an earlier warm node on this port go: a pool node starts pristine.
  std::error_code ec;
  fs::remove_all(dir, ec);
  cachefleet::v1::NodeStatus status;
  auto s = LaunchFresh(np, Clock::now() + milliseconds(opts.ready_timeout_ms),
                       opts.ready_timeout_ms, &status);
  if (!s.ok()) {
    if (!shutting_down) {
      log->warn("warm pool: cannot start a node on port {}: {}", port, s.error().message);
    }
    return false;
  }
  log->info("[{}] warm pool node ready: pid {} port {}", spec.node_id, status.pid(), port);
  return true;
}

bool NodeSupervisor::Impl::RetireWarm(const std::shared_ptr<ManagedNode>& np,
                                      const std::string& why) {
  {
    std::lock_guard lk(registry_mu);
    auto it = nodes.find(np->spec.node_id);
    if (np->reserved || it == nodes.end() || it->second != np) return false;
    np->reserved = true;  // a LaunchNode on this port waits for the retire, then cold-starts
  }
  Status s;
  {
    std::lock_guard op(np->op_mu);
    s = RetireLocked(np, why);
  }
  {
    std::lock_guard lk(registry_mu);
    np->reserved = false;
  }
  registry_cv.notify_all();
  if (!s.ok()) log->error("warm pool: retire failed: {}", s.error().message);
  return s.ok();
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
    Forget(np);
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
    auto probe = Probe(spec.port, 200);
    if (probe.ok()) {
      if (*probe != pid) {
        // Someone else answers on our port (bound between our probe and redis' bind).
        SignalGroup(pid, SIGKILL);
        WaitExited(np, milliseconds(opts.kill_wait_ms));
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
  if (failed) {
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
    return fail(MakeError(code, "redis-server for " + spec.node_id + " " + why +
                                    " before answering PING: " + line));
  }
  op.unlock();
  FillStatus(np, out);
  return {};
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

void NodeSupervisor::Impl::Adopt(const std::string& dir) {
  std::string id = fs::path(dir).filename().string();
  if (!IsValidNodeId(id)) {
    log->warn("[{}] ignoring directory with an invalid node id: {}", id, dir);
    return;
  }
  auto text = ReadWholeFile(dir + "/node.json");
  if (!text.ok()) {
    log->warn("[{}] no node.json in {}; ignoring the directory", id, dir);
    return;
  }
  auto rec = NodeRecordFromJson(*text);
  if (!rec.ok()) {
    log->warn("[{}] {}; ignoring the directory", id, rec.error().message);
    return;
  }
  if (rec->spec.node_id != id) {
    if (IsWarmNodeId(rec->spec.node_id) && !IsWarmNodeId(id)) {
      DiscardInterruptedClaim(*rec, dir);
      return;
    }
    log->warn("[{}] node.json names node '{}'; ignoring the directory", id, rec->spec.node_id);
    return;
  }
  if (IsWarmNodeId(id) &&
      (rec->stopped || rec->pid <= 0 || !LooksLikeNodeProcess(rec->pid, rec->spec.port, dir))) {
    // A dead warm node is not worth a restart: purge it, the pool starts a fresh one.
    std::error_code ec;
    fs::remove_all(dir, ec);
    log->info("[{}] warm pool node not running (pid {}); purged", id, rec->pid);
    return;
  }
  if (rec->stopped) {
    log->info("[{}] stopped node kept on disk (not started)", id);
    return;
  }
  auto np = std::make_shared<ManagedNode>(rec->spec, dir);
  ManagedNode& n = *np;
  {
    std::lock_guard lk(registry_mu);
    nodes[id] = np;
  }
  std::lock_guard lk(n.mu);
  n.restarts = rec->restarts;
  n.replica_of = rec->replica_of;
  if (rec->held) {
    // Held by the previous agent (hold_on_exit exit or KillNode): still held.
    n.exited = true;
    n.pid = 0;
    n.killed = rec->killed;
    n.last_error = "held since the previous agent (" + std::string(n.killed ? "KillNode" : "exit") +
                   "); waiting for RestartNode";
    HoldLocked(np, rec->exited_at_ms > 0 ? rec->exited_at_ms : WallMs());
    log->info("[{}] held (NODE_EXITED) as the previous agent left it", id);
    return;
  }
  if (rec->pid > 0 && LooksLikeNodeProcess(rec->pid, rec->spec.port, dir)) {
    n.adopted = true;
    n.exited = false;
    n.pid = rec->pid;
    ++n.generation;
    n.started_at = Clock::now();
    int64_t age_ms = ProcessAgeMs(n.pid);
    n.process_started_at = n.started_at - milliseconds(age_ms > 0 ? age_ms : 0);
    n.next_poll = n.started_at + milliseconds(opts.adopted_poll_interval_ms);
    if (n.spec.cluster_enabled && !IsWarmNodeId(id)) {
      // A previous agent may have died while this (claimed) node ran with the formation
      // timeout: set the spec's value again once it reports cluster_state ok.
      n.pending_node_timeout_ms = SpecNodeTimeoutMs(n.spec);
      n.pending_node_timeout_until = n.started_at + milliseconds(opts.warm_formation_window_ms);
    }
    auto probe = Probe(n.spec.port, 200);
    if (probe.ok() && *probe == n.pid) {
      n.state = RunState::kRunning;
      log->info("[{}] adopted running pid {} on port {}", id, n.pid, n.spec.port);
    } else {
      n.state = RunState::kStarting;
      n.awaiting_ready = true;
      n.last_error = "adopted pid " + std::to_string(n.pid) + " does not answer PING yet: " +
                     (probe.ok() ? "answered by pid " + std::to_string(*probe) : probe.error().message);
      log->warn("[{}] {}", id, n.last_error);
    }
    return;
  }
  if (rec->pid > 0 && rec->spec.hold_on_exit) {
    // Died while the agent was away; the orchestrator decides (it may have failed over).
    n.exited = true;
    n.pid = 0;
    n.last_error = "pid " + std::to_string(rec->pid) +
                   " was gone when the agent started; held (hold_on_exit)";
    HoldLocked(np);
    log->warn("[{}] {}", id, n.last_error);
    return;
  }
  if (rec->pid > 0) {
    // The process died while the agent was away: that is an unexpected exit.
    ++n.restarts;
    n.state = RunState::kCrashed;
    n.last_error = "pid " + std::to_string(rec->pid) + " was gone when the agent started";
    log->warn("[{}] {}; restarting", id, n.last_error);
  } else {
    n.state = RunState::kStarting;  // stopped cleanly by the previous agent on its exit
    log->info("[{}] starting node stopped at the previous agent's exit", id);
  }
  if (auto s = SpawnLocked(np); !s.ok()) {
    n.last_error = "start failed: " + s.error().message;
    log->warn("[{}] {}", id, n.last_error);
    n.exited = true;
    ScheduleRestartLocked(np);
    return;
  }
  n.awaiting_ready = true;
}

// The agent died between the rename of a claimed warm node's directory and its node.json: the
// LaunchNode never answered, so nobody uses the process. Kill it and purge the directory; the
// orchestrator's retried LaunchNode cold-starts the node.
void NodeSupervisor::Impl::DiscardInterruptedClaim(const NodeRecord& rec, const std::string& dir) {
  std::string id = fs::path(dir).filename().string();
  log->warn("[{}] interrupted claim of warm node {} (pid {}); discarding it", id,
            rec.spec.node_id, rec.pid);
  if (rec.pid > 0 && LooksLikeNodeProcess(rec.pid, rec.spec.port, dir)) {
    SignalGroup(rec.pid, SIGKILL);
    auto until = Clock::now() + milliseconds(opts.kill_wait_ms);
    while (ProcessAlive(rec.pid) && Clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) log->warn("[{}] remove {}: {}", id, dir, ec.message());
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
  if (auto s = Terminate(np, opts.stop_grace_ms); !s.ok()) {
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

Status NodeSupervisor::Start() {
  Impl& m = *impl_;
  std::error_code ec;
  fs::create_directories(m.NodesDir(), ec);
  if (ec) return MakeError(Errc::kIo, "cannot create " + m.NodesDir() + ": " + ec.message());
  // Two agents on one data_dir would adopt and restart each other's nodes.
  const std::string lock_path = opts_.data_dir + "/agent.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(Errc::kIo, "open " + lock_path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    auto holder = ReadWholeFile(lock_path);
    return MakeError(Errc::kFailedPrecondition,
                     "data_dir " + opts_.data_dir + " is in use by another cachefleet-agent (pid " +
                         (holder.ok() ? *holder : std::string("?")) + ")");
  }
  std::string me = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    m.log->warn("cannot write {}: {}", lock_path, std::strerror(errno));
  }
  m.lock_fd = fd;
  m.work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      m.io.get_executor());
  m.io_thread = std::thread([&m] {
    while (true) {
      try {
        m.io.run();
        return;
      } catch (const std::exception& e) {
        m.log->error("io thread: {}", e.what());
      }
    }
  });
  m.started = true;
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(m.NodesDir(), ec)) {
    if (e.is_directory()) dirs.push_back(e.path().string());
  }
  for (const auto& d : dirs) m.Adopt(d);
  m.monitor_thread = std::thread([&m] { m.MonitorLoop(); });
  m.pool_thread = std::thread([&m] { m.PoolLoop(); });
  m.log->info("supervising {} node(s) and {} warm pool node(s) from {}; warm pool target {}",
              m.Snapshot(Impl::Include::kRealOnly).size(),
              m.Snapshot().size() - m.Snapshot(Impl::Include::kRealOnly).size(), m.NodesDir(),
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
  {
    std::lock_guard lk(m.pool_mu);
    m.pool_stop = true;
  }
  m.pool_cv.notify_all();
  if (m.pool_thread.joinable()) m.pool_thread.join();  // a spawn in progress sees shutting_down
  m.registry_cv.notify_all();
  {
    std::lock_guard lk(m.monitor_mu);
    m.monitor_stop = true;
  }
  m.monitor_cv.notify_all();
  if (m.monitor_thread.joinable()) m.monitor_thread.join();

  auto all = m.Snapshot();
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
  m.work.reset();
  m.io.stop();
  if (m.io_thread.joinable()) m.io_thread.join();
  for (auto& np : all) {
    std::lock_guard lk(np->mu);
    if (np->child && !np->exited) np->child->detach();
    np->child.reset();
    np->restart_timer.reset();
    np->hold_timer.reset();
  }
  {
    std::lock_guard lk(m.registry_mu);
    m.nodes.clear();
  }
  if (m.lock_fd >= 0) {
    ::close(m.lock_fd);  // releases the flock
    m.lock_fd = -1;
  }
}

Status NodeSupervisor::LaunchNode(const NodeSpec& spec, uint32_t ready_timeout_ms,
                                  cachefleet::v1::NodeStatus* out) {
  Impl& m = *impl_;
  if (auto s = ValidateNodeSpec(spec); !s.ok()) return s;
  if (!EngineVersionMatches(opts_.installed_version, spec.engine_version)) {
    return MakeError(Errc::kInvalidArgument, "engine_version '" + spec.engine_version +
                                                 "' is not installed on this host (it has " +
                                                 opts_.installed_version + ")");
  }
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
      std::unique_lock lk(m.registry_mu);
      // A claim of this id, or a claim/retire of the warm node on this port, is in progress:
      // its outcome decides what this call finds.
      while (true) {
        if (m.shutting_down) return MakeError(Errc::kUnavailable, "agent is shutting down");
        if (!m.ClaimBusyLocked(spec)) break;
        if (Clock::now() >= deadline) {
          return MakeError(Errc::kTimeout, "node " + spec.node_id + " / port " +
                                               std::to_string(spec.port) +
                                               " still busy with a warm pool claim");
        }
        m.registry_cv.wait_for(lk, milliseconds(opts_.ready_poll_interval_ms));
      }
      auto it = m.nodes.find(spec.node_id);
      if (it != m.nodes.end()) {
        np = it->second;
      } else {
        if (opts_.max_nodes > 0 && m.RealNodeCountLocked() >= opts_.max_nodes) {
          return MakeError(Errc::kResourceExhausted,
                           "host runs max_nodes=" + std::to_string(opts_.max_nodes) + " nodes");
        }
        for (const auto& [id, other] : m.nodes) {
          if (other->spec.port != spec.port) continue;
          if (!IsWarmNodeId(id)) {
            return MakeError(Errc::kResourceExhausted,
                             "port " + std::to_string(spec.port) + " is used by node " + id);
          }
          warm = other;
        }
        if (warm) {
          warm->reserved = true;
          m.claiming.insert(spec.node_id);
        } else {
          np = std::make_shared<ManagedNode>(spec, m.NodeDir(spec.node_id));
          np->launching = true;
          m.nodes[spec.node_id] = np;
          fresh = true;
        }
      }
    }
    if (warm) {
      bool cold = false;
      auto s = m.ClaimWarm(warm, spec, deadline, out, &cold);
      {
        std::lock_guard lk(m.registry_mu);
        m.claiming.erase(spec.node_id);
        warm->reserved = false;
      }
      m.registry_cv.notify_all();
      m.KickPool(true);
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
    std::unique_lock lk(m.registry_mu);
    auto until = Clock::now() + milliseconds(opts_.ready_timeout_ms);
    while (m.claiming.count(node_id) && !m.shutting_down && Clock::now() < until) {
      m.registry_cv.wait_for(lk, milliseconds(opts_.ready_poll_interval_ms));
    }
  }
  auto np = m.Find(node_id);
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
    if (auto s = m.Terminate(np, grace); !s.ok()) return s.error();
    m.Forget(np);
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
  auto np = impl_->Find(node_id);
  if (!np) return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  impl_->FillStatus(np, out);
  return {};
}

void NodeSupervisor::CollectStatuses(std::vector<cachefleet::v1::NodeStatus>* out,
                                     uint32_t budget_ms) {
  auto all = impl_->Snapshot(Impl::Include::kRealOnly);
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
  for (auto& np : impl_->Snapshot(Impl::Include::kRealOnly)) {
    std::lock_guard lk(np->mu);
    ids.push_back(np->spec.node_id);
  }
  return ids;
}

std::vector<uint32_t> NodeSupervisor::WarmClusterPorts() {
  Impl& m = *impl_;
  std::vector<std::shared_ptr<ManagedNode>> warm;
  {
    std::lock_guard lk(m.registry_mu);
    for (auto& [id, np] : m.nodes) {
      if (IsWarmNodeId(id) && !np->reserved) warm.push_back(np);
    }
  }
  std::vector<uint32_t> ports;
  auto now = Clock::now();
  for (auto& np : warm) {
    std::lock_guard lk(np->mu);
    if (!IsWarmNodeId(np->spec.node_id) || np->removed || np->stop_requested || np->exited ||
        np->state != RunState::kRunning ||
        now - np->process_started_at < milliseconds(opts_.warm_min_age_ms)) {
      continue;
    }
    ports.push_back(np->spec.port);
  }
  std::sort(ports.begin(), ports.end());
  return ports;
}

Status NodeSupervisor::WithNode(const std::string& node_id,
                                const std::function<Status(const NodeSpec&, RedisConn&)>& fn) {
  auto np = impl_->Find(node_id);
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
  if (!n.admin_conn) {
    n.admin_conn = std::make_unique<RedisConn>(RedisConnOptions{
        .host = opts_.advertised_address,
        .port = static_cast<uint16_t>(n.spec.port),
        .connect_timeout_ms = opts_.redis_connect_timeout_ms,
        .command_timeout_ms = opts_.redis_command_timeout_ms});
  }
  return fn(n.spec, *n.admin_conn);
}


// ---------------------------------------------------------------------------------------------
// Failover primitives and settings.

void NodeSupervisor::SetExitListener(std::function<void(const std::string&)> fn) {
  impl_->exit_listener = std::move(fn);
}

namespace {

// What redis printed last (stderr before the log was open, then redis.log).
std::string ExitReason(const std::string& dir) {
  std::string err_tail = ReadTail(dir + "/stderr.log", 2048);
  if (size_t p = err_tail.rfind("*** FATAL CONFIG FILE ERROR"); p != std::string::npos) {
    return SquashLines(err_tail.substr(p));  // the offending line and the reason
  }
  return LastErrorLine(err_tail + "\n" + ReadTail(dir + "/redis.log", 2048));
}

}  // namespace


Status NodeSupervisor::KillNode(const std::string& node_id, cachefleet::v1::NodeStatus* out) {
  Impl& m = *impl_;
  auto np = m.Find(node_id);
  if (!np || IsWarmNodeId(node_id)) {
    return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  }
  ManagedNode& n = *np;
  std::unique_lock op(n.op_mu);
  int64_t pid = 0;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != node_id) {
      return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
    }
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, "node " + node_id + " is stopping");
    if (n.launching) {
      return MakeError(Errc::kFailedPrecondition, "node " + node_id + " is being launched; retry");
    }
    n.killed = true;
    if (n.exited) {
      // Already down (held, or crashed waiting for its restart): hold it, no restart.
      if (n.state != RunState::kExited) n.last_error = "killed (KillNode) while " + std::string(RunStateName(n.state));
      m.HoldLocked(np);
    } else {
      pid = n.pid;
    }
  }
  if (pid > 0) {
    SignalGroup(pid, SIGKILL);
    if (!m.WaitExited(np, milliseconds(opts_.kill_wait_ms))) {
      return MakeError(Errc::kTimeout, "node " + node_id + ": pid " + std::to_string(pid) +
                                           " did not exit after SIGKILL");
    }
    std::lock_guard lk(n.mu);
    if (!n.held) {  // adopted nodes: WaitExited saw the pid gone
      n.last_error = "pid " + std::to_string(pid) + " killed by KillNode";
      m.HoldLocked(np);
    }
    m.log->info("[{}] pid {} killed (KillNode); held", node_id, pid);
  }
  n.admin_conn.reset();
  op.unlock();
  m.FillStatus(np, out);
  return {};
}

Status NodeSupervisor::RestartNode(const std::string& node_id, const PeerRef& replica_of,
                                   uint32_t ready_timeout_ms, cachefleet::v1::NodeStatus* out) {
  Impl& m = *impl_;
  auto np = m.Find(node_id);
  if (!np || IsWarmNodeId(node_id)) {
    return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  }
  ManagedNode& n = *np;
  uint32_t timeout_ms = ready_timeout_ms ? ready_timeout_ms : opts_.ready_timeout_ms;
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  std::unique_lock op(n.op_mu);
  NodeSpec spec;
  bool spawned = false;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != node_id) {
      return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
    }
    spec = n.spec;
    const std::string what = "RestartNode " + node_id + ": ";
    if (!replica_of.empty()) {
      if (spec.cluster_enabled && replica_of.cluster_node_id.empty()) {
        return MakeError(Errc::kInvalidArgument, what + "replica_of.cluster_node_id is required in cluster mode");
      }
      if (!spec.cluster_enabled &&
          (NormalizeIp(replica_of.ip).empty() || replica_of.port == 0 || replica_of.port > 65535)) {
        return MakeError(Errc::kInvalidArgument, what + "replica_of needs an IP and a port");
      }
      if (!spec.cluster_enabled && replica_of.port == spec.port &&
          NormalizeIp(replica_of.ip) == NormalizeIp(opts_.advertised_address)) {
        return MakeError(Errc::kInvalidArgument, what + "a node cannot replicate itself");
      }
    }
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, what + "the node is stopping");
    if (n.launching) return MakeError(Errc::kFailedPrecondition, what + "the node is being launched");
    if (n.exited) {
      // Held, or crashed and waiting for its backoff restart: start it now.
      if (!spec.cluster_enabled && !replica_of.empty()) {
        n.replica_of = {NormalizeIp(replica_of.ip), replica_of.port};
      }
      RunState before = n.state;
      n.hold_timer.reset();
      n.state = RunState::kStarting;
      if (auto s = m.SpawnLocked(np); !s.ok()) {
        if (before == RunState::kExited) {
          m.HoldLocked(np);
        } else {
          n.state = before;
        }
        return MakeError(s.error().code, what + s.error().message);
      }
      n.awaiting_ready = true;
      n.last_error.clear();
      spawned = true;
      m.log->info("[{}] restarted as pid {} (RestartNode{})", node_id, n.pid,
                  replica_of.empty() ? ", in place"
                                     : ", replica of " + (spec.cluster_enabled
                                                              ? replica_of.cluster_node_id
                                                              : replica_of.ip + ":" +
                                                                    std::to_string(replica_of.port)));
    }
  }
  if (spawned) m.monitor_cv.notify_all();
  if (auto s = m.WaitRunning(n, deadline, timeout_ms); !s.ok()) return s;
  if (!replica_of.empty()) {
    if (!n.admin_conn) {
      n.admin_conn = std::make_unique<RedisConn>(RedisConnOptions{
          .host = opts_.advertised_address,
          .port = static_cast<uint16_t>(spec.port),
          .connect_timeout_ms = opts_.redis_connect_timeout_ms,
          .command_timeout_ms = opts_.redis_command_timeout_ms});
    }
    RedisConn& c = *n.admin_conn;
    Status s;
    if (spec.cluster_enabled) {
      s = FollowClusterMaster(c, spec, replica_of.cluster_node_id, deadline,
                              opts_.ready_poll_interval_ms);
    } else if (ArmDeadline(c, deadline)) {
      // Spawned: redis.conf already says replicaof (a no-op here); running: repoint it.
      s = AdminReplicaOf(c, spec, NormalizeIp(replica_of.ip), replica_of.port);
      if (s.ok()) {
        std::lock_guard lk(n.mu);
        n.replica_of = {NormalizeIp(replica_of.ip), replica_of.port};
        m.PersistLocked(n, false);
      }
    } else {
      s = MakeError(Errc::kTimeout, "RestartNode " + node_id + ": deadline passed");
    }
    c.SetCommandTimeout(opts_.redis_command_timeout_ms);
    if (!s.ok()) return s;
  }
  op.unlock();
  m.FillStatus(np, out);
  return {};
}

Status NodeSupervisor::Impl::WaitRunning(ManagedNode& n, Clock::time_point deadline,
                                         uint32_t timeout_ms) {
  Impl& m = *this;
  std::unique_lock lk(n.mu);
  while (true) {
    if (n.removed) return MakeError(Errc::kFailedPrecondition, "node " + n.spec.node_id + " was stopped");
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, "node " + n.spec.node_id + " is stopping");
    if (n.state == RunState::kRunning && !n.exited) return {};
    if (n.exited && !n.awaiting_ready &&
        (n.state == RunState::kExited || n.state == RunState::kCrashed)) {
      std::string why = n.last_error;
      std::string dir = n.dir;
      lk.unlock();
      return MakeError(Errc::kInternal, "redis-server for " + n.spec.node_id + " " + why +
                                            " before answering PING: " + ExitReason(dir));
    }
    if (m.shutting_down) return MakeError(Errc::kUnavailable, "agent is shutting down");
    if (Clock::now() >= deadline) {
      return MakeError(Errc::kTimeout, "node " + n.spec.node_id + " is " + RunStateName(n.state) +
                                           " after " + std::to_string(timeout_ms) + " ms" +
                                           (n.last_error.empty() ? "" : ": " + n.last_error));
    }
    n.cv.wait_for(lk, milliseconds(m.opts.ready_poll_interval_ms));
  }
}

Status NodeSupervisor::Failover(const std::string& node_id, PromoteMode mode, uint32_t timeout_ms,
                                uint32_t force_timeout_ms, cachefleet::v1::NodeStatus* out,
                                std::string* method, uint32_t* elapsed_ms) {
  auto t0 = Clock::now();
  PromoteOptions o;
  o.mode = mode;
  o.deadline = t0 + milliseconds(timeout_ms ? timeout_ms : 5000);
  o.force_timeout_ms = force_timeout_ms ? force_timeout_ms : 1000;
  o.poll_ms = opts_.ready_poll_interval_ms;
  o.self_ip = opts_.advertised_address;
  o.connect_timeout_ms = opts_.redis_connect_timeout_ms;
  std::string used;
  auto s = WithNode(node_id, [&](const NodeSpec& spec, RedisConn& c) -> Status {
    auto r = PromoteReplica(c, spec, o);
    c.SetCommandTimeout(opts_.redis_command_timeout_ms);
    if (!r.ok()) return r.error();
    used = *r;
    return {};
  });
  if (!s.ok()) return s;
  *method = used;
  *elapsed_ms = static_cast<uint32_t>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count());
  impl_->log->info("[{}] promoted to primary by {} in {} ms", node_id, used, *elapsed_ms);
  return GetNodeStatus(node_id, out);  // also records the new role (cluster mode off)
}

Status NodeSupervisor::ReconfigureNode(const NodeSpec& spec, bool restart,
                                       uint32_t ready_timeout_ms,
                                       cachefleet::v1::NodeStatus* out, bool force_restart,
                                       const std::set<std::string>& static_keys) {
  Impl& m = *impl_;
  if (auto s = ValidateNodeSpec(spec); !s.ok()) return s;
  if (!EngineVersionMatches(opts_.installed_version, spec.engine_version)) {
    return MakeError(Errc::kInvalidArgument, "engine_version '" + spec.engine_version +
                                                 "' is not installed on this host (it has " +
                                                 opts_.installed_version + ")");
  }
  const std::string& id = spec.node_id;
  const std::string what = "ReconfigureNode " + id + ": ";
  auto np = m.Find(id);
  if (!np) return MakeError(Errc::kNotFound, "no node '" + id + "' on this host");
  ManagedNode& n = *np;
  uint32_t timeout_ms = ready_timeout_ms ? ready_timeout_ms : opts_.ready_timeout_ms;
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  std::unique_lock op(n.op_mu);
  NodeSpec old;
  RunState state;
  bool exited;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != id) return MakeError(Errc::kNotFound, "no node '" + id + "' on this host");
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, what + "the node is stopping");
    if (n.launching) return MakeError(Errc::kFailedPrecondition, what + "the node is being launched");
    old = n.spec;
    state = n.state;
    exited = n.exited;
  }
  if (spec.port != old.port) return MakeError(Errc::kInvalidArgument, what + "port cannot change");
  if (spec.group_id != old.group_id) return MakeError(Errc::kInvalidArgument, what + "group_id cannot change");
  if (spec.cluster_enabled != old.cluster_enabled) {
    return MakeError(Errc::kInvalidArgument, what + "cluster_enabled cannot change");
  }
  // n.op_mu held; takes mu, then registry_mu (the spec's three locks).
  auto commit = [&](const NodeSpec& to) {
    std::lock_guard lk(n.mu);
    {
      std::lock_guard rlk(m.registry_mu);
      n.spec = to;
    }
    if (n.pending_node_timeout_ms) n.pending_node_timeout_ms = SpecNodeTimeoutMs(to);
    if (auto s = WriteFileAtomic(n.dir + "/redis.conf",
                                 RenderRedisConf(to, n.dir, opts_.advertised_address, n.replica_of));
        !s.ok()) {
      m.log->warn("[{}] {}", id, s.error().message);
    }
    m.PersistLocked(n, false);
  };
  if (spec == old && !(restart && force_restart)) {
    op.unlock();
    m.FillStatus(np, out);
    return {};
  }
  if (exited) {
    // No process (held or crashed): the next start uses the new spec.
    commit(spec);
    m.log->info("[{}] spec replaced while the node is down", id);
    op.unlock();
    m.FillStatus(np, out);
    return {};
  }
  if (state != RunState::kRunning) {
    return MakeError(Errc::kUnavailable, what + "the node is " + RunStateName(state) + "; retry");
  }
  if (!n.admin_conn) {
    n.admin_conn = std::make_unique<RedisConn>(RedisConnOptions{
        .host = opts_.advertised_address,
        .port = static_cast<uint16_t>(spec.port),
        .connect_timeout_ms = opts_.redis_connect_timeout_ms,
        .command_timeout_ms = opts_.redis_command_timeout_ms});
  }
  RedisConn& c = *n.admin_conn;
  if (!restart) {
    // Static keys only go to the spec (the next start takes them); the rest is CONFIG SET.
    auto runtime_part = [&](NodeSpec s) {
      for (const auto& k : static_keys) s.config.erase(k);
      return s;
    };
    auto news = RuntimeConfigSettings(runtime_part(spec));
    if (!news.ok()) return MakeError(Errc::kFailedPrecondition, what + news.error().message + " (use restart=true)");
    std::map<std::string, std::string> oldm;
    if (auto olds = RuntimeConfigSettings(runtime_part(old)); olds.ok()) oldm.insert(olds->begin(), olds->end());
    std::map<std::string, std::string> newm(news->begin(), news->end());
    for (const auto& [k, v] : old.config) {
      if (!newm.count(k) && !static_keys.count(k)) {
        return MakeError(Errc::kFailedPrecondition,
                         what + "config '" + k + "' is removed; its default is not known at runtime: "
                                "send the default value, or use restart=true");
      }
    }
    std::vector<std::string> argv = {"CONFIG", "SET"};
    std::string keys;
    for (const auto& [k, v] : newm) {
      auto it = oldm.find(k);
      if (it != oldm.end() && it->second == v) continue;
      argv.push_back(k);
      argv.push_back(v);
      keys += (keys.empty() ? "" : ", ") + k;
    }
    if (argv.size() > 2) {
      // One CONFIG SET with every pair: Redis 7 applies all of them or none (it reverts the
      // ones already applied when a later one fails).
      ArmDeadline(c, deadline, opts_.redis_command_timeout_ms);
      auto r = c.Command(argv);
      c.SetCommandTimeout(opts_.redis_command_timeout_ms);
      if (!r.ok()) {
        Error e = r.error();
        if (e.code == Errc::kFailedPrecondition) e.code = Errc::kInvalidArgument;  // Redis refused
        return MakeError(e.code, what + "CONFIG SET " + keys + " refused; nothing changed: " + e.message);
      }
      m.log->info("[{}] CONFIG SET {}", id, keys);
    }
    commit(spec);
    op.unlock();
    m.FillStatus(np, out);
    return {};
  }
  // restart = true: keep the data through an RDB snapshot (persistence is off by default), stop,
  // start with the new spec (same directory, so nodes.conf and the snapshot are kept).
  const std::string rdb = n.dir + "/dump.rdb";
  bool own_snapshot = !spec.config.count("save") && !spec.config.count("dbfilename") &&
                      !spec.config.count("appendonly") && !old.config.count("save") &&
                      !old.config.count("dbfilename") && !old.config.count("appendonly");
  c.SetCommandTimeout(std::max(timeout_ms, opts_.redis_command_timeout_ms));
  auto saved = c.Command({"SAVE"});
  c.SetCommandTimeout(opts_.redis_command_timeout_ms);
  if (!saved.ok()) {
    return MakeError(saved.error().code, what + "SAVE before the restart failed; nothing changed: " +
                                             saved.error().message);
  }
  {
    std::lock_guard lk(n.mu);
    n.expected_exit = true;
  }
  if (auto s = m.Terminate(np, opts_.stop_grace_ms); !s.ok()) {
    std::lock_guard lk(n.mu);
    n.expected_exit = false;
    return s;
  }
  n.admin_conn.reset();
  // Starts the process from `to`; an exit before it answers PING is reported, not restarted.
  auto start = [&](const NodeSpec& to) -> Status {
    commit(to);
    {
      std::lock_guard lk(n.mu);
      n.state = RunState::kStarting;
      n.trial_start = true;
      if (auto s = m.SpawnLocked(np); !s.ok()) {
        n.trial_start = false;
        m.UnexpectedExitLocked(np, "restart with the new spec failed: " + s.error().message);
        return MakeError(s.error().code, what + n.last_error);
      }
      n.awaiting_ready = true;
    }
    m.monitor_cv.notify_all();
    auto s = m.WaitRunning(n, deadline, timeout_ms);
    std::lock_guard lk(n.mu);
    n.trial_start = false;
    if (!s.ok() && n.exited && n.state == RunState::kCrashed && !n.stop_requested && !n.removed) {
      return s;  // exited before ready: the caller decides (roll back)
    }
    if (!s.ok() && n.exited && !n.stop_requested && !n.removed) {
      m.UnexpectedExitLocked(np, n.last_error);
    }
    return s;
  };
  m.log->info("[{}] restarting with the new spec (ReconfigureNode)", id);
  auto s = start(spec);
  if (!s.ok() && s.error().code == Errc::kInternal) {
    // Redis refused the new spec (e.g. a bad static parameter): back to the old one, so the
    // node does not crash-loop on a spec nobody can run; nothing changes.
    m.log->warn("[{}] new spec refused ({}); restarting with the previous spec", id, s.error().message);
    auto back = start(old);
    if (!back.ok()) {
      std::lock_guard lk(n.mu);
      if (n.exited && n.state == RunState::kCrashed) m.UnexpectedExitLocked(np, n.last_error);
    }
    if (own_snapshot) {
      std::error_code ec;
      fs::remove(rdb, ec);
    }
    return MakeError(Errc::kInvalidArgument,
                     what + "redis-server refused the new spec; " +
                         (back.ok() ? "restarted with the previous spec" : "the previous spec failed too: " + back.error().message) +
                         ": " + s.error().message);
  }
  if (own_snapshot) {
    std::error_code ec;
    fs::remove(rdb, ec);  // loaded; a later crash restart must not resurrect this snapshot
  }
  if (!s.ok()) return s;
  op.unlock();
  m.FillStatus(np, out);
  return {};
}

// ---------------------------------------------------------------------------------------------

Result<std::string> ResolveExecutable(const std::string& redis_server) {
  std::string path = redis_server;
  if (redis_server.find('/') == std::string::npos) {
    auto found = bp::search_path(redis_server);
    if (found.empty()) {
      return MakeError(Errc::kNotFound, "redis_server '" + redis_server + "' not found on PATH");
    }
    path = found.string();
  }
  std::error_code ec;
  path = fs::absolute(path, ec).string();
  if (::access(path.c_str(), X_OK) != 0) {
    return MakeError(Errc::kNotFound, "redis_server '" + path + "' is not an executable file");
  }
  return path;
}

Result<std::string> DetectRedisVersion(const std::string& exe) {
  std::string output;
  try {
    bp::ipstream out;
    std::error_code ec;
    bp::child c(exe, "--version", bp::std_out > out, bp::std_err > bp::null, bp::std_in < bp::null,
                ChildSetup{}, ec);
    if (ec) return MakeError(Errc::kInternal, "run " + exe + " --version: " + ec.message());
    std::string line;
    while (std::getline(out, line)) output += line + "\n";
    c.wait(ec);
  } catch (const std::exception& e) {
    return MakeError(Errc::kInternal, "run " + exe + " --version: " + e.what());
  }
  return ParseRedisServerVersion(output);
}

}  // namespace cf::agent
