#include "orchestrator/store/store.h"

#include <gtest/gtest.h>

#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using testing::TempDir;
using testing::TestHost;

NewGroup SimpleGroup(const std::string& id, int nodes = 2) {
  NewGroup g;
  g.group.id = id;
  g.group.description = "d";
  g.group.status = GroupStatus::kCreating;
  g.group.cache_node_type = "cache.t3.micro";
  g.group.engine_version = "7.0.15";
  g.group.parameter_group = "default.redis7";
  g.group.snapshot_window = "05:00-06:00";
  g.group.security_group_ids = {"sg-1"};
  g.group.create_time_ms = NowMs();
  g.node_groups.push_back(NodeGroupRecord{id, "0001", {}, "creating"});
  for (int i = 1; i <= nodes; ++i) {
    NodeRecord n;
    n.node_id = id + "-00" + std::to_string(i);
    n.node_group_id = "0001";
    n.member_index = i;
    n.desired_role = i == 1 ? NodeRole::kPrimary : NodeRole::kReplica;
    g.nodes.push_back(n);
  }
  g.tags = {{"env", "prod"}, {"team", ""}};
  g.operation.kind = OpKind::kCreateGroup;
  g.operation.state = OpState::kPending;
  g.operation.created_ms = g.operation.updated_ms = NowMs();
  g.event_message = "Creating replication group " + id;
  return g;
}

// Places every node on host-a, ports from the snapshot's lowest free.
Status PlaceOnFirstHost(const FleetSnapshot& snap, std::vector<NodeRecord>& nodes) {
  if (snap.hosts.empty()) return MakeError(Errc::kResourceExhausted, "no hosts");
  std::vector<uint32_t> used = snap.used_ports[0];
  for (auto& n : nodes) {
    auto p = LowestFreePort(snap.hosts[0].port_range_start, snap.hosts[0].port_range_end, used);
    if (!p) return MakeError(Errc::kResourceExhausted, "ports");
    used.push_back(*p);
    n.host_id = snap.hosts[0].host_id;
    n.az = snap.hosts[0].az;
    n.port = *p;
  }
  return {};
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Open(dir_.file("orch.db")).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-a", "lab-a", 30000)).ok());
  }
  int64_t CountRows(const std::string& group) {
    auto v = store_.GetGroup(group);
    return v.ok() && *v ? 1 : 0;
  }
  TempDir dir_;
  Store store_;
};

TEST_F(StoreTest, SchemaIsVersionedAndReopens) {
  EXPECT_EQ(store_.schema_version(), kSchemaVersion);
  Store again;
  ASSERT_TRUE(again.Open(dir_.file("orch.db")).ok());
  EXPECT_EQ(again.schema_version(), kSchemaVersion);
  auto hosts = again.ListHosts();
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ(hosts->size(), 1u);
}

TEST_F(StoreTest, WarmPortsFollowRegistrationAndHeartbeats) {
  HostRecord h = TestHost("host-w", "lab-w", 40000);
  h.warm_cluster_ports = {40099, 40098};
  ASSERT_TRUE(store_.UpsertHost(h).ok());
  EXPECT_EQ((*store_.GetHost("host-w"))->warm_cluster_ports, (std::vector<uint32_t>{40099, 40098}));
  ASSERT_TRUE(*store_.TouchHost("host-w", "boot-host-w", NowMs(), {40097}));
  EXPECT_EQ((*store_.GetHost("host-w"))->warm_cluster_ports, (std::vector<uint32_t>{40097}));
  ASSERT_TRUE(*store_.TouchHost("host-w", "boot-host-w", NowMs()));
  EXPECT_TRUE((*store_.GetHost("host-w"))->warm_cluster_ports.empty());
}

TEST_F(StoreTest, HostsHeartbeatsAndDown) {
  auto h = store_.GetHost("host-a");
  ASSERT_TRUE(h.ok() && *h);
  EXPECT_EQ((*h)->redis_versions, std::vector<std::string>{"7.0.15"});
  EXPECT_TRUE(*store_.TouchHost("host-a", "boot-host-a", NowMs()));
  EXPECT_FALSE(*store_.TouchHost("host-a", "other-boot", NowMs()));
  EXPECT_FALSE(*store_.TouchHost("host-zz", "boot", NowMs()));
  auto down = store_.MarkStaleHostsDown(NowMs() + 10000, 5000);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(*down, std::vector<std::string>{"host-a"});
  EXPECT_EQ((*store_.GetHost("host-a"))->state, HostState::kDown);
  EXPECT_TRUE(store_.MarkStaleHostsDown(NowMs() + 10000, 5000)->empty());  // only once
  EXPECT_TRUE(*store_.TouchHost("host-a", "boot-host-a", NowMs()));
  EXPECT_EQ((*store_.GetHost("host-a"))->state, HostState::kUp);
}

TEST_F(StoreTest, CreateGroupWritesEverythingInOneTransaction) {
  auto op = store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost);
  ASSERT_TRUE(op.ok()) << op.error().message;
  auto v = store_.GetGroup("rg");
  ASSERT_TRUE(v.ok() && *v);
  const GroupView& g = **v;
  EXPECT_EQ(g.group.status, GroupStatus::kCreating);
  EXPECT_EQ(g.group.security_group_ids, std::vector<std::string>{"sg-1"});
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].port, 30000u);
  EXPECT_EQ(g.nodes[1].port, 30001u);
  EXPECT_EQ(g.tags.size(), 2u);
  EXPECT_EQ(g.tags[1].value, "");
  auto ops = store_.ListUnfinishedOperations();
  ASSERT_EQ(ops->size(), 1u);
  EXPECT_EQ((*ops)[0].id, *op);
  EXPECT_EQ((*ops)[0].group_id, "rg");
  EXPECT_EQ(store_.ListEvents("rg")->size(), 1u);

  // A second group gets the next free ports.
  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("rg2"), PlaceOnFirstHost).ok());
  EXPECT_EQ((*store_.GetGroup("rg2"))->nodes[0].port, 30002u);
  // Duplicate id.
  auto dup = store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::kAlreadyExists);
}

TEST_F(StoreTest, FailedPlacementOrPortClashWritesNothing) {
  auto r =
      store_.CreateGroup(SimpleGroup("rg"), [](const FleetSnapshot&, std::vector<NodeRecord>&) {
        return Status(MakeError(Errc::kResourceExhausted, "full"));
      });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kResourceExhausted);
  EXPECT_FALSE(*store_.GroupExists("rg"));
  EXPECT_TRUE(store_.ListUnfinishedOperations()->empty());
  EXPECT_TRUE(store_.ListEvents("rg")->empty());

  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("first"), PlaceOnFirstHost).ok());
  // A buggy planner that reuses port 30000: the unique (host, port) constraint refuses it.
  auto clash = store_.CreateGroup(SimpleGroup("second"),
                                  [](const FleetSnapshot& s, std::vector<NodeRecord>& nodes) {
                                    uint32_t p = 30000;
                                    for (auto& n : nodes) {
                                      n.host_id = s.hosts[0].host_id;
                                      n.az = s.hosts[0].az;
                                      n.port = p++;
                                    }
                                    return Status();
                                  });
  ASSERT_FALSE(clash.ok());
  EXPECT_FALSE(*store_.GroupExists("second"));
  EXPECT_EQ(store_.ListUnfinishedOperations()->size(), 1u);
}

TEST_F(StoreTest, ListGroupsPagesInIdOrder) {
  for (const char* id : {"charlie", "alpha", "bravo"})
    ASSERT_TRUE(store_.CreateGroup(SimpleGroup(id, 1), PlaceOnFirstHost).ok());
  auto all = store_.ListGroups("", 10);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].group.id, "alpha");
  EXPECT_EQ((*all)[2].group.id, "charlie");
  auto page = store_.ListGroups("alpha", 1);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].group.id, "bravo");
}

TEST_F(StoreTest, OperationTransitionsAreCompareAndSet) {
  auto id = store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost);
  ASSERT_TRUE(id.ok());
  auto op = store_.ClaimOperation(*id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->attempt, 1);
  OperationRecord mine = *op;
  ASSERT_TRUE(store_.TransitionOperation(mine, OpState::kLaunchNodes, "launching").ok());
  EXPECT_EQ(mine.state, OpState::kLaunchNodes);
  // Illegal skip.
  OperationRecord copy = mine;
  EXPECT_FALSE(store_.TransitionOperation(copy, OpState::kSucceeded, "").ok());
  // A newer attempt takes over: the old one's writes are refused.
  auto newer = store_.ClaimOperation(*id);
  ASSERT_EQ(newer->attempt, 2);
  OperationRecord stale = mine;
  auto st = store_.TransitionOperation(stale, OpState::kReplicate, "");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("stale"), std::string::npos);
  EXPECT_FALSE(store_.RecordOperationError(stale, "x").ok());
  OperationRecord cur = *newer;
  ASSERT_TRUE(store_.RecordOperationError(cur, "agent down").ok());
  EXPECT_EQ(cur.retries, 1);
  auto reread = store_.GetOperation(*id);
  EXPECT_EQ((*reread)->last_error, "agent down");
  EXPECT_EQ((*reread)->retries, 1);
}

TEST_F(StoreTest, CompleteCreateAndDeleteLifecycle) {
  auto id = store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost);
  OperationRecord op = *store_.ClaimOperation(*id);
  // Delete is refused while creating.
  OperationRecord del;
  del.kind = OpKind::kDeleteGroup;
  del.created_ms = del.updated_ms = NowMs();
  auto early = store_.BeginDelete("rg", del, "Deleting");
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, Errc::kFailedPrecondition);
  for (OpState s : {OpState::kLaunchNodes, OpState::kReplicate, OpState::kAwaitHealthy})
    ASSERT_TRUE(store_.TransitionOperation(op, s, "").ok());
  ASSERT_TRUE(store_.CompleteCreate(op, "Replication group rg created").ok());
  EXPECT_EQ(op.state, OpState::kSucceeded);
  auto g = store_.GetGroup("rg");
  EXPECT_EQ((*g)->group.status, GroupStatus::kAvailable);
  EXPECT_EQ((*g)->node_groups[0].status, "available");
  EXPECT_EQ((*g)->nodes[0].status, "available");

  auto began = store_.BeginDelete("rg", del, "Deleting replication group rg");
  ASSERT_TRUE(began.ok());
  EXPECT_EQ(began->first.group.status, GroupStatus::kDeleting);
  // Deleting twice is refused.
  EXPECT_FALSE(store_.BeginDelete("rg", del, "again").ok());
  EXPECT_EQ(store_.BeginDelete("nope", del, "x").error().code, Errc::kNotFound);

  OperationRecord dop = *store_.ClaimOperation(began->second);
  ASSERT_TRUE(store_.TransitionOperation(dop, OpState::kStopNodes, "").ok());
  ASSERT_TRUE(store_.CompleteDelete(dop, "Replication group rg deleted").ok());
  EXPECT_FALSE(*store_.GroupExists("rg"));
  EXPECT_TRUE(store_.ListUnfinishedOperations()->empty());
  auto events = store_.ListEvents("rg");
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ(events->back().message, "Replication group rg deleted");
  // The ports are free again.
  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("rg3"), PlaceOnFirstHost).ok());
  EXPECT_EQ((*store_.GetGroup("rg3"))->nodes[0].port, 30000u);
}

TEST_F(StoreTest, CreateFailedGroupsCanBeDeleted) {
  auto id = store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost);
  OperationRecord op = *store_.ClaimOperation(*id);
  ASSERT_TRUE(store_.TransitionOperation(op, OpState::kRollingBack, "rolling back: x").ok());
  ASSERT_TRUE(store_.FailCreate(op, "Failed to create replication group rg: x").ok());
  EXPECT_EQ((*store_.GetGroup("rg"))->group.status, GroupStatus::kCreateFailed);
  OperationRecord del;
  del.kind = OpKind::kDeleteGroup;
  del.created_ms = del.updated_ms = NowMs();
  EXPECT_TRUE(store_.BeginDelete("rg", del, "Deleting").ok());
}

TEST_F(StoreTest, ObservationsAndOrphans) {
  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost).ok());
  ObservedNode o;
  o.known = true;
  o.role = "master";
  o.state = "running";
  o.slots = {SlotRange{0, 10}, SlotRange{11, 20}};
  o.master_link_up = true;
  auto unknown = store_.RecordObservations("host-a", {{"rg-001", o}, {"ghost-001", o}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(*unknown, std::vector<std::string>{"ghost-001"});
  // Wrong host: not applied.
  EXPECT_EQ(store_.RecordObservations("host-b", {{"rg-002", o}})->size(), 1u);
  auto g = store_.GetGroup("rg");
  EXPECT_TRUE((*g)->nodes[0].observed.known);
  EXPECT_EQ((*g)->nodes[0].observed.role, "master");
  EXPECT_EQ(FormatSlotRanges((*g)->nodes[0].observed.slots), "0-20");
  EXPECT_FALSE((*g)->nodes[1].observed.known);
}

TEST_F(StoreTest, ReallocateNodePortBlocksTheBadPort) {
  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("rg"), PlaceOnFirstHost).ok());  // 30000, 30001
  auto p = store_.ReallocateNodePort("rg-001", 30000, NowMs() + 60000);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(*p, 30002u);
  // Replaying the step returns the current port.
  EXPECT_EQ(*store_.ReallocateNodePort("rg-001", 30000, NowMs() + 60000), 30002u);
  // The blocked port is not given to the next group; 30003 is.
  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("rg2", 1), PlaceOnFirstHost).ok());
  EXPECT_EQ((*store_.GetGroup("rg2"))->nodes[0].port, 30003u);
  // An expired block is reusable.
  ASSERT_TRUE(store_.ReallocateNodePort("rg-002", 30001, NowMs() - 1).ok());
  ASSERT_TRUE(store_.CreateGroup(SimpleGroup("rg3", 1), PlaceOnFirstHost).ok());
  EXPECT_EQ((*store_.GetGroup("rg3"))->nodes[0].port, 30001u);
}

}  // namespace
}  // namespace cf::orchestrator
