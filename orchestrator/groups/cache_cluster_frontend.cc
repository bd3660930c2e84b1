#include "orchestrator/groups/cache_cluster_frontend.h"

#include <cctype>
#include <deque>
#include <set>

#include "common/log.h"
#include "orchestrator/api/xml_util.h"
#include "orchestrator/store/store.h"
#include "orchestrator/core/faults.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;
using api::InvalidParameterValue;

const char* ClusterStatus(const std::string& node_status) {
  if (node_status == "available") return "available";
  if (node_status == "creating") return "creating";
  if (node_status == "deleting" || node_status == "stopped") return "deleting";
  if (node_status == "modifying") return "modifying";
  if (node_status == "rebooting") return "rebooting cluster nodes";
  return "available";
}

}  // namespace

settings::Checked<std::string> NormalizeCacheClusterId(const std::string& raw) {
  const std::string msg =
      "The parameter CacheClusterIdentifier is not a valid identifier. Identifiers must begin "
      "with a letter; must contain only ASCII letters, digits, and hyphens; and must not end "
      "with a hyphen or contain two consecutive hyphens.";
  if (raw.empty() || raw.size() > 50 || !std::isalpha(static_cast<unsigned char>(raw[0])) ||
      raw.back() == '-' || raw.find("--") != std::string::npos)
    return InvalidParameterValue(msg);
  for (unsigned char c : raw)
    if (!std::isalnum(c) && c != '-') return InvalidParameterValue(msg);
  return settings::Lower(raw);
}

settings::Checked<DescribeClustersRequest> ValidateDescribeCacheClusters(
    const api::QueryParams& params) {
  if (auto e = settings::RejectUnknown(params, {{"CacheClusterId", false},
                                                {"MaxRecords", false},
                                                {"Marker", false},
                                                {"ShowCacheNodeInfo", false},
                                                {"ShowCacheClustersNotInReplicationGroups", false}}))
    return *e;
  DescribeClustersRequest r;
  if (auto id = params.Get("CacheClusterId")) {
    auto v = NormalizeCacheClusterId(*id);
    if (auto* e = std::get_if<ApiError>(&v)) return *e;
    r.cluster_id = std::get<std::string>(v);
  }
  auto max = settings::ParseMaxRecords(params);
  if (auto* e = std::get_if<ApiError>(&max)) return *e;
  r.max_records = std::get<int>(max);
  if (auto m = params.Get("Marker"); m && !m->empty()) {
    auto d = settings::DecodeMarker("cfc1.", *m);
    if (!d) return InvalidParameterValue("Invalid Marker: " + api::SanitizeXmlText(*m) + ".");
    r.after = *d;
  }
  for (auto [name, out] : {std::pair<const char*, bool*>{"ShowCacheNodeInfo", &r.show_node_info},
                           {"ShowCacheClustersNotInReplicationGroups", &r.only_outside_groups}}) {
    auto b = settings::ParseBool(params, name);
    if (auto* e = std::get_if<ApiError>(&b)) return *e;
    *out = std::get<std::optional<bool>>(b).value_or(false);
  }
  return r;
}

std::string CacheClusterArn(const OrchestratorConfig& cfg, const std::string& id) {
  return "arn:aws:elasticache:" + cfg.region + ":" + cfg.account_id + ":cluster:" + id;
}

void StandaloneRenderRecords(const StandaloneCluster& c, ReplicationGroupRecord& g, NodeRecord& n) {
  g.id = c.former_group_id;
  g.cache_node_type = c.cache_node_type;
  g.maxmemory_bytes = c.maxmemory_bytes;
  g.engine = c.engine;
  g.engine_version = c.engine_version;
  g.parameter_group = c.parameter_group;
  g.preferred_maintenance_window = c.preferred_maintenance_window;
  g.snapshot_window = c.snapshot_window;
  g.snapshot_retention_limit = c.snapshot_retention_limit;
  g.security_group_ids = c.security_group_ids;
  g.notification_topic_arn = c.notification_topic_arn;
  g.notification_topic_status = c.notification_topic_status;
  g.auto_minor_version_upgrade = c.auto_minor_version_upgrade;
  n.node_id = c.cluster_id;
  n.host_id = c.host_id;
  n.port = c.port;
  n.az = c.az;
  n.status = c.status;
  n.create_time_ms = c.create_time_ms;
}

void RenderCacheCluster(const ClusterRenderInput& in, const OrchestratorConfig& cfg,
                        pugi::xml_node out) {
  const ReplicationGroupRecord& g = *in.group;
  const NodeRecord& n = *in.node;
  const char* status = ClusterStatus(n.status);
  api::AppendText(out, "CacheClusterId", n.node_id);
  api::AppendText(out, "CacheNodeType", g.cache_node_type);
  api::AppendText(out, "Engine", g.engine);
  api::AppendText(out, "EngineVersion", g.engine_version);
  api::AppendText(out, "CacheClusterStatus", status);
  api::AppendInt(out, "NumCacheNodes", 1);
  api::AppendText(out, "PreferredAvailabilityZone", n.az);
  api::AppendTimestamp(out, "CacheClusterCreateTime", n.create_time_ms);
  api::AppendText(out, "PreferredMaintenanceWindow", g.preferred_maintenance_window);
  {
    // Changes waiting for the maintenance window (ApplyImmediately=false), in the shape's order.
    pugi::xml_node pending = out.append_child("PendingModifiedValues");
    for (const char* name : {"EngineVersion", "CacheNodeType"})
      if (auto it = g.pending_modifications.find(name); it != g.pending_modifications.end())
        api::AppendText(pending, name, it->second);
  }
  if (!g.notification_topic_arn.empty()) {
    pugi::xml_node nc = out.append_child("NotificationConfiguration");
    api::AppendText(nc, "TopicArn", g.notification_topic_arn);
    api::AppendText(nc, "TopicStatus", g.notification_topic_status);
  }
  out.append_child("CacheSecurityGroups");
  pugi::xml_node pg = out.append_child("CacheParameterGroup");
  api::AppendText(pg, "CacheParameterGroupName", g.parameter_group);
  api::AppendText(pg, "ParameterApplyStatus", in.parameter_status);
  api::AppendList(pg, "CacheNodeIdsToReboot", "CacheNodeId",
                  in.parameter_status == "pending-reboot" ? std::vector<std::string>{"0001"}
                                                          : std::vector<std::string>{});
  if (!g.subnet_group.empty()) api::AppendText(out, "CacheSubnetGroupName", g.subnet_group);
  if (in.show_node_info) {
    pugi::xml_node nodes = out.append_child("CacheNodes");
    pugi::xml_node cn = nodes.append_child("CacheNode");
    api::AppendText(cn, "CacheNodeId", "0001");
    api::AppendText(cn, "CacheNodeStatus", status);
    api::AppendTimestamp(cn, "CacheNodeCreateTime", n.create_time_ms);
    if (!in.endpoint_address.empty() && n.port != 0) {
      pugi::xml_node ep = cn.append_child("Endpoint");
      api::AppendText(ep, "Address", in.endpoint_address);
      api::AppendInt(ep, "Port", n.port);
    }
    api::AppendText(cn, "ParameterGroupStatus", in.parameter_status);
    api::AppendText(cn, "CustomerAvailabilityZone", n.az);
  }
  api::AppendBool(out, "AutoMinorVersionUpgrade", g.auto_minor_version_upgrade);
  pugi::xml_node sgs = out.append_child("SecurityGroups");
  for (const auto& sg : g.security_group_ids) {
    pugi::xml_node m = sgs.append_child("member");
    api::AppendText(m, "SecurityGroupId", sg);
    api::AppendText(m, "Status", "active");
  }
  if (!in.standalone) api::AppendText(out, "ReplicationGroupId", g.id);
  api::AppendInt(out, "SnapshotRetentionLimit", g.snapshot_retention_limit);
  api::AppendText(out, "SnapshotWindow", g.snapshot_window);
  api::AppendBool(out, "AuthTokenEnabled", false);
  api::AppendBool(out, "TransitEncryptionEnabled", g.transit_encryption);
  api::AppendBool(out, "AtRestEncryptionEnabled", g.at_rest_encryption);
  api::AppendText(out, "ARN", CacheClusterArn(cfg, n.node_id));
  api::AppendBool(out, "ReplicationGroupLogDeliveryEnabled", false);
  out.append_child("LogDeliveryConfigurations");
  api::AppendText(out, "NetworkType", g.network_type);
  api::AppendText(out, "IpDiscovery", g.ip_discovery);
}

void CacheClusterFrontend::Register(api::Dispatcher& d) {
  d.Register("DescribeCacheClusters", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return DescribeCacheClusters(r, n);
  });
}

std::optional<ApiError> CacheClusterFrontend::DescribeCacheClusters(const api::ApiRequest& req,
                                                                   pugi::xml_node result) {
  auto v = ValidateDescribeCacheClusters(req.params);
  if (auto* e = std::get_if<ApiError>(&v)) return *e;
  const DescribeClustersRequest r = std::get<DescribeClustersRequest>(v);
  auto fail = [](const Error& e) {
    return faults::StoreFailure(e);
  };
  auto groups = store_.ListGroups("", 1 << 30);
  if (!groups) return fail(groups.error());
  auto statuses = store_.ParameterApplyStatuses();
  if (!statuses) return fail(statuses.error());
  auto hosts = store_.ListHosts();
  if (!hosts) return fail(hosts.error());
  std::map<std::string, std::string> address;
  for (const auto& h : *hosts) address[h.host_id] = h.address;

  std::map<std::string, std::pair<const ReplicationGroupRecord*, const NodeRecord*>> nodes;
  if (!r.only_outside_groups)
    for (const auto& g : *groups)
      for (const auto& n : g.nodes) nodes[n.node_id] = {&g.group, &n};
  // Standalone cache clusters (RetainPrimaryCluster), in the same id order.
  auto standalone = store_.ListStandaloneClusters();
  if (!standalone) return fail(standalone.error());
  std::deque<std::pair<ReplicationGroupRecord, NodeRecord>> standalone_records;
  std::set<std::string> standalone_ids;
  for (const auto& c : *standalone) {
    auto& [g, n] = standalone_records.emplace_back();
    StandaloneRenderRecords(c, g, n);
    nodes[c.cluster_id] = {&g, &n};
    standalone_ids.insert(c.cluster_id);
  }
  if (r.cluster_id && !nodes.count(*r.cluster_id))
    return faults::CacheClusterNotFound(*r.cluster_id);

  std::vector<std::string> page;
  bool more = false;
  for (const auto& [id, gn] : nodes) {
    if (r.cluster_id && id != *r.cluster_id) continue;
    if (!r.after.empty() && id <= r.after) continue;
    if (static_cast<int>(page.size()) == r.max_records) {
      more = true;
      break;
    }
    page.push_back(id);
  }
  if (more) api::AppendText(result, "Marker", settings::EncodeMarker("cfc1.", page.back()));
  pugi::xml_node list = result.append_child("CacheClusters");
  for (const auto& id : page) {
    ClusterRenderInput in;
    in.group = nodes[id].first;
    in.node = nodes[id].second;
    in.endpoint_address = address.count(in.node->host_id) ? address[in.node->host_id] : "";
    in.parameter_status = statuses->count(id) ? statuses->at(id) : "in-sync";
    in.show_node_info = r.show_node_info;
    in.standalone = standalone_ids.count(id) != 0;
    RenderCacheCluster(in, config_, list.append_child("CacheCluster"));
  }
  return std::nullopt;
}

}  // namespace cf::orchestrator
