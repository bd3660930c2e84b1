// Warm pool integration tests: the real agent binary with warm_pool_cluster_nodes set, real
// redis-servers, and an in-test Fleet server that records the reported warm ports.
//
// Redis 7.0 keeps a master's cluster_state at `fail` for 2 s after the process starts
// (CLUSTER_WRITABLE_DELAY); the pool exists so that a claimed master does not wait for it.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "agent/redis/node_spec.h"
#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"
#include "agent/tests/agent_fixture.h"
#include "agent/tests/agent_test_base.h"
#include "common/slot_range.h"

namespace cf::agent::testing {
namespace {

namespace fs = std::filesystem;

class WarmPoolTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    uint16_t port = PickUnusedPort();
    grpc::ServerBuilder b;
    int selected = 0;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                       &selected);
    b.RegisterService(&fleet_);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_EQ(selected, port);
    fleet_address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + milliseconds(1000));
  }

  std::unique_ptr<AgentProcess> NewWarmAgent(uint32_t pool) {
    AgentOptions o;
    o.orchestrator = fleet_address_;
    o.warm_pool_cluster_nodes = pool;
    return NewAgent(o);
  }

  // Waits until the latest Register/Heartbeat reports exactly `want` (sorted).
  bool WaitWarmPorts(const std::vector<uint32_t>& want, int timeout_ms) {
    return WaitFor([&] { return fleet_.latest_warm_ports() == want; }, timeout_ms, 20);
  }
  bool WaitWarmCount(size_t n, int timeout_ms, std::vector<uint32_t>* out) {
    return WaitFor([&] {
      *out = fleet_.latest_warm_ports();
      return out->size() == n;
    }, timeout_ms, 20);
  }

  uint16_t Top(int i) const { return static_cast<uint16_t>(base_ + kPorts - 1 - i); }

  static std::string Cwd(int64_t pid) {
    std::error_code ec;
    return fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec).string();
  }
  static std::string ConfigGet(uint16_t port, const std::string& key) {
    RedisConn c = Conn(port);
    auto r = c.Command({"CONFIG", "GET", key});
    if (!r.ok() || r->size() < 2) return "?";
    return r->at(1).str();
  }
  static std::string MyId(uint16_t port) {
    RedisConn c = Conn(port);
    auto r = c.Command({"CLUSTER", "MYID"});
    return r.ok() ? r->str() : "?";
  }
  std::map<std::string, int64_t> NodePids(AgentProcess& a) {
    std::map<std::string, int64_t> out;
    for (auto& s : List(a)) out[s.node_id()] = s.pid();
    return out;
  }
  int64_t WarmPid(AgentProcess& a, uint16_t port) {
    pb::NodeStatus s;
    if (!GetStatus(a, WarmNodeId(port), &s)) return -1;
    return s.pid();
  }

  // --- The pool fills on the two highest ports; reported once 2.2 s old; not nodes.
  void FillsAndIsReported(AgentProcess& a, Clock::time_point t_start,
                          std::map<uint16_t, int64_t>& warm_pid,
                          std::map<uint16_t, std::string>& warm_myid) {
    ASSERT_TRUE(WaitWarmPorts({Top(1), Top(0)}, 15000))
        << "warm ports reported: " << fleet_.latest_warm_ports().size();
    long long fill_ms = MsSince(t_start);
    std::printf("[timing] warm pool of 2 reported %lld ms after the agent start\n", fill_ms);
    EXPECT_GE(fill_ms, 2200);
    EXPECT_EQ(fleet_.latest_nodes(), 0);
    EXPECT_TRUE(List(a).empty());
    for (uint16_t p : {Top(0), Top(1)}) {
      pb::NodeStatus s;
      ASSERT_TRUE(GetStatus(a, WarmNodeId(p), &s));
      EXPECT_EQ(s.state(), pb::NODE_RUNNING);
      EXPECT_EQ(s.cluster_known_nodes(), 1u);
      EXPECT_EQ(s.maxmemory(), 0u);
      warm_pid[p] = s.pid();
      warm_myid[p] = s.cluster_node_id();
      auto rec = NodeRecordFromJson(ReadFileOrEmpty(a.node_dir(WarmNodeId(p)) + "/node.json"));
      ASSERT_TRUE(rec.ok());
      EXPECT_EQ(rec->pid, s.pid());  // scripts that kill recorded pids find pool nodes too
      EXPECT_EQ(Cwd(s.pid()), a.node_dir(WarmNodeId(p)));
    }
    // Warm nodes take no admin RPCs.
    EXPECT_EQ(Meet(a, WarmNodeId(Top(0)), Top(1)).error_code(), grpc::StatusCode::NOT_FOUND);
    // Ids of the agent's own are refused.
    EXPECT_EQ(Launch(a, MakeSpec(WarmNodeId(Top(0)), Top(0), true)).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  // --- Claim: same pid, renamed directory, cwd follows, spec applied, same cluster id.
  void ClaimsTheWarmNode(AgentProcess& a, const std::string& id, uint16_t port,
                         const std::map<uint16_t, int64_t>& warm_pid,
                         const std::map<uint16_t, std::string>& warm_myid) {
    pb::NodeSpec spec = MakeSpec(id, port, true, 3000);
    (*spec.mutable_config())["maxmemory-policy"] = "allkeys-lru";
    pb::NodeStatus s;
    auto t_claim = Clock::now();
    auto st = Launch(a, spec, &s);
    long long claim_ms = MsSince(t_claim);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::printf("[timing] LaunchNode claiming a warm node: %lld ms\n", claim_ms);
    EXPECT_LT(claim_ms, 500);
    EXPECT_EQ(s.node_id(), id);
    EXPECT_EQ(s.state(), pb::NODE_RUNNING);
    EXPECT_EQ(s.pid(), warm_pid.at(port));
    EXPECT_EQ(s.restarts(), 0u);
    EXPECT_EQ(s.maxmemory(), 64ull << 20);
    EXPECT_EQ(s.cluster_node_id(), warm_myid.at(port));
    EXPECT_EQ(MyId(port), warm_myid.at(port));
    EXPECT_FALSE(fs::exists(a.node_dir(WarmNodeId(port))));
    EXPECT_TRUE(fs::exists(a.node_dir(id) + "/nodes.conf"));
    EXPECT_EQ(Cwd(s.pid()), a.node_dir(id));
    EXPECT_EQ(ConfigGet(port, "dir"), a.node_dir(id));
    EXPECT_EQ(ConfigGet(port, "maxmemory"), std::to_string(64ull << 20));
    EXPECT_EQ(ConfigGet(port, "maxmemory-policy"), "allkeys-lru");
    // Formation node timeout until the node reports cluster_state ok (it never does here).
    EXPECT_EQ(ConfigGet(port, "cluster-node-timeout"), "500");
    {
      auto rec = NodeRecordFromJson(ReadFileOrEmpty(a.node_dir(id) + "/node.json"));
      ASSERT_TRUE(rec.ok());
      EXPECT_EQ(rec->spec.node_id, id);
      EXPECT_EQ(rec->pid, warm_pid.at(port));
      std::string conf = ReadFileOrEmpty(a.node_dir(id) + "/redis.conf");
      EXPECT_NE(conf.find("maxmemory 67108864\n"), std::string::npos) << conf;
      EXPECT_NE(conf.find("cluster-node-timeout 3000\n"), std::string::npos) << conf;
      // redis writes its log and cluster config relative to its cwd: into the new directory.
      RedisConn c = Conn(port);
      ASSERT_TRUE(c.Command({"CLUSTER", "SAVECONFIG"}).ok());
      EXPECT_NE(ReadFileOrEmpty(a.node_dir(id) + "/nodes.conf").find(warm_myid.at(port)),
                std::string::npos);
      EXPECT_FALSE(ReadFileOrEmpty(a.node_dir(id) + "/redis.log").empty());
    }
    // The claimed node is a node now; the other warm port is still warm.
    ASSERT_EQ(List(a).size(), 1u);
    EXPECT_TRUE(WaitWarmPorts({Top(1)}, 3000));
    EXPECT_TRUE(WaitFor([&] { return fleet_.latest_nodes() == 1; }, 3000));
    // Idempotent; the port is taken for other ids.
    pb::NodeStatus again;
    ASSERT_TRUE(Launch(a, spec, &again).ok());
    EXPECT_EQ(again.pid(), warm_pid.at(port));
    EXPECT_EQ(Launch(a, MakeSpec("w-other-001", port, true)).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  RecordingFleet fleet_;
  std::unique_ptr<grpc::Server> server_;
  std::string fleet_address_;
};

// The pool fills on the top ports and is reported; a LaunchNode on a warm port claims the very
// process (renamed directory, spec applied); the claimed node is supervised like any node
// (crash restart, re-adoption); an incompatible launch retires the warm node and cold-starts;
// the pool refills; an agent restart keeps everything without duplicates; stop-on-exit stops
// and purges the pool.
TEST_F(WarmPoolTest, FillClaimCrashIncompatibleRefillAgentRestart) {
  auto agent = NewWarmAgent(2);
  auto t_start = Clock::now();
  agent->Start();
  AgentProcess& a = *agent;

  std::map<uint16_t, int64_t> warm_pid;
  std::map<uint16_t, std::string> warm_myid;
  ASSERT_NO_FATAL_FAILURE(FillsAndIsReported(a, t_start, warm_pid, warm_myid));
  const std::string id = "w-0001-001";
  const uint16_t port = Top(0);
  ASSERT_NO_FATAL_FAILURE(ClaimsTheWarmNode(a, id, port, warm_pid, warm_myid));
  pb::NodeStatus s;
  grpc::Status st;

  // --- The claimed node is our child: kill -9 -> CRASHED, restarted with restarts=1, same id.
  {
    auto t_crash = Clock::now();
    ASSERT_EQ(::kill(static_cast<pid_t>(warm_pid[port]), SIGKILL), 0);
    ASSERT_TRUE(WaitFor([&] {
      pb::NodeStatus now;
      if (!GetStatus(a, id, &now)) return false;
      s = now;
      return now.state() == pb::NODE_RUNNING && now.pid() != warm_pid[port] && now.restarts() == 1;
    }, 10000, 5)) << "state " << s.state() << " restarts " << s.restarts();
    std::printf("[timing] claimed node killed -> RUNNING again after %lld ms\n", MsSince(t_crash));
    EXPECT_NE(s.last_error().find("signal 9"), std::string::npos) << s.last_error();
    EXPECT_EQ(s.node_id(), id);
    EXPECT_EQ(s.cluster_node_id(), warm_myid[port]);
    EXPECT_EQ(Cwd(s.pid()), a.node_dir(id));
    EXPECT_EQ(ConfigGet(port, "maxmemory-policy"), "allkeys-lru");  // from the re-rendered conf
    EXPECT_EQ(ConfigGet(port, "cluster-node-timeout"), "3000");
    EXPECT_EQ(RedisPidsOnPort(port).size(), 1u);
  }

  // --- The pool refills (next free port from the top), reported after 2.2 s.
  ASSERT_TRUE(WaitWarmPorts({Top(2), Top(1)}, 10000))
      << "warm ports: " << fleet_.latest_warm_ports().size();
  warm_pid[Top(2)] = WarmPid(a, Top(2));

  // --- Incompatible launch (cluster mode off) on a warm port: retired, cold start.
  {
    uint16_t p = Top(1);
    auto t0 = Clock::now();
    st = Launch(a, MakeSpec("w-plain-001", p, false), &s);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::printf("[timing] LaunchNode retiring an incompatible warm node + cold start: %lld ms\n",
                MsSince(t0));
    EXPECT_NE(s.pid(), warm_pid[p]);
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(warm_pid[p])); }, 5000));
    EXPECT_EQ(s.cluster_state(), "");
    EXPECT_EQ(s.cluster_node_id(), "");
    EXPECT_FALSE(fs::exists(a.node_dir(WarmNodeId(p))));
    EXPECT_EQ(RedisPidsOnPort(p).size(), 1u);
  }
  // --- A spec that CONFIG SET cannot apply (databases is start-up only): retired, cold start.
  {
    uint16_t p = Top(2);
    pb::NodeSpec db = MakeSpec("w-db-001", p, true);
    (*db.mutable_config())["databases"] = "4";
    st = Launch(a, db, &s);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_NE(s.pid(), warm_pid[p]);
    EXPECT_NE(s.cluster_node_id(), warm_myid[p]);
    EXPECT_EQ(ConfigGet(p, "databases"), "4");
    EXPECT_EQ(RedisPidsOnPort(p).size(), 1u);
  }
  ASSERT_EQ(List(a).size(), 3u);
  ASSERT_TRUE(WaitWarmPorts({Top(4), Top(3)}, 10000))
      << "warm ports: " << fleet_.latest_warm_ports().size();

  // --- Agent restart (kill -9): the claimed node and the pool are re-adopted, no duplicates.
  auto pids = NodePids(a);
  std::map<uint16_t, int64_t> pool_pids = {{Top(3), WarmPid(a, Top(3))},
                                           {Top(4), WarmPid(a, Top(4))}};
  a.Kill9();
  a.Start();
  EXPECT_EQ(NodePids(a), pids);
  for (auto [p, pid] : pool_pids) EXPECT_EQ(WarmPid(a, p), pid) << p;
  std::this_thread::sleep_for(milliseconds(1500));  // a few pool reconcile rounds
  ASSERT_TRUE(WaitWarmPorts({Top(4), Top(3)}, 5000));
  for (auto [p, pid] : pool_pids) EXPECT_EQ(WarmPid(a, p), pid) << p;
  for (int i = 0; i < kPorts; ++i) {
    EXPECT_LE(RedisPidsOnPort(static_cast<uint16_t>(base_ + i)).size(), 1u) << base_ + i;
  }
  EXPECT_EQ(NodePids(a), pids);
  // The claimed node, now adopted, still answers as itself.
  ASSERT_TRUE(GetStatus(a, id, &s));
  EXPECT_EQ(s.state(), pb::NODE_RUNNING);
  EXPECT_EQ(s.restarts(), 1u);
  EXPECT_EQ(s.cluster_node_id(), warm_myid[port]);

  // --- StopNode of the claimed node works as for any node.
  bool existed = false;
  ASSERT_TRUE(Stop(a, id, true, &existed).ok());
  EXPECT_TRUE(existed);
  EXPECT_FALSE(fs::exists(a.node_dir(id)));
  EXPECT_TRUE(WaitFor([&] { return RedisPidsOnPort(port).empty(); }, 5000));

  // --- --stop-nodes-on-exit stops (and purges) the pool too.
  std::vector<int64_t> live;
  for (auto& n : List(a)) live.push_back(n.pid());
  for (auto [p, pid] : pool_pids) live.push_back(pid);
  a.Terminate();
  for (int64_t pid : live) {
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(pid)); }, 5000)) << pid;
  }
  for (auto [p, pid] : pool_pids) EXPECT_FALSE(fs::exists(a.node_dir(WarmNodeId(p))));
}

// Three claimed masters whose processes started >= 2.2 s earlier reach cluster_state ok right
// after ADDSLOTS + MEET; cold-started ones wait for Redis' 2 s delay (printed for comparison).
TEST_F(WarmPoolTest, ClaimedMastersReachClusterOkWithoutTheStartupDelay) {
  auto agent = NewWarmAgent(3);
  agent->Start();
  AgentProcess& a = *agent;
  std::vector<uint32_t> ports;
  ASSERT_TRUE(WaitWarmCount(3, 15000, &ports)) << ports.size();

  struct Master {
    std::string id;
    uint16_t port;
  };
  auto form = [&](const std::vector<Master>& ms, const char* what) -> long long {
    auto ranges = SplitSlotsEvenly(3);
    auto t0 = Clock::now();
    for (int i = 0; i < 3; ++i) {
      auto st = AddSlots(a, ms[i].id, ranges[i], i + 1);
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    // Full mesh, as the orchestrator does for small groups (a node that learns a peer only
    // through gossip needs a few hundred ms more).
    for (int i = 1; i < 3; ++i) {
      for (int j = 0; j < i; ++j) {
        auto st = Meet(a, ms[i].id, ms[j].port);
        EXPECT_TRUE(st.ok()) << st.error_message();
      }
    }
    std::vector<RedisConn> conns;
    for (const auto& m : ms) conns.push_back(Conn(m.port));
    bool ok = WaitFor([&] {
      for (auto& c : conns) {
        auto r = c.Command({"CLUSTER", "INFO"});
        if (!r.ok() || InfoString(ParseInfo(r->str()), "cluster_state") != "ok") return false;
      }
      return true;
    }, 15000, 5);
    long long ms_ok = MsSince(t0);
    EXPECT_TRUE(ok) << what << ": cluster_state not ok after 15 s";
    std::printf("[timing] %s: ADDSLOTS+MEET -> cluster_state:ok on all 3 masters in %lld ms\n",
                what, ms_ok);
    return ms_ok;
  };

  // Claim the three warm nodes concurrently, as the orchestrator would.
  std::vector<Master> warm;
  for (int i = 0; i < 3; ++i) {
    warm.push_back({"wc-000" + std::to_string(i + 1) + "-001", uint16_t(ports[i])});
  }
  std::vector<std::future<std::pair<grpc::Status, long long>>> claims;
  std::map<uint16_t, int64_t> before;
  for (const auto& m : warm) before[m.port] = WarmPid(a, m.port);
  auto t_claims = Clock::now();
  for (const auto& m : warm) {
    claims.push_back(std::async(std::launch::async, [this, &a, m] {
      auto t0 = Clock::now();
      pb::NodeStatus s;
      grpc::Status st = Launch(a, MakeSpec(m.id, m.port, true), &s);
      return std::make_pair(st, MsSince(t0));
    }));
  }
  for (auto& f : claims) {
    auto [st, ms] = f.get();
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::printf("[timing] concurrent claim: %lld ms\n", ms);
  }
  std::printf("[timing] 3 concurrent claims done in %lld ms\n", MsSince(t_claims));
  for (const auto& m : warm) {
    pb::NodeStatus s;
    ASSERT_TRUE(GetStatus(a, m.id, &s));
    EXPECT_EQ(s.pid(), before[m.port]) << m.id << " was not claimed";
  }
  long long warm_ms = form(warm, "claimed warm masters");
  EXPECT_LT(warm_ms, 1500);
  // The formation node timeout (500 ms) is replaced by the spec's once cluster_state is ok.
  for (const auto& m : warm) {
    EXPECT_TRUE(WaitFor([&] { return ConfigGet(m.port, "cluster-node-timeout") == "5000"; }, 2000))
        << m.id << ": " << ConfigGet(m.port, "cluster-node-timeout");
  }

  // Cold-started masters for comparison (not asserted beyond forming).
  std::vector<Master> cold;
  for (int i = 0; i < 3; ++i) {
    cold.push_back({"cc-000" + std::to_string(i + 1) + "-001", uint16_t(base_ + i)});
  }
  for (const auto& m : cold) ASSERT_TRUE(Launch(a, MakeSpec(m.id, m.port, true)).ok());
  form(cold, "cold-started masters");
}

// The agent dies between the rename of a claimed node's directory and its node.json: the next
// agent kills that process and purges the directory, and the pool starts a fresh node.
TEST_F(WarmPoolTest, InterruptedClaimIsDiscarded) {
  AgentOptions o;
  o.orchestrator = fleet_address_;
  o.warm_pool_cluster_nodes = 1;
  o.log_level = "debug";
  auto agent = NewAgent(o);
  agent->Start();
  AgentProcess& a = *agent;
  ASSERT_TRUE(WaitWarmPorts({Top(0)}, 15000));
  int64_t pid = WarmPid(a, Top(0));
  ASSERT_GT(pid, 0);
  a.Kill9();
  fs::rename(a.node_dir(WarmNodeId(Top(0))), a.node_dir("x-0001-001"));
  a.Start();
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(pid)); }, 5000));
  EXPECT_FALSE(fs::exists(a.node_dir("x-0001-001")));
  EXPECT_TRUE(List(a).empty());
  // A fresh warm node, normally on the same port (the next one down if the port was still
  // busy for a moment).
  std::vector<uint32_t> ports;
  ASSERT_TRUE(WaitWarmCount(1, 10000, &ports));
  EXPECT_NE(WarmPid(a, static_cast<uint16_t>(ports[0])), pid);
  for (int i = 0; i < kPorts; ++i) {
    EXPECT_LE(RedisPidsOnPort(static_cast<uint16_t>(base_ + i)).size(), 1u) << base_ + i;
  }
}

// A smaller pool after a restart: the extra warm nodes are retired, lowest ports first.
TEST_F(WarmPoolTest, RestartWithASmallerPoolRetiresTheExtra) {
  AgentOptions o;
  o.orchestrator = fleet_address_;
  o.warm_pool_cluster_nodes = 2;
  o.stop_nodes_on_exit = false;
  auto agent = NewAgent(o);
  agent->Start();
  AgentProcess& a = *agent;
  ASSERT_TRUE(WaitWarmPorts({Top(1), Top(0)}, 15000));
  int64_t low = WarmPid(a, Top(1)), high = WarmPid(a, Top(0));
  a.Terminate();  // nodes left running
  EXPECT_TRUE(ProcessAlive(static_cast<pid_t>(low)));
  EXPECT_TRUE(ProcessAlive(static_cast<pid_t>(high)));
  auto smaller = std::make_unique<AgentProcess>(
      [&] {
        AgentOptions s = a.options();
        s.warm_pool_cluster_nodes = 1;
        s.stop_nodes_on_exit = true;
        return s;
      }(),
      dir_.path());
  smaller->Start();
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(low)); }, 5000));
  // The directory goes right after the process (retire = stop, forget, purge).
  EXPECT_TRUE(WaitFor([&] { return !fs::exists(smaller->node_dir(WarmNodeId(Top(1)))); }, 5000));
  ASSERT_TRUE(WaitWarmPorts({Top(0)}, 5000));
  EXPECT_EQ(WarmPid(*smaller, Top(0)), high);
}

}  // namespace
}  // namespace cf::agent::testing
