#include "agent/nodes/node_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include <boost/process/args.hpp>
#include <boost/process/async.hpp>
#include <boost/process/child.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/search_path.hpp>

#include "agent/redis/redis_text.h"

namespace cf::agent {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

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

std::string ProcCmdline(int64_t pid) {
  auto raw = ReadWholeFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!raw.ok()) return {};
  std::string s = *raw;
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

}  // namespace

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

std::string ExitReason(const std::string& dir) {
  std::string err_tail = ReadTail(dir + "/stderr.log", 2048);
  if (size_t p = err_tail.rfind("*** FATAL CONFIG FILE ERROR"); p != std::string::npos) {
    return SquashLines(err_tail.substr(p));  // the offending line and the reason
  }
  return LastErrorLine(err_tail + "\n" + ReadTail(dir + "/redis.log", 2048));
}

// ---------------------------------------------------------------------------------------------

NodeProcesses::NodeProcesses(const SupervisorOptions& opts, ExitHandler on_exit)
    : opts_(opts), on_exit_(std::move(on_exit)), log_(cf::Logger("node")) {}

void NodeProcesses::Start() {
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      io_.get_executor());
  io_thread_ = std::thread([this] {
    while (true) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        log_->error("io thread: {}", e.what());
      }
    }
  });
}

void NodeProcesses::Stop() {
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

Status NodeProcesses::SpawnLocked(const std::shared_ptr<ManagedNode>& np) {
  ManagedNode& n = *np;
  const std::string conf = n.dir + "/redis.conf";
  if (auto s = WriteFileAtomic(conf, RenderRedisConf(n.spec, n.dir, opts_.advertised_address,
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
    std::lock_guard lk(spawn_mu_);
    ChildSetup setup;
    setup.stderr_path = err_path.c_str();
    c = std::make_unique<bp::child>(
        opts_.redis_server_path, bp::args(args), bp::std_out > bp::null, bp::std_in < bp::null,
        setup,
        bp::on_exit([this, weak, gen](int, const std::error_code& exit_ec) {
          on_exit_(weak, gen, exit_ec);
        }),
        io_, ec);
  } catch (const std::exception& e) {
    return MakeError(Errc::kInternal, "spawn " + opts_.redis_server_path + ": " + e.what());
  }
  if (ec) return MakeError(Errc::kInternal, "spawn " + opts_.redis_server_path + ": " + ec.message());
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
  return {};
}

bool NodeProcesses::WaitExited(const std::shared_ptr<ManagedNode>& np, milliseconds timeout) {
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

Status NodeProcesses::Terminate(const std::shared_ptr<ManagedNode>& np, uint32_t grace_ms) {
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
  log_->warn("[{}] pid {} still running {} ms after SIGTERM; sending SIGKILL", n.spec.node_id, pid,
            grace_ms);
  SignalGroup(pid, SIGKILL);
  if (WaitExited(np, milliseconds(opts_.kill_wait_ms))) return {};
  return MakeError(Errc::kTimeout, "node " + n.spec.node_id + ": pid " + std::to_string(pid) +
                                       " did not exit after SIGKILL");
}

Result<int64_t> NodeProcesses::Probe(uint32_t port, uint32_t timeout_ms) const {
  RedisConn c({.host = opts_.advertised_address,
               .port = static_cast<uint16_t>(port),
               .connect_timeout_ms = timeout_ms,
               .command_timeout_ms = timeout_ms});
  auto r = c.Pipeline({{"PING"}, {"INFO", "server"}});
  if (!r.ok()) return r.error();
  if (!(*r)[0].ok()) return (*r)[0].error();
  if (!(*r)[1].ok()) return (*r)[1].error();
  return InfoInt(ParseInfo((*r)[1]->str()), "process_id", -1);
}

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
