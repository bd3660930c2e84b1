// Integration tests: the real cachefleet-agent binary and real redis-server processes, driven
// through a real gRPC channel. Ports are probed per test; every process is stopped by pid on
// teardown (see agent_fixture.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
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
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string SlotSignature(const pb::NodeStatus& s) {
  std::vector<std::string> parts;
  for (const auto& o : s.slot_owners()) {
    std::string p = o.cluster_node_id() + ":";
    for (const auto& r : o.ranges()) p += std::to_string(r.start()) + "-" + std::to_string(r.end()) + ",";
    parts.push_back(p);
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (auto& p : parts) out += p + "|";
  return out;
}

// ---------------------------------------------------------------------------------------------
// The main scenario: form a 3x2 cluster through the RPCs, then survive node crashes, agent
// kill -9 (re-adoption), nodes dying while the agent is away, and stop/purge.

class ClusterLifecycleTest : public AgentTest {
 protected:
  struct Node {
    std::string id;
    uint16_t port;
    std::string cluster_id;
  };

  void SetUp() override {
    AgentTest::SetUp();
    for (int i = 0; i < 3; ++i) masters_.push_back({"c-000" + std::to_string(i + 1) + "-001", uint16_t(base_ + i), ""});
    for (int i = 0; i < 3; ++i) replicas_.push_back({"c-000" + std::to_string(i + 1) + "-002", uint16_t(base_ + 3 + i), ""});
  }

  std::vector<Node*> All() {
    std::vector<Node*> v;
    for (auto& n : masters_) v.push_back(&n);
    for (auto& n : replicas_) v.push_back(&n);
    return v;
  }

  // Every node: cluster_state ok, same slot view, 6 known nodes, no unhealthy peers, replicas
  // linked to their master.
  bool ClusterHealthy(AgentProcess& a, std::string* why) {
    std::string sig;
    for (size_t i = 0; i < All().size(); ++i) {
      Node* n = All()[i];
      pb::NodeStatus s;
      if (!GetStatus(a, n->id, &s)) return *why = n->id + ": status rpc failed", false;
      if (s.state() != pb::NODE_RUNNING) return *why = n->id + ": not running", false;
      if (s.cluster_state() != "ok") return *why = n->id + ": cluster_state " + s.cluster_state(), false;
      if (s.cluster_known_nodes() != 6) return *why = n->id + ": knows " + std::to_string(s.cluster_known_nodes()), false;
      if (s.unhealthy_peers_size() > 0) return *why = n->id + ": unhealthy peer " + s.unhealthy_peers(0), false;
      if (s.has_open_slots()) return *why = n->id + ": open slots", false;
      std::string my = SlotSignature(s);
      if (sig.empty()) sig = my;
      if (my != sig) return *why = n->id + ": slot view differs", false;
      if (s.slot_owners_size() != 3) return *why = n->id + ": owners " + std::to_string(s.slot_owners_size()), false;
      if (i >= 3) {
        const Node& m = masters_[i - 3];
        if (s.role() != "slave" || s.master_cluster_node_id() != m.cluster_id || !s.master_link_up()) {
          return *why = n->id + ": replica not linked to " + m.id, false;
        }
      } else if (s.role() != "master" || s.connected_replicas() != 1) {
        return *why = n->id + ": master without its replica", false;
      }
    }
    return true;
  }

  void ExpectHealthyWithin(AgentProcess& a, int timeout_ms) {
    std::string why;
    auto t0 = Clock::now();
    bool ok = WaitFor([&] { return ClusterHealthy(a, &why); }, timeout_ms, 50);
    EXPECT_TRUE(ok) << "cluster not healthy after " << timeout_ms << " ms: " << why;
    std::printf("[timing] cluster healthy after %lld ms\n", MsSince(t0));
  }

  // --- Launch 6 nodes concurrently.
  void LaunchAllNodes(AgentProcess& a) {
    auto t_launch = Clock::now();
    std::vector<std::future<grpc::Status>> launches;
    for (Node* n : All()) {
      launches.push_back(std::async(std::launch::async, [this, &a, n] {
        pb::NodeStatus s;
        return Launch(a, MakeSpec(n->id, n->port, true), &s);
      }));
    }
    for (auto& f : launches) {
      grpc::Status st = f.get();
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    long long launch_ms = MsSince(t_launch);
    std::printf("[timing] 6 nodes launched in %lld ms\n", launch_ms);
    EXPECT_LT(launch_ms, 2000);

    for (Node* n : All()) {
      pb::NodeStatus s;
      ASSERT_TRUE(GetStatus(a, n->id, &s));
      EXPECT_EQ(s.state(), pb::NODE_RUNNING);
      EXPECT_GT(s.pid(), 0);
      EXPECT_EQ(s.redis_version(), "7.0.15");
      EXPECT_EQ(s.maxmemory(), 64ull << 20);
      EXPECT_EQ(s.cluster_known_nodes(), 1u);
      ASSERT_FALSE(s.cluster_node_id().empty());
      n->cluster_id = s.cluster_node_id();
      // Files on disk.
      for (const char* f : {"redis.conf", "nodes.conf", "node.json", "redis.log"}) {
        EXPECT_TRUE(fs::exists(a.node_dir(n->id) + "/" + f)) << n->id << "/" << f;
      }
    }
  }

  // --- Form the cluster through the RPCs.
  void FormCluster(AgentProcess& a) {
    auto t_form = Clock::now();
    ranges_ = SplitSlotsEvenly(3);
    for (int i = 0; i < 3; ++i) {
      auto st = AddSlots(a, masters_[i].id, ranges_[i], i + 1);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    for (Node* n : All()) {
      if (n == &masters_[0]) continue;
      auto st = Meet(a, n->id, masters_[0].port);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    // REPLICATE before the master is known fails with FAILED_PRECONDITION; retry until it works.
    for (int i = 0; i < 3; ++i) {
      grpc::Status last;
      bool ok = WaitFor([&] {
        last = Replicate(a, replicas_[i].id, masters_[i].cluster_id);
        EXPECT_TRUE(last.ok() || last.error_code() == grpc::StatusCode::FAILED_PRECONDITION)
            << last.error_message();
        return last.ok();
      }, 10000, 20);
      ASSERT_TRUE(ok) << last.error_message();
    }
    ExpectHealthyWithin(a, 20000);
    std::printf("[timing] cluster formed (addslots+meet+replicate+healthy) in %lld ms\n", MsSince(t_form));
  }

  // --- Idempotency: every RPC again.
  void CheckIdempotency(AgentProcess& a) {
    for (int i = 0; i < 3; ++i) {
      auto st = AddSlots(a, masters_[i].id, ranges_[i], i + 1);
      EXPECT_TRUE(st.ok()) << st.error_message();
      st = Replicate(a, replicas_[i].id, masters_[i].cluster_id);
      EXPECT_TRUE(st.ok()) << st.error_message();
      st = Meet(a, replicas_[i].id, masters_[0].port);
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    {
      // Slots owned by another master cannot be added.
      auto st = AddSlots(a, masters_[0].id, ranges_[1], 0);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
      // A config epoch on a node that knows peers and lacks the slots is refused.
      st = AddSlots(a, masters_[0].id, ranges_[2], 9);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
      // Launch again: same node, same pid.
      pb::NodeStatus before, again;
      ASSERT_TRUE(GetStatus(a, masters_[0].id, &before));
      st = Launch(a, MakeSpec(masters_[0].id, masters_[0].port, true), &again);
      EXPECT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(again.pid(), before.pid());
      // Same id, different spec.
      st = Launch(a, MakeSpec(masters_[0].id, base_ + 9, true));
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
    }
  }

  // --- Data through the cluster: 100 keys, each written to its slot's master.
  void WriteKeysThroughTheCluster(AgentProcess& a) {
    RedisConn c0 = Conn(masters_[0].port);
    for (int k = 0; k < 100; ++k) {
      std::string key = "key:" + std::to_string(k);
      auto slot = c0.Command({"CLUSTER", "KEYSLOT", key});
      ASSERT_TRUE(slot.ok()) << slot.error().message;
      int owner = 0;
      for (int i = 0; i < 3; ++i) {
        if (slot->integer() >= ranges_[i].start && slot->integer() <= ranges_[i].end) owner = i;
      }
      RedisConn c = Conn(masters_[owner].port);
      auto r = c.Command({"SET", key, "v"});
      ASSERT_TRUE(r.ok()) << r.error().message;
    }
    // A write to the wrong master is a MOVED error, translated as FAILED_PRECONDITION.
    {
      auto slot = c0.Command({"CLUSTER", "KEYSLOT", "key:0"});
      ASSERT_TRUE(slot.ok());
      int wrong = slot->integer() <= static_cast<long long>(ranges_[0].end) ? 1 : 0;
      RedisConn c = Conn(masters_[wrong].port);
      auto r = c.Command({"SET", "key:0", "v"});
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
      EXPECT_EQ(ClassifyRedisError(r.error().message.substr(r.error().message.find(": ") + 2)),
                RedisErrorKind::kMoved)
          << r.error().message;
      EXPECT_TRUE(c.connected());
    }
    uint64_t total = 0;
    ASSERT_TRUE(WaitFor([&] {
      total = 0;
      uint64_t replica_total = 0;
      for (auto& m : masters_) {
        pb::NodeStatus s;
        if (GetStatus(a, m.id, &s)) total += s.keys();
      }
      for (auto& n : replicas_) {
        pb::NodeStatus s;
        if (GetStatus(a, n.id, &s)) replica_total += s.keys();
      }
      return total >= 100 && replica_total == total;
    }, 5000)) << "keys on masters: " << total;
  }

  // --- kill -9 a child node: restarted, same cluster id, restarts=1, CRASHED while down.
  void KillChildNode(AgentProcess& a) {
    Node& m = masters_[1];
    pb::NodeStatus s;
    ASSERT_TRUE(GetStatus(a, m.id, &s));
    int64_t old_pid = s.pid();
    auto t_crash = Clock::now();
    ASSERT_EQ(::kill(static_cast<pid_t>(old_pid), SIGKILL), 0);
    bool saw_crashed = false;
    ASSERT_TRUE(WaitFor([&] {
      pb::NodeStatus now;
      if (!GetStatus(a, m.id, &now)) return false;
      if (now.state() == pb::NODE_CRASHED) saw_crashed = true;
      s = now;
      return now.state() == pb::NODE_RUNNING && now.pid() != old_pid && now.restarts() == 1;
    }, 10000, 5)) << "state " << s.state() << " restarts " << s.restarts();
    std::printf("[timing] killed node back RUNNING after %lld ms\n", MsSince(t_crash));
    EXPECT_TRUE(saw_crashed);
    EXPECT_EQ(s.cluster_node_id(), m.cluster_id);
    EXPECT_NE(s.last_error().find("signal 9"), std::string::npos) << s.last_error();
    ExpectHealthyWithin(a, 20000);
  }

  // --- kill -9 the agent; a new agent re-adopts the same processes.
  void Kill9AgentReadoptsNodes(AgentProcess& a) {
      for (auto& s : List(a)) pids_[s.node_id()] = s.pid();
    ASSERT_EQ(pids_.size(), 6u);
    a.Kill9();
    for (Node* n : All()) {
      EXPECT_TRUE(ProcessAlive(static_cast<pid_t>(pids_[n->id]))) << n->id << " died with the agent";
    }
    auto t_adopt = Clock::now();
    a.Start();
    std::printf("[timing] agent restart to serving: %lld ms\n", MsSince(t_adopt));
    {
      auto nodes = List(a);
      ASSERT_EQ(nodes.size(), 6u);
      for (auto& s : nodes) {
        EXPECT_EQ(s.pid(), pids_[s.node_id()]) << s.node_id() << " was not re-adopted";
        EXPECT_EQ(s.state(), pb::NODE_RUNNING) << s.node_id();
        EXPECT_EQ(s.restarts(), s.node_id() == masters_[1].id ? 1u : 0u) << s.node_id();
      }
      for (Node* n : All()) {
        auto on_port = RedisPidsOnPort(n->port);
        ASSERT_EQ(on_port.size(), 1u) << "duplicate redis-server on port " << n->port;
        EXPECT_EQ(on_port[0], pids_[n->id]);
      }
      ExpectHealthyWithin(a, 20000);
    }
  }

  // --- A node dies while the agent is down: the next agent restarts it, the rest are adopted.
  void NodeDiesWhileAgentIsDown(AgentProcess& a) {
    Node& r = replicas_[2];
    a.Kill9();
    ASSERT_EQ(::kill(static_cast<pid_t>(pids_[r.id]), SIGKILL), 0);
    ASSERT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(pids_[r.id])); }, 5000));
    a.Start();
    pb::NodeStatus s;
    ASSERT_TRUE(WaitFor([&] {
      return GetStatus(a, r.id, &s) && s.state() == pb::NODE_RUNNING;
    }, 10000, 10));
    EXPECT_NE(s.pid(), pids_[r.id]);
    EXPECT_EQ(s.restarts(), 1u);
    EXPECT_EQ(s.cluster_node_id(), r.cluster_id);
    EXPECT_NE(s.last_error().find("gone"), std::string::npos) << s.last_error();
    for (Node* n : All()) {
      if (n == &r) continue;
      pb::NodeStatus o;
      ASSERT_TRUE(GetStatus(a, n->id, &o));
      EXPECT_EQ(o.pid(), pids_[n->id]) << n->id;
    }
    ExpectHealthyWithin(a, 20000);
  }

  // --- An adopted (non-child) node dies: found by polling and restarted.
  void AdoptedNodeDies(AgentProcess& a) {
    Node& m = masters_[0];
    pb::NodeStatus s;
    ASSERT_TRUE(GetStatus(a, m.id, &s));
    ASSERT_EQ(s.pid(), pids_[m.id]);  // adopted
    auto t_crash = Clock::now();
    ASSERT_EQ(::kill(static_cast<pid_t>(s.pid()), SIGKILL), 0);
    ASSERT_TRUE(WaitFor([&] {
      pb::NodeStatus now;
      if (!GetStatus(a, m.id, &now)) return false;
      s = now;
      return now.state() == pb::NODE_RUNNING && now.pid() != pids_[m.id] && now.restarts() == 1;
    }, 10000, 10)) << "state " << s.state();
    std::printf("[timing] adopted node killed -> RUNNING again after %lld ms\n", MsSince(t_crash));
    EXPECT_EQ(s.cluster_node_id(), m.cluster_id);
    ExpectHealthyWithin(a, 20000);
  }

  // --- StopNode without purge keeps the directory; launching again keeps the cluster id.
  void StopWithoutPurge(AgentProcess& a) {
    Node& r = replicas_[1];
    pb::NodeStatus s;
    ASSERT_TRUE(GetStatus(a, r.id, &s));
    int64_t pid = s.pid();
    bool existed = false;
    auto st = Stop(a, r.id, false, &existed);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(existed);
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(pid)); }, 5000));
    EXPECT_TRUE(fs::exists(a.node_dir(r.id) + "/nodes.conf"));
    grpc::Status gst;
    EXPECT_FALSE(GetStatus(a, r.id, &s, &gst));
    EXPECT_EQ(gst.error_code(), grpc::StatusCode::NOT_FOUND);
    st = Launch(a, MakeSpec(r.id, r.port, true), &s);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(s.cluster_node_id(), r.cluster_id);
    EXPECT_EQ(s.restarts(), 0u);
    ExpectHealthyWithin(a, 20000);
  }

  // --- StopNode with purge removes the process and the directory.
  void StopWithPurge(AgentProcess& a) {
    Node& r = replicas_[0];
    pb::NodeStatus s;
    ASSERT_TRUE(GetStatus(a, r.id, &s));
    int64_t pid = s.pid();
    bool existed = false;
    auto t_stop = Clock::now();
    auto st = Stop(a, r.id, true, &existed);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::printf("[timing] StopNode+purge took %lld ms\n", MsSince(t_stop));
    EXPECT_TRUE(existed);
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(pid)); }, 5000));
    EXPECT_FALSE(fs::exists(a.node_dir(r.id)));
    EXPECT_EQ(List(a).size(), 5u);
    st = Stop(a, r.id, true, &existed);
    EXPECT_TRUE(st.ok());
    EXPECT_FALSE(existed);
  }

  // --- Graceful agent stop with --stop-nodes-on-exit stops every node.
  void StopNodesOnExit(AgentProcess& a) {
    std::vector<int64_t> live;
    for (auto& s : List(a)) live.push_back(s.pid());
    a.Terminate();
    for (int64_t pid : live) {
      EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(static_cast<pid_t>(pid)); }, 5000)) << pid;
    }
  }

  std::vector<Node> masters_, replicas_;
  std::vector<SlotRange> ranges_;  // FormCluster
  std::map<std::string, int64_t> pids_;  // node id -> pid before the agent kill -9
};

TEST_F(ClusterLifecycleTest, FormCrashReadoptStopPurge) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  ASSERT_NO_FATAL_FAILURE(LaunchAllNodes(a));
  ASSERT_NO_FATAL_FAILURE(FormCluster(a));
  ASSERT_NO_FATAL_FAILURE(CheckIdempotency(a));
  ASSERT_NO_FATAL_FAILURE(WriteKeysThroughTheCluster(a));
  ASSERT_NO_FATAL_FAILURE(KillChildNode(a));
  ASSERT_NO_FATAL_FAILURE(Kill9AgentReadoptsNodes(a));
  ASSERT_NO_FATAL_FAILURE(NodeDiesWhileAgentIsDown(a));
  ASSERT_NO_FATAL_FAILURE(AdoptedNodeDies(a));
  ASSERT_NO_FATAL_FAILURE(StopWithoutPurge(a));
  ASSERT_NO_FATAL_FAILURE(StopWithPurge(a));
  ASSERT_NO_FATAL_FAILURE(StopNodesOnExit(a));
}

// ---------------------------------------------------------------------------------------------

TEST_F(AgentTest, StandalonePrimaryReplicaViaReplicaOf) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  uint16_t p1 = base_, p2 = base_ + 1;
  ASSERT_TRUE(Launch(a, MakeSpec("s-001", p1, false)).ok());
  ASSERT_TRUE(Launch(a, MakeSpec("s-002", p2, false)).ok());

  auto t0 = Clock::now();
  auto st = ReplicaOf(a, "s-002", "127.0.0.1", p1);
  ASSERT_TRUE(st.ok()) << st.error_message();
  pb::NodeStatus s;
  ASSERT_TRUE(WaitFor([&] { return GetStatus(a, "s-002", &s) && s.master_link_up(); }, 5000, 5));
  std::printf("[timing] standalone replica linked after %lld ms\n", MsSince(t0));
  EXPECT_EQ(s.role(), "slave");
  EXPECT_EQ(s.master_host(), "127.0.0.1");
  EXPECT_EQ(s.master_port(), p1);
  EXPECT_EQ(s.cluster_node_id(), "");
  EXPECT_EQ(s.cluster_state(), "");

  st = ReplicaOf(a, "s-002", "127.0.0.1", p1);  // idempotent
  EXPECT_TRUE(st.ok()) << st.error_message();

  RedisConn c1 = Conn(p1);
  ASSERT_TRUE(c1.Command({"SET", "hello", "world"}).ok());
  RedisConn c2 = Conn(p2);
  EXPECT_TRUE(WaitFor([&] {
    auto r = c2.Command({"GET", "hello"});
    return r.ok() && r->str() == "world";
  }, 5000));
  pb::NodeStatus primary;
  ASSERT_TRUE(GetStatus(a, "s-001", &primary));
  EXPECT_EQ(primary.role(), "master");
  EXPECT_EQ(primary.connected_replicas(), 1u);
  EXPECT_EQ(primary.keys(), 1u);

  // A node cannot follow itself; cluster RPCs are refused in cluster-mode-disabled nodes.
  st = ReplicaOf(a, "s-001", "127.0.0.1", p1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = Meet(a, "s-001", p2);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();

  // Promote: REPLICAOF NO ONE.
  st = ReplicaOf(a, "s-002", "", 0);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(GetStatus(a, "s-002", &s));
  EXPECT_EQ(s.role(), "master");
}

TEST_F(AgentTest, LaunchErrorsAndUnknownNodes) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;

  // Engine versions.
  pb::NodeSpec spec = MakeSpec("e-001", base_, true);
  spec.set_engine_version("6.2");
  auto st = Launch(a, spec);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  for (const char* v : {"7", "7.0", "7.0.15"}) {
    spec.set_engine_version(v);
    spec.set_node_id(std::string("v-") + (v[1] ? v + 2 : "x"));
    spec.set_port(base_ + 1);
    st = Launch(a, spec);
    EXPECT_TRUE(st.ok()) << v << ": " << st.error_message();
    EXPECT_TRUE(Stop(a, spec.node_id(), true).ok());
  }

  // Port outside the agent's range; bad node id.
  st = Launch(a, MakeSpec("e-002", base_ + kPorts, true));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = Launch(a, MakeSpec("../e", base_, true));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();

  // Client port taken by someone else: RESOURCE_EXHAUSTED, fast. Then the bus port.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(base_ + 2);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    auto t0 = Clock::now();
    st = Launch(a, MakeSpec("e-003", base_ + 2, true));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_LT(MsSince(t0), 500);
    EXPECT_FALSE(fs::exists(a.node_dir("e-003")));
    ::close(fd);

    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_port = htons(base_ + 3 + 10000);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    st = Launch(a, MakeSpec("e-004", base_ + 3, true));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    // Cluster mode off does not use the bus port.
    st = Launch(a, MakeSpec("e-004", base_ + 3, false));
    EXPECT_TRUE(st.ok()) << st.error_message();
    ::close(fd);
    // Another node of ours on the port.
    st = Launch(a, MakeSpec("e-005", base_ + 3, false));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  }

  // A directive redis rejects: the launch fails with INVALID_ARGUMENT and leaves nothing.
  spec = MakeSpec("e-006", base_ + 4, false);
  (*spec.mutable_config())["no-such-directive"] = "1";
  st = Launch(a, spec);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("no-such-directive"), std::string::npos) << st.error_message();
  EXPECT_FALSE(fs::exists(a.node_dir("e-006")));
  // Directives the agent owns are refused up front.
  spec = MakeSpec("e-007", base_ + 4, false);
  (*spec.mutable_config())["dir"] = "/tmp";
  EXPECT_EQ(Launch(a, spec).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Unknown nodes.
  pb::NodeStatus s;
  grpc::Status gst;
  EXPECT_FALSE(GetStatus(a, "nope", &s, &gst));
  EXPECT_EQ(gst.error_code(), grpc::StatusCode::NOT_FOUND);
  bool existed = true;
  st = Stop(a, "nope", true, &existed);
  EXPECT_TRUE(st.ok());
  EXPECT_FALSE(existed);
  EXPECT_EQ(Meet(a, "nope", base_).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReplicaOf(a, "nope", "", 0).error_code(), grpc::StatusCode::NOT_FOUND);

  // Cluster-node argument errors.
  ASSERT_TRUE(Launch(a, MakeSpec("k-001", base_ + 5, true)).ok());
  EXPECT_EQ(Replicate(a, "k-001", "0123456789012345678901234567890123456789").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReplicaOf(a, "k-001", "127.0.0.1", base_).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  pb::ClusterMeetRequest mreq;
  mreq.set_node_id("k-001");
  mreq.set_peer_ip("localhost");
  mreq.set_peer_port(base_);
  pb::Ack ack;
  auto ctx = Ctx();
  EXPECT_EQ(a.stub().ClusterMeet(ctx.get(), mreq, &ack).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(AddSlots(a, "k-001", {5, 3}, 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Meeting itself is a no-op.
  EXPECT_TRUE(Meet(a, "k-001", base_ + 5).ok());
}

// A slow LaunchNode must not stall other RPCs: redis_server is a wrapper that sleeps 2 s before
// starting nodes whose id contains "slow".
TEST_F(AgentTest, SlowLaunchDoesNotBlockOtherNodes) {
  std::string wrapper = dir_.path() + "/redis-wrapper.sh";
  {
    std::ofstream w(wrapper);
    w << "#!/bin/sh\n"
      << "case \"$1\" in *slow*) sleep 2 ;; esac\n"
      << "exec redis-server \"$@\"\n";
  }
  ::chmod(wrapper.c_str(), 0755);
  AgentOptions o;
  o.redis_server = wrapper;
  auto agent = NewAgent(o);
  agent->Start();
  AgentProcess& a = *agent;
  ASSERT_TRUE(Launch(a, MakeSpec("fast-001", base_, true)).ok());

  auto t0 = Clock::now();
  auto slow = std::async(std::launch::async, [&] { return Launch(a, MakeSpec("slow-001", base_ + 1, true)); });
  std::this_thread::sleep_for(milliseconds(200));
  long long worst = 0;
  int calls = 0, starting_seen = 0;
  while (slow.wait_for(milliseconds(0)) != std::future_status::ready) {
    auto c0 = Clock::now();
    pb::NodeStatus s;
    EXPECT_TRUE(GetStatus(a, "fast-001", &s));
    EXPECT_EQ(s.state(), pb::NODE_RUNNING);
    pb::NodeStatus slow_status;
    EXPECT_TRUE(GetStatus(a, "slow-001", &slow_status));
    if (slow_status.state() == pb::NODE_STARTING) ++starting_seen;  // RUNNING at the very end
    EXPECT_TRUE(Meet(a, "fast-001", base_ + 2).ok());  // admin RPC on another node
    worst = std::max(worst, MsSince(c0));
    ++calls;
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto st = slow.get();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_GE(MsSince(t0), 1900);
  EXPECT_GT(calls, 5);
  EXPECT_GE(starting_seen, calls - 1);
  EXPECT_LT(worst, 300) << "RPCs on other nodes stalled behind a slow launch";
  std::printf("[timing] %d status/admin rounds during a 2 s launch, slowest %lld ms\n", calls, worst);
}

TEST_F(AgentTest, RedisConnPipelinesAgainstARealNode) {
  auto agent = NewAgent();
  agent->Start();
  ASSERT_TRUE(Launch(*agent, MakeSpec("p-001", base_, false)).ok());
  RedisConn c = Conn(base_);
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 1000; ++i) cmds.push_back({"SET", "k" + std::to_string(i), std::string("v\0x", 3)});
  cmds.push_back({"LPUSH", "k0", "x"});  // WRONGTYPE error reply in the middle of a batch
  cmds.push_back({"GET", "k999"});
  auto t0 = Clock::now();
  auto r = c.Pipeline(cmds);
  std::printf("[timing] 1002 pipelined commands in %lld ms\n", MsSince(t0));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1002u);
  EXPECT_TRUE((*r)[0].ok());
  ASSERT_FALSE((*r)[1000].ok());
  EXPECT_NE((*r)[1000].error().message.find("WRONGTYPE"), std::string::npos);
  ASSERT_TRUE((*r)[1001].ok());
  EXPECT_EQ((*r)[1001]->str(), std::string("v\0x", 3));  // binary safe
  EXPECT_TRUE(c.connected());  // error replies keep the connection
  auto dbsize = c.Command({"DBSIZE"});
  ASSERT_TRUE(dbsize.ok());
  EXPECT_EQ(dbsize->integer(), 1000);
  // Append/GetReply directly.
  ASSERT_TRUE(c.Append({"PING"}).ok());
  ASSERT_TRUE(c.Append({"ECHO", "hi"}).ok());
  EXPECT_EQ(c.pending(), 2u);
  EXPECT_EQ(c.GetReply()->str(), "PONG");
  EXPECT_EQ(c.GetReply()->str(), "hi");
  // The server closes the connection: the next command reconnects.
  ASSERT_TRUE(c.Command({"CLIENT", "KILL", "TYPE", "normal"}).ok() || true);
  auto again = c.Command({"PING"});
  if (!again.ok()) again = c.Command({"PING"});
  EXPECT_TRUE(again.ok()) << again.error().message;
}

TEST_F(AgentTest, SecondAgentOnTheSameDataDirIsRefused) {
  auto agent = NewAgent();
  agent->Start();
  ASSERT_TRUE(Launch(*agent, MakeSpec("l-001", base_, false)).ok());
  std::string err = dir_.path() + "/second.err";
  std::string cmd = std::string(CF_AGENT_BINARY) + " --config " + agent->config_path() +
                    " >/dev/null 2>" + err;
  int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) != 0) << rc;
  EXPECT_NE(ReadFileOrEmpty(err).find("in use by another cachefleet-agent"), std::string::npos)
      << ReadFileOrEmpty(err);
  // The first agent and its node are untouched.
  pb::NodeStatus s;
  ASSERT_TRUE(GetStatus(*agent, "l-001", &s));
  EXPECT_EQ(s.state(), pb::NODE_RUNNING);
  EXPECT_EQ(RedisPidsOnPort(base_).size(), 1u);
}

TEST(AgentBinaryTest, BadConfigExitsNonZero) {
  TempDir dir;
  std::string cfg = dir.path() + "/bad.yaml";
  {
    std::ofstream o(cfg);
    o << "host_id: host-a\nadvertised_address: not-an-ip\n";
  }
  std::string cmd = std::string(CF_AGENT_BINARY) + " --config " + cfg + " 2>" + dir.path() + "/err";
  int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) != 0) << rc;
  std::string err = ReadFileOrEmpty(dir.path() + "/err");
  EXPECT_NE(err.find("config:"), std::string::npos) << err;
  rc = std::system((std::string(CF_AGENT_BINARY) + " 2>/dev/null").c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
}

// ---------------------------------------------------------------------------------------------
// Fleet side: RecordingFleet (agent_test_base.h) starts after the agent (the agent must keep
// retrying), and asks for one re-registration.

TEST_F(AgentTest, RegistersWithALateOrchestratorAndHeartbeats) {
  uint16_t fleet_port = PickUnusedPort();
  AgentOptions o;
  o.orchestrator = "127.0.0.1:" + std::to_string(fleet_port);
  o.host_id = "host-f";
  auto agent = NewAgent(o);
  agent->Start();
  AgentProcess& a = *agent;
  ASSERT_TRUE(Launch(a, MakeSpec("f-001", base_, true)).ok());

  // Nothing listens yet; the agent keeps serving and retrying.
  std::this_thread::sleep_for(milliseconds(700));
  RecordingFleet fleet;
  grpc::ServerBuilder b;
  int selected = 0;
  b.AddListeningPort("127.0.0.1:" + std::to_string(fleet_port), grpc::InsecureServerCredentials(), &selected);
  b.RegisterService(&fleet);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server);
  ASSERT_EQ(selected, fleet_port);
  auto t0 = Clock::now();

  ASSERT_TRUE(WaitFor([&] { return !fleet.registers().empty(); }, 10000));
  std::printf("[timing] registered %lld ms after the Fleet server started\n", MsSince(t0));
  pb::RegisterRequest r = fleet.registers()[0];
  EXPECT_EQ(r.host_id(), "host-f");
  EXPECT_EQ(r.advertised_address(), "127.0.0.1");
  EXPECT_EQ(r.availability_zone(), "lab-a");
  EXPECT_EQ(r.agent_endpoint(), a.endpoint());
  EXPECT_EQ(r.port_range_start(), base_);
  EXPECT_EQ(r.port_range_end(), base_ + kPorts - 1);
  ASSERT_EQ(r.redis_versions_size(), 1);
  EXPECT_EQ(r.redis_versions(0), "7.0.15");
  EXPECT_EQ(r.boot_id().size(), 32u);
  ASSERT_EQ(r.nodes_size(), 1);
  EXPECT_EQ(r.nodes(0).node_id(), "f-001");
  EXPECT_EQ(r.nodes(0).state(), pb::NODE_RUNNING);

  ASSERT_TRUE(WaitFor([&] { return fleet.heartbeats().size() >= 3; }, 5000));
  pb::HeartbeatRequest hb = fleet.heartbeats().back();
  EXPECT_EQ(hb.host_id(), "host-f");
  EXPECT_EQ(hb.boot_id(), r.boot_id());
  ASSERT_EQ(hb.nodes_size(), 1);
  EXPECT_FALSE(hb.nodes(0).cluster_node_id().empty());

  fleet.AskReregister();
  ASSERT_TRUE(WaitFor([&] { return fleet.registers().size() >= 2; }, 5000));
  EXPECT_EQ(fleet.registers()[1].boot_id(), r.boot_id());

  // A new agent process has a new boot id.
  a.Kill9();
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return fleet.registers().size() >= 3; }, 10000));
  EXPECT_NE(fleet.registers().back().boot_id(), r.boot_id());
  EXPECT_EQ(fleet.registers().back().nodes_size(), 1);
  server->Shutdown(std::chrono::system_clock::now() + milliseconds(1000));
}

}  // namespace
}  // namespace cf::agent::testing
