// Integration tests of MoveSlots / ClusterForget: the real cachefleet-agent binary launches
// real redis-server nodes (probed free ports), the test forms a cluster through the agent's
// RPCs, fills it with data over RedisConn, and moves slots through a real gRPC stream.
// Every process is stopped by pid on teardown (AgentProcess, see agent_fixture.h).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"
#include "agent/slots/slot_move_plan.h"
#include "agent/slots/slot_mover.h"
#include "agent/tests/agent_fixture.h"
#include "common/slot_range.h"

namespace cf::agent::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long long MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
}

RedisConn Conn(uint16_t port, uint32_t timeout_ms = 5000) {
  return RedisConn({.host = "127.0.0.1", .port = port, .connect_timeout_ms = 500,
                    .command_timeout_ms = timeout_ms});
}

// A key whose slot is `slot`: "{<tag>}<suffix>" with a tag found by search.
std::string TagFor(uint32_t slot) {
  for (uint64_t i = 0;; ++i) {
    std::string t = "t" + std::to_string(i);
    if (KeyHashSlot(t) == slot) return t;
  }
}

struct MoveResult {
  grpc::Status status;
  std::vector<pb::MoveSlotsProgress> progress;
  long long ms = 0;
};

class SlotMoverTest : public ::testing::Test {
 protected:
  struct Node {
    std::string id;
    uint16_t port = 0;
    std::string cluster_id;
  };

  void SetUp() override {
    base_ = FindFreePortBlock(kPorts);
    AgentOptions o;
    o.host_id = "mover-host";
    o.port_start = base_;
    o.port_end = base_ + kPorts - 1;
    agent_ = std::make_unique<AgentProcess>(o, dir_.path());
    agent_->Start();
  }

  void TearDown() override {
    if (HasFailure()) {
      std::printf("[agent stderr tail]\n%s\n", Tail(agent_->stderr_text(), 4000).c_str());
    }
    agent_.reset();  // stops the agent and every recorded redis-server by pid
  }

  static std::string Tail(const std::string& s, size_t n) {
    return s.size() <= n ? s : s.substr(s.size() - n);
  }

  // Launches `n` masters and forms a cluster: master i gets ranges[i] (empty = no slots).
  void FormCluster(const std::vector<SlotRanges>& ranges) {
    for (size_t i = 0; i < ranges.size(); ++i) {
      Node n{"mv-000" + std::to_string(i + 1) + "-001", static_cast<uint16_t>(base_ + i), ""};
      pb::LaunchNodeRequest req;
      *req.mutable_spec() = MakeSpec(n.id, n.port, true);
      req.mutable_spec()->set_maxmemory_bytes(0);
      req.set_ready_timeout_ms(10000);
      pb::NodeStatus s;
      auto ctx = Ctx(15000);
      grpc::Status st = agent_->stub().LaunchNode(ctx.get(), req, &s);
      ASSERT_TRUE(st.ok()) << st.error_message();
      n.cluster_id = s.cluster_node_id();
      ASSERT_EQ(n.cluster_id.size(), 40u);
      nodes_.push_back(n);
    }
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (ranges[i].empty()) continue;
      pb::ClusterAddSlotsRequest req;
      req.set_node_id(nodes_[i].id);
      for (const auto& r : ranges[i]) {
        auto* pr = req.add_ranges();
        pr->set_start(r.start);
        pr->set_end(r.end);
      }
      req.set_config_epoch(i + 1);
      pb::Ack ack;
      auto ctx = Ctx();
      grpc::Status st = agent_->stub().ClusterAddSlots(ctx.get(), req, &ack);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    for (size_t i = 1; i < nodes_.size(); ++i) {
      pb::ClusterMeetRequest req;
      req.set_node_id(nodes_[i].id);
      req.set_peer_ip("127.0.0.1");
      req.set_peer_port(nodes_[0].port);
      pb::Ack ack;
      auto ctx = Ctx();
      grpc::Status st = agent_->stub().ClusterMeet(ctx.get(), req, &ack);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    std::string why;
    ASSERT_TRUE(WaitFor([&] { return Agreed(&why, true); }, 30000, 50)) << why;
  }

  // Every node: cluster_state ok, knows every node, same ownership signature, no open slots.
  bool Agreed(std::string* why, bool require_ok = true) {
    std::string sig;
    for (const auto& n : nodes_) {
      RedisConn c = Conn(n.port);
      auto r = c.Pipeline({{"CLUSTER", "NODES"}, {"CLUSTER", "INFO"}});
      if (!r.ok() || !(*r)[0].ok() || !(*r)[1].ok()) return *why = n.id + ": no answer", false;
      auto parsed = ParseClusterNodes((*r)[0]->str());
      if (!parsed.ok()) return *why = parsed.error().message, false;
      if (parsed->size() != nodes_.size()) return *why = n.id + ": knows " + std::to_string(parsed->size()), false;
      for (const auto& e : *parsed) {
        if (e.unhealthy() || (!e.link_connected && !e.myself())) return *why = n.id + ": peer " + e.id + " unhealthy", false;
      }
      const ClusterNodeEntry* me = FindMyself(*parsed);
      if (!me->open_slots.empty()) return *why = n.id + ": open slot " + me->open_slots[0], false;
      if (require_ok && (*r)[1]->str().find("cluster_state:ok") == std::string::npos) {
        return *why = n.id + ": cluster_state not ok", false;
      }
      std::string my = ClusterConfigSignature(*parsed);
      if (sig.empty()) sig = my;
      if (my != sig) return *why = n.id + ": ownership differs: " + my + " vs " + sig, false;
    }
    return true;
  }

  // Ownership as node `i` sees it: slot -> cluster id.
  std::map<uint32_t, std::string> OwnersSeenBy(size_t i) {
    std::map<uint32_t, std::string> out;
    RedisConn c = Conn(nodes_[i].port);
    auto r = c.Command({"CLUSTER", "NODES"});
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return out;
    auto parsed = ParseClusterNodes(r->str());
    for (const auto& e : *parsed) {
      for (const auto& rg : e.slots) {
        for (uint32_t s = rg.start; s <= rg.end; ++s) out[s] = e.id;
      }
    }
    return out;
  }

  // Writes `kv` (key -> value) through pipelines to the node owning each key's slot per
  // `owner_of` (slot -> node index).
  void WriteStrings(const std::vector<std::pair<std::string, std::string>>& kv,
                    const std::function<size_t(uint32_t)>& owner_of) {
    std::map<size_t, std::vector<std::vector<std::string>>> per_node;
    for (const auto& [k, v] : kv) per_node[owner_of(KeyHashSlot(k))].push_back({"SET", k, v});
    for (auto& [i, cmds] : per_node) {
      RedisConn c = Conn(nodes_[i].port);
      for (size_t off = 0; off < cmds.size(); off += 2000) {
        std::vector<std::vector<std::string>> chunk(cmds.begin() + off,
                                                    cmds.begin() + std::min(cmds.size(), off + 2000));
        auto r = c.Pipeline(chunk);
        ASSERT_TRUE(r.ok()) << r.error().message;
        for (auto& one : *r) ASSERT_TRUE(one.ok()) << one.error().message;
      }
    }
  }

  MoveResult Move(size_t src, size_t dst, const SlotRanges& slots, int deadline_ms = 120000,
                  const std::function<void(pb::MoveSlotsRequest&)>& tweak = nullptr,
                  const std::function<bool(const pb::MoveSlotsProgress&)>& on_msg = nullptr) {
    pb::MoveSlotsRequest req;
    req.set_move_id("mv-test-" + nodes_[src].id);
    req.set_attempt(++attempt_);
    req.set_source_node_id(nodes_[src].id);
    req.mutable_target()->set_cluster_node_id(nodes_[dst].cluster_id);
    req.mutable_target()->set_ip("127.0.0.1");
    req.mutable_target()->set_port(nodes_[dst].port);
    for (const auto& r : slots) {
      auto* pr = req.add_slots();
      pr->set_start(r.start);
      pr->set_end(r.end);
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (i == src || i == dst) continue;
      auto* p = req.add_other_primaries();
      p->set_cluster_node_id(nodes_[i].cluster_id);
      p->set_ip("127.0.0.1");
      p->set_port(nodes_[i].port);
    }
    if (tweak) tweak(req);
    MoveResult out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(deadline_ms));
    auto t0 = Clock::now();
    auto reader = agent_->stub().MoveSlots(&ctx, req);
    pb::MoveSlotsProgress p;
    while (reader->Read(&p)) {
      out.progress.push_back(p);
      if (on_msg && !on_msg(p)) ctx.TryCancel();
    }
    out.status = reader->Finish();
    out.ms = MsSince(t0);
    return out;
  }

  // Monotonic counters, completed ranges exactly the requested set, last message done.
  void ExpectGoodProgress(const MoveResult& r, const SlotRanges& requested) {
    ASSERT_FALSE(r.progress.empty());
    uint32_t done = 0;
    uint64_t keys = 0, bytes = 0;
    std::vector<uint32_t> completed;
    for (const auto& p : r.progress) {
      EXPECT_GE(p.slots_done(), done);
      EXPECT_GE(p.keys_moved(), keys);
      EXPECT_GE(p.bytes_moved(), bytes);
      EXPECT_EQ(p.slots_total(), CountSlots(NormalizeSlotRanges(requested)));
      done = p.slots_done();
      keys = p.keys_moved();
      bytes = p.bytes_moved();
      for (const auto& c : p.completed()) {
        for (uint32_t s = c.start(); s <= c.end(); ++s) completed.push_back(s);
      }
    }
    EXPECT_TRUE(r.progress.back().done());
    for (size_t i = 0; i + 1 < r.progress.size(); ++i) EXPECT_FALSE(r.progress[i].done());
    EXPECT_EQ(r.progress.back().slots_done(), r.progress.back().slots_total());
    std::sort(completed.begin(), completed.end());
    EXPECT_TRUE(std::adjacent_find(completed.begin(), completed.end()) == completed.end())
        << "a slot was reported completed twice";
    EXPECT_EQ(completed, ExpandSlots(NormalizeSlotRanges(requested)));
  }

  void ExpectAgreedWithin(int ms) {
    std::string why;
    EXPECT_TRUE(WaitFor([&] { return Agreed(&why); }, ms, 50)) << why;
  }

  static constexpr int kPorts = 4;
  TempDir dir_;
  uint16_t base_ = 0;
  std::unique_ptr<AgentProcess> agent_;
  std::vector<Node> nodes_;
  std::atomic<uint64_t> attempt_{0};
};

// 20k keys plus a 5 MB string and a 100k-field hash, all in master 0's slots, moved to master
// 1 while master 2 is an "other primary". Checks every value, ownership on every node, no open
// slots, and the progress stream.
TEST_F(SlotMoverTest, MovesTwentyThousandKeysAndBigKeys) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 5460}}, {{5461, 10922}}, {{10923, 16383}}}));
  auto owner_of = [](uint32_t s) -> size_t { return s <= 5460 ? 0 : s <= 10922 ? 1 : 2; };

  std::vector<std::pair<std::string, std::string>> kv;
  std::string pad(80, 'x');
  for (int i = 0; kv.size() < 20000; ++i) {
    std::string k = "key:" + std::to_string(i);
    if (KeyHashSlot(k) > 5460) continue;
    kv.push_back({k, "v" + std::to_string(i) + pad});
  }
  std::vector<std::pair<std::string, std::string>> others;  // stay where they are
  for (int i = 0; others.size() < 500; ++i) {
    std::string k = "other:" + std::to_string(i);
    if (KeyHashSlot(k) > 5460) others.push_back({k, "o" + std::to_string(i)});
  }
  ASSERT_NO_FATAL_FAILURE(WriteStrings(kv, owner_of));
  ASSERT_NO_FATAL_FAILURE(WriteStrings(others, owner_of));

  // Big keys in slot 100 (5 MB string) and 200 (hash with 100k fields).
  std::string big_str_key = "{" + TagFor(100) + "}big:string";
  std::string big_hash_key = "{" + TagFor(200) + "}big:hash";
  std::string big_value(5 << 20, '\0');
  for (size_t i = 0; i < big_value.size(); ++i) big_value[i] = static_cast<char>('a' + (i * 7919) % 26);
  {
    RedisConn c = Conn(nodes_[0].port, 20000);
    ASSERT_TRUE(c.Command({"SET", big_str_key, big_value}).ok());
    for (int chunk = 0; chunk < 100; ++chunk) {
      std::vector<std::string> cmd = {"HSET", big_hash_key};
      for (int f = chunk * 1000; f < (chunk + 1) * 1000; ++f) {
        cmd.push_back("field" + std::to_string(f));
        cmd.push_back("value" + std::to_string(f));
      }
      ASSERT_TRUE(c.Command(cmd).ok());
    }
  }
  std::string hash_digest;
  {
    RedisConn c = Conn(nodes_[0].port);
    auto d = c.Command({"DEBUG", "DIGEST-VALUE", big_hash_key});
    ASSERT_TRUE(d.ok()) << d.error().message;
    hash_digest = d->at(0).str();
  }

  SlotRanges slots = {{0, 5460}};
  MoveResult r = Move(0, 1, slots);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const auto& last = r.progress.back();
  std::printf("[timing] moved %u slots, %llu keys (%llu total counted), ~%llu bytes in %lld ms: "
              "%.0f keys/s, %zu progress messages, %u retries\n",
              last.slots_done(), (unsigned long long)last.keys_moved(),
              (unsigned long long)last.keys_total(), (unsigned long long)last.bytes_moved(), r.ms,
              last.keys_moved() * 1000.0 / std::max<long long>(r.ms, 1), r.progress.size(),
              last.retries());
  ExpectGoodProgress(r, slots);
  EXPECT_EQ(last.keys_total(), 20002u);
  EXPECT_EQ(last.keys_moved(), 20002u);
  EXPECT_GT(last.bytes_moved(), 5u << 20);
  EXPECT_EQ(last.retries(), 0u) << last.last_error();

  // Every key is on the target with its value; none left on the source.
  RedisConn dst = Conn(nodes_[1].port, 20000);
  for (size_t off = 0; off < kv.size(); off += 2000) {
    std::vector<std::vector<std::string>> cmds;
    for (size_t i = off; i < std::min(kv.size(), off + 2000); ++i) cmds.push_back({"GET", kv[i].first});
    auto rep = dst.Pipeline(cmds);
    ASSERT_TRUE(rep.ok());
    for (size_t i = 0; i < cmds.size(); ++i) {
      ASSERT_TRUE((*rep)[i].ok()) << kv[off + i].first << ": " << (*rep)[i].error().message;
      ASSERT_EQ((*rep)[i]->str(), kv[off + i].second) << kv[off + i].first;
    }
  }
  auto s = dst.Command({"GET", big_str_key});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->str() == big_value);
  auto d = dst.Command({"DEBUG", "DIGEST-VALUE", big_hash_key});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->at(0).str(), hash_digest);
  auto hl = dst.Command({"HLEN", big_hash_key});
  EXPECT_EQ(hl->integer(), 100000);
  RedisConn src = Conn(nodes_[0].port);
  auto dbsize = src.Command({"DBSIZE"});
  EXPECT_EQ(dbsize->integer(), 0);
  // The keys of the other masters did not move.
  RedisConn n1 = Conn(nodes_[1].port), n2 = Conn(nodes_[2].port);
  uint64_t others_total = static_cast<uint64_t>(n1.Command({"DBSIZE"})->integer()) +
                          static_cast<uint64_t>(n2.Command({"DBSIZE"})->integer());
  EXPECT_EQ(others_total, kv.size() + 2 + others.size());

  // Ownership: every node agrees that master 1 owns 0-10922, no open slots anywhere.
  ExpectAgreedWithin(10000);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto owners = OwnersSeenBy(i);
    for (uint32_t sl : {0u, 100u, 200u, 5460u, 5461u}) EXPECT_EQ(owners[sl], nodes_[1].cluster_id) << i;
    EXPECT_EQ(owners[10923], nodes_[2].cluster_id);
  }

  // Idempotent: the same call again reports everything done at once.
  MoveResult again = Move(0, 1, slots);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  ExpectGoodProgress(again, slots);
  EXPECT_EQ(again.progress.back().keys_moved(), 0u);
}

// An empty cluster where master 0 owns everything: all 16384 slots to master 1 (master 2 is an
// other primary). Goal: well under 1.5 s (redis-cli needs ~17 s).
TEST_F(SlotMoverTest, MovesAll16384EmptySlotsQuickly) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 16383}}, {}, {}}));
  SlotRanges all = {{0, 16383}};
  MoveResult r = Move(0, 1, all);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  std::printf("[timing] 16384 empty slots moved in %lld ms (%zu progress messages)\n", r.ms,
              r.progress.size());
  ExpectGoodProgress(r, all);
  EXPECT_EQ(r.progress.back().keys_moved(), 0u);
  EXPECT_LT(r.ms, 3000) << "goal is 1500 ms; a loaded machine gets some slack";
  ExpectAgreedWithin(15000);
  auto owners = OwnersSeenBy(2);
  EXPECT_EQ(owners.size(), 16384u);
  for (const auto& [slot, id] : owners) {
    if (id != nodes_[1].cluster_id) {
      ADD_FAILURE() << "slot " << slot << " owned by " << id;
      break;
    }
  }
  // And back again, with a different batch of windows: idempotency across directions.
  MoveResult back = Move(1, 0, all);
  ASSERT_TRUE(back.status.ok()) << back.status.error_message();
  std::printf("[timing] and back in %lld ms\n", back.ms);
  ExpectAgreedWithin(15000);
}

// Slot S left half-moved by hand (IMPORTING on the target, MIGRATING on the source, half of
// its keys migrated), and slot S2 whose source already ran NODE while the target still
// imports: MoveSlots finishes both.
TEST_F(SlotMoverTest, FinishesSlotsLeftOpen) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
  const uint32_t S = 1000, S2 = 1001;
  const std::string src_id = nodes_[0].cluster_id, dst_id = nodes_[1].cluster_id;
  std::string tag = TagFor(S);
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 0; i < 400; ++i) kv.push_back({"{" + tag + "}k" + std::to_string(i), "val" + std::to_string(i)});
  ASSERT_NO_FATAL_FAILURE(WriteStrings(kv, [](uint32_t) { return size_t{0}; }));

  RedisConn src = Conn(nodes_[0].port), dst = Conn(nodes_[1].port);
  for (uint32_t s : {S, S2}) {
    ASSERT_TRUE(dst.Command({"CLUSTER", "SETSLOT", std::to_string(s), "IMPORTING", src_id}).ok());
    ASSERT_TRUE(src.Command({"CLUSTER", "SETSLOT", std::to_string(s), "MIGRATING", dst_id}).ok());
  }
  auto keys = src.Command({"CLUSTER", "GETKEYSINSLOT", std::to_string(S), "200"});
  ASSERT_TRUE(keys.ok());
  std::vector<std::string> mig = {"MIGRATE", "127.0.0.1", std::to_string(nodes_[1].port), "", "0", "5000", "KEYS"};
  for (size_t i = 0; i < keys->size(); ++i) mig.push_back(keys->at(i).str());
  auto m = src.Command(mig);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(src.Command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(S)})->integer(), 200);
  // S2 (empty): the source gives it up first, the target still imports.
  ASSERT_TRUE(src.Command({"CLUSTER", "SETSLOT", std::to_string(S2), "NODE", dst_id}).ok());

  SlotRanges slots = {{S, S2 + 1}};
  MoveResult r = Move(0, 1, slots);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ExpectGoodProgress(r, slots);
  EXPECT_EQ(r.progress.back().keys_moved(), 200u);
  EXPECT_EQ(src.Command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(S)})->integer(), 0);
  EXPECT_EQ(dst.Command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(S)})->integer(), 400);
  for (const auto& [k, v] : kv) {
    auto g = dst.Command({"GET", k});
    ASSERT_TRUE(g.ok()) << k << ": " << g.error().message;
    EXPECT_EQ(g->str(), v);
  }
  ExpectAgreedWithin(10000);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto owners = OwnersSeenBy(i);
    for (uint32_t s : {S, S2, S2 + 1}) EXPECT_EQ(owners[s], dst_id) << "node " << i << " slot " << s;
  }
}

class BusyKeyTest : public SlotMoverTest {
 protected:
  // Slot S of master 0 with 50 keys, opened by hand, and `key` also written on the target
  // (through ASKING) with `target_value`.
  void Prepare(const std::string& target_value) {
    ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
    tag_ = TagFor(kSlot);
    for (int i = 0; i < 50; ++i) kv_.push_back({"{" + tag_ + "}k" + std::to_string(i), "value" + std::to_string(i)});
    ASSERT_NO_FATAL_FAILURE(WriteStrings(kv_, [](uint32_t) { return size_t{0}; }));
    busy_ = kv_[7].first;
    RedisConn src = Conn(nodes_[0].port), dst = Conn(nodes_[1].port);
    ASSERT_TRUE(dst.Command({"CLUSTER", "SETSLOT", std::to_string(kSlot), "IMPORTING", nodes_[0].cluster_id}).ok());
    ASSERT_TRUE(src.Command({"CLUSTER", "SETSLOT", std::to_string(kSlot), "MIGRATING", nodes_[1].cluster_id}).ok());
    auto rep = dst.Pipeline({{"ASKING"}, {"SET", busy_, target_value}});
    ASSERT_TRUE(rep.ok());
    ASSERT_TRUE((*rep)[1].ok()) << (*rep)[1].error().message;
  }
  static constexpr uint32_t kSlot = 4242;
  std::string tag_, busy_;
  std::vector<std::pair<std::string, std::string>> kv_;
};

TEST_F(BusyKeyTest, IdenticalValueIsResolvedWithReplace) {
  ASSERT_NO_FATAL_FAILURE(Prepare("value7"));
  SlotRanges slots = {{kSlot, kSlot}};
  MoveResult r = Move(0, 1, slots);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ExpectGoodProgress(r, slots);
  EXPECT_GE(r.progress.back().retries(), 1u);
  bool saw_busy = false;
  for (const auto& p : r.progress) saw_busy |= p.last_error().find("BUSYKEY") != std::string::npos;
  EXPECT_TRUE(saw_busy);
  RedisConn dst = Conn(nodes_[1].port);
  for (const auto& [k, v] : kv_) EXPECT_EQ(dst.Command({"GET", k})->str(), v) << k;
  ExpectAgreedWithin(10000);
}

TEST_F(BusyKeyTest, DifferentValueIsRefusedAndNothingIsOverwritten) {
  ASSERT_NO_FATAL_FAILURE(Prepare("newer-on-target"));
  SlotRanges slots = {{kSlot, kSlot}};
  MoveResult r = Move(0, 1, slots);
  ASSERT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << r.status.error_message();
  EXPECT_NE(r.status.error_message().find("BUSYKEY"), std::string::npos) << r.status.error_message();
  EXPECT_NE(r.status.error_message().find(busy_), std::string::npos) << r.status.error_message();
  ASSERT_FALSE(r.progress.empty());
  EXPECT_FALSE(r.progress.back().done());
  EXPECT_NE(r.progress.back().last_error().find("BUSYKEY"), std::string::npos);
  RedisConn src = Conn(nodes_[0].port), dst = Conn(nodes_[1].port);
  auto t = dst.Pipeline({{"ASKING"}, {"GET", busy_}});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)[1]->str(), "newer-on-target");
  EXPECT_EQ(src.Command({"GET", busy_})->str(), "value7");
  // The slot stays open (the source still has keys; the orchestrator repairs or retries).
  auto nodes = ParseClusterNodes(src.Command({"CLUSTER", "NODES"})->str());
  ASSERT_TRUE(nodes.ok());
  EXPECT_FALSE(FindMyself(*nodes)->open_slots.empty());
  // Once the stale copy is removed, the same call finishes the slot.
  ASSERT_TRUE(dst.Pipeline({{"ASKING"}, {"DEL", busy_}}).ok());
  MoveResult again = Move(0, 1, slots);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  for (const auto& [k, v] : kv_) EXPECT_EQ(dst.Command({"GET", k})->str(), v) << k;
  ExpectAgreedWithin(10000);
}

// A client that goes away mid-move: no slot stays half-moved (rolled back or drained), and the
// next call finishes the move.
TEST_F(SlotMoverTest, CancelledMoveLeavesNoOpenSlotAndResumes) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 0; kv.size() < 30000; ++i) {
    std::string k = "c:" + std::to_string(i);
    if (KeyHashSlot(k) <= 8191) kv.push_back({k, std::string(100, 'v') + std::to_string(i)});
  }
  ASSERT_NO_FATAL_FAILURE(WriteStrings(kv, [](uint32_t s) { return s <= 8191 ? size_t{0} : size_t{1}; }));
  SlotRanges slots = {{0, 8191}};
  MoveResult r = Move(0, 1, slots, 120000, nullptr,
                      [](const pb::MoveSlotsProgress& p) { return p.keys_moved() == 0; });
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED) << r.status.error_message();
  ASSERT_FALSE(r.progress.empty());
  EXPECT_LT(r.progress.back().slots_done(), 8192u);
  // The agent closes the window (rollback + drain <= 2 s) after the client left.
  std::string why;
  EXPECT_TRUE(WaitFor([&] { return Agreed(&why); }, 10000, 50)) << why;
  MoveResult again = Move(0, 1, slots);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  ExpectGoodProgress(again, {{0, 8191}});
  RedisConn dst = Conn(nodes_[1].port);
  EXPECT_EQ(dst.Command({"DBSIZE"})->integer(), static_cast<long long>(kv.size()));
  ExpectAgreedWithin(10000);
}

// A client of the three sources for the benchmark: GET of a key in a slot that does not move,
// ~1000 per second round-robin over the sources, one request at a time; records each
// request's latency (how long the source's event loop made it wait).
class LatencyProbe {
 public:
  LatencyProbe(std::vector<uint16_t> ports, std::vector<std::string> keys)
      : ports_(std::move(ports)), keys_(std::move(keys)) {
    th_ = std::thread([this] { Loop(); });
  }
  ~LatencyProbe() { Stop(); }
  void Stop() {
    stop_ = true;
    if (th_.joinable()) th_.join();
  }
  // Latencies (ms) recorded since the last call.
  std::vector<double> Take() {
    std::lock_guard lk(mu_);
    return std::exchange(lat_, {});
  }
  static std::string Summary(std::vector<double> v) {
    if (v.empty()) return "no samples";
    std::sort(v.begin(), v.end());
    auto q = [&](double f) { return v[std::min(v.size() - 1, static_cast<size_t>(f * v.size()))]; };
    char buf[160];
    std::snprintf(buf, sizeof buf, "%zu requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms", v.size(),
                  q(0.5), q(0.99), v.back());
    return buf;
  }

 private:
  void Loop() {
    std::vector<RedisConn> conns;
    for (auto p : ports_) conns.push_back(Conn(p));
    auto next = Clock::now();
    for (size_t i = 0; !stop_; ++i) {
      next += std::chrono::microseconds(1000);
      auto t0 = Clock::now();
      (void)conns[i % conns.size()].Command({"GET", keys_[i % keys_.size()]});
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      {
        std::lock_guard lk(mu_);
        lat_.push_back(ms);
      }
      if (next > Clock::now()) std::this_thread::sleep_until(next);
      else next = Clock::now();
    }
  }
  std::vector<uint16_t> ports_;
  std::vector<std::string> keys_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<double> lat_;
  std::thread th_;
};

// Opt-in benchmark (CF_MOVER_BENCH=1; CF_MOVER_BENCH_KEYS, default 1000000): the issue's
// set-up on this machine. 3 masters holding N keys of 100 bytes and an empty 4th; 4096 slots
// to the 4th with three MoveSlots calls in parallel (one per source, as the orchestrator
// runs them), moved back, then the same 4096 slots with redis-cli --cluster reshard.
TEST_F(SlotMoverTest, BenchAgainstRedisCliReshard) {
  if (!std::getenv("CF_MOVER_BENCH")) GTEST_SKIP() << "set CF_MOVER_BENCH=1 to run";
  size_t n = std::getenv("CF_MOVER_BENCH_KEYS") ? std::strtoul(std::getenv("CF_MOVER_BENCH_KEYS"), nullptr, 10) : 1000000;
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 5460}}, {{5461, 10922}}, {{10923, 16383}}, {}}));
  auto owner_of = [](uint32_t s) -> size_t { return s <= 5460 ? 0 : s <= 10922 ? 1 : 2; };
  auto t_fill = Clock::now();
  const std::string pad(90, 'p');
  for (size_t off = 0; off < n; off += 100000) {
    std::vector<std::pair<std::string, std::string>> kv;
    for (size_t i = off; i < std::min(n, off + 100000); ++i) {
      std::string v = std::to_string(i) + pad;
      v.resize(100, 'p');
      kv.push_back({"key:" + std::to_string(i), v});
    }
    ASSERT_NO_FATAL_FAILURE(WriteStrings(kv, owner_of));
  }
  std::printf("[bench] %zu keys written in %lld ms\n", n, MsSince(t_fill));

  // Ours: three sources in parallel.
  std::vector<std::pair<size_t, SlotRange>> parts = {
      {0, {0, 1365}}, {1, {5461, 6825}}, {2, {10923, 12287}}};
  if (std::getenv("CF_MOVER_BENCH_ONE_SOURCE")) parts = {{0, {0, 4095}}};  // 1 source, same 4096 slots
  // Probe keys: one per source in a slot that stays (key index i -> slot KeyHashSlot).
  std::vector<std::string> probe_keys(3);
  for (size_t i = 0; i < n && (probe_keys[0].empty() || probe_keys[1].empty() || probe_keys[2].empty()); ++i) {
    std::string k = "key:" + std::to_string(i);
    uint32_t s = KeyHashSlot(k);
    size_t src = owner_of(s);
    bool moves = false;
    for (const auto& [ps, pr] : parts) moves = moves || (s >= pr.start && s <= pr.end);
    if (!moves && probe_keys[src].empty()) probe_keys[src] = k;
  }
  std::vector<uint16_t> probe_ports = {static_cast<uint16_t>(nodes_[0].port),
                                       static_cast<uint16_t>(nodes_[1].port),
                                       static_cast<uint16_t>(nodes_[2].port)};
  auto probe = std::make_unique<LatencyProbe>(probe_ports, probe_keys);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("[bench] client idle: %s\n", LatencyProbe::Summary(probe->Take()).c_str());
  auto t0 = Clock::now();
  std::vector<std::future<MoveResult>> futs;
  for (const auto& [src, r] : parts) {
    futs.push_back(std::async(std::launch::async, [this, src, r] {
      return Move(src, 3, {r}, 600000, [](pb::MoveSlotsRequest& q) {
        if (const char* k = std::getenv("CF_MOVER_BENCH_BATCH_KEYS")) q.set_max_batch_keys(std::atoi(k));
        if (const char* m = std::getenv("CF_MOVER_BENCH_BATCH_MS")) q.set_max_batch_ms(std::atoi(m));
      });
    }));
  }
  uint64_t ours_keys = 0;
  for (auto& f : futs) {
    MoveResult r = f.get();
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    ours_keys += r.progress.back().keys_moved();
    std::printf("[bench]   one source: %llu keys in %lld ms\n",
                (unsigned long long)r.progress.back().keys_moved(), r.ms);
  }
  long long ours_ms = MsSince(t0);
  std::printf("[bench] client during our move: %s\n", LatencyProbe::Summary(probe->Take()).c_str());
  probe->Stop();
  if (std::getenv("CF_MOVER_BENCH_NO_CLI")) {
    std::printf("[bench] ours: %llu keys in %lld ms = %.0f keys/s\n", (unsigned long long)ours_keys,
                ours_ms, ours_keys * 1000.0 / std::max<long long>(ours_ms, 1));
    return;
  }
  ExpectAgreedWithin(15000);
  // Back (not measured), so redis-cli starts from the same layout.
  for (const auto& [src, r] : parts) {
    MoveResult b = Move(3, src, {r}, 600000);
    ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  }
  ExpectAgreedWithin(15000);

  std::string from = nodes_[0].cluster_id + "," + nodes_[1].cluster_id + "," + nodes_[2].cluster_id;
  if (parts.size() == 1) from = nodes_[0].cluster_id;
  std::string log = dir_.path() + "/redis-cli-reshard.log";
  std::string cmd = "timeout 1200 redis-cli --cluster reshard 127.0.0.1:" + std::to_string(nodes_[0].port) +
                    " --cluster-from " + from + " --cluster-to " + nodes_[3].cluster_id +
                    " --cluster-slots 4096 --cluster-yes --cluster-pipeline 1000 > " + log + " 2>&1";
  probe = std::make_unique<LatencyProbe>(probe_ports, probe_keys);
  auto t1 = Clock::now();
  int rc = std::system(cmd.c_str());
  long long cli_ms = MsSince(t1);
  std::printf("[bench] client during redis-cli: %s\n", LatencyProbe::Summary(probe->Take()).c_str());
  probe->Stop();
  ASSERT_EQ(rc, 0) << ReadFileOrEmpty(log).substr(0, 2000);
  RedisConn d = Conn(nodes_[3].port);
  uint64_t cli_keys = static_cast<uint64_t>(d.Command({"DBSIZE"})->integer());
  double ours_rate = ours_keys * 1000.0 / std::max<long long>(ours_ms, 1);
  double cli_rate = cli_keys * 1000.0 / std::max<long long>(cli_ms, 1);
  std::printf("[bench] ours: %llu keys in %lld ms = %.0f keys/s; redis-cli (pipeline 1000): %llu keys "
              "in %lld ms = %.0f keys/s; ratio %.2f\n",
              (unsigned long long)ours_keys, ours_ms, ours_rate, (unsigned long long)cli_keys, cli_ms,
              cli_rate, ours_rate / std::max(cli_rate, 1.0));
}

TEST_F(SlotMoverTest, RefusesSlotsOfAThirdOwnerAndBadRequests) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 5460}}, {{5461, 10922}}, {{10923, 16383}}}));
  // Slot 12000 belongs to master 2: nothing is touched.
  MoveResult r = Move(0, 1, {{5000, 5001}, {12000, 12000}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << r.status.error_message();
  EXPECT_NE(r.status.error_message().find("12000"), std::string::npos);
  std::string why;
  EXPECT_TRUE(Agreed(&why)) << why;
  EXPECT_EQ(OwnersSeenBy(0)[5000], nodes_[0].cluster_id);
  // Bad requests.
  EXPECT_EQ(Move(0, 1, {{5, 4}}).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Move(0, 1, {{1, 2}}, 10000, [](pb::MoveSlotsRequest& q) { q.set_source_node_id("nope"); })
                .status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Move(0, 1, {{1, 2}}, 10000,
                 [](pb::MoveSlotsRequest& q) { q.mutable_target()->set_cluster_node_id(std::string(40, 'f')); })
                .status.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Source == target.
  EXPECT_EQ(Move(0, 0, {{1, 2}}).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SlotMoverTest, ClusterForget) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 5460}}, {{5461, 10922}}, {{10923, 16383}}}));
  auto forget = [&](const std::string& node, std::vector<std::string> ids) {
    pb::ForgetRequest req;
    req.set_node_id(node);
    for (auto& id : ids) req.add_forget_cluster_node_ids(id);
    pb::Ack ack;
    auto ctx = Ctx();
    return agent_->stub().ClusterForget(ctx.get(), req, &ack);
  };
  // Unknown ids are ignored; known ones disappear at once.
  auto st = forget(nodes_[0].id, {nodes_[2].cluster_id, std::string(40, 'e')});
  ASSERT_TRUE(st.ok()) << st.error_message();
  RedisConn c = Conn(nodes_[0].port);
  auto parsed = ParseClusterNodes(c.Command({"CLUSTER", "NODES"})->str());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(FindNodeById(*parsed, nodes_[2].cluster_id), nullptr);
  EXPECT_TRUE(forget(nodes_[0].id, {nodes_[2].cluster_id}).ok());  // idempotent
  EXPECT_EQ(forget(nodes_[0].id, {nodes_[0].cluster_id}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(forget("nope", {nodes_[1].cluster_id}).error_code(), grpc::StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// The SlotMover class driven in-process against the agent's nodes: paths the RPC defaults do
// not reach (no script, no sizing, AUTH, a stalled target).

class DirectMoverTest : public SlotMoverTest {
 protected:
  MoveSpec Spec(size_t src, size_t dst, SlotRanges slots) {
    MoveSpec s;
    s.move_id = "direct";
    s.attempt = ++attempt_;
    s.source_node_id = nodes_[src].id;
    s.source_host = "127.0.0.1";
    s.source_port = nodes_[src].port;
    s.target = {nodes_[dst].cluster_id, "127.0.0.1", nodes_[dst].port};
    s.slots = std::move(slots);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (i != src && i != dst) s.other_primaries.push_back({nodes_[i].cluster_id, "127.0.0.1", nodes_[i].port});
    }
    return s;
  }

  Status Run(MoveSpec spec, std::vector<MoveProgress>* out) {
    SlotMover m(std::move(spec), [out](const MoveProgress& p) { out->push_back(p); return true; },
                [] { return false; });
    return m.Run();
  }

  // `count` keys per slot for slots [first, first+nslots), all on master 0.
  std::vector<std::pair<std::string, std::string>> Fill(uint32_t first, uint32_t nslots, int count) {
    std::vector<std::pair<std::string, std::string>> kv;
    for (uint32_t s = first; s < first + nslots; ++s) {
      std::string tag = TagFor(s);
      for (int i = 0; i < count; ++i) {
        kv.push_back({"{" + tag + "}" + std::to_string(i), "v" + std::to_string(s) + ":" + std::to_string(i)});
      }
    }
    WriteStrings(kv, [](uint32_t) { return size_t{0}; });
    return kv;
  }

  void ExpectOn(size_t node, const std::vector<std::pair<std::string, std::string>>& kv,
                const std::string& password = "") {
    RedisConn c = Conn(nodes_[node].port);
    if (!password.empty()) {
      ASSERT_TRUE(c.Command({"AUTH", password}).ok());
    }
    for (const auto& [k, v] : kv) {
      auto g = c.Command({"GET", k});
      ASSERT_TRUE(g.ok()) << k << ": " << g.error().message;
      ASSERT_EQ(g->str(), v) << k;
    }
  }
};

TEST_F(DirectMoverTest, WithoutTheFetchScriptAndWithoutSizing) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
  auto kv1 = Fill(10, 20, 30);
  auto kv2 = Fill(100, 20, 30);
  MoveSpec a = Spec(0, 1, {{0, 49}});
  a.fetch_script = false;  // GETKEYSINSLOT + MEMORY USAGE pipelines
  std::vector<MoveProgress> p1;
  Status s1 = Run(a, &p1);
  ASSERT_TRUE(s1.ok()) << s1.error().message;
  EXPECT_EQ(p1.back().keys_moved, 600u);
  EXPECT_GT(p1.back().bytes_moved, 0u);
  ExpectOn(1, kv1);
  MoveSpec b = Spec(0, 1, {{100, 119}});
  b.size_keys = false;  // batches by key count only; bytes unknown
  std::vector<MoveProgress> p2;
  Status s2 = Run(b, &p2);
  ASSERT_TRUE(s2.ok()) << s2.error().message;
  EXPECT_EQ(p2.back().keys_moved, 600u);
  EXPECT_EQ(p2.back().bytes_moved, 0u);
  ExpectOn(1, kv2);
  ExpectAgreedWithin(10000);
}

// Pacing (busy_percent) with small flights: many fetches of several flights each, idle time
// after every flight; every key arrives, nothing stays open.
TEST_F(DirectMoverTest, PacedSmallFlightsMoveEverything) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
  auto kv = Fill(200, 20, 100);
  MoveSpec a = Spec(0, 1, {{200, 219}});
  a.batch.busy_percent = 50;
  a.batch.target_batch_ms = 1;
  a.batch.max_batch_keys = 30;  // 2000 keys: dozens of flights, several per fetch
  std::vector<MoveProgress> p;
  auto t0 = Clock::now();
  Status s = Run(a, &p);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(p.back().keys_moved, 2000u);
  EXPECT_EQ(p.back().slots_done, 20u);
  std::printf("[paced] 2000 keys in %lld ms\n", MsSince(t0));
  ExpectOn(1, kv);
  ExpectAgreedWithin(10000);
}

TEST_F(DirectMoverTest, AuthOnEveryConnectionAndInMigrate) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
  auto kv = Fill(500, 10, 50);
  const std::string pw = "s3cret-pw";
  for (const auto& n : nodes_) {
    RedisConn c = Conn(n.port);
    ASSERT_TRUE(c.Command({"CONFIG", "SET", "requirepass", pw}).ok());
  }
  MoveSpec bad = Spec(0, 1, {{500, 509}});
  bad.auth_password = "wrong";
  std::vector<MoveProgress> pb;
  auto t0 = Clock::now();
  Status sb = Run(bad, &pb);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.error().code, Errc::kFailedPrecondition) << sb.error().message;
  EXPECT_LT(MsSince(t0), 2000) << "a refused AUTH is not retried";
  MoveSpec good = Spec(0, 1, {{500, 509}});
  good.auth_password = pw;
  std::vector<MoveProgress> pg;
  Status sg = Run(good, &pg);
  ASSERT_TRUE(sg.ok()) << sg.error().message;
  EXPECT_EQ(pg.back().keys_moved, 500u);
  ExpectOn(1, kv, pw);
  for (const auto& n : nodes_) {  // the agent's own connections do not AUTH
    RedisConn c = Conn(n.port);
    ASSERT_TRUE(c.Command({"AUTH", pw}).ok());
    ASSERT_TRUE(c.Command({"CONFIG", "SET", "requirepass", ""}).ok());
  }
  ExpectAgreedWithin(10000);
}

// The target stops applying writes (CLIENT PAUSE WRITE) while MIGRATEs are in flight: MIGRATE
// times out, the mover retries with backoff, finds the keys the target restored once the pause
// ended (BUSYKEY,
// identical) and resends them with REPLACE. Nothing is lost or duplicated.
TEST_F(DirectMoverTest, SurvivesAStalledTarget) {
  ASSERT_NO_FATAL_FAILURE(FormCluster({{{0, 8191}}, {{8192, 16383}}}));
  auto kv = Fill(1000, 40, 500);  // 20k keys
  MoveSpec spec = Spec(0, 1, {{1000, 1039}});
  spec.migrate_timeout_ms = 150;
  spec.batch.target_batch_ms = 0;  // steady 1000-key batches
  spec.progress_interval_ms = 0;    // report every batch, so the stall starts mid-move
  std::atomic<bool> slept{false};
  std::vector<MoveProgress> prog;
  SlotMover m(
      spec,
      [&](const MoveProgress& p) {
        prog.push_back(p);
        if (!slept.exchange(true) && p.keys_total > 0) {
          // Stall the target's writes (RESTORE-ASKING, which MIGRATE sends) for 1.5 s, from
          // the mover's own thread so the stall surely hits the rest of the move; admin
          // commands (SETSLOT) still answer, so it is a MIGRATE that times out.
          RedisConn c = Conn(nodes_[1].port, 10000);
          auto r = c.Command({"CLIENT", "PAUSE", "1500", "WRITE"});
          EXPECT_TRUE(r.ok()) << r.error().message;
        }
        return true;
      },
      [] { return false; });
  Status s = m.Run();
  ASSERT_TRUE(s.ok()) << s.error().message;
  const MoveProgress& last = prog.back();
  std::printf("[stall] %u retries, last error: %s\n", last.retries, last.last_error.c_str());
  EXPECT_GE(last.retries, 1u);
  bool saw_timeout = false;
  for (const auto& p : prog) {
    saw_timeout |= p.last_error.find("IOERR") != std::string::npos ||
                   p.last_error.find("no reply") != std::string::npos ||
                   p.last_error.find("timeout") != std::string::npos;
  }
  EXPECT_TRUE(saw_timeout);
  ExpectOn(1, kv);
  RedisConn src = Conn(nodes_[0].port);
  EXPECT_EQ(src.Command({"DBSIZE"})->integer(), 0);
  RedisConn dst = Conn(nodes_[1].port);
  EXPECT_EQ(dst.Command({"DBSIZE"})->integer(), static_cast<long long>(kv.size()));
  ExpectAgreedWithin(10000);
}

}  // namespace
}  // namespace cf::agent::testing
