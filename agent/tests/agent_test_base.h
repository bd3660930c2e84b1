// Shared base for the agent integration tests: AgentTest (a temporary directory, a probed
// port block, RPC helpers) and RecordingFleet (an in-test Fleet service recording Register and
// Heartbeat calls).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "agent/redis/redis_conn.h"
#include "agent/tests/agent_fixture.h"
#include "common/slot_range.h"

namespace cf::agent::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline long long MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
}

inline RedisConn Conn(uint16_t port) {
  return RedisConn({.host = "127.0.0.1", .port = port, .connect_timeout_ms = 500,
                    .command_timeout_ms = 2000});
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override { base_ = FindFreePortBlock(kPorts); }

  std::unique_ptr<AgentProcess> NewAgent(AgentOptions o = {}) {
    o.port_start = base_;
    o.port_end = base_ + kPorts - 1;
    return std::make_unique<AgentProcess>(o, dir_.path());
  }

  grpc::Status Launch(AgentProcess& a, const pb::NodeSpec& spec, pb::NodeStatus* out = nullptr,
                      uint32_t ready_timeout_ms = 10000) {
    pb::LaunchNodeRequest req;
    *req.mutable_spec() = spec;
    req.set_ready_timeout_ms(ready_timeout_ms);
    pb::NodeStatus s;
    auto ctx = Ctx(ready_timeout_ms + 5000);
    grpc::Status st = a.stub().LaunchNode(ctx.get(), req, &s);
    if (out) *out = s;
    return st;
  }

  grpc::Status Stop(AgentProcess& a, const std::string& id, bool purge, bool* existed = nullptr) {
    pb::StopNodeRequest req;
    req.set_node_id(id);
    req.set_purge_data(purge);
    req.set_grace_ms(3000);
    pb::StopNodeReply rep;
    auto ctx = Ctx();
    grpc::Status st = a.stub().StopNode(ctx.get(), req, &rep);
    if (existed) *existed = rep.existed();
    return st;
  }

  grpc::Status AddSlots(AgentProcess& a, const std::string& id, SlotRange r, uint64_t epoch) {
    pb::ClusterAddSlotsRequest req;
    req.set_node_id(id);
    auto* pr = req.add_ranges();
    pr->set_start(r.start);
    pr->set_end(r.end);
    req.set_config_epoch(epoch);
    pb::Ack ack;
    auto ctx = Ctx();
    return a.stub().ClusterAddSlots(ctx.get(), req, &ack);
  }

  grpc::Status Meet(AgentProcess& a, const std::string& id, uint16_t peer_port) {
    pb::ClusterMeetRequest req;
    req.set_node_id(id);
    req.set_peer_ip("127.0.0.1");
    req.set_peer_port(peer_port);
    pb::Ack ack;
    auto ctx = Ctx();
    return a.stub().ClusterMeet(ctx.get(), req, &ack);
  }

  grpc::Status Replicate(AgentProcess& a, const std::string& id, const std::string& master) {
    pb::ClusterReplicateRequest req;
    req.set_node_id(id);
    req.set_master_cluster_node_id(master);
    pb::Ack ack;
    auto ctx = Ctx();
    return a.stub().ClusterReplicate(ctx.get(), req, &ack);
  }

  grpc::Status ReplicaOf(AgentProcess& a, const std::string& id, const std::string& host,
                         uint32_t port) {
    pb::ReplicaOfRequest req;
    req.set_node_id(id);
    req.set_master_host(host);
    req.set_master_port(port);
    pb::Ack ack;
    auto ctx = Ctx();
    return a.stub().ReplicaOf(ctx.get(), req, &ack);
  }

  std::vector<pb::NodeStatus> List(AgentProcess& a) {
    pb::ListNodesRequest req;
    pb::ListNodesReply rep;
    auto ctx = Ctx();
    EXPECT_TRUE(a.stub().ListNodes(ctx.get(), req, &rep).ok());
    return {rep.nodes().begin(), rep.nodes().end()};
  }

  static constexpr int kPorts = 12;
  TempDir dir_;
  uint16_t base_ = 0;
};

class RecordingFleet final : public pb::Fleet::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const pb::RegisterRequest* req,
                        pb::RegisterReply* rep) override {
    std::lock_guard lk(mu_);
    registers_.push_back(*req);
    latest_warm_.assign(req->warm_cluster_ports().begin(), req->warm_cluster_ports().end());
    latest_nodes_ = req->nodes_size();
    rep->set_heartbeat_interval_ms(100);
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const pb::HeartbeatRequest* req,
                         pb::HeartbeatReply* rep) override {
    std::lock_guard lk(mu_);
    heartbeats_.push_back(*req);
    latest_warm_.assign(req->warm_cluster_ports().begin(), req->warm_cluster_ports().end());
    latest_nodes_ = req->nodes_size();
    if (ask_reregister_) {
      ask_reregister_ = false;
      rep->set_reregister(true);
    }
    return grpc::Status::OK;
  }
  std::vector<pb::RegisterRequest> registers() {
    std::lock_guard lk(mu_);
    return registers_;
  }
  std::vector<pb::HeartbeatRequest> heartbeats() {
    std::lock_guard lk(mu_);
    return heartbeats_;
  }
  void AskReregister() {
    std::lock_guard lk(mu_);
    ask_reregister_ = true;
  }
  // warm_cluster_ports / number of nodes of the latest Register or Heartbeat.
  std::vector<uint32_t> latest_warm_ports() {
    std::lock_guard lk(mu_);
    return latest_warm_;
  }
  int latest_nodes() {
    std::lock_guard lk(mu_);
    return latest_nodes_;
  }

 private:
  std::mutex mu_;
  std::vector<uint32_t> latest_warm_;
  int latest_nodes_ = -1;
  std::vector<pb::RegisterRequest> registers_;
  std::vector<pb::HeartbeatRequest> heartbeats_;
  bool ask_reregister_ = false;
};

}  // namespace cf::agent::testing
