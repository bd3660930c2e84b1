// Unit tests of the slot mover's pure parts (agent/slot_move_plan.h) plus spec validation and
// MoveRegistry. No processes, no sockets.
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "agent/redis/redis_text.h"
#include "agent/slots/slot_move_plan.h"
#include "agent/slots/slot_mover.h"

namespace cf::agent {
namespace {

const std::string kA(40, 'a');  // source
const std::string kB(40, 'b');  // target
const std::string kC(40, 'c');  // third primary

std::string Line(const std::string& id, int port, const std::string& flags,
                 const std::string& slots) {
  return id + " 127.0.0.1:" + std::to_string(port) + "@" + std::to_string(port + 10000) + " " +
         flags + " - 0 0 1 connected" + (slots.empty() ? "" : " " + slots) + "\n";
}

std::vector<ClusterNodeEntry> Parse(const std::string& text) {
  auto r = ParseClusterNodes(text);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : std::vector<ClusterNodeEntry>{};
}

// Source view: A owns 0-99 (+ extra tokens), B owns 100-199, C owns 200-299.
std::vector<ClusterNodeEntry> SourceView(const std::string& a_extra = "",
                                         const std::string& b_slots = "100-199") {
  return Parse(Line(kA, 7000, "myself,master", "0-99" + a_extra) +
               Line(kB, 7001, "master", b_slots) + Line(kC, 7002, "master", "200-299"));
}
std::vector<ClusterNodeEntry> TargetView(const std::string& b_slots = "100-199",
                                         const std::string& a_slots = "0-99") {
  return Parse(Line(kA, 7000, "master", a_slots) + Line(kB, 7001, "myself,master", b_slots) +
               Line(kC, 7002, "master", "200-299"));
}

SlotPlan One(const std::vector<ClusterNodeEntry>& sv, const std::vector<ClusterNodeEntry>& tv,
             uint32_t slot) {
  auto r = ClassifySlots(sv, tv, kB, {slot});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r->at(0) : SlotPlan{};
}

TEST(KeyHashSlot, MatchesRedis) {
  // Values from CLUSTER KEYSLOT on redis 7.0.
  EXPECT_EQ(KeyHashSlot("foo"), 12182u);
  EXPECT_EQ(KeyHashSlot("bar"), 5061u);
  EXPECT_EQ(KeyHashSlot("123456789"), 0x31C3u & 16383u);
  EXPECT_EQ(KeyHashSlot("{user1000}.following"), KeyHashSlot("{user1000}.followers"));
  EXPECT_EQ(KeyHashSlot("{user1000}.following"), KeyHashSlot("user1000"));
  EXPECT_EQ(KeyHashSlot("foo{}{bar}"), KeyHashSlot("foo{}{bar}"));  // empty tag: whole key
  EXPECT_NE(KeyHashSlot("foo{}{bar}"), KeyHashSlot("bar"));
  EXPECT_EQ(KeyHashSlot("foo{{bar}}zap"), KeyHashSlot("{bar"));
  EXPECT_EQ(KeyHashSlot(""), 0u);
}

TEST(OpenSlotToken, Parses) {
  auto m = ParseOpenSlotToken("[5->-" + kB + "]");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->slot, 5u);
  EXPECT_EQ(m->kind, OpenSlotMark::Kind::kMigrating);
  EXPECT_EQ(m->peer_id, kB);
  auto i = ParseOpenSlotToken("[16383-<-" + kA + "]");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->slot, 16383u);
  EXPECT_EQ(i->kind, OpenSlotMark::Kind::kImporting);
  EXPECT_EQ(i->peer_id, kA);
  for (std::string bad : {"", "[]", "[5]", "5->-x", "[x->-y]", "[16384->-y]", "[5->-]",
                          "[5<-y]"}) {
    EXPECT_FALSE(ParseOpenSlotToken(bad).ok()) << bad;
  }
}

TEST(ClassifySlots, PlainMoveAndAlreadyDone) {
  auto p = One(SourceView(), TargetView(), 5);
  EXPECT_EQ(p.action, SlotAction::kMove);
  EXPECT_FALSE(p.resumed);
  EXPECT_FALSE(p.target_owns);
  auto d = One(SourceView(), TargetView(), 150);
  EXPECT_EQ(d.action, SlotAction::kDone);
  EXPECT_FALSE(d.source_marked);
}

TEST(ClassifySlots, OpenSlotsAreResumed) {
  // Both marks (§5.3 row 1).
  auto both = One(SourceView(" [5->-" + kB + "]"),
                  Parse(Line(kA, 7000, "master", "0-99") +
                        Line(kB, 7001, "myself,master", "100-199 [5-<-" + kA + "]")),
                  5);
  EXPECT_EQ(both.action, SlotAction::kMove);
  EXPECT_TRUE(both.resumed);
  // Only the source migrating.
  auto src_only = One(SourceView(" [5->-" + kB + "]"), TargetView(), 5);
  EXPECT_EQ(src_only.action, SlotAction::kMove);
  EXPECT_TRUE(src_only.resumed);
  // Only the target importing.
  auto dst_only = One(SourceView(), Parse(Line(kA, 7000, "master", "0-99") +
                                          Line(kB, 7001, "myself,master", "100-199 [5-<-" + kA + "]")),
                      5);
  EXPECT_EQ(dst_only.action, SlotAction::kMove);
  EXPECT_TRUE(dst_only.resumed);
}

TEST(ClassifySlots, SourceGaveUpTargetStillImports) {
  // The source ran NODE already (its view: B owns 5), the target still imports 5.
  auto sv = Parse(Line(kA, 7000, "myself,master", "0-4 6-99") +
                  Line(kB, 7001, "master", "5 100-199"));
  auto tv = Parse(Line(kA, 7000, "master", "0-99") +
                  Line(kB, 7001, "myself,master", "100-199 [5-<-" + kA + "]"));
  auto p = One(sv, tv, 5);
  EXPECT_EQ(p.action, SlotAction::kFinishOnTarget);
}

TEST(ClassifySlots, TargetOwnsButSourceStillClaims) {
  // The target ran NODE, the source did not (and has not heard yet).
  auto sv = SourceView(" [5->-" + kB + "]");
  auto tv = TargetView("5 100-199", "0-4 6-99");
  auto p = One(sv, tv, 5);
  EXPECT_EQ(p.action, SlotAction::kMove);
  EXPECT_TRUE(p.target_owns);
  // The source heard (no longer claims) but keeps its migrating mark: done, mark cleared.
  auto sv2 = Parse(Line(kA, 7000, "myself,master", "0-4 6-99 [5->-" + kB + "]") +
                   Line(kB, 7001, "master", "5 100-199"));
  auto d = One(sv2, tv, 5);
  EXPECT_EQ(d.action, SlotAction::kDone);
  EXPECT_TRUE(d.source_marked);
}

TEST(ClassifySlots, Conflicts) {
  // Owned by a third node.
  EXPECT_EQ(One(SourceView(), TargetView(), 250).action, SlotAction::kConflict);
  // Unowned.
  EXPECT_EQ(One(SourceView(), TargetView(), 1000).action, SlotAction::kConflict);
  // Migrating to a third node.
  auto m = One(SourceView(" [5->-" + kC + "]"), TargetView(), 5);
  EXPECT_EQ(m.action, SlotAction::kConflict);
  EXPECT_NE(m.reason.find(kC), std::string::npos);
  // Target importing from a third node.
  auto i = One(SourceView(), Parse(Line(kA, 7000, "master", "0-99") +
                                   Line(kB, 7001, "myself,master", "100-199 [5-<-" + kC + "]")),
               5);
  EXPECT_EQ(i.action, SlotAction::kConflict);
  // Views disagree: the source says B owns it, B does not and is not importing.
  auto sv = Parse(Line(kA, 7000, "myself,master", "0-4 6-99") + Line(kB, 7001, "master", "5 100-199"));
  EXPECT_EQ(One(sv, TargetView(), 5).action, SlotAction::kConflict);
}

TEST(ClassifySlots, ReplicaClaimsAreIgnored) {
  // A replica line with stale slot tokens does not make it an owner.
  auto sv = Parse(Line(kA, 7000, "myself,master", "0-99") + Line(kB, 7001, "master", "100-199") +
                  Line(kC, 7002, "slave", "300-399"));
  EXPECT_EQ(One(sv, TargetView(), 350).action, SlotAction::kConflict);
}

TEST(ClassifySlots, Errors) {
  // Wrong target id.
  auto r = ClassifySlots(SourceView(), TargetView(), kC, {5});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
  // No myself.
  auto nm = Parse(Line(kA, 7000, "master", "0-99") + Line(kB, 7001, "master", "100-199"));
  EXPECT_FALSE(ClassifySlots(nm, TargetView(), kB, {5}).ok());
  EXPECT_FALSE(ClassifySlots(SourceView(), nm, kB, {5}).ok());
  // Source == target.
  auto same = ClassifySlots(TargetView(), TargetView(), kB, {5});
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.error().code, Errc::kInvalidArgument);
}

TEST(PlanWindows, BySlotsAndKeys) {
  EXPECT_TRUE(PlanWindows({}, 256, 100).empty());
  // Slot cap.
  std::vector<uint64_t> zeros(600, 0);
  auto w = PlanWindows(zeros, 256, 100);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], (WindowSpan{0, 256}));
  EXPECT_EQ(w[1], (WindowSpan{256, 512}));
  EXPECT_EQ(w[2], (WindowSpan{512, 600}));
  // Key cap; a slot bigger than the cap gets a window of its own.
  auto k = PlanWindows({40, 40, 40, 500, 10, 0, 0}, 256, 100);
  ASSERT_EQ(k.size(), 4u);
  EXPECT_EQ(k[0], (WindowSpan{0, 2}));
  EXPECT_EQ(k[1], (WindowSpan{2, 3}));
  EXPECT_EQ(k[2], (WindowSpan{3, 4}));  // 500 alone (over the cap by itself)
  EXPECT_EQ(k[3], (WindowSpan{4, 7}));
  auto all = PlanWindows({500, 10, 0, 0}, 256, 100);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1], (WindowSpan{1, 4}));
  // max_slots 0 behaves as 1.
  EXPECT_EQ(PlanWindows({0, 0}, 0, 100).size(), 2u);
}

TEST(BatchSizer, GrowsTowardsTheByteBudgetWithinTheKeyCap) {
  BatchSizer s(BatchLimits{.max_batch_keys = 1000, .max_batch_bytes = 4 << 20,
                           .target_batch_ms = 0, .initial_batch_keys = 100, .min_fetch_keys = 10});
  EXPECT_EQ(s.fetch_keys(), 100u);
  s.Observe(std::vector<uint64_t>(100, 100));  // 100 B keys: budget allows 40 k, cap 1000
  EXPECT_EQ(s.fetch_keys(), 400u);             // at most x4 per step
  s.Observe(std::vector<uint64_t>(400, 100));
  EXPECT_EQ(s.fetch_keys(), 1000u);
  s.Observe({});                                // nothing observed: unchanged
  s.Observe({0, 0});
  EXPECT_EQ(s.fetch_keys(), 1000u);
}

TEST(BatchSizer, ShrinksAtOnceForLargeKeys) {
  BatchSizer s(BatchLimits{.max_batch_keys = 1000, .max_batch_bytes = 1 << 20,
                           .target_batch_ms = 0, .initial_batch_keys = 100, .min_fetch_keys = 10});
  s.Observe(std::vector<uint64_t>(100, 64 << 10));  // 64 KiB keys: 16 per MiB
  EXPECT_EQ(s.fetch_keys(), 16u);
  s.Observe(std::vector<uint64_t>(16, 8 << 20));    // 8 MiB keys: floor at min_fetch_keys
  EXPECT_EQ(s.fetch_keys(), 10u);
  EXPECT_GT(s.avg_key_bytes(), 1 << 20);
}

TEST(Pacing, IdleTimeKeepsTheBusyShare) {
  EXPECT_DOUBLE_EQ(PaceIdleMs(2.0, 50), 2.0);    // busy half the time
  EXPECT_DOUBLE_EQ(PaceIdleMs(1.0, 25), 3.0);    // a quarter
  EXPECT_DOUBLE_EQ(PaceIdleMs(4.0, 80), 1.0);
  EXPECT_DOUBLE_EQ(PaceIdleMs(5.0, 100), 0.0);   // no pacing
  EXPECT_DOUBLE_EQ(PaceIdleMs(5.0, 0), 0.0);     // no pacing
  EXPECT_DOUBLE_EQ(PaceIdleMs(0.0, 50), 0.0);
  EXPECT_DOUBLE_EQ(PaceIdleMs(-1.0, 50), 0.0);
}

TEST(BatchSizer, TimeBudgetCapsTheBatch) {
  BatchSizer s(BatchLimits{.max_batch_keys = 1000, .max_batch_bytes = 4 << 20,
                           .target_batch_ms = 5, .initial_batch_keys = 100, .min_fetch_keys = 10});
  s.Observe(std::vector<uint64_t>(100, 100));
  EXPECT_EQ(s.fetch_keys(), 400u);
  s.ObserveMigrate(400, 8.0);  // 20 us per key: 5 ms is 250 keys
  EXPECT_EQ(s.fetch_keys(), 250u);
  EXPECT_DOUBLE_EQ(s.ms_per_key(), 0.02);
  s.ObserveMigrate(250, 50.0);  // a slow flight (0.2 ms/key): EWMA 0.074 ms/key -> 67 keys
  EXPECT_EQ(s.fetch_keys(), 67u);
  s.ObserveMigrate(0, 5.0);     // ignored
  s.ObserveMigrate(10, 0.0);    // ignored
  EXPECT_EQ(s.fetch_keys(), 67u);
  // Without a time budget only bytes and the key cap count.
  BatchSizer n(BatchLimits{.max_batch_keys = 1000, .max_batch_bytes = 4 << 20,
                           .target_batch_ms = 0, .initial_batch_keys = 1000});
  n.ObserveMigrate(1000, 100.0);
  EXPECT_EQ(n.fetch_keys(), 1000u);
}

TEST(BatchSizer, ClampsBadLimits) {
  BatchSizer s(BatchLimits{.max_batch_keys = 5, .max_batch_bytes = 1, .target_batch_ms = 0,
                           .initial_batch_keys = 100, .min_fetch_keys = 10});
  EXPECT_EQ(s.fetch_keys(), 5u);
  s.Observe({1000});
  EXPECT_EQ(s.fetch_keys(), 5u);  // min_fetch_keys never exceeds max_batch_keys
}

SlotKeys Keys(uint32_t slot, std::vector<uint64_t> sizes, const std::string& prefix = "k") {
  SlotKeys sk;
  sk.slot = slot;
  for (size_t i = 0; i < sizes.size(); ++i) {
    sk.keys.push_back({prefix + std::to_string(slot) + "_" + std::to_string(i), sizes[i]});
  }
  return sk;
}

TEST(PlanFlights, PacksSeveralSlotsIntoOneFlightAsSeparateCommands) {
  BatchLimits l{.max_batch_keys = 10, .max_batch_bytes = 1000};
  auto f = PlanFlights({Keys(1, {10, 10, 10}), Keys(2, {10, 10}), Keys(3, {10})}, l);
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].commands.size(), 3u);
  EXPECT_EQ(f[0].commands[0].slot, 1u);
  EXPECT_EQ(f[0].commands[0].keys.size(), 3u);
  EXPECT_EQ(f[0].commands[1].slot, 2u);
  EXPECT_EQ(f[0].commands[2].keys, std::vector<std::string>{"k3_0"});
  EXPECT_EQ(f[0].keys, 6u);
  EXPECT_EQ(f[0].bytes, 60u);
  EXPECT_FALSE(f[0].oversized);
}

TEST(PlanFlights, SplitsByKeysAndBytes) {
  BatchLimits l{.max_batch_keys = 4, .max_batch_bytes = 100};
  auto byk = PlanFlights({Keys(7, std::vector<uint64_t>(10, 1))}, l);
  ASSERT_EQ(byk.size(), 3u);
  EXPECT_EQ(byk[0].keys, 4u);
  EXPECT_EQ(byk[1].keys, 4u);
  EXPECT_EQ(byk[2].keys, 2u);
  auto byb = PlanFlights({Keys(7, {60, 30, 20, 90, 10})}, l);
  ASSERT_EQ(byb.size(), 3u);
  EXPECT_EQ(byb[0].bytes, 90u);   // 60+30 (20 more would pass 100)
  EXPECT_EQ(byb[1].bytes, 20u);   // 20 (90 more would pass 100)
  EXPECT_EQ(byb[2].bytes, 100u);  // 90+10
}

TEST(PlanFlights, OversizedKeyGoesAloneAndOrderIsKept) {
  BatchLimits l{.max_batch_keys = 100, .max_batch_bytes = 1000};
  auto f = PlanFlights({Keys(1, {10, 5000, 10, 10}), Keys(2, {2000})}, l);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].keys, 1u);
  EXPECT_FALSE(f[0].oversized);
  EXPECT_TRUE(f[1].oversized);
  EXPECT_EQ(f[1].commands[0].keys, std::vector<std::string>{"k1_1"});
  EXPECT_EQ(f[1].bytes, 5000u);
  EXPECT_EQ(f[2].keys, 2u);
  EXPECT_TRUE(f[3].oversized);
  EXPECT_EQ(f[3].commands[0].slot, 2u);
  // Exactly at the budget is not oversized.
  auto at = PlanFlights({Keys(1, {1000})}, l);
  ASSERT_EQ(at.size(), 1u);
  EXPECT_FALSE(at[0].oversized);
  EXPECT_TRUE(PlanFlights({}, l).empty());
  EXPECT_TRUE(PlanFlights({Keys(1, {})}, l).empty());
}

TEST(PlanFlights, FlightBudgetAtSlotBoundariesKeepsSlotsWhole) {
  // Budget 5 keys at slot boundaries, hard cap 8 keys per flight.
  BatchLimits l{.max_batch_keys = 8, .max_batch_bytes = 1000, .flight_keys = 5};
  auto f = PlanFlights({Keys(1, {1, 1, 1}), Keys(2, {1, 1, 1}), Keys(3, {1}),
                        Keys(4, std::vector<uint64_t>(7, 1)), Keys(5, std::vector<uint64_t>(10, 1))},
                       l);
  ASSERT_EQ(f.size(), 5u);
  // Slot 2 does not fit after slot 1 (3 + 3 > 5): it starts the next flight, whole.
  ASSERT_EQ(f[0].commands.size(), 1u);
  EXPECT_EQ(f[0].keys, 3u);
  ASSERT_EQ(f[1].commands.size(), 2u);  // slot 2 (3 keys) + slot 3 (1 key)
  EXPECT_EQ(f[1].commands[0].slot, 2u);
  EXPECT_EQ(f[1].commands[1].slot, 3u);
  // Slot 4 (7 keys) is over the budget but within the hard cap: one MIGRATE, alone.
  ASSERT_EQ(f[2].commands.size(), 1u);
  EXPECT_EQ(f[2].keys, 7u);
  // Slot 5 (10 keys) is over the hard cap: split at 8.
  EXPECT_EQ(f[3].keys, 8u);
  EXPECT_EQ(f[4].keys, 2u);
  EXPECT_EQ(f[4].commands[0].slot, 5u);
}

TEST(PlanFlights, UnknownSizesPackByKeyCount) {
  BatchLimits l{.max_batch_keys = 3, .max_batch_bytes = 1};
  auto f = PlanFlights({Keys(1, {0, 0, 0, 0, 0})}, l);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].keys, 3u);
}

MoveSpec GoodSpec() {
  MoveSpec s;
  s.move_id = "m";
  s.source_node_id = "g-0001-001";
  s.source_host = "127.0.0.1";
  s.source_port = 7000;
  s.target = {kB, "127.0.0.1", 7001};
  s.slots = {{0, 99}};
  return s;
}

TEST(ValidateMoveSpec, Cases) {
  EXPECT_TRUE(ValidateMoveSpec(GoodSpec()).ok());
  auto bad = [](auto mutate) {
    MoveSpec s = GoodSpec();
    mutate(s);
    auto st = ValidateMoveSpec(s);
    return !st.ok() && st.error().code == Errc::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](MoveSpec& s) { s.slots.clear(); }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.slots = {{5, 4}}; }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.slots = {{0, 16384}}; }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.target.cluster_node_id = "short"; }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.target.ip = "localhost"; }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.target.port = 0; }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.other_primaries = {{kC, "nope", 1}}; }));
  EXPECT_TRUE(bad([](MoveSpec& s) { s.batch.max_batch_keys = 0; }));
}

TEST(MoveRegistry, OneMovePerSourceAndSupersedingAttempts) {
  MoveRegistry reg;
  auto a = reg.Begin("src", "m1", 1, 100);
  ASSERT_TRUE(a.ok());
  // Another move on the same source: refused.
  auto other = reg.Begin("src", "m2", 1, 100);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::kUnavailable);
  // Another source: fine.
  auto b = reg.Begin("src2", "m2", 1, 100);
  ASSERT_TRUE(b.ok());
  reg.End(*b);
  // Stale attempt.
  auto stale = reg.Begin("src", "m1", 0, 100);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::kFailedPrecondition);
  // A newer attempt stops the running one and takes over once it ends.
  std::shared_ptr<MoveRegistry::Ticket> first = *a;
  auto fut = std::async(std::launch::async, [&] { return reg.Begin("src", "m1", 2, 5000); });
  auto t0 = std::chrono::steady_clock::now();
  while (!first->stop && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(first->stop);
  reg.End(first);
  auto second = fut.get();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->attempt, 2u);
  // A newer attempt gives up when the old one does not end in time.
  auto third = reg.Begin("src", "m1", 3, 50);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, Errc::kUnavailable);
  reg.End(*second);
  EXPECT_TRUE(reg.Begin("src", "m9", 1, 10).ok());
}

}  // namespace
}  // namespace cf::agent
