#include "agent/tests/agent_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/redis/node_spec.h"

extern char** environ;

namespace cf::agent::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool PortBindable(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

uint16_t FindFreePortBlock(int count) {
  std::mt19937 rng(static_cast<uint32_t>(::getpid()) ^
                   static_cast<uint32_t>(Clock::now().time_since_epoch().count()));
  for (int attempt = 0; attempt < 500; ++attempt) {
    uint16_t base = static_cast<uint16_t>(10000 + rng() % (12000 - count));
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) {
      ok = PortBindable(base + i) && PortBindable(base + i + 10000);
    }
    if (ok) {
      std::printf("[fixture] port block %u-%u (bus +10000)\n", base, base + count - 1);
      return base;
    }
  }
  ADD_FAILURE() << "no free port block of " << count;
  return 0;
}

uint16_t PickUnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "cf-agent-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* p = ::mkdtemp(buf.data());
  if (!p) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = p;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (keep_ || ::testing::Test::HasFailure() || std::getenv("CF_KEEP_TEST_DIRS")) {
    std::printf("[fixture] keeping %s for inspection\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  char st = stat[paren + 2];
  return st != 'Z' && st != 'X';
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
std::string Cmdline(pid_t pid) {
  std::string s = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}
}  // namespace

std::vector<pid_t> RedisPidsOnPort(uint16_t port) {
  std::vector<pid_t> out;
  std::error_code ec;
  std::string needle = ":" + std::to_string(port) + " ";
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    std::string cmd = Cmdline(pid);
    if (cmd.find("redis-server") != std::string::npos && cmd.find(needle) != std::string::npos &&
        ProcessAlive(pid)) {
      out.push_back(pid);
    }
  }
  return out;
}

AgentProcess::AgentProcess(AgentOptions opts, std::string dir)
    : opts_(std::move(opts)), dir_(std::move(dir)) {
  if (opts_.orchestrator.empty()) opts_.orchestrator = "127.0.0.1:" + std::to_string(PickUnusedPort());
}

AgentProcess::~AgentProcess() {
  Terminate();
  KillRecordedNodes();
}

void AgentProcess::WriteConfig() {
  std::ofstream out(config_path());
  out << "host_id: " << opts_.host_id << "\n"
      << "advertised_address: 127.0.0.1\n"
      << "availability_zone: lab-a\n"
      << "listen: 127.0.0.1:0\n"
      << "orchestrator: " << opts_.orchestrator << "\n"
      << "port_range:\n  start: " << opts_.port_start << "\n  end: " << opts_.port_end << "\n"
      << "max_nodes: 0\n"
      << "data_dir: " << data_dir() << "\n"
      << "redis_server: " << opts_.redis_server << "\n"
      << "heartbeat_interval_ms: " << opts_.heartbeat_interval_ms << "\n"
      << "log_level: " << opts_.log_level << "\n";
  if (opts_.warm_pool_cluster_nodes > 0) {
    out << "warm_pool_cluster_nodes: " << opts_.warm_pool_cluster_nodes << "\n";
  }
}

std::string AgentProcess::stderr_text() const { return ReadFileOrEmpty(dir_ + "/agent.err"); }

void AgentProcess::Start() {
  ASSERT_FALSE(running());
  WriteConfig();
  std::string out_path = dir_ + "/agent.out";
  std::string err_path = dir_ + "/agent.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::string bin = CF_AGENT_BINARY;
  std::string cfg = config_path();
  std::vector<char*> argv = {bin.data(), const_cast<char*>("--config"), cfg.data()};
  if (opts_.stop_nodes_on_exit) argv.push_back(const_cast<char*>("--stop-nodes-on-exit"));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ASSERT_EQ(rc, 0) << "posix_spawn " << bin;
  pid_ = pid;

  const std::string marker = "serving on ";
  auto deadline = Clock::now() + milliseconds(15000);
  while (Clock::now() < deadline) {
    std::string out = ReadFileOrEmpty(out_path);
    size_t p = out.find(marker);
    if (p != std::string::npos && out.find('\n', p) != std::string::npos) {
      endpoint_ = out.substr(p + marker.size(), out.find('\n', p) - p - marker.size());
      stub_ = pb::Agent::NewStub(grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials()));
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "agent exited during start-up (status " << status << "):\n" << stderr_text();
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  FAIL() << "agent did not print its serving line:\n" << stderr_text();
}

void AgentProcess::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  stub_.reset();
}

void AgentProcess::Terminate() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + milliseconds(10000);
  while (Clock::now() < deadline) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      stub_.reset();
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ADD_FAILURE() << "agent pid " << pid_ << " ignored SIGTERM for 10 s";
  Kill9();
}

void AgentProcess::KillRecordedNodes() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_dir() + "/nodes", ec)) {
    auto rec = NodeRecordFromJson(ReadFileOrEmpty(e.path().string() + "/node.json"));
    if (!rec.ok()) continue;
    std::vector<pid_t> pids = RedisPidsOnPort(static_cast<uint16_t>(rec->spec.port));
    if (rec->pid > 0) pids.push_back(static_cast<pid_t>(rec->pid));
    for (pid_t pid : pids) {
      // Only processes that run in our node directories (redis chdirs into `dir`): never
      // someone else's redis-server that took the port later.
      std::error_code cwd_ec;
      std::string cwd = fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", cwd_ec).string();
      if (cwd_ec || cwd.rfind(data_dir(), 0) != 0) continue;
      if (ProcessAlive(pid) && Cmdline(pid).find("redis-server") != std::string::npos) {
        std::printf("[fixture] killing leftover redis-server pid %d (%s)\n", pid,
                    rec->spec.node_id.c_str());
        ::kill(pid, SIGKILL);
      }
    }
  }
}

std::unique_ptr<grpc::ClientContext> Ctx(int timeout_ms) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + milliseconds(timeout_ms));
  return c;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms, int every_ms) {
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(every_ms));
  }
}

pb::NodeSpec MakeSpec(const std::string& id, uint16_t port, bool cluster, uint32_t node_timeout_ms) {
  pb::NodeSpec s;
  s.set_node_id(id);
  s.set_group_id("test");
  s.set_port(port);
  s.set_cluster_enabled(cluster);
  s.set_engine_version("7.0");
  s.set_maxmemory_bytes(64ull << 20);
  if (cluster) s.set_cluster_node_timeout_ms(node_timeout_ms);
  return s;
}

bool GetStatus(AgentProcess& a, const std::string& id, pb::NodeStatus* out, grpc::Status* st) {
  pb::NodeRef ref;
  ref.set_node_id(id);
  pb::NodeStatus s;
  auto ctx = Ctx(5000);
  grpc::Status r = a.stub().GetNodeStatus(ctx.get(), ref, &s);
  if (st) *st = r;
  if (!r.ok()) return false;
  *out = std::move(s);
  return true;
}

}  // namespace cf::agent::testing
