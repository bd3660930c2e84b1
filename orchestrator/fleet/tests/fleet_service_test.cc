// The Fleet gRPC service in-process: Register, Heartbeat (observed status, re-register on an
// unknown host or boot), host-down marking and the health JSON.
#include "orchestrator/fleet/fleet_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cachefleet.grpc.pb.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

namespace pb = ::cachefleet::v1;
using testing::TempDir;

class FleetServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    cfg_.fleet_listen = HostPort{"127.0.0.1", 0};
    cfg_.heartbeat_interval_ms = 250;
    cfg_.host_down_after_ms = 60000;
    ASSERT_TRUE(store_.Open(dir_.file("orch.db")).ok());
    fleet_ = std::make_unique<FleetService>(store_, cfg_);
    ASSERT_TRUE(fleet_->Start().ok());
    ASSERT_NE(fleet_->port(), 0);
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(fleet_->port()),
                                  grpc::InsecureChannelCredentials());
    stub_ = pb::Fleet::NewStub(ch);
  }
  void TearDown() override { fleet_->Stop(); }

  pb::RegisterRequest Registration(const std::string& boot) {
    pb::RegisterRequest r;
    r.set_host_id("host-a");
    r.set_advertised_address("127.0.0.1");
    r.set_availability_zone("lab-a");
    r.set_agent_endpoint("127.0.0.1:5555");
    r.set_port_range_start(30000);
    r.set_port_range_end(30099);
    r.add_redis_versions("7.0.15");
    r.set_boot_id(boot);
    return r;
  }
  grpc::Status Register(const pb::RegisterRequest& req, pb::RegisterReply* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->Register(&ctx, req, reply);
  }
  grpc::Status Heartbeat(const pb::HeartbeatRequest& req, pb::HeartbeatReply* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->Heartbeat(&ctx, req, reply);
  }

  TempDir dir_;
  OrchestratorConfig cfg_;
  Store store_;
  std::unique_ptr<FleetService> fleet_;
  std::unique_ptr<pb::Fleet::Stub> stub_;
};

TEST_F(FleetServiceTest, RegisterHeartbeatAndReregister) {
  pb::RegisterReply rr;
  ASSERT_TRUE(Register(Registration("boot-1"), &rr).ok());
  EXPECT_EQ(rr.heartbeat_interval_ms(), 250u);
  auto h = store_.GetHost("host-a");
  ASSERT_TRUE(h.ok() && *h);
  EXPECT_EQ((*h)->az, "lab-a");
  EXPECT_EQ((*h)->agent_endpoint, "127.0.0.1:5555");
  EXPECT_EQ((*h)->redis_versions, std::vector<std::string>{"7.0.15"});

  pb::HeartbeatRequest hb;
  hb.set_host_id("host-a");
  hb.set_boot_id("boot-1");
  pb::HeartbeatReply reply;
  ASSERT_TRUE(Heartbeat(hb, &reply).ok());
  EXPECT_FALSE(reply.reregister());

  hb.add_warm_cluster_ports(30099);
  ASSERT_TRUE(Heartbeat(hb, &reply).ok());
  EXPECT_EQ((*store_.GetHost("host-a"))->warm_cluster_ports, std::vector<uint32_t>{30099});
  auto health = nlohmann::json::parse(HealthJson(store_, cfg_));
  EXPECT_EQ(health["hosts"][0]["warm_cluster_ports"][0], 30099);

  hb.set_boot_id("boot-2");  // the agent restarted
  ASSERT_TRUE(Heartbeat(hb, &reply).ok());
  EXPECT_TRUE(reply.reregister());
  hb.set_host_id("host-unknown");
  ASSERT_TRUE(Heartbeat(hb, &reply).ok());
  EXPECT_TRUE(reply.reregister());
}

TEST_F(FleetServiceTest, RegisterValidates) {
  pb::RegisterReply rr;
  auto bad = Registration("b");
  bad.set_host_id("");
  EXPECT_EQ(Register(bad, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bad = Registration("b");
  bad.set_port_range_end(100);
  EXPECT_EQ(Register(bad, &rr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FleetServiceTest, HeartbeatsFillObservedColumns) {
  pb::RegisterReply rr;
  ASSERT_TRUE(Register(Registration("boot-1"), &rr).ok());
  NewGroup g;
  g.group.id = "rg";
  g.group.description = "d";
  g.group.cache_node_type = "cache.t3.micro";
  g.node_groups.push_back(NodeGroupRecord{"rg", "0001", {}, "creating"});
  NodeRecord n;
  n.node_id = "rg-001";
  n.node_group_id = "0001";
  g.nodes.push_back(n);
  g.operation.created_ms = g.operation.updated_ms = NowMs();
  ASSERT_TRUE(store_
                  .CreateGroup(g,
                               [](const FleetSnapshot&, std::vector<NodeRecord>& nodes) {
                                 nodes[0].host_id = "host-a";
                                 nodes[0].port = 30000;
                                 nodes[0].az = "lab-a";
                                 return Status();
                               })
                  .ok());
  pb::HeartbeatRequest hb;
  hb.set_host_id("host-a");
  hb.set_boot_id("boot-1");
  auto* s = hb.add_nodes();
  s->set_node_id("rg-001");
  s->set_state(pb::NODE_RUNNING);
  s->set_role("master");
  s->set_repl_offset(42);
  auto* ghost = hb.add_nodes();
  ghost->set_node_id("ghost-001");  // an orphan: logged, ignored
  pb::HeartbeatReply reply;
  ASSERT_TRUE(Heartbeat(hb, &reply).ok());
  auto v = store_.GetGroup("rg");
  const ObservedNode& o = (*v)->nodes[0].observed;
  EXPECT_TRUE(o.known);
  EXPECT_EQ(o.state, "running");
  EXPECT_EQ(o.role, "master");
  EXPECT_EQ(o.repl_offset, 42);
}

TEST_F(FleetServiceTest, SilentHostsGoDownAndHealthShowsIt) {
  pb::RegisterReply rr;
  ASSERT_TRUE(Register(Registration("boot-1"), &rr).ok());
  auto health = nlohmann::json::parse(HealthJson(store_, cfg_));
  EXPECT_EQ(health["status"], "ok");
  ASSERT_EQ(health["hosts"].size(), 1u);
  EXPECT_EQ(health["hosts"][0]["host_id"], "host-a");
  EXPECT_EQ(health["hosts"][0]["az"], "lab-a");
  EXPECT_EQ(health["hosts"][0]["state"], "up");
  EXPECT_EQ(health["hosts"][0]["address"], "127.0.0.1");
  EXPECT_TRUE(health["operations"].is_array());

  // No heartbeat for longer than host_down_after_ms.
  HostRecord h = **store_.GetHost("host-a");
  h.last_heartbeat_ms = NowMs() - cfg_.host_down_after_ms - 1;
  ASSERT_TRUE(store_.UpsertHost(h).ok());
  fleet_->CheckHostsOnce();
  EXPECT_EQ((*store_.GetHost("host-a"))->state, HostState::kDown);
  health = nlohmann::json::parse(HealthJson(store_, cfg_));
  EXPECT_EQ(health["hosts"][0]["state"], "down");
  // The next heartbeat brings it back.
  pb::HeartbeatRequest hb;
  hb.set_host_id("host-a");
  hb.set_boot_id("boot-1");
  pb::HeartbeatReply reply;
  ASSERT_TRUE(Heartbeat(hb, &reply).ok());
  EXPECT_EQ((*store_.GetHost("host-a"))->state, HostState::kUp);
}

}  // namespace
}  // namespace cf::orchestrator
