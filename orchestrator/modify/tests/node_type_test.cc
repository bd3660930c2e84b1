// ModifyReplicationGroup CacheNodeType as a durable operation (modify_node_type.h,
// node_type_reconciler.h) against the in-process fake agents: the request answers at once
// with the group `modifying`, a crash before each commit resumes at its step with the right
// end state (one event, no node restarted), and a failure midway brings the old type back (a
// refused limit at once, an agent that does not answer once the deadline passed).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using testing::CrashAt;
using testing::FakeFleet;
using Params = std::map<std::string, std::string>;

const Params kCmd = {{"ReplicationGroupId", "g"},
                     {"ReplicationGroupDescription", "d"},
                     {"NumCacheClusters", "3"}};

class NodeTypeTest : public FakeFleet {
 protected:
  void Configure(OrchestratorConfig& cfg) override {
    cfg.failover.restart_ready_timeout_ms = 1000;
    cfg.failover.failover_timeout_ms = 1000;
  }
  void SetUp() override {
    FakeFleet::SetUp();
    StartApp();
    micro_ = cfg_.node_types.Find("cache.t3.micro")->memory_bytes;
    large_ = cfg_.node_types.Find("cache.r6g.large")->memory_bytes;
  }
  std::string Code(const Params& p) {
    auto e = Call("ModifyReplicationGroup", p);
    return e ? e->code : std::string("ok");
  }
  static Params Scale(const std::string& type) {
    return {{"ReplicationGroupId", "g"}, {"CacheNodeType", type}, {"ApplyImmediately", "true"}};
  }
  int EventCount(const std::string& part) {
    int n = 0;
    for (const auto& m : EventMessages("g")) n += m.find(part) != std::string::npos ? 1 : 0;
    return n;
  }
  std::map<std::string, int64_t> Pids() {
    std::map<std::string, int64_t> out;
    std::lock_guard lk(net_->mu);
    for (const auto& n : View("g").nodes) out[n.node_id] = net_->nodes.at(n.node_id).pid;
    return out;
  }
  // The group's latest modify-node-type operation.
  OperationRecord LastOp() {
    auto ops = store().ListOperations("g", 20);
    EXPECT_TRUE(ops.ok());
    for (const auto& op : *ops)
      if (op.kind == OpKind::kModifyNodeType) return op;
    ADD_FAILURE() << "no modify-node-type operation";
    return {};
  }
  bool WaitCrashed(const CrashAt& c) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!c.crashed() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return c.crashed();
  }
  uint64_t micro_ = 0;
  uint64_t large_ = 0;
};

TEST_F(NodeTypeTest, AnswersModifyingAtOnceAndEndsWithTheTypeOnEveryNode) {
  Create(kCmd);
  Heartbeat("g");
  const auto pids = Pids();
  app().StopRunner();  // the state between the request and the worker
  pugi::xml_document doc;
  ASSERT_FALSE(Call("ModifyReplicationGroup", Scale("cache.r6g.large"), &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "modifying");
  EXPECT_STREQ(rg.child_value("CacheNodeType"), "cache.r6g.large");
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{micro_});
  EXPECT_EQ(EventCount("Scaling replication group g from cache.t3.micro to cache.r6g.large"), 1);
  // One modification at a time.
  EXPECT_EQ(Code(Scale("cache.t3.micro")), "InvalidReplicationGroupState");
  EXPECT_EQ(Code({{"ReplicationGroupId", "g"},
                  {"AutomaticFailoverEnabled", "true"},
                  {"ApplyImmediately", "true"}}),
            "InvalidReplicationGroupState");
  ASSERT_TRUE(app().StartRunner().ok());
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{large_});
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(View("g").group.maxmemory_bytes, large_);
  EXPECT_EQ(EventCount("Replication group g scaled from cache.t3.micro to cache.r6g.large"), 1);
  EXPECT_EQ(Pids(), pids);  // restart=false: no node restarted
  EXPECT_EQ(LastOp().state, OpState::kSucceeded);
  // The same type again: nothing to do, no operation.
  ASSERT_EQ(Code(Scale("cache.r6g.large")), "ok");
  EXPECT_EQ(LastOp().state, OpState::kSucceeded);
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
}

TEST_F(NodeTypeTest, ACrashBeforeEachCommitResumesAtItsStep) {
  Create(kCmd);
  Heartbeat("g");
  const auto pids = Pids();
  struct Case {
    OpState at;
    std::string type;
    uint64_t bytes;
  };
  for (const Case& c : {Case{OpState::kPending, "cache.r6g.large", large_},
                        Case{OpState::kResizeNodes, "cache.t3.micro", micro_},
                        Case{OpState::kResizeNodes, "cache.r6g.large", large_}}) {
    SCOPED_TRACE(std::string(OpStateName(c.at)) + " -> " + c.type);
    const std::string scaled = "scaled from " + View("g").group.cache_node_type + " to " + c.type;
    const int scaled_before = EventCount(scaled);
    app().StopRunner();
    NewApp();
    CrashAt crash(Handler(OpKind::kModifyNodeType), c.at);
    StartWith({OpKind::kModifyNodeType}, &crash);
    ASSERT_EQ(Code(Scale(c.type)), "ok");
    ASSERT_TRUE(WaitCrashed(crash));
    app().StopRunner();
    // The orchestrator "died" before the commit: the operation is still at that step.
    EXPECT_EQ(LastOp().state, c.at);
    EXPECT_EQ(GroupStatusName(View("g").group.status), std::string("modifying"));
    // A new process resumes it.
    Restart();
    ASSERT_TRUE(WaitFor("g", "available"));
    const OperationRecord op = LastOp();
    EXPECT_EQ(op.state, OpState::kSucceeded);
    EXPECT_GE(op.attempt, 2);
    EXPECT_EQ(View("g").group.cache_node_type, c.type);
    EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{c.bytes});
    EXPECT_EQ(EventCount(scaled), scaled_before + 1);  // the event is written once
    EXPECT_EQ(Pids(), pids);
  }
}

TEST_F(NodeTypeTest, ARefusedLimitBringsTheOldTypeBackAndACrashWhileRollingBackResumes) {
  Create(kCmd);
  Heartbeat("g");
  agents_[1]->refuse_maxmemory = large_;
  app().StopRunner();
  NewApp();
  CrashAt crash(Handler(OpKind::kModifyNodeType), OpState::kRollingBack);
  StartWith({OpKind::kModifyNodeType}, &crash);
  ASSERT_EQ(Code(Scale("cache.r6g.large")), "ok");
  ASSERT_TRUE(WaitCrashed(crash));
  app().StopRunner();
  EXPECT_EQ(LastOp().state, OpState::kRollingBack);
  // The old type is the desired state again from the moment the rollback starts.
  EXPECT_EQ(View("g").group.cache_node_type, "cache.t3.micro");
  EXPECT_EQ(View("g").group.maxmemory_bytes, micro_);
  EXPECT_EQ(GroupStatusName(View("g").group.status), std::string("modifying"));
  Restart();
  ASSERT_TRUE(WaitFor("g", "available"));
  const OperationRecord op = LastOp();
  EXPECT_EQ(op.state, OpState::kFailed);
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{micro_});
  EXPECT_EQ(View("g").group.cache_node_type, "cache.t3.micro");
  EXPECT_EQ(EventCount("Failed to scale replication group g to cache.r6g.large"), 1);
  EXPECT_EQ(EventCount("CONFIG SET maxmemory refused"), 1);
  EXPECT_EQ(EventCount("scaled from"), 0);
  // Once the node takes it, the same request succeeds.
  agents_[1]->refuse_maxmemory = 0;
  ASSERT_EQ(Code(Scale("cache.r6g.large")), "ok");
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{large_});
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
}

TEST_F(NodeTypeTest, AnAgentThatDoesNotAnswerIsRetriedUntilTheDeadlineThenRolledBack) {
  Create(kCmd);
  Heartbeat("g");
  cfg_.operations.node_type_timeout_ms = 300;
  Restart();  // the App with this deadline, over the same store
  agents_[2]->fail_all = true;
  ASSERT_EQ(Code(Scale("cache.r6g.large")), "ok");
  // Retried meanwhile; past the deadline it rolls back, which waits for the agent too.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (LastOp().state != OpState::kRollingBack && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(LastOp().state, OpState::kRollingBack);
  EXPECT_GT(LastOp().retries, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(LastOp().state, OpState::kRollingBack);
  EXPECT_EQ(GroupStatusName(View("g").group.status), std::string("modifying"));
  agents_[2]->fail_all = false;
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(LastOp().state, OpState::kFailed);
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{micro_});
  EXPECT_EQ(View("g").group.cache_node_type, "cache.t3.micro");
  EXPECT_EQ(View("g").group.maxmemory_bytes, micro_);
  EXPECT_EQ(EventCount("not applied to every node within"), 1);
}

TEST_F(NodeTypeTest, DataThatNoLongerFitsFailsTheOperationWithoutSendingAnything) {
  Create(kCmd);
  ASSERT_EQ(Code(Scale("cache.r6g.large")), "ok");
  ASSERT_TRUE(WaitFor("g", "available"));
  Heartbeat("g");  // the observations say it fits
  // The node filled up after the last heartbeat: the operation's fresh check sees it.
  {
    std::lock_guard lk(net_->mu);
    net_->nodes.at("g-002").used_memory = micro_ + 1;
  }
  const int calls = agents_[0]->reconfigure_calls + agents_[1]->reconfigure_calls +
                    agents_[2]->reconfigure_calls;
  ASSERT_EQ(Code(Scale("cache.t3.micro")), "ok");
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(LastOp().state, OpState::kFailed);
  EXPECT_EQ(agents_[0]->reconfigure_calls + agents_[1]->reconfigure_calls +
                agents_[2]->reconfigure_calls,
            calls);
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{large_});
  EXPECT_EQ(EventCount("cache cluster g-002 holds"), 1);
}

}  // namespace
}  // namespace cf::orchestrator
