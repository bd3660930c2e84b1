// Failover primitives and settings (proto: hold_on_exit, NODE_EXITED, KillNode, RestartNode,
// Failover, ReconfigureNode) against the real cachefleet-agent binary and real redis-servers.
// Timings are printed as "[timing] ..." lines.
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"
#include "agent/tests/agent_fixture.h"
#include "agent/tests/agent_test_base.h"

namespace cf::agent::testing {
namespace {

namespace fs = std::filesystem;

// A Fleet service with a long heartbeat interval (10 s), so any heartbeat within a second of a
// node exit is the agent's immediate report.
class SlowFleet final : public pb::Fleet::Service {
 public:
  struct Beat {
    Clock::time_point at;
    pb::HeartbeatRequest req;
  };
  grpc::Status Register(grpc::ServerContext*, const pb::RegisterRequest*,
                        pb::RegisterReply* rep) override {
    std::lock_guard lk(mu_);
    ++registers_;
    rep->set_heartbeat_interval_ms(10000);
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const pb::HeartbeatRequest* req,
                         pb::HeartbeatReply*) override {
    std::lock_guard lk(mu_);
    beats_.push_back({Clock::now(), *req});
    return grpc::Status::OK;
  }
  int registers() {
    std::lock_guard lk(mu_);
    return registers_;
  }
  // The first heartbeat after `since` that reports `id` in `state`.
  bool FindBeat(Clock::time_point since, const std::string& id, pb::NodeState state, Beat* out) {
    std::lock_guard lk(mu_);
    for (const auto& b : beats_) {
      if (b.at < since) continue;
      for (const auto& n : b.req.nodes()) {
        if (n.node_id() == id && n.state() == state) {
          *out = b;
          return true;
        }
      }
    }
    return false;
  }
  size_t beats_since(Clock::time_point since) {
    std::lock_guard lk(mu_);
    size_t c = 0;
    for (const auto& b : beats_) c += b.at >= since;
    return c;
  }

 private:
  std::mutex mu_;
  int registers_ = 0;
  std::vector<Beat> beats_;
};

class FailoverTest : public AgentTest {
 protected:
  void TearDown() override {
    if (fleet_server_) fleet_server_->Shutdown(std::chrono::system_clock::now() + milliseconds(500));
  }

  // Starts the SlowFleet and returns its address.
  std::string StartFleet() {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&fleet_);
    fleet_server_ = b.BuildAndStart();
    EXPECT_TRUE(fleet_server_ && port > 0);
    return "127.0.0.1:" + std::to_string(port);
  }

  static pb::NodeSpec HoldSpec(const std::string& id, uint16_t port, bool cluster,
                               uint32_t hold_max_ms = 0, uint32_t node_timeout_ms = 5000) {
    pb::NodeSpec s = MakeSpec(id, port, cluster, node_timeout_ms);
    s.set_hold_on_exit(true);
    s.set_hold_max_ms(hold_max_ms);
    return s;
  }

  grpc::Status KillNode(AgentProcess& a, const std::string& id, pb::NodeStatus* out = nullptr) {
    pb::KillNodeRequest req;
    req.set_node_id(id);
    pb::NodeStatus s;
    auto ctx = Ctx(10000);
    auto st = a.stub().KillNode(ctx.get(), req, &s);
    if (out) *out = s;
    return st;
  }

  grpc::Status RestartNode(AgentProcess& a, const std::string& id, pb::NodeStatus* out = nullptr,
                           const pb::PeerNode* replica_of = nullptr, uint32_t ready_ms = 10000) {
    pb::RestartNodeRequest req;
    req.set_node_id(id);
    if (replica_of) *req.mutable_replica_of() = *replica_of;
    req.set_ready_timeout_ms(ready_ms);
    pb::NodeStatus s;
    auto ctx = Ctx(ready_ms + 5000);
    auto st = a.stub().RestartNode(ctx.get(), req, &s);
    if (out) *out = s;
    return st;
  }

  grpc::Status Failover(AgentProcess& a, const std::string& id, pb::FailoverMode mode,
                        pb::FailoverReply* out, uint32_t timeout_ms = 5000,
                        uint32_t force_timeout_ms = 0) {
    pb::FailoverRequest req;
    req.set_node_id(id);
    req.set_mode(mode);
    req.set_timeout_ms(timeout_ms);
    req.set_force_timeout_ms(force_timeout_ms);
    auto ctx = Ctx(timeout_ms + 5000);
    return a.stub().Failover(ctx.get(), req, out);
  }

  grpc::Status Reconfigure(AgentProcess& a, const pb::NodeSpec& spec, bool restart,
                           pb::NodeStatus* out = nullptr) {
    pb::ReconfigureNodeRequest req;
    *req.mutable_spec() = spec;
    req.set_restart(restart);
    req.set_ready_timeout_ms(10000);
    pb::NodeStatus s;
    auto ctx = Ctx(20000);
    auto st = a.stub().ReconfigureNode(ctx.get(), req, &s);
    if (out) *out = s;
    return st;
  }

  pb::NodeStatus Status(AgentProcess& a, const std::string& id) {
    pb::NodeStatus s;
    EXPECT_TRUE(GetStatus(a, id, &s)) << id;
    return s;
  }

  // 3 masters (slots split in thirds, epochs 1..3) and ids[3] a replica of ids[0], all held on
  // exit; waits until every node is ok and sees the replica (see Healthy).
  void FormCluster(AgentProcess& a, const std::vector<std::string>& ids,
                   const std::vector<uint16_t>& ports, std::vector<std::string>* cid,
                   uint32_t node_timeout_ms) {
    cid->assign(4, "");
    for (int i = 0; i < 4; ++i) {
      pb::NodeStatus st;
      ASSERT_TRUE(Launch(a, HoldSpec(ids[i], ports[i], true, 0, node_timeout_ms), &st).ok());
      (*cid)[i] = st.cluster_node_id();
    }
    ASSERT_TRUE(AddSlots(a, ids[0], {0, 5460}, 1).ok());
    ASSERT_TRUE(AddSlots(a, ids[1], {5461, 10922}, 2).ok());
    ASSERT_TRUE(AddSlots(a, ids[2], {10923, 16383}, 3).ok());
    for (int i = 1; i < 4; ++i) ASSERT_TRUE(Meet(a, ids[0], ports[i]).ok());
    ASSERT_TRUE(WaitFor([&] {
      for (int i = 0; i < 4; ++i) {
        if (Status(a, ids[i]).cluster_known_nodes() != 4) return false;
      }
      return true;
    }, 10000, 20));
    ASSERT_TRUE(WaitFor([&] { return Replicate(a, ids[3], (*cid)[0]).ok(); }, 5000, 20));
    ASSERT_TRUE(WaitFor([&] { return Healthy(a, ids, *cid, 3, 0); }, 15000, 20))
        << "cluster did not form";
  }

  // Every node ok and seeing `replica` as a replica of `master` (masters that still see a
  // fresh replica as a master deny it their FORCE vote: "it is a master node"); the replica
  // linked.
  bool Healthy(AgentProcess& a, const std::vector<std::string>& ids,
               const std::vector<std::string>& cid, int replica, int master) {
    for (size_t i = 0; i < ids.size(); ++i) {
      auto s = Status(a, ids[i]);
      if (s.cluster_state() != "ok") return false;
      bool seen = false;
      for (const auto& v : s.replicas_seen()) {
        seen = seen || (v.cluster_node_id() == cid[replica] &&
                        v.master_cluster_node_id() == cid[master]);
      }
      if (!seen) return false;
    }
    auto r = Status(a, ids[replica]);
    return r.role() == "slave" && r.master_cluster_node_id() == cid[master] && r.master_link_up();
  }

  static std::string ConfigGet(RedisConn& c, const std::string& key) {
    auto r = c.Command({"CONFIG", "GET", key});
    if (!r.ok() || r->size() < 2) return "?";
    return r->at(1).str();
  }

  SlowFleet fleet_;
  std::unique_ptr<grpc::Server> fleet_server_;
};

// ---------------------------------------------------------------------------------------------

TEST_F(FailoverTest, HoldOnExitReportsAtOnceKillAndRestartInPlace) {
  AgentOptions o;
  o.orchestrator = StartFleet();
  auto agent = NewAgent(o);
  agent->Start();
  AgentProcess& a = *agent;
  pb::NodeStatus st;
  ASSERT_TRUE(Launch(a, HoldSpec("h-001", base_, false), &st).ok());
  ASSERT_TRUE(Launch(a, MakeSpec("h-002", base_ + 1, false)).ok());
  ASSERT_TRUE(WaitFor([&] { return fleet_.registers() > 0; }, 10000));
  std::this_thread::sleep_for(milliseconds(100));  // let the first heartbeat timer start

  // An unexpected exit of a hold_on_exit node: held, reported at once.
  pid_t pid = static_cast<pid_t>(st.pid());
  auto t0 = Clock::now();
  ::kill(pid, SIGKILL);
  SlowFleet::Beat beat;
  ASSERT_TRUE(WaitFor([&] { return fleet_.FindBeat(t0, "h-001", pb::NODE_EXITED, &beat); }, 3000, 2))
      << "no heartbeat reported the exit";
  auto report_ms = std::chrono::duration_cast<milliseconds>(beat.at - t0).count();
  std::printf("[timing] exit of a held node reported by heartbeat after %lld ms\n",
              static_cast<long long>(report_ms));
  EXPECT_LT(report_ms, 1000);
  for (const auto& n : beat.req.nodes()) {
    if (n.node_id() == "h-001") {
      EXPECT_GT(n.exited_at_ms(), 0);
      EXPECT_EQ(n.pid(), 0);
    }
  }
  std::this_thread::sleep_for(milliseconds(500));
  st = Status(a, "h-001");
  EXPECT_EQ(st.state(), pb::NODE_EXITED) << "a held node must not be restarted";
  EXPECT_GT(st.exited_at_ms(), 0);
  EXPECT_NE(st.last_error().find("SIGKILL"), std::string::npos) << st.last_error();
  EXPECT_TRUE(RedisPidsOnPort(base_).empty());
  std::string json = ReadFileOrEmpty(a.node_dir("h-001") + "/node.json");
  EXPECT_NE(json.find("\"held\": true"), std::string::npos) << json;

  // RestartNode in place; a second call is a no-op.
  t0 = Clock::now();
  auto rs = RestartNode(a, "h-001", &st);
  ASSERT_TRUE(rs.ok()) << rs.error_message();
  std::printf("[timing] RestartNode in place: %lld ms\n", MsSince(t0));
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);
  EXPECT_EQ(st.role(), "master");
  EXPECT_EQ(st.restarts(), 0u);
  int64_t new_pid = st.pid();
  EXPECT_GT(new_pid, 0);
  EXPECT_NE(new_pid, pid);
  ASSERT_TRUE(RestartNode(a, "h-001", &st).ok());
  EXPECT_EQ(st.pid(), new_pid);

  // KillNode: gone when it returns; held; idempotent.
  t0 = Clock::now();
  rs = KillNode(a, "h-001", &st);
  ASSERT_TRUE(rs.ok()) << rs.error_message();
  std::printf("[timing] KillNode: %lld ms\n", MsSince(t0));
  EXPECT_EQ(st.state(), pb::NODE_EXITED);
  EXPECT_FALSE(ProcessAlive(static_cast<pid_t>(new_pid)));
  ASSERT_TRUE(KillNode(a, "h-001", &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_EXITED);
  ASSERT_TRUE(RestartNode(a, "h-001", &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);

  // KillNode holds a node whatever its spec says.
  ASSERT_TRUE(KillNode(a, "h-002", &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_EXITED);
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(Status(a, "h-002").state(), pb::NODE_EXITED);
  ASSERT_TRUE(RestartNode(a, "h-002", &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);

  // A node without hold_on_exit is restarted as before, and its exit is reported at once too.
  t0 = Clock::now();
  ::kill(static_cast<pid_t>(st.pid()), SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return fleet_.beats_since(t0) > 0; }, 2000, 2));
  ASSERT_TRUE(WaitFor([&] {
    pb::NodeStatus s;
    return GetStatus(a, "h-002", &s) && s.state() == pb::NODE_RUNNING && s.restarts() == 1;
  }, 5000));

  // Errors: unknown node, mode unset.
  EXPECT_EQ(KillNode(a, "nope").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(RestartNode(a, "nope").error_code(), grpc::StatusCode::NOT_FOUND);
  pb::FailoverReply fr;
  EXPECT_EQ(Failover(a, "h-001", pb::FAILOVER_MODE_UNSPECIFIED, &fr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FailoverTest, HoldMaxRestartsInPlaceButNotAfterKillNode) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  pb::NodeStatus st;
  ASSERT_TRUE(Launch(a, HoldSpec("m-001", base_, false, /*hold_max_ms=*/300), &st).ok());
  ::kill(static_cast<pid_t>(st.pid()), SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return Status(a, "m-001").state() == pb::NODE_EXITED; }, 2000, 5));
  auto t0 = Clock::now();
  ASSERT_TRUE(WaitFor([&] {
    auto s = Status(a, "m-001");
    return s.state() == pb::NODE_RUNNING && s.restarts() == 1;
  }, 5000, 10));
  std::printf("[timing] held node restarted by hold_max_ms (300) after %lld ms\n", MsSince(t0));

  ASSERT_TRUE(KillNode(a, "m-001", &st).ok());
  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_EQ(Status(a, "m-001").state(), pb::NODE_EXITED) << "KillNode holds until RestartNode";
}

TEST_F(FailoverTest, HeldNodesStayHeldAcrossAgentRestart) {
  AgentOptions o;
  o.stop_nodes_on_exit = false;
  auto agent = NewAgent(o);
  agent->Start();
  AgentProcess& a = *agent;
  pb::NodeStatus st;
  ASSERT_TRUE(Launch(a, HoldSpec("r-001", base_, true), &st).ok());
  pid_t held_pid = static_cast<pid_t>(st.pid());
  ASSERT_TRUE(Launch(a, MakeSpec("r-002", base_ + 1, false)).ok());
  ASSERT_TRUE(KillNode(a, "r-002").ok());

  // The agent dies; so does the hold_on_exit node while it is away.
  a.Kill9();
  ::kill(held_pid, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return !ProcessAlive(held_pid); }, 3000));
  a.Start();
  std::this_thread::sleep_for(milliseconds(500));
  st = Status(a, "r-001");
  EXPECT_EQ(st.state(), pb::NODE_EXITED) << st.last_error();
  EXPECT_GT(st.exited_at_ms(), 0);
  EXPECT_TRUE(RedisPidsOnPort(base_).empty());
  st = Status(a, "r-002");
  EXPECT_EQ(st.state(), pb::NODE_EXITED) << "a killed node stays held: " << st.last_error();
  EXPECT_TRUE(RedisPidsOnPort(base_ + 1).empty());

  ASSERT_TRUE(RestartNode(a, "r-001", &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);
  EXPECT_FALSE(st.cluster_node_id().empty());
  ASSERT_TRUE(RestartNode(a, "r-002", &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);
  ASSERT_TRUE(Stop(a, "r-001", true).ok());
  ASSERT_TRUE(Stop(a, "r-002", true).ok());
}

// Cluster mode disabled: planned switch-over with FAILOVER TO (no write lost), then the primary
// is killed, its replica promoted with REPLICAOF NO ONE, and the old primary restarted as a
// replica of the new one.
TEST_F(FailoverTest, StandaloneCoordinatedSwitchoverThenForcedPromotion) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  uint16_t p1 = base_, p2 = base_ + 1;
  ASSERT_TRUE(Launch(a, HoldSpec("s-001", p1, false)).ok());
  ASSERT_TRUE(Launch(a, HoldSpec("s-002", p2, false)).ok());
  ASSERT_TRUE(ReplicaOf(a, "s-002", "127.0.0.1", p1).ok());
  ASSERT_TRUE(WaitFor([&] { return Status(a, "s-002").master_link_up(); }, 5000, 5));

  RedisConn c1 = Conn(p1);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(c1.Command({"SET", "k" + std::to_string(i), std::to_string(i)}).ok());
  }
  auto w = c1.Command({"WAIT", "1", "2000"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->integer(), 1);

  // A client keeps writing during the switch-over; every acknowledged write must survive.
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread writer([&] {
    RedisConn wc = Conn(p1);
    for (int i = 0; !stop; ++i) {
      auto r = wc.Command({"SET", "w" + std::to_string(i), "v"});
      if (r.ok()) {
        acked = i + 1;
      } else {
        break;  // READONLY once the old primary is a replica
      }
    }
  });
  std::this_thread::sleep_for(milliseconds(50));
  pb::FailoverReply fr;
  auto t0 = Clock::now();
  auto fs_ = Failover(a, "s-002", pb::FAILOVER_COORDINATED, &fr);
  stop = true;
  writer.join();
  ASSERT_TRUE(fs_.ok()) << fs_.error_message();
  std::printf("[timing] standalone COORDINATED (FAILOVER TO): %u ms in the agent, %lld ms RPC\n",
              fr.elapsed_ms(), MsSince(t0));
  EXPECT_EQ(fr.method(), "FAILOVER");
  EXPECT_EQ(fr.status().role(), "master");
  RedisConn c2 = Conn(p2);
  auto dbsize = c2.Command({"DBSIZE"});
  ASSERT_TRUE(dbsize.ok());
  EXPECT_GE(dbsize->integer(), 2000 + acked.load());
  for (int i = 0; i < acked; ++i) {
    auto r = c2.Command({"EXISTS", "w" + std::to_string(i)});
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->integer(), 1) << "acknowledged write w" << i << " lost (" << acked << " acked)";
  }
  std::printf("[info] %d writes acknowledged during the switch-over, none lost\n", acked.load());
  ASSERT_TRUE(WaitFor([&] {
    auto s = Status(a, "s-001");
    return s.role() == "slave" && s.master_port() == p2;
  }, 5000, 10)) << "the old primary follows the new one";
  ASSERT_TRUE(Failover(a, "s-002", pb::FAILOVER_COORDINATED, &fr).ok());
  EXPECT_EQ(fr.method(), "already primary");

  // The new primary (s-002) dies; s-001 is promoted by FORCE.
  ASSERT_TRUE(c2.Command({"SET", "after", "1"}).ok());
  ASSERT_EQ(c2.Command({"WAIT", "1", "2000"})->integer(), 1);
  ASSERT_TRUE(KillNode(a, "s-002").ok());
  t0 = Clock::now();
  auto s = Failover(a, "s-001", pb::FAILOVER_FORCE, &fr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] standalone FORCE: %u ms in the agent, %lld ms RPC\n", fr.elapsed_ms(),
              MsSince(t0));
  EXPECT_EQ(fr.method(), "REPLICAOF NO ONE");
  EXPECT_EQ(fr.status().role(), "master");
  RedisConn c1b = Conn(p1);
  EXPECT_EQ(c1b.Command({"GET", "after"})->str(), "1");

  // The old primary comes back as a replica of s-001 (rendered `replicaof`, never a primary).
  pb::PeerNode peer;
  peer.set_ip("127.0.0.1");
  peer.set_port(p1);
  pb::NodeStatus st;
  t0 = Clock::now();
  s = RestartNode(a, "s-002", &st, &peer);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] RestartNode as replica (standalone): %lld ms\n", MsSince(t0));
  EXPECT_EQ(st.role(), "slave");
  EXPECT_EQ(st.master_port(), p1);
  std::string conf = ReadFileOrEmpty(a.node_dir("s-002") + "/redis.conf");
  EXPECT_NE(conf.find("replicaof 127.0.0.1 " + std::to_string(p1)), std::string::npos) << conf;
  ASSERT_TRUE(WaitFor([&] {
    auto r = Conn(p2).Command({"GET", "after"});
    return r.ok() && r->str() == "1";
  }, 5000, 10));
  // Idempotent: it already follows s-001.
  s = RestartNode(a, "s-002", &st, &peer);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // A crash of that replica restarts it in place as a replica (hold aside): its role is kept.
  ASSERT_TRUE(KillNode(a, "s-002").ok());
  ASSERT_TRUE(RestartNode(a, "s-002", &st).ok());
  EXPECT_EQ(st.role(), "slave");
  EXPECT_EQ(st.master_port(), p1);
}

// Cluster mode: 3 masters, one with a replica. KillNode the master, FORCE on its replica,
// RestartNode(replica_of) of the old master, then TAKEOVER back.
TEST_F(FailoverTest, ClusterKillForceRejoinTakeover) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  const uint32_t kNodeTimeout = 2000;
  std::vector<std::string> ids = {"c-0001-001", "c-0002-001", "c-0003-001", "c-0001-002"};
  std::vector<uint16_t> ports;
  for (int i = 0; i < 4; ++i) ports.push_back(static_cast<uint16_t>(base_ + i));
  std::vector<std::string> cid;
  FormCluster(a, ids, ports, &cid, kNodeTimeout);
  if (HasFatalFailure()) return;
  auto healthy = [&](int replica, int master) { return Healthy(a, ids, cid, replica, master); };

  // Keys in the first shard ({b} hashes to slot 3300).
  RedisConn m0 = Conn(ports[0]);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(m0.Command({"SET", "{b}:" + std::to_string(i), "v"}).ok());
  }
  ASSERT_EQ(m0.Command({"WAIT", "1", "2000"})->integer(), 1);
  uint64_t epoch_before = Status(a, ids[3]).config_epoch();

  // The master dies; its replica is forced to take over before any node timeout.
  auto t0 = Clock::now();
  pb::NodeStatus st;
  ASSERT_TRUE(KillNode(a, ids[0], &st).ok());
  EXPECT_EQ(st.state(), pb::NODE_EXITED);
  pb::FailoverReply fr;
  auto s = Failover(a, ids[3], pb::FAILOVER_FORCE, &fr, 5000, 1000);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] cluster FORCE after KillNode: method %s, %u ms in the agent, %lld ms "
              "from the kill\n", fr.method().c_str(), fr.elapsed_ms(), MsSince(t0));
  EXPECT_TRUE(fr.method() == "FORCE" || fr.method() == "TAKEOVER") << fr.method();
  EXPECT_EQ(fr.status().role(), "master");
  ASSERT_EQ(fr.status().slots_size(), 1);
  EXPECT_EQ(fr.status().slots(0).start(), 0u);
  EXPECT_EQ(fr.status().slots(0).end(), 5460u);
  EXPECT_GT(fr.status().config_epoch(), epoch_before);
  EXPECT_GT(fr.status().config_epoch(), 3u);
  EXPECT_EQ(Conn(ports[3]).Command({"DBSIZE"})->integer(), 200);
  ASSERT_TRUE(Failover(a, ids[3], pb::FAILOVER_FORCE, &fr).ok());
  EXPECT_EQ(fr.method(), "already primary");

  // The old master returns with its nodes.conf and must follow the new master.
  pb::PeerNode peer;
  peer.set_cluster_node_id(cid[3]);
  peer.set_ip("127.0.0.1");
  peer.set_port(ports[3]);
  t0 = Clock::now();
  s = RestartNode(a, ids[0], &st, &peer);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] cluster RestartNode(replica_of): %lld ms\n", MsSince(t0));
  EXPECT_EQ(st.role(), "slave");
  EXPECT_EQ(st.cluster_node_id(), cid[0]) << "same cluster node id (nodes.conf kept)";
  EXPECT_EQ(st.master_cluster_node_id(), cid[3]);
  EXPECT_EQ(st.slots_size(), 0);
  ASSERT_TRUE(WaitFor([&] { return healthy(0, 3); }, 15000, 20))
      << "old master not a linked replica of the new one";
  EXPECT_EQ(Conn(ports[0]).Command({"DBSIZE"})->integer(), 200);
  s = RestartNode(a, ids[0], &st, &peer);  // idempotent
  ASSERT_TRUE(s.ok()) << s.error_message();

  // TAKEOVER back to the original master (no vote).
  t0 = Clock::now();
  s = Failover(a, ids[0], pb::FAILOVER_TAKEOVER, &fr);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] cluster TAKEOVER: %u ms\n", fr.elapsed_ms());
  EXPECT_EQ(fr.method(), "TAKEOVER");
  EXPECT_EQ(fr.status().role(), "master");
  ASSERT_EQ(fr.status().slots_size(), 1);
  EXPECT_EQ(fr.status().slots(0).end(), 5460u);
  ASSERT_TRUE(WaitFor([&] { return healthy(3, 0); }, 15000, 20))
      << "the replaced master did not follow the new one";
}

// Cluster mode: a planned switch-over (CLUSTER FAILOVER) under a writing client loses no
// acknowledged write; the old master follows the new one.
TEST_F(FailoverTest, ClusterCoordinatedSwitchoverLosesNoWrite) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  std::vector<std::string> ids = {"k-0001-001", "k-0002-001", "k-0003-001", "k-0001-002"};
  std::vector<uint16_t> ports;
  for (int i = 0; i < 4; ++i) ports.push_back(static_cast<uint16_t>(base_ + i));
  std::vector<std::string> cid;
  FormCluster(a, ids, ports, &cid, 2000);
  if (HasFatalFailure()) return;

  // A client writes to the shard's master ({b} -> slot 3300) until it is told to go elsewhere.
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::string last_error;
  std::thread writer([&] {
    RedisConn wc = Conn(ports[0]);
    for (int i = 0; !stop; ++i) {
      auto r = wc.Command({"SET", "{b}:w" + std::to_string(i), "v"});
      if (!r.ok()) {
        last_error = r.error().message;  // MOVED once the old master is a replica
        break;
      }
      acked = i + 1;
    }
  });
  std::this_thread::sleep_for(milliseconds(100));
  pb::FailoverReply fr;
  auto t0 = Clock::now();
  auto s = Failover(a, ids[3], pb::FAILOVER_COORDINATED, &fr);
  stop = true;
  writer.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] cluster COORDINATED (CLUSTER FAILOVER): %u ms in the agent, %lld ms RPC; "
              "%d writes acknowledged before the switch (%s)\n",
              fr.elapsed_ms(), MsSince(t0), acked.load(), last_error.c_str());
  EXPECT_EQ(fr.method(), "CLUSTER FAILOVER");
  EXPECT_EQ(fr.status().role(), "master");
  ASSERT_EQ(fr.status().slots_size(), 1);
  EXPECT_EQ(fr.status().slots(0).end(), 5460u);
  RedisConn nm = Conn(ports[3]);
  for (int i = 0; i < acked; ++i) {
    auto r = nm.Command({"EXISTS", "{b}:w" + std::to_string(i)});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->integer(), 1) << "acknowledged write {b}:w" << i << " lost";
  }
  ASSERT_TRUE(WaitFor([&] { return Healthy(a, ids, cid, 0, 3); }, 15000, 20))
      << "the old master did not follow the new one";
  // COORDINATED sent to a master: nothing to do.
  ASSERT_TRUE(Failover(a, ids[3], pb::FAILOVER_COORDINATED, &fr).ok());
  EXPECT_EQ(fr.method(), "already primary");
  // COORDINATED with a dead master is refused by Redis (use FORCE): FAILED_PRECONDITION.
  ASSERT_TRUE(KillNode(a, ids[3]).ok());
  std::this_thread::sleep_for(milliseconds(300));
  s = Failover(a, ids[0], pb::FAILOVER_COORDINATED, &fr, 2000);
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
              s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_code() << " " << s.error_message();
  std::printf("[info] COORDINATED with the master dead: %s\n", s.error_message().c_str());
}

TEST_F(FailoverTest, ReconfigureNodeConfigSetAtomicAndRestart) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  pb::NodeSpec spec = MakeSpec("cfg-001", base_, false);
  pb::NodeStatus st;
  ASSERT_TRUE(Launch(a, spec, &st).ok());
  int64_t pid = st.pid();
  RedisConn c = Conn(base_);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.Command({"SET", "k" + std::to_string(i), "v"}).ok());

  // CONFIG SET of the differences.
  pb::NodeSpec next = spec;
  next.set_maxmemory_bytes(100ull << 20);
  (*next.mutable_config())["maxmemory-samples"] = "7";
  auto s = Reconfigure(a, next, false, &st);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(st.pid(), pid);
  EXPECT_EQ(st.maxmemory(), 100ull << 20);
  EXPECT_EQ(ConfigGet(c, "maxmemory"), std::to_string(100ull << 20));
  EXPECT_EQ(ConfigGet(c, "maxmemory-samples"), "7");
  std::string json = ReadFileOrEmpty(a.node_dir("cfg-001") + "/node.json");
  EXPECT_NE(json.find(std::to_string(100ull << 20)), std::string::npos) << json;
  EXPECT_NE(ReadFileOrEmpty(a.node_dir("cfg-001") + "/redis.conf").find("maxmemory-samples 7"),
            std::string::npos);
  ASSERT_TRUE(Reconfigure(a, next, false, &st).ok());  // idempotent

  // A key Redis refuses: INVALID_ARGUMENT naming it, and nothing changed (atomic).
  pb::NodeSpec bad = next;
  bad.set_maxmemory_bytes(200ull << 20);
  (*bad.mutable_config())["maxmemory-samples"] = "9";
  (*bad.mutable_config())["no-such-option"] = "1";
  s = Reconfigure(a, bad, false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("no-such-option"), std::string::npos) << s.error_message();
  EXPECT_EQ(ConfigGet(c, "maxmemory"), std::to_string(100ull << 20));
  EXPECT_EQ(ConfigGet(c, "maxmemory-samples"), "7");
  EXPECT_EQ(ReadFileOrEmpty(a.node_dir("cfg-001") + "/node.json"), json) << "spec unchanged";
  // A bad value of a real key too.
  bad = next;
  bad.set_maxmemory_bytes(300ull << 20);
  (*bad.mutable_config())["maxmemory-samples"] = "not-a-number";
  s = Reconfigure(a, bad, false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(ConfigGet(c, "maxmemory"), std::to_string(100ull << 20));

  // What must not change.
  bad = next;
  bad.set_cluster_enabled(true);
  EXPECT_EQ(Reconfigure(a, bad, false).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bad = next;
  bad.set_group_id("other");
  EXPECT_EQ(Reconfigure(a, bad, false).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // restart=true: a static parameter; the data and the directory are kept.
  pb::NodeSpec restart = next;
  (*restart.mutable_config())["databases"] = "32";
  auto t0 = Clock::now();
  s = Reconfigure(a, restart, true, &st);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("[timing] ReconfigureNode restart=true: %lld ms\n", MsSince(t0));
  EXPECT_NE(st.pid(), pid);
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);
  EXPECT_EQ(st.keys(), 100u);
  RedisConn c2 = Conn(base_);
  EXPECT_EQ(ConfigGet(c2, "databases"), "32");
  EXPECT_EQ(ConfigGet(c2, "maxmemory-samples"), "7");
  EXPECT_EQ(c2.Command({"DBSIZE"})->integer(), 100);
  EXPECT_FALSE(fs::exists(a.node_dir("cfg-001") + "/dump.rdb")) << "the restart snapshot is removed";
  int64_t pid2 = st.pid();
  ASSERT_TRUE(Reconfigure(a, restart, true, &st).ok());
  EXPECT_EQ(st.pid(), pid2) << "the same spec again does not restart";
  EXPECT_EQ(st.restarts(), 0u);

  // restart=true with a directive redis refuses at start: INVALID_ARGUMENT, back on the old
  // spec with its data (no crash loop on a spec nobody can run).
  pb::NodeSpec broken = restart;
  (*broken.mutable_config())["no-such-directive"] = "1";
  s = Reconfigure(a, broken, true, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("no-such-directive"), std::string::npos) << s.error_message();
  st = Status(a, "cfg-001");
  EXPECT_EQ(st.state(), pb::NODE_RUNNING);
  EXPECT_EQ(st.keys(), 100u);
  EXPECT_EQ(ReadFileOrEmpty(a.node_dir("cfg-001") + "/redis.conf").find("no-such-directive"),
            std::string::npos);
  EXPECT_EQ(ConfigGet(*std::make_unique<RedisConn>(Conn(base_)), "databases"), "32");
}

// The rolling restart's two request fields: static_keys (restart=false: the static value goes
// to the spec only; a dynamic one next to it is CONFIG SET) and force_restart (restart=true
// restarts an unchanged spec, e.g. RebootCacheCluster, and the next start runs the static value).
TEST_F(FailoverTest, ReconfigureNodeStaticKeysAndForceRestart) {
  auto agent = NewAgent();
  agent->Start();
  AgentProcess& a = *agent;
  pb::NodeSpec spec = MakeSpec("rr-001", base_, false);
  pb::NodeStatus st;
  ASSERT_TRUE(Launch(a, spec, &st).ok());
  const int64_t pid = st.pid();
  RedisConn c = Conn(base_);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.Command({"SET", "k" + std::to_string(i), "v"}).ok());

  auto reconfigure = [&](const pb::NodeSpec& sp, bool restart, bool force,
                         std::vector<std::string> statics, pb::NodeStatus* out) {
    pb::ReconfigureNodeRequest req;
    *req.mutable_spec() = sp;
    req.set_restart(restart);
    req.set_force_restart(force);
    for (const auto& k : statics) req.add_static_keys(k);
    req.set_ready_timeout_ms(10000);
    auto ctx = Ctx(20000);
    return a.stub().ReconfigureNode(ctx.get(), req, out);
  };
  pb::NodeSpec next = spec;
  (*next.mutable_config())["databases"] = "32";       // static
  (*next.mutable_config())["maxmemory-samples"] = "9";  // dynamic
  // Without static_keys redis refuses CONFIG SET databases (immutable): nothing changes.
  auto s = reconfigure(next, false, false, {}, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = reconfigure(next, false, false, {"databases"}, &st);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(st.pid(), pid);
  EXPECT_EQ(ConfigGet(c, "databases"), "16") << "static: not applied live";
  EXPECT_EQ(ConfigGet(c, "maxmemory-samples"), "9");
  EXPECT_NE(ReadFileOrEmpty(a.node_dir("rr-001") + "/redis.conf").find("databases 32"),
            std::string::npos);
  // The same spec with restart=true alone does not restart (idempotent) ...
  ASSERT_TRUE(reconfigure(next, true, false, {}, &st).ok());
  EXPECT_EQ(st.pid(), pid);
  // ... force_restart does: the static value runs, the data is kept.
  s = reconfigure(next, true, true, {}, &st);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(st.pid(), pid);
  EXPECT_EQ(st.keys(), 50u);
  RedisConn c2 = Conn(base_);
  EXPECT_EQ(ConfigGet(c2, "databases"), "32");
  EXPECT_EQ(ConfigGet(c2, "maxmemory-samples"), "9");
  // A later restart=false change keeps working with the static key in the spec; a static key
  // left out of the new spec (with static_keys naming it) is dropped from the spec, not refused.
  pb::NodeSpec dropped = spec;
  (*dropped.mutable_config())["maxmemory-samples"] = "8";
  s = reconfigure(dropped, false, false, {"databases"}, &st);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ConfigGet(c2, "maxmemory-samples"), "8");
  EXPECT_EQ(ConfigGet(c2, "databases"), "32") << "until the next restart";
  EXPECT_EQ(ReadFileOrEmpty(a.node_dir("rr-001") + "/redis.conf").find("databases 32"),
            std::string::npos);
}

}  // namespace
}  // namespace cf::agent::testing
