#include "orchestrator/core/replication_group_xml.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace cf::orchestrator {
namespace {

void Text(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text().set(value.c_str());
}

void Bool(pugi::xml_node parent, const char* name, bool v) {
  Text(parent, name, v ? "true" : "false");
}

void Int(pugi::xml_node parent, const char* name, int64_t v) {
  Text(parent, name, std::to_string(v));
}

const HostRecord* HostOf(const RenderContext& ctx, const NodeRecord& n) {
  auto it = ctx.hosts.find(n.host_id);
  return it == ctx.hosts.end() ? nullptr : &it->second;
}

void Endpoint(pugi::xml_node parent, const char* name, const RenderContext& ctx,
              const NodeRecord& n) {
  pugi::xml_node e = parent.append_child(name);
  const HostRecord* h = HostOf(ctx, n);
  Text(e, "Address", h ? h->address : std::string());
  Int(e, "Port", n.port);
}

bool ObservedMaster(const NodeRecord& n) { return n.observed.known && n.observed.role == "master"; }

bool IsLive(const RenderContext& ctx, const NodeRecord& n) {
  const HostRecord* h = HostOf(ctx, n);
  return h && h->state == HostState::kUp && n.observed.known && n.observed.state == "running";
}

// The observed role while the node is live; otherwise (process held down after a crash, host
// down) its last observation is stale — a failed-over primary would still read "master" — so
// the desired role, which a failover swaps in the same transaction as its events, is shown.
std::string CurrentRole(const RenderContext& ctx, const NodeRecord& n) {
  if (IsLive(ctx, n) && n.observed.role == "master") return "primary";
  if (IsLive(ctx, n) && n.observed.role == "slave") return "replica";
  return NodeRoleName(n.desired_role);
}

}  // namespace

std::string FormatTimestamp(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string ReplicationGroupArn(const RenderContext& ctx, const std::string& group_id) {
  return "arn:aws:elasticache:" + ctx.region + ":" + ctx.account_id +
         ":replicationgroup:" + group_id;
}

const NodeRecord* ShardPrimary(const GroupView& view, const std::string& node_group_id) {
  const NodeRecord* planned = nullptr;
  const NodeRecord* observed = nullptr;
  for (const auto& n : view.nodes) {
    if (n.node_group_id != node_group_id) continue;
    if (!planned && n.desired_role == NodeRole::kPrimary) planned = &n;
    if (ObservedMaster(n)) {
      // Prefer the planned primary when several nodes claim to be masters (stale reports).
      if (!observed || n.desired_role == NodeRole::kPrimary) observed = &n;
    }
  }
  return observed ? observed : planned;
}

void RenderReplicationGroup(const GroupView& view, const RenderContext& ctx, pugi::xml_node out) {
  const ReplicationGroupRecord& g = view.group;
  const bool cme = g.cluster_enabled;
  const bool creating = g.status == GroupStatus::kCreating;

  Text(out, "ReplicationGroupId", g.id);
  Text(out, "Description", g.description);
  Text(out, "Status", GroupStatusName(g.status));
  pugi::xml_node pending = out.append_child("PendingModifiedValues");
  // Changes waiting for the maintenance window (ApplyImmediately=false), in the shape's order.
  const auto& waiting = g.pending_modifications;
  if (auto it = waiting.find("PrimaryClusterId"); it != waiting.end()) {
    std::string id = it->second;  // cache cluster ids are lowercase; the request may not be
    for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    Text(pending, "PrimaryClusterId", id);
  }
  if (auto it = waiting.find("AutomaticFailoverEnabled"); it != waiting.end())
    Text(pending, "AutomaticFailoverStatus", it->second == "true" ? "enabled" : "disabled");
  if (view.resharding_progress) {
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", *view.resharding_progress);
    Text(pending.append_child("Resharding").append_child("SlotMigration"), "ProgressPercentage",
         pct);
  }

  pugi::xml_node members = out.append_child("MemberClusters");
  for (const auto& n : view.nodes) Text(members, "ClusterId", n.node_id);

  pugi::xml_node ngs = out.append_child("NodeGroups");
  for (const auto& ng : view.node_groups) {
    pugi::xml_node e = ngs.append_child("NodeGroup");
    Text(e, "NodeGroupId", ng.node_group_id);
    Text(e, "Status", ng.status);
    const NodeRecord* primary = ShardPrimary(view, ng.node_group_id);
    if (!cme && primary) {
      Endpoint(e, "PrimaryEndpoint", ctx, *primary);
      // No DNS: the reader endpoint is a live replica, else the primary.
      const NodeRecord* reader = nullptr;
      for (const auto& n : view.nodes)
        if (n.node_group_id == ng.node_group_id && &n != primary && !ObservedMaster(n) &&
            IsLive(ctx, n) && !reader)
          reader = &n;
      Endpoint(e, "ReaderEndpoint", ctx, reader ? *reader : *primary);
    }
    if (cme) {
      // Planned slots until the primary is observed; then what it owns. While a reshard runs
      // that changes as slots move (a new node group owns nothing at first: no Slots element).
      SlotRanges slots = ng.slots;
      if (!creating && primary && primary->observed.known &&
          (!primary->observed.slots.empty() || g.status == GroupStatus::kModifying))
        slots = primary->observed.slots;
      const std::string text = FormatSlotRanges(NormalizeSlotRanges(slots));
      if (!text.empty()) Text(e, "Slots", text);
    }
    pugi::xml_node mem = e.append_child("NodeGroupMembers");
    for (const auto& n : view.nodes) {
      if (n.node_group_id != ng.node_group_id) continue;
      pugi::xml_node m = mem.append_child("NodeGroupMember");
      Text(m, "CacheClusterId", n.node_id);
      Text(m, "CacheNodeId", "0001");
      if (!cme) Endpoint(m, "ReadEndpoint", ctx, n);
      Text(m, "PreferredAvailabilityZone", n.az);
      if (!cme) Text(m, "CurrentRole", CurrentRole(ctx, n));
    }
  }

  if (!g.snapshotting_cluster_id.empty())
    Text(out, "SnapshottingClusterId", g.snapshotting_cluster_id);
  if (view.automatic_failover_pending && *view.automatic_failover_pending != g.automatic_failover)
    Text(out, "AutomaticFailover", *view.automatic_failover_pending ? "enabling" : "disabling");
  else
    Text(out, "AutomaticFailover",
         g.automatic_failover ? (creating ? "enabling" : "enabled") : "disabled");
  Text(out, "MultiAZ", g.multi_az ? "enabled" : "disabled");
  if (cme) {
    const NodeRecord* cfg = nullptr;
    for (const auto& ng : view.node_groups) {
      const NodeRecord* p = ShardPrimary(view, ng.node_group_id);
      if (p && ObservedMaster(*p) && IsLive(ctx, *p)) {
        cfg = p;
        break;
      }
    }
    if (!cfg && !creating && !view.node_groups.empty())
      cfg = ShardPrimary(view, view.node_groups.front().node_group_id);
    if (cfg) Endpoint(out, "ConfigurationEndpoint", ctx, *cfg);
  }
  Int(out, "SnapshotRetentionLimit", g.snapshot_retention_limit);
  Text(out, "SnapshotWindow", g.snapshot_window);
  Bool(out, "ClusterEnabled", cme);
  Text(out, "CacheNodeType", g.cache_node_type);
  Bool(out, "AuthTokenEnabled", false);
  Bool(out, "TransitEncryptionEnabled", g.transit_encryption);
  Bool(out, "AtRestEncryptionEnabled", g.at_rest_encryption);
  Text(out, "ARN", ReplicationGroupArn(ctx, g.id));
  Text(out, "ReplicationGroupCreateTime", FormatTimestamp(g.create_time_ms));
  Text(out, "DataTiering", g.data_tiering ? "enabled" : "disabled");
  Bool(out, "AutoMinorVersionUpgrade", g.auto_minor_version_upgrade);
  Text(out, "NetworkType", g.network_type);
  Text(out, "IpDiscovery", g.ip_discovery);
  Text(out, "ClusterMode", cme ? "enabled" : "disabled");
  Text(out, "Engine", g.engine);
}

}  // namespace cf::orchestrator
