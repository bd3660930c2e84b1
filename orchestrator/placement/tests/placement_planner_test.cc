#include "orchestrator/placement/placement_planner.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace cf::orchestrator {
namespace {

PlacementHost Host(const std::string& id, const std::string& az, uint32_t start = 30000,
                   uint32_t end = 30099) {
  PlacementHost h;
  h.host_id = id;
  h.az = az;
  h.port_range_start = start;
  h.port_range_end = end;
  return h;
}

std::vector<PlacementHost> ThreeAzs() {
  return {Host("host-a", "lab-a", 30000, 30099), Host("host-b", "lab-b", 31000, 31099),
          Host("host-c", "lab-c", 32000, 32099)};
}

// shards x (1 + replicas), optional AZ per node (shard-major, primary first).
std::vector<PlacementRequest> Topo(int shards, int replicas,
                                   const std::vector<std::string>& azs = {}) {
  std::vector<PlacementRequest> out;
  size_t k = 0;
  for (int s = 0; s < shards; ++s) {
    for (int m = 0; m <= replicas; ++m) {
      PlacementRequest r;
      r.node_id = "n" + std::to_string(s) + "-" + std::to_string(m);
      r.shard = s;
      r.member = m;
      r.role = m == 0 ? NodeRole::kPrimary : NodeRole::kReplica;
      if (k < azs.size() && !azs[k].empty()) r.preferred_az = azs[k];
      ++k;
      out.push_back(r);
    }
  }
  return out;
}

std::map<std::string, int> PerHost(const std::vector<NodePlacement>& p) {
  std::map<std::string, int> m;
  for (const auto& x : p) m[x.host_id]++;
  return m;
}

void ExpectPortsUniquePerHost(const std::vector<NodePlacement>& p) {
  std::set<std::pair<std::string, uint32_t>> seen;
  for (const auto& x : p) EXPECT_TRUE(seen.insert({x.host_id, x.port}).second) << x.node_id;
}

void ExpectShardsOnDistinctHosts(const std::vector<PlacementRequest>& req,
                                 const std::vector<NodePlacement>& p) {
  std::map<int, std::set<std::string>> hosts;
  std::map<int, int> count;
  for (size_t i = 0; i < req.size(); ++i) {
    hosts[req[i].shard].insert(p[i].host_id);
    count[req[i].shard]++;
  }
  for (auto& [s, h] : hosts) EXPECT_EQ(static_cast<int>(h.size()), count[s]) << "shard " << s;
}

TEST(PlacementPlanner, WorkedExampleThreeShardsOneReplica) {
  auto req = Topo(3, 1);
  auto r = PlanPlacement(ThreeAzs(), req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& p = *r;
  EXPECT_EQ(p[0].host_id, "host-a");
  EXPECT_EQ(p[2].host_id, "host-b");
  EXPECT_EQ(p[4].host_id, "host-c");
  EXPECT_EQ(p[1].host_id, "host-b");  // shard 1's replica
  EXPECT_EQ(p[3].host_id, "host-c");
  EXPECT_EQ(p[5].host_id, "host-a");
  ExpectShardsOnDistinctHosts(req, p);
  for (auto& [h, n] : PerHost(p)) EXPECT_EQ(n, 2) << h;
  ExpectPortsUniquePerHost(p);
  EXPECT_EQ(p[0].port, 30000u);
  EXPECT_EQ(p[5].port, 30001u);  // lowest free port on host-a after p[0]
  EXPECT_EQ(p[0].az, "lab-a");
}

TEST(PlacementPlanner, PrimariesSpreadAcrossAzsWithoutPreferences) {
  auto r = PlanPlacement(ThreeAzs(), Topo(3, 0));
  ASSERT_TRUE(r.ok());
  std::set<std::string> azs;
  for (const auto& x : *r) azs.insert(x.az);
  EXPECT_EQ(azs.size(), 3u);
}

TEST(PlacementPlanner, ReplicasAvoidTheirPrimarysAz) {
  auto r = PlanPlacement(ThreeAzs(), Topo(1, 2));
  ASSERT_TRUE(r.ok());
  std::set<std::string> azs;
  for (const auto& x : *r) azs.insert(x.az);
  EXPECT_EQ(azs.size(), 3u);
}

TEST(PlacementPlanner, HonoursAzPreferences) {
  auto req = Topo(2, 1, {"lab-c", "lab-a", "lab-b", "lab-c"});
  auto r = PlanPlacement(ThreeAzs(), req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].az, "lab-c");
  EXPECT_EQ((*r)[1].az, "lab-a");
  EXPECT_EQ((*r)[2].az, "lab-b");
  EXPECT_EQ((*r)[3].az, "lab-c");
}

TEST(PlacementPlanner, UnknownAzIsInvalidArgumentNamingIt) {
  auto r = PlanPlacement(ThreeAzs(), Topo(1, 1, {"lab-a", "us-east-1z"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_NE(r.error().message.find("us-east-1z"), std::string::npos);
}

TEST(PlacementPlanner, AzWhoseHostsAreDownIsCapacity) {
  auto hosts = ThreeAzs();
  hosts[2].up = false;
  auto r = PlanPlacement(hosts, Topo(1, 0, {"lab-c"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kResourceExhausted);
}

TEST(PlacementPlanner, DownHostsAreSkipped) {
  auto hosts = ThreeAzs();
  hosts[1].up = false;
  auto r = PlanPlacement(hosts, Topo(3, 1));
  ASSERT_TRUE(r.ok());
  for (const auto& x : *r) EXPECT_NE(x.host_id, "host-b");
  ExpectShardsOnDistinctHosts(Topo(3, 1), *r);
}

TEST(PlacementPlanner, HostsWithoutTheVersionAreSkipped) {
  auto hosts = ThreeAzs();
  hosts[0].offers_version = false;
  auto r = PlanPlacement(hosts, Topo(2, 0));
  ASSERT_TRUE(r.ok());
  for (const auto& x : *r) EXPECT_NE(x.host_id, "host-a");
}

TEST(PlacementPlanner, NoHostsUp) {
  auto hosts = ThreeAzs();
  for (auto& h : hosts) h.up = false;
  auto r = PlanPlacement(hosts, Topo(1, 0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kResourceExhausted);
  auto none = PlanPlacement({}, Topo(1, 0));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::kResourceExhausted);
}

TEST(PlacementPlanner, PortExhaustion) {
  std::vector<PlacementHost> hosts = {Host("h1", "a", 30000, 30001)};
  auto ok = PlanPlacement(hosts, Topo(1, 1));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].port, 30000u);
  EXPECT_EQ((*ok)[1].port, 30001u);
  auto r = PlanPlacement(hosts, Topo(1, 2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kResourceExhausted);
}

TEST(PlacementPlanner, UsedPortsAreSkippedLowestFreeChosen) {
  auto h = Host("h1", "a", 30000, 30010);
  h.used_ports = {30000, 30001, 30003};
  auto r = PlanPlacement({h}, Topo(1, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].port, 30002u);
  EXPECT_EQ((*r)[1].port, 30004u);
}

TEST(PlacementPlanner, MaxNodesCapacity) {
  auto a = Host("a", "lab-a");
  a.max_nodes = 2;
  a.node_count = 2;  // full
  auto b = Host("b", "lab-b", 31000, 31099);
  auto r = PlanPlacement({a, b}, Topo(1, 1));
  ASSERT_TRUE(r.ok());
  for (const auto& x : *r) EXPECT_EQ(x.host_id, "b");  // shares a host: not enough hosts
  b.max_nodes = 1;
  auto r2 = PlanPlacement({a, b}, Topo(1, 1));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, Errc::kResourceExhausted);
}

TEST(PlacementPlanner, SingleHostLabSharesTheHost) {
  auto r = PlanPlacement({Host("only", "lab-a")}, Topo(3, 1));
  ASSERT_TRUE(r.ok());
  ExpectPortsUniquePerHost(*r);
  for (const auto& x : *r) EXPECT_EQ(x.host_id, "only");
}

TEST(PlacementPlanner, TwoHostsKeepPrimaryAndReplicaApart) {
  std::vector<PlacementHost> hosts = {Host("a", "lab-a"), Host("b", "lab-b", 31000, 31099)};
  auto req = Topo(3, 1);
  auto r = PlanPlacement(hosts, req);
  ASSERT_TRUE(r.ok());
  ExpectShardsOnDistinctHosts(req, *r);
  auto per = PerHost(*r);
  EXPECT_EQ(per["a"], 3);
  EXPECT_EQ(per["b"], 3);
}

TEST(PlacementPlanner, TwoHostsInOneAzAreBothUsed) {
  std::vector<PlacementHost> hosts = {Host("a1", "lab-a"), Host("a2", "lab-a", 31000, 31099)};
  auto req = Topo(2, 1);
  auto r = PlanPlacement(hosts, req);
  ASSERT_TRUE(r.ok());
  ExpectShardsOnDistinctHosts(req, *r);
}

TEST(PlacementPlanner, PreferredAzWithOneHostForcesSharing) {
  // Primary and replica both asked for lab-a, which has one host: they must share it.
  auto r = PlanPlacement(ThreeAzs(), Topo(1, 1, {"lab-a", "lab-a"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].host_id, "host-a");
  EXPECT_EQ((*r)[1].host_id, "host-a");
  EXPECT_NE((*r)[0].port, (*r)[1].port);
}

TEST(PlacementPlanner, LoadSpreadsToEmptierHosts) {
  auto hosts = ThreeAzs();
  hosts[0].node_count = 10;
  // Two hosts in lab-a: the loaded one and an empty one.
  hosts.push_back(Host("host-a2", "lab-a", 33000, 33099));
  auto r = PlanPlacement(hosts, Topo(3, 0));
  ASSERT_TRUE(r.ok());
  for (const auto& x : *r) EXPECT_NE(x.host_id, "host-a");
}

TEST(PlacementPlanner, MixedPreferencesAndFreeNodes) {
  // Shard 0 pinned to lab-b (primary) / lab-c (replica); shard 1 free.
  auto req = Topo(2, 1, {"lab-b", "lab-c"});
  auto r = PlanPlacement(ThreeAzs(), req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].az, "lab-b");
  EXPECT_EQ((*r)[1].az, "lab-c");
  EXPECT_NE((*r)[2].host_id, (*r)[3].host_id);
  ExpectPortsUniquePerHost(*r);
}

TEST(PlacementPlanner, DeterministicAndEvenForManyShapes) {
  for (int hosts_n = 1; hosts_n <= 5; ++hosts_n) {
    std::vector<PlacementHost> hosts;
    for (int i = 0; i < hosts_n; ++i)
      hosts.push_back(Host("h" + std::to_string(i), "az" + std::to_string(i), 30000 + 1000 * i,
                           30000 + 1000 * i + 499));
    for (int shards = 1; shards <= 10; ++shards) {
      for (int replicas = 0; replicas <= 3; ++replicas) {
        auto req = Topo(shards, replicas);
        auto r1 = PlanPlacement(hosts, req);
        auto r2 = PlanPlacement(hosts, req);
        ASSERT_TRUE(r1.ok());
        for (size_t i = 0; i < req.size(); ++i) {
          EXPECT_EQ((*r1)[i].host_id, (*r2)[i].host_id);
          EXPECT_EQ((*r1)[i].port, (*r2)[i].port);
        }
        ExpectPortsUniquePerHost(*r1);
        if (hosts_n >= replicas + 1) ExpectShardsOnDistinctHosts(req, *r1);
        auto per = PerHost(*r1);
        int lo = 1 << 30, hi = 0;
        for (int i = 0; i < hosts_n; ++i) {
          int n = per["h" + std::to_string(i)];
          lo = std::min(lo, n);
          hi = std::max(hi, n);
        }
        // Even spread: no host carries more than one node above another.
        EXPECT_LE(hi - lo, 1) << hosts_n << " hosts, " << shards << "x" << replicas;
      }
    }
  }
}

TEST(PlacementPlanner, AzsBeforeHostsWhenAzsHaveDifferentHostCounts) {
  // lab-a has two hosts, lab-b and lab-c one each: the AZs share the nodes evenly first.
  std::vector<PlacementHost> hosts = {Host("a1", "lab-a"), Host("a2", "lab-a", 31000, 31099),
                                      Host("b", "lab-b", 32000, 32099),
                                      Host("c", "lab-c", 33000, 33099)};
  auto r = PlanPlacement(hosts, Topo(6, 0));
  ASSERT_TRUE(r.ok());
  std::map<std::string, int> per_az;
  for (const auto& x : *r) per_az[x.az]++;
  EXPECT_EQ(per_az["lab-a"], 2);
  EXPECT_EQ(per_az["lab-b"], 2);
  EXPECT_EQ(per_az["lab-c"], 2);
  auto per = PerHost(*r);
  EXPECT_EQ(per["a1"], 1);
  EXPECT_EQ(per["a2"], 1);
}

std::vector<PlacementRequest> ClusterMode(std::vector<PlacementRequest> r) {
  for (auto& x : r) x.cluster_mode = true;
  return r;
}

TEST(PlacementPlanner, ClusterModeNodesClaimWarmPorts) {
  auto hosts = ThreeAzs();
  hosts[0].warm_ports = {30098, 30099};
  hosts[1].warm_ports = {31099, 31098};
  hosts[2].warm_ports = {32099};
  auto r = PlanPlacement(hosts, ClusterMode(Topo(3, 1)));
  ASSERT_TRUE(r.ok());
  std::map<std::string, std::vector<uint32_t>> ports;
  for (const auto& x : *r) ports[x.host_id].push_back(x.port);
  for (auto& [h, p] : ports) std::sort(p.begin(), p.end());
  EXPECT_EQ(ports["host-a"], (std::vector<uint32_t>{30098, 30099}));
  EXPECT_EQ(ports["host-b"], (std::vector<uint32_t>{31098, 31099}));
  // host-c has one warm port: its second node starts cold on the lowest free port.
  EXPECT_EQ(ports["host-c"], (std::vector<uint32_t>{32000, 32099}));
  ExpectShardsOnDistinctHosts(Topo(3, 1), *r);
  // The same hosts as without warm ports (balance first).
  auto cold = PlanPlacement(ThreeAzs(), ClusterMode(Topo(3, 1)));
  for (size_t i = 0; i < r->size(); ++i) EXPECT_EQ((*r)[i].host_id, (*cold)[i].host_id);
}

TEST(PlacementPlanner, OtherNodesNeverTakeWarmPorts) {
  auto h = Host("h", "lab-a", 30000, 30002);
  h.warm_ports = {30000, 30002};
  auto r = PlanPlacement({h}, Topo(1, 0));  // cluster mode disabled
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].port, 30001u);
  auto full = PlanPlacement({h}, Topo(1, 1));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::kResourceExhausted);
  // The same host has room for three cluster-mode nodes.
  auto cme = PlanPlacement({h}, ClusterMode(Topo(1, 2)));
  ASSERT_TRUE(cme.ok());
}

TEST(PlacementPlanner, AllocatedWarmPortsAreNotOfferedAgain) {
  auto h = Host("a", "lab-a");
  h.warm_ports = {30099, 30098, 40000 /* outside the range: ignored */};
  h.used_ports = {30099};
  auto r = PlanPlacement({h}, ClusterMode(Topo(1, 1)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].port, 30098u);
  EXPECT_EQ((*r)[1].port, 30000u);
}

TEST(PlacementPlanner, LowestFreePort) {
  EXPECT_EQ(LowestFreePort(10, 12, {}), 10u);
  EXPECT_EQ(LowestFreePort(10, 12, {10, 11}), 12u);
  EXPECT_FALSE(LowestFreePort(10, 12, {10, 11, 12}).has_value());
  EXPECT_FALSE(LowestFreePort(12, 10, {}).has_value());
  EXPECT_EQ(LowestFreePort(65535, 65535, {}), 65535u);
}

}  // namespace
}  // namespace cf::orchestrator
