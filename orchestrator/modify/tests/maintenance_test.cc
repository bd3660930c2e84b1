// ApplyImmediately=false and the maintenance window: the pure window/clock logic, the config
// keys, and ModifyReplicationGroup's deferred path end to end against the in-process fake
// agents (real gRPC): pending values recorded and shown, faults writing nothing, later
// requests replacing and immediate ones superseding, and the scheduler replaying them in the
// window (busy groups wait, refused replays are dropped with an event).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/modify/maintenance_scheduler.h"
#include "orchestrator/modify/modify_feature.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/testing/fake_fleet.h"
#include "orchestrator/core/maintenance_window.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;

constexpr int64_t kMin = 60 * 1000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;
// Sunday 2026-12-06 00:00:00 UTC and the Saturday before.
constexpr int64_t kSun = 1796515200000;
constexpr int64_t kSat = kSun - kDay;

// ---------------------------------------------------------------------------------------------
// pure: windows, timestamps, the clock

TEST(MaintenanceWindow, Parse) {
  auto w = ParseWindow("sun:23:00-mon:01:30");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->start_ms, 23 * kHour);
  EXPECT_EQ(w->duration_ms, 2 * kHour + 30 * kMin);
  auto wrap = ParseWindow("SAT:23:00-Sun:01:30");  // over the week's end
  ASSERT_TRUE(wrap);
  EXPECT_EQ(wrap->start_ms, 6 * kDay + 23 * kHour);
  EXPECT_EQ(wrap->duration_ms, 2 * kHour + 30 * kMin);
  auto backwards = ParseWindow("wed:05:00-wed:04:00");  // almost a week
  ASSERT_TRUE(backwards);
  EXPECT_EQ(backwards->duration_ms, 7 * kDay - kHour);
  auto same_day = ParseWindow("tue:00:00-tue:23:59");
  ASSERT_TRUE(same_day);
  EXPECT_EQ(same_day->start_ms, 2 * kDay);
  for (const char* bad : {"", "sun:23:00-sun:23:00", "xyz:01:00-mon:02:00", "sun:24:00-mon:01:00",
                          "sun:23:60-mon:01:00", "sun:2300-mon:0130", "sun:23:00mon:01:30",
                          "sun:23:00-mon:01:30 ", "sun:2a:00-mon:01:00"})
    EXPECT_FALSE(ParseWindow(bad)) << bad;
}

TEST(MaintenanceWindow, WeekOffset) {
  EXPECT_EQ(WeekOffsetMs(259200000), 0);  // 1970-01-04, a Sunday
  EXPECT_EQ(WeekOffsetMs(0), 4 * kDay);   // 1970-01-01, a Thursday
  EXPECT_EQ(WeekOffsetMs(kSun), 0);
  EXPECT_EQ(WeekOffsetMs(kSun - 1), 7 * kDay - 1);
  EXPECT_EQ(WeekOffsetMs(kSat + 23 * kHour), 6 * kDay + 23 * kHour);
  EXPECT_EQ(WeekOffsetMs(-1), 3 * kDay + kDay - 1);  // before the epoch still works
}

TEST(MaintenanceWindow, InWindowEdges) {
  auto w = *ParseWindow("sun:23:00-mon:01:30");
  EXPECT_FALSE(InWindow(w, kSun + 23 * kHour - 1));
  EXPECT_TRUE(InWindow(w, kSun + 23 * kHour));  // start inclusive
  EXPECT_TRUE(InWindow(w, kSun + kDay));        // midnight inside
  EXPECT_TRUE(InWindow(w, kSun + kDay + 90 * kMin - 1));
  EXPECT_FALSE(InWindow(w, kSun + kDay + 90 * kMin));  // end exclusive
  EXPECT_FALSE(InWindow(w, kSun + 3 * kDay));
  // Every week.
  EXPECT_TRUE(InWindow(w, kSun + 7 * kDay + 23 * kHour + 5 * kMin));
  EXPECT_TRUE(InWindow(w, kSun - 7 * kDay + 23 * kHour));
}

TEST(MaintenanceWindow, InWindowWrapsOverTheWeekEnd) {
  auto w = *ParseWindow("sat:23:00-sun:01:30");
  EXPECT_FALSE(InWindow(w, kSat + 23 * kHour - 1));
  EXPECT_TRUE(InWindow(w, kSat + 23 * kHour));
  EXPECT_TRUE(InWindow(w, kSun - 1));
  EXPECT_TRUE(InWindow(w, kSun));
  EXPECT_TRUE(InWindow(w, kSun + 90 * kMin - 1));
  EXPECT_FALSE(InWindow(w, kSun + 90 * kMin));
  EXPECT_FALSE(InWindow(w, kSun + 3 * kDay));
  // A window of almost a week: only its missing hour is outside.
  auto big = *ParseWindow("wed:05:00-wed:04:00");
  const int64_t wed = kSun + 3 * kDay;
  EXPECT_TRUE(InWindow(big, wed + 4 * kHour - 1));
  EXPECT_FALSE(InWindow(big, wed + 4 * kHour));
  EXPECT_FALSE(InWindow(big, wed + 5 * kHour - 1));
  EXPECT_TRUE(InWindow(big, wed + 5 * kHour));
  EXPECT_TRUE(InWindow(big, kSun));
}

TEST(MaintenanceWindow, NextStartAndEnd) {
  auto w = *ParseWindow("sun:23:00-mon:01:30");
  const int64_t start = kSun + 23 * kHour;
  EXPECT_EQ(NextWindowStart(w, kSun), start);
  EXPECT_EQ(NextWindowStart(w, start - 1), start);
  EXPECT_EQ(NextWindowStart(w, start), start);                // exactly the start
  EXPECT_EQ(NextWindowStart(w, start + 1), start + 7 * kDay);  // inside: the next one
  EXPECT_EQ(NextWindowStart(w, kSun + 3 * kDay), start + 7 * kDay);
  EXPECT_EQ(WindowEnd(w, start), start + 150 * kMin);
  EXPECT_EQ(WindowEnd(w, start + 149 * kMin), start + 150 * kMin);
  EXPECT_FALSE(WindowEnd(w, start + 150 * kMin));
  EXPECT_FALSE(WindowEnd(w, start - 1));
  auto wrap = *ParseWindow("sat:23:00-sun:01:30");
  EXPECT_EQ(NextWindowStart(wrap, kSun), kSat + 7 * kDay + 23 * kHour);
  EXPECT_EQ(NextWindowStart(wrap, kSat), kSat + 23 * kHour);
  EXPECT_EQ(WindowEnd(wrap, kSun + kHour), kSun + 90 * kMin);
  EXPECT_EQ(WindowEnd(wrap, kSat + 23 * kHour), kSun + 90 * kMin);
}

TEST(MaintenanceWindow, UtcTimestamps) {
  EXPECT_EQ(ParseUtcTimestamp("2026-12-06T00:00:00Z"), kSun);
  EXPECT_EQ(ParseUtcTimestamp("2026-12-06T00:00:00.250Z"), kSun + 250);
  EXPECT_EQ(ParseUtcTimestamp("2026-12-06T00:00:00.5Z"), kSun + 500);
  EXPECT_EQ(ParseUtcTimestamp("2026-12-06 23:00"), kSun + 23 * kHour);
  EXPECT_EQ(ParseUtcTimestamp("1970-01-01T00:00:00Z"), 0);
  for (const char* bad : {"", "2026-12-06", "2026-02-31T00:00:00Z", "2026-13-01T00:00:00Z",
                          "2026-12-06T24:00:00Z", "2026-12-06T00:00:00.1234Z", "yesterday"})
    EXPECT_FALSE(ParseUtcTimestamp(bad)) << bad;
}

TEST(MaintenanceWindow, Clock) {
  MaintenanceClock real(1000, std::nullopt, 1.0);
  EXPECT_EQ(real.VirtualMs(1000), 1000);
  EXPECT_EQ(real.VirtualMs(6000), 6000);
  MaintenanceClock fast(1000, kSun, 600.0);  // 10 virtual minutes per real second
  EXPECT_EQ(fast.VirtualMs(1000), kSun);
  EXPECT_EQ(fast.VirtualMs(2000), kSun + 10 * kMin);
  EXPECT_EQ(fast.RealMsFor(kSun + 10 * kMin), 2000);
  EXPECT_EQ(fast.RealMsFor(kSun + kHour), 7000);
  MaintenanceClock slow(0, std::nullopt, 0.5);
  EXPECT_EQ(slow.VirtualMs(1000), 500);
}

// ---------------------------------------------------------------------------------------------
// config

class MaintenanceConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cf-maint-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "node_types.yaml")
        << "default: cache.t3.micro\nnode_types:\n  cache.t3.micro: {memory_gib: 0.5}\n";
    std::ofstream(dir_ / "parameter_groups.yaml")
        << "parameter_groups:\n  - {name: default.redis7, family: redis7}\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Result<OrchestratorConfig> Parse(const std::string& extra) {
    return ParseOrchestratorConfig("store:\n  path: x.db\n" + extra, dir_.string());
  }
  std::filesystem::path dir_;
};

TEST_F(MaintenanceConfig, DefaultsAndKeys) {
  auto d = Parse("");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->maintenance.clock_speed, 1.0);
  EXPECT_FALSE(d->maintenance.clock_start_ms);
  EXPECT_EQ(d->maintenance.tick_ms, 1000);
  auto c = Parse(
      "maintenance:\n  clock_speed: 600\n  clock_start: 2026-12-06T00:00:00Z\n  tick_ms: 200\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->maintenance.clock_speed, 600.0);
  EXPECT_EQ(c->maintenance.clock_start_ms, kSun);
  EXPECT_EQ(c->maintenance.tick_ms, 200);
  for (const char* bad :
       {"maintenance:\n  clock_speed: 0\n", "maintenance:\n  clock_speed: -2\n",
        "maintenance:\n  clock_speed: fast\n", "maintenance:\n  clock_start: tomorrow\n",
        "maintenance:\n  tick_ms: 1\n", "maintenance:\n  speed: 2\n"}) {
    auto r = Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("maintenance"), std::string::npos);
    }
  }
}

TEST(MaintenanceConfigExample, ExampleDocumentsTheKeys) {
  std::ifstream f(std::string(CF_SOURCE_DIR) + "/configs/orchestrator.example.yaml");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("clock_speed"), std::string::npos);
  EXPECT_NE(text.find("clock_start"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// the deferred path and the scheduler, against the fake agents

class MaintenanceTest : public testing::FakeFleet {
 protected:
  void Configure(OrchestratorConfig& cfg) override {
    cfg.failover.restart_ready_timeout_ms = 1000;
    cfg.failover.failover_timeout_ms = 1000;
  }
  void SetUp() override {
    FakeFleet::SetUp();
    StartApp();
    // A scheduler as the App builds it (same store, settings, replay), recording the replays.
    scheduler_ = std::make_unique<MaintenanceScheduler>(
        store(), cfg_.maintenance,
        [this](const std::string& id, const std::map<std::string, std::string>& p) {
          replays_.push_back(p);
          pugi::xml_document doc;
          return app().modify().frontend.ReplayPending(id, p, doc.append_child("R"));
        });
  }
  void TearDown() override {
    scheduler_.reset();
    FakeFleet::TearDown();
  }
  int PendingPokes() { return app().modify().scheduler.pokes(); }

  std::string Code(const Params& p) {
    auto e = Call("ModifyReplicationGroup", p);
    return e ? e->code : std::string("ok");
  }
  std::vector<std::string> Events(const std::string& id) { return EventMessages(id); }
  bool HasEvent(const std::string& id, const std::string& part) {
    for (const auto& m : Events(id))
      if (m.find(part) != std::string::npos) return true;
    return false;
  }
  std::string FakeRole(const std::string& node) {
    std::lock_guard lk(net_->mu);
    return net_->nodes.at(node).role;
  }
  // DescribeCacheClusters' PendingModifiedValues of one cluster, as "Name=value;...".
  std::string ClusterPending(const std::string& cluster) {
    pugi::xml_document doc;
    EXPECT_FALSE(Call("DescribeCacheClusters", {{"CacheClusterId", cluster}}, &doc));
    std::string s;
    for (auto c : doc.child("Result").child("CacheClusters").child("CacheCluster")
                      .child("PendingModifiedValues").children())
      s += std::string(c.name()) + "=" + c.child_value() + ";";
    return s;
  }
  std::string GroupPending(const std::string& id) {
    pugi::xml_document doc;
    EXPECT_FALSE(Call("DescribeReplicationGroups", {{"ReplicationGroupId", id}}, &doc));
    std::string s;
    for (auto c : doc.child("Result").child("ReplicationGroups").child("ReplicationGroup")
                      .child("PendingModifiedValues").children())
      s += std::string(c.name()) + "=" + c.child_value() + ";";
    return s;
  }
  // The window is "sun:23:00-mon:01:30" (the default) unless set.
  void SetWindow(const std::string& id, const std::string& w) {
    GroupSettingsUpdate u;
    u.preferred_maintenance_window = w;
    ASSERT_TRUE(ModifyStoreOf(store()).UpdateGroupSettings(id, u, "window " + w).ok());
  }

  std::unique_ptr<MaintenanceScheduler> scheduler_;
  std::vector<std::map<std::string, std::string>> replays_;
};

const Params kCmd = {{"ReplicationGroupId", "g"},
                     {"ReplicationGroupDescription", "d"},
                     {"NumCacheClusters", "3"}};

// Sunday 23:30, inside the default window; Wednesday noon, outside.
constexpr int64_t kInside = kSun + 23 * kHour + 30 * kMin;
constexpr int64_t kOutside = kSun + 3 * kDay + 12 * kHour;

TEST_F(MaintenanceTest, DeferredChangesAreRecordedAndShown) {
  Create(kCmd);
  const uint64_t micro = cfg_.node_types.Find("cache.t3.micro")->memory_bytes;
  pugi::xml_document doc;
  // No ApplyImmediately: ElastiCache's default is false.
  ASSERT_FALSE(Call("ModifyReplicationGroup",
                           {{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}},
                           &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "available");
  EXPECT_STREQ(rg.child_value("CacheNodeType"), "cache.t3.micro");
  EXPECT_EQ(PendingPokes(), 1);
  EXPECT_EQ(View("g").group.cache_node_type, "cache.t3.micro");
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{micro});
  for (const auto& n : View("g").nodes)
    EXPECT_EQ(ClusterPending(n.node_id), "CacheNodeType=cache.r6g.large;");
  EXPECT_TRUE(HasEvent("g", "will be applied in the maintenance window sun:23:00-mon:01:30"));
  EXPECT_TRUE(HasEvent("g", "CacheNodeType=cache.r6g.large"));

  ASSERT_EQ(Code({{"ReplicationGroupId", "g"},
                  {"AutomaticFailoverEnabled", "TRUE"},
                  {"ApplyImmediately", "false"}}),
            "ok");
  EXPECT_EQ(GroupPending("g"), "AutomaticFailoverStatus=enabled;");
  EXPECT_FALSE(View("g").group.automatic_failover);
  EXPECT_EQ(GroupStatusName(View("g").group.status), std::string("available"));
  // PrimaryClusterId: same set, another request; shown before AutomaticFailoverStatus.
  Heartbeat("g");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"PrimaryClusterId", "G-002"}}), "ok");
  EXPECT_EQ(GroupPending("g"), "PrimaryClusterId=g-002;AutomaticFailoverStatus=enabled;");
  EXPECT_EQ(FakeRole("g-001"), "master");
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
}

TEST_F(MaintenanceTest, DeferredFaultsWriteNothing) {
  ASSERT_FALSE(Call("CreateReplicationGroup", kCmd));
  // Still creating: the same fault as with ApplyImmediately=true.
  EXPECT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}),
            "InvalidReplicationGroupState");
  ASSERT_TRUE(WaitFor("g", "available"));
  Create({{"ReplicationGroupId", "cme"},
          {"ReplicationGroupDescription", "d"},
          {"NumNodeGroups", "2"},
          {"ReplicasPerNodeGroup", "1"}});
  Create({{"ReplicationGroupId", "one"},
          {"ReplicationGroupDescription", "d"},
          {"NumCacheClusters", "1"}});
  Heartbeat("g");
  const auto events_before = Events("g");
  struct Case {
    Params p;
    std::string code;
  };
  const std::vector<Case> cases = {
      {{{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.nope"}}, "InvalidParameterValue"},
      {{{"ReplicationGroupId", "g"}, {"PrimaryClusterId", "g-009"}}, "CacheClusterNotFound"},
      {{{"ReplicationGroupId", "g"}, {"PrimaryClusterId", "g-001"}}, "InvalidParameterValue"},
      {{{"ReplicationGroupId", "g"}, {"PrimaryClusterId", ""}}, "InvalidParameterValue"},
      {{{"ReplicationGroupId", "g"}, {"PrimaryClusterId", "g-002"}, {"MultiAZEnabled", "true"}},
       "InvalidParameterCombination"},
      {{{"ReplicationGroupId", "g"}, {"MultiAZEnabled", "true"}}, "InvalidParameterCombination"},
      {{{"ReplicationGroupId", "g"}, {"AutomaticFailoverEnabled", "maybe"}},
       "InvalidParameterValue"},
      {{{"ReplicationGroupId", "cme"}, {"AutomaticFailoverEnabled", "false"}},
       "InvalidParameterValue"},
      {{{"ReplicationGroupId", "one"}, {"AutomaticFailoverEnabled", "true"}},
       "InvalidParameterCombination"},
      {{{"ReplicationGroupId", "nope"}, {"CacheNodeType", "cache.r6g.large"}},
       "ReplicationGroupNotFoundFault"},
      {{{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"},
        {"ReplicationGroupDescription", "x"}},
       "InvalidParameterCombination"},
  };
  for (const auto& apply : {"false", ""}) {
    for (auto c : cases) {
      if (*apply) c.p["ApplyImmediately"] = apply;
      EXPECT_EQ(Code(c.p), c.code) << ::testing::PrintToString(c.p);
    }
  }
  for (const char* id : {"g", "cme", "one"}) {
    EXPECT_TRUE(View(id).group.pending_modifications.empty()) << id;
    EXPECT_EQ(GroupPending(id), "") << id;
  }
  EXPECT_EQ(Events("g"), events_before);
  EXPECT_EQ(PendingPokes(), 0);
}

TEST_F(MaintenanceTest, LaterRequestsReplaceAndImmediateOnesSupersede) {
  Create(kCmd);
  const uint64_t large = cfg_.node_types.Find("cache.r6g.large")->memory_bytes;
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"AutomaticFailoverEnabled", "true"}}), "ok");
  // The current value again: whatever was pending for it goes.
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.t3.micro"}}), "ok");
  EXPECT_EQ(View("g").group.pending_modifications,
            (std::map<std::string, std::string>{{"AutomaticFailoverEnabled", "true"}}));
  // A later deferred value replaces the earlier one.
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"AutomaticFailoverEnabled", "false"}}), "ok");
  EXPECT_EQ(View("g").group.pending_modifications,
            (std::map<std::string, std::string>{{"CacheNodeType", "cache.r6g.large"}}))
      << "AutomaticFailoverEnabled=false is the current value: it drops the pending true";
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.t3.micro"}}), "ok");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  EXPECT_EQ(ClusterPending("g-001"), "CacheNodeType=cache.r6g.large;");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"AutomaticFailoverEnabled", "true"}}), "ok");
  // An immediate change of the same parameter supersedes the pending value.
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"},
                  {"CacheNodeType", "cache.r6g.large"},
                  {"ApplyImmediately", "true"}}),
            "ok");
  ASSERT_TRUE(WaitFor("g", "available"));  // the modify-node-type operation
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{large});
  EXPECT_EQ(View("g").group.pending_modifications,
            (std::map<std::string, std::string>{{"AutomaticFailoverEnabled", "true"}}));
  EXPECT_EQ(ClusterPending("g-001"), "");
  // Deleting the group deletes its pending rows.
  ASSERT_FALSE(Call("DeleteReplicationGroup", {{"ReplicationGroupId", "g"}}));
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store().GetGroup("g")->has_value() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_FALSE(store().GetGroup("g")->has_value());
  EXPECT_TRUE(ModifyStoreOf(store()).ListPendingGroups()->empty());
}

TEST_F(MaintenanceTest, SchedulerReplaysInTheWindowAndClears) {
  Create(kCmd);
  Heartbeat("g");
  const uint64_t micro = cfg_.node_types.Find("cache.t3.micro")->memory_bytes;
  const uint64_t large = cfg_.node_types.Find("cache.r6g.large")->memory_bytes;
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"PrimaryClusterId", "g-002"}}), "ok");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"AutomaticFailoverEnabled", "true"}}), "ok");
  auto& sched = *scheduler_;
  // Outside the window: nothing.
  EXPECT_EQ(sched.RunOnce(kOutside), 0);
  EXPECT_TRUE(replays_.empty());
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{micro});
  // Inside: the oldest batch, the node type, exactly as the immediate path does it.
  EXPECT_EQ(sched.RunOnce(kInside), 1);
  ASSERT_TRUE(WaitFor("g", "available"));  // the modify-node-type operation
  EXPECT_EQ(FakeMaxmemory("g"), std::set<uint64_t>{large});
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(ClusterPending("g-001"), "");
  EXPECT_TRUE(HasEvent("g", "scaled from cache.t3.micro to cache.r6g.large"));
  EXPECT_TRUE(HasEvent("g", "(CacheNodeType=cache.r6g.large) applied in the maintenance window"));
  // Next: the switch-over (an operation: the group is busy until it is done).
  EXPECT_EQ(sched.RunOnce(kInside), 1);
  EXPECT_EQ(GroupPending("g"), "AutomaticFailoverStatus=enabled;");
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(FakeRole("g-002"), "master");
  Heartbeat("g");
  EXPECT_EQ(sched.RunOnce(kInside), 1);
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_TRUE(View("g").group.automatic_failover);
  EXPECT_EQ(GroupPending("g"), "");
  EXPECT_TRUE(ModifyStoreOf(store()).ListPendingGroups()->empty());
  ASSERT_EQ(replays_.size(), 3u);
  EXPECT_EQ(replays_[1], (std::map<std::string, std::string>{{"PrimaryClusterId", "g-002"}}));
  // A replay repeated after a crash between apply and clear changes nothing.
  pugi::xml_document doc;
  EXPECT_FALSE(app().modify().frontend.ReplayPending("g", {{"CacheNodeType", "cache.r6g.large"}},
                                            doc.append_child("R")));
  EXPECT_FALSE(app().modify().frontend.ReplayPending("g", {{"AutomaticFailoverEnabled", "true"}},
                                            doc.append_child("R")));
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
}

TEST_F(MaintenanceTest, ABusyGroupWaitsInTheWindow) {
  Create(kCmd);
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  // An operation that cannot run yet (the runner is stopped) keeps the group modifying.
  app().StopRunner();
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"},
                  {"AutomaticFailoverEnabled", "true"},
                  {"ApplyImmediately", "true"}}),
            "ok");
  EXPECT_EQ(GroupStatusName(View("g").group.status), std::string("modifying"));
  EXPECT_EQ(scheduler_->RunOnce(kInside), 0);
  EXPECT_EQ(scheduler_->RunOnce(kInside + kMin), 0);
  EXPECT_TRUE(replays_.empty());
  EXPECT_EQ(ClusterPending("g-001"), "CacheNodeType=cache.r6g.large;");
  EXPECT_TRUE(app().StartRunner().ok());
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(scheduler_->RunOnce(kInside + 2 * kMin), 1);
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_TRUE(View("g").group.automatic_failover);
  ASSERT_TRUE(WaitFor("g", "available"));  // the modify-node-type operation
  // Past the window's end: pending values wait for the next window.
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.t3.micro"}}), "ok");
  EXPECT_EQ(scheduler_->RunOnce(kSun + kDay + 90 * kMin), 0);
  EXPECT_EQ(scheduler_->RunOnce(kSun + 7 * kDay + 23 * kHour), 1);
  EXPECT_EQ(View("g").group.cache_node_type, "cache.t3.micro");
}

TEST_F(MaintenanceTest, ATransientReplayFaultIsRetriedLaterInTheWindow) {
  Create(kCmd);
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  int64_t real = 1000;
  int replays = 0;
  bool race = true;
  MaintenanceScheduler sched(
      store(), cfg_.maintenance,
      [&](const std::string& id, const std::map<std::string, std::string>& p) {
        ++replays;
        if (race) {
          // An immediate request started an operation after the scheduler found the group
          // idle (the runner is stopped: it stays running): the replay answers
          // InvalidReplicationGroupState.
          app().StopRunner();
          EXPECT_EQ(Code({{"ReplicationGroupId", "g"},
                          {"AutomaticFailoverEnabled", "true"},
                          {"ApplyImmediately", "true"}}),
                    "ok");
        }
        pugi::xml_document doc;
        return app().modify().frontend.ReplayPending(id, p, doc.append_child("R"));
      },
      [&] { return real; });
  EXPECT_EQ(sched.RunOnce(kInside), 0);
  EXPECT_EQ(replays, 1);
  EXPECT_EQ(ClusterPending("g-001"), "CacheNodeType=cache.r6g.large;");
  race = false;
  ASSERT_TRUE(app().StartRunner().ok());
  ASSERT_TRUE(WaitFor("g", "available"));
  real += kTransientRetryMs - 1;
  EXPECT_EQ(sched.RunOnce(kInside + kMin), 0);  // not asked again so soon
  EXPECT_EQ(replays, 1);
  real += 1;
  EXPECT_EQ(sched.RunOnce(kInside + 2 * kMin), 1);
  EXPECT_EQ(replays, 2);
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(ClusterPending("g-001"), "");
  EXPECT_FALSE(HasEvent("g", "dropped"));
}

TEST_F(MaintenanceTest, ARefusedReplayIsDroppedWithAnEvent) {
  Create(kCmd);
  Heartbeat("g");
  SetWindow("g", "wed:11:00-wed:13:00");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"PrimaryClusterId", "g-003"}}), "ok");
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  EXPECT_EQ(scheduler_->RunOnce(kInside), 0);  // sunday: not this group's window
  // kOutside (Wednesday 12:00) is outside the default window but inside this one.
  // The chosen replica died in the meantime.
  auto v = View("g");
  ObservedNode dead;
  dead.known = true;
  dead.state = "exited";
  ASSERT_TRUE(store().RecordObservations(v.nodes[2].host_id, {{"g-003", dead}}).ok());
  EXPECT_EQ(scheduler_->RunOnce(kOutside), 1);
  EXPECT_TRUE(HasEvent("g", "(PrimaryClusterId=g-003) could not be applied in the maintenance "
                            "window wed:11:00-wed:13:00 and was dropped: InvalidCacheClusterState"));
  EXPECT_EQ(GroupPending("g"), "");
  EXPECT_EQ(ClusterPending("g-001"), "CacheNodeType=cache.r6g.large;");
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
  EXPECT_EQ(scheduler_->RunOnce(kOutside), 1);
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_TRUE(ModifyStoreOf(store()).ListPendingGroups()->empty());
}

TEST_F(MaintenanceTest, BackgroundThreadUsesTheVirtualClock) {
  Create(kCmd);
  // A clock 600x faster that starts 2 virtual minutes before the window.
  OrchestratorConfig fast = cfg_;
  fast.maintenance.clock_speed = 600;
  fast.maintenance.clock_start_ms = kSun + 23 * kHour - 2 * kMin;
  fast.maintenance.tick_ms = 20;
  int replays = 0;
  MaintenanceScheduler sched(store(), fast.maintenance,
                             [&](const std::string& id, const std::map<std::string, std::string>& p) {
                               ++replays;
                               pugi::xml_document doc;
                               return app().modify().frontend.ReplayPending(id, p, doc.append_child("R"));
                             });
  ASSERT_EQ(Code({{"ReplicationGroupId", "g"}, {"CacheNodeType", "cache.r6g.large"}}), "ok");
  EXPECT_LT(sched.VirtualNowMs(), kSun + 23 * kHour);
  sched.Start();
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (View("g").group.cache_node_type != "cache.r6g.large" &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  sched.Stop();
  EXPECT_EQ(View("g").group.cache_node_type, "cache.r6g.large");
  EXPECT_GE(sched.VirtualNowMs(), kSun + 23 * kHour);
  EXPECT_EQ(replays, 1);
  auto j = sched.StatusJson();
  EXPECT_NE(j.find("\"clock_speed\":600"), std::string::npos) << j;
  EXPECT_NE(j.find("\"groups\":[]"), std::string::npos) << j;
}

}  // namespace
}  // namespace cf::orchestrator
