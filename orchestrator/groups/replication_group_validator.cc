#include "orchestrator/groups/replication_group_validator.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"
#include "orchestrator/core/maintenance_window.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;
using api::InvalidParameterCombination;
using api::InvalidParameterValue;
using api::QueryParams;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string NotSupported(const std::string& what) {
  return what + " is not supported by cachefleet yet.";
}

// Kinds of parameters, for the unknown-parameter check: scalars take no dotted suffix; lists
// are checked in detail by the QueryParams list readers.
enum class ParamShape { kScalar, kList };

using KnownParams = std::map<std::string, ParamShape>;

// Rejects keys whose first segment is not a known parameter (or a scalar with a suffix).
std::optional<ApiError> RejectUnknown(const QueryParams& params, const KnownParams& known) {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : params.all()) {
    auto dot = key.find('.');
    std::string top = key.substr(0, dot);
    auto it = known.find(top);
    if (it == known.end() || (it->second == ParamShape::kScalar && dot != std::string::npos))
      unknown.push_back(key);
  }
  if (unknown.empty()) return std::nullopt;
  std::string list;
  for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
  return InvalidParameterValue("Unknown parameter" + std::string(unknown.size() > 1 ? "s" : "") +
                               ": " + list + ".");
}

template <class T>
bool Take(std::variant<T, ApiError>&& v, T& out, std::optional<ApiError>& err) {
  if (auto* e = std::get_if<ApiError>(&v)) {
    err = *e;
    return false;
  }
  out = std::move(std::get<T>(v));
  return true;
}

#define CF_TAKE(expr, out)                                  \
  do {                                                      \
    std::optional<ApiError> take_err_;                      \
    if (!Take((expr), (out), take_err_)) return *take_err_; \
  } while (0)

#define CF_CHECK(expr)                                \
  do {                                                \
    if (auto check_err_ = (expr)) return *check_err_; \
  } while (0)

std::optional<ApiError> CheckTags(const std::optional<std::vector<QueryParams>>& raw,
                                  std::vector<Tag>& out) {
  if (!raw) return std::nullopt;
  if (raw->size() > kMaxTagsPerResource)
    return faults::TagQuotaPerResourceExceeded(
        "Too many tags: " + std::to_string(raw->size()) + " given, at most " +
        std::to_string(kMaxTagsPerResource) + " are allowed per resource.");
  std::set<std::string> seen;
  for (const auto& t : *raw) {
    for (const auto& [field, v] : t.all())
      if (field != "Key" && field != "Value")
        return InvalidParameterValue("Unknown tag field " + field + ".");
    auto key = t.Get("Key");
    if (!key || key->empty() || key->size() > 128)
      return InvalidParameterValue("Tag keys must be 1 to 128 characters long.");
    std::string value = t.Get("Value").value_or("");
    if (value.size() > 256)
      return InvalidParameterValue("Tag values must be at most 256 characters long (key " + *key +
                                   ").");
    if (Lower(key->substr(0, 4)) == "aws:")
      return InvalidParameterValue("Tag keys must not start with the reserved prefix aws: (" +
                                   *key + ").");
    if (!seen.insert(*key).second) return InvalidParameterValue("Duplicate tag key " + *key + ".");
    out.push_back(Tag{*key, value});
  }
  return std::nullopt;
}

const KnownParams& CreateParams() {
  static const KnownParams k = {
      {"ReplicationGroupId", ParamShape::kScalar},
      {"ReplicationGroupDescription", ParamShape::kScalar},
      {"GlobalReplicationGroupId", ParamShape::kScalar},
      {"PrimaryClusterId", ParamShape::kScalar},
      {"AutomaticFailoverEnabled", ParamShape::kScalar},
      {"MultiAZEnabled", ParamShape::kScalar},
      {"NumCacheClusters", ParamShape::kScalar},
      {"PreferredCacheClusterAZs", ParamShape::kList},
      {"NumNodeGroups", ParamShape::kScalar},
      {"ReplicasPerNodeGroup", ParamShape::kScalar},
      {"NodeGroupConfiguration", ParamShape::kList},
      {"CacheNodeType", ParamShape::kScalar},
      {"Engine", ParamShape::kScalar},
      {"EngineVersion", ParamShape::kScalar},
      {"CacheParameterGroupName", ParamShape::kScalar},
      {"CacheSubnetGroupName", ParamShape::kScalar},
      {"CacheSecurityGroupNames", ParamShape::kList},
      {"SecurityGroupIds", ParamShape::kList},
      {"Tags", ParamShape::kList},
      {"SnapshotArns", ParamShape::kList},
      {"SnapshotName", ParamShape::kScalar},
      {"PreferredMaintenanceWindow", ParamShape::kScalar},
      {"Port", ParamShape::kScalar},
      {"NotificationTopicArn", ParamShape::kScalar},
      {"AutoMinorVersionUpgrade", ParamShape::kScalar},
      {"SnapshotRetentionLimit", ParamShape::kScalar},
      {"SnapshotWindow", ParamShape::kScalar},
      {"AuthToken", ParamShape::kScalar},
      {"TransitEncryptionEnabled", ParamShape::kScalar},
      {"TransitEncryptionMode", ParamShape::kScalar},
      {"AtRestEncryptionEnabled", ParamShape::kScalar},
      {"KmsKeyId", ParamShape::kScalar},
      {"UserGroupIds", ParamShape::kList},
      {"LogDeliveryConfigurations", ParamShape::kList},
      {"DataTieringEnabled", ParamShape::kScalar},
      {"NetworkType", ParamShape::kScalar},
      {"IpDiscovery", ParamShape::kScalar},
      {"ClusterMode", ParamShape::kScalar},
      {"ServerlessCacheSnapshotName", ParamShape::kScalar},
  };
  return k;
}

// A parsed NodeGroupConfiguration entry (before cluster-mode rules).
struct RawShard {
  std::optional<std::string> node_group_id;
  std::optional<std::string> slots_text;
  std::optional<int64_t> replica_count;
  std::optional<std::string> primary_az;
  std::optional<std::vector<std::string>> replica_azs;
};

Validated<std::vector<RawShard>> ParseNodeGroupConfiguration(
    const std::optional<std::vector<QueryParams>>& ngc) {
  std::vector<RawShard> out;
  if (!ngc) return out;
  static const std::set<std::string> kFields = {"NodeGroupId",
                                                "Slots",
                                                "ReplicaCount",
                                                "PrimaryAvailabilityZone",
                                                "ReplicaAvailabilityZones",
                                                "PrimaryOutpostArn",
                                                "ReplicaOutpostArns"};
  int n = 0;
  for (const auto& e : *ngc) {
    ++n;
    for (const auto& [key, v] : e.all()) {
      std::string top = key.substr(0, key.find('.'));
      if (!kFields.count(top))
        return InvalidParameterValue("Unknown parameter NodeGroupConfiguration." +
                                     std::to_string(n) + "." + key + ".");
    }
    if (e.Has("PrimaryOutpostArn"))
      return InvalidParameterValue(
          NotSupported("NodeGroupConfiguration PrimaryOutpostArn (Outposts)"));
    std::optional<std::vector<std::string>> outposts;
    CF_TAKE(e.GetListChecked("ReplicaOutpostArns", "OutpostArn"), outposts);
    if (outposts && !outposts->empty())
      return InvalidParameterValue(
          NotSupported("NodeGroupConfiguration ReplicaOutpostArns (Outposts)"));
    RawShard s;
    s.node_group_id = e.Get("NodeGroupId");
    s.slots_text = e.Get("Slots");
    CF_TAKE(e.GetInt("ReplicaCount"), s.replica_count);
    s.primary_az = e.Get("PrimaryAvailabilityZone");
    if (s.primary_az && s.primary_az->empty()) s.primary_az.reset();
    CF_TAKE(e.GetListChecked("ReplicaAvailabilityZones", "AvailabilityZone"), s.replica_azs);
    if (s.replica_azs && s.replica_azs->empty()) s.replica_azs.reset();
    out.push_back(std::move(s));
  }
  return out;
}

// The topology parameters, parsed and range-checked (before the cluster-mode rules).
struct TopologyParams {
  std::optional<int64_t> num_cache_clusters, num_node_groups, replicas_per_ng;
  std::optional<std::vector<std::string>> pref_azs;
  std::vector<RawShard> ngc;
};

// Parameters cachefleet refuses (not supported yet, or EC2-Classic); SnapshotRetentionLimit is
// 0 or refused.
std::optional<ApiError> RefuseUnsupported(const QueryParams& params, ReplicationGroupRecord& g) {
  for (const char* p :
       {"SnapshotName", "AuthToken", "TransitEncryptionMode", "KmsKeyId",
        "GlobalReplicationGroupId", "ServerlessCacheSnapshotName", "PrimaryClusterId"}) {
    if (params.Has(p))
      return InvalidParameterValue(NotSupported(std::string("The parameter ") + p));
  }
  {
    std::optional<std::vector<std::string>> l;
    CF_TAKE(params.GetListChecked("SnapshotArns", "SnapshotArn"), l);
    if (l && !l->empty())
      return InvalidParameterValue(NotSupported("Seeding a group from snapshots (SnapshotArns)"));
    CF_TAKE(params.GetListChecked("UserGroupIds", "member"), l);
    if (l && !l->empty())
      return InvalidParameterValue(NotSupported("Access control with user groups (UserGroupIds)"));
    CF_TAKE(params.GetListChecked("CacheSecurityGroupNames", "CacheSecurityGroupName"), l);
    if (l && !l->empty())
      return InvalidParameterValue(
          "CacheSecurityGroupNames (EC2-Classic) are not supported; use SecurityGroupIds.");
    std::optional<std::vector<QueryParams>> ldc;
    CF_TAKE(
        params.GetStructListChecked("LogDeliveryConfigurations", "LogDeliveryConfigurationRequest"),
        ldc);
    if (ldc && !ldc->empty())
      return InvalidParameterValue(NotSupported("Log delivery (LogDeliveryConfigurations)"));
  }
  {
    std::optional<bool> b;
    CF_TAKE(params.GetBool("TransitEncryptionEnabled"), b);
    if (b && *b)
      return InvalidParameterValue(
          NotSupported("In-transit encryption (TransitEncryptionEnabled=true)"));
    CF_TAKE(params.GetBool("AtRestEncryptionEnabled"), b);
    if (b && *b)
      return InvalidParameterValue(
          NotSupported("At-rest encryption (AtRestEncryptionEnabled=true)"));
    CF_TAKE(params.GetBool("DataTieringEnabled"), b);
    if (b && *b)
      return InvalidParameterValue(NotSupported("Data tiering (DataTieringEnabled=true)"));
  }
  {
    std::optional<int64_t> limit;
    CF_TAKE(params.GetInt("SnapshotRetentionLimit"), limit);
    if (limit && *limit < 0)
      return InvalidParameterValue("The parameter SnapshotRetentionLimit must not be negative.");
    if (limit && *limit > 0)
      return InvalidParameterValue(
          NotSupported("Automatic snapshots (SnapshotRetentionLimit > 0)"));
    g.snapshot_retention_limit = 0;
  }
  return std::nullopt;
}

// Descriptive and simple parameters: engine, node type, subnet and security groups, tags,
// windows, notification topic, network, port.
std::optional<ApiError> TakeDescriptive(const QueryParams& params, const ValidationContext& ctx,
                                        CreateGroupRequest& req) {
  ReplicationGroupRecord& g = req.group;
  if (auto engine = params.Get("Engine")) {
    std::string e = Lower(*engine);
    if (e == "valkey") return InvalidParameterValue(NotSupported("Engine valkey"));
    if (e != "redis") return InvalidParameterValue("Invalid value for Engine: " + *engine + ".");
  }
  g.engine = "redis";

  g.cache_node_type = params.Get("CacheNodeType").value_or(ctx.node_types->default_type());
  const NodeType* nt = ctx.node_types->Find(g.cache_node_type);
  if (!nt)
    return InvalidParameterValue("Invalid value for CacheNodeType: " + g.cache_node_type + ".");
  g.maxmemory_bytes = nt->memory_bytes;

  if (auto sg = params.Get("CacheSubnetGroupName")) {
    if (Lower(*sg) != "default") return faults::CacheSubnetGroupNotFound(*sg);
    g.subnet_group = "default";
  }
  {
    std::optional<std::vector<std::string>> ids;
    CF_TAKE(params.GetListChecked("SecurityGroupIds", "SecurityGroupId"), ids);
    if (ids) {
      for (const auto& s : *ids)
        if (s.empty())
          return InvalidParameterValue("SecurityGroupIds must not contain an empty id.");
      g.security_group_ids = *ids;
    }
  }
  {
    std::optional<std::vector<QueryParams>> tags;
    CF_TAKE(params.GetStructListChecked("Tags", "Tag"), tags);
    CF_CHECK(CheckTags(tags, req.tags));
  }
  if (auto w = params.Get("PreferredMaintenanceWindow")) {
    auto parsed = ParseMaintenanceWindow(*w);
    if (!parsed)
      return InvalidParameterValue(
          "Invalid PreferredMaintenanceWindow " + *w +
          ": the format is ddd:hh24:mi-ddd:hh24:mi (UTC) and the window must be at least 60 "
          "minutes.");
    g.preferred_maintenance_window = *parsed;
  } else {
    g.preferred_maintenance_window = kDefaultMaintenanceWindow;
  }
  if (auto w = params.Get("SnapshotWindow")) {
    if (!IsValidSnapshotWindow(*w))
      return InvalidParameterValue("Invalid SnapshotWindow " + *w +
                                   ": the format is hh24:mi-hh24:mi (UTC).");
    g.snapshot_window = *w;
  } else {
    g.snapshot_window = kDefaultSnapshotWindow;
  }
  if (auto arn = params.Get("NotificationTopicArn")) {
    if (arn->rfind("arn:", 0) != 0)
      return InvalidParameterValue("Invalid NotificationTopicArn " + *arn + ": not an ARN.");
    g.notification_topic_arn = *arn;
  }
  {
    std::optional<bool> b;
    CF_TAKE(params.GetBool("AutoMinorVersionUpgrade"), b);
    g.auto_minor_version_upgrade = b.value_or(true);
  }
  for (const char* p : {"NetworkType", "IpDiscovery"}) {
    if (auto v = params.Get(p)) {
      std::string lv = Lower(*v);
      if (lv == "ipv6" || (lv == "dual_stack" && std::string(p) == "NetworkType"))
        return InvalidParameterValue(NotSupported(std::string(p) + " " + *v + " (only ipv4)"));
      if (lv != "ipv4")
        return InvalidParameterValue("Invalid value for " + std::string(p) + ": " + *v + ".");
    }
  }
  g.network_type = "ipv4";
  g.ip_discovery = "ipv4";
  {
    std::optional<int64_t> port;
    CF_TAKE(params.GetInt("Port"), port);
    if (port && (*port < 1024 || *port > 65535))
      return InvalidParameterValue("The parameter Port must be between 1024 and 65535.");
    g.port = static_cast<int>(port.value_or(6379));
  }
  return std::nullopt;
}

// NumCacheClusters, NumNodeGroups, ReplicasPerNodeGroup, PreferredCacheClusterAZs and
// NodeGroupConfiguration: parsed, each within the limits.
std::optional<ApiError> TakeTopology(const QueryParams& params, const ValidationContext& ctx,
                                     TopologyParams& t) {
  auto& num_cache_clusters = t.num_cache_clusters;
  auto& num_node_groups = t.num_node_groups;
  auto& replicas_per_ng = t.replicas_per_ng;
  auto& pref_azs = t.pref_azs;
  auto& ngc = t.ngc;
  CF_TAKE(params.GetInt("NumCacheClusters"), num_cache_clusters);
  CF_TAKE(params.GetInt("NumNodeGroups"), num_node_groups);
  CF_TAKE(params.GetInt("ReplicasPerNodeGroup"), replicas_per_ng);
  CF_TAKE(params.GetListChecked("PreferredCacheClusterAZs", "AvailabilityZone"), pref_azs);
  if (pref_azs && pref_azs->empty()) pref_azs.reset();
  std::optional<std::vector<QueryParams>> ngc_raw;
  CF_TAKE(params.GetStructListChecked("NodeGroupConfiguration", "NodeGroupConfiguration"), ngc_raw);
  CF_TAKE(ParseNodeGroupConfiguration(ngc_raw), ngc);

  const int max_replicas = ctx.limits.max_replicas_per_shard;
  if (num_cache_clusters && (*num_cache_clusters < 1 || *num_cache_clusters > 1 + max_replicas))
    return InvalidParameterValue("The parameter NumCacheClusters must be between 1 and " +
                                 std::to_string(1 + max_replicas) + ".");
  if (num_node_groups && *num_node_groups < 1)
    return InvalidParameterValue("The parameter NumNodeGroups must be at least 1.");
  if (num_node_groups && *num_node_groups > ctx.limits.max_node_groups)
    return faults::NodeGroupsPerReplicationGroupQuotaExceeded(
        "NumNodeGroups " + std::to_string(*num_node_groups) + " exceeds the maximum of " +
        std::to_string(ctx.limits.max_node_groups) + " node groups per replication group.");
  if (static_cast<int64_t>(ngc.size()) > ctx.limits.max_node_groups)
    return faults::NodeGroupsPerReplicationGroupQuotaExceeded(
        std::to_string(ngc.size()) + " node groups exceed the maximum of " +
        std::to_string(ctx.limits.max_node_groups) + " per replication group.");
  if (replicas_per_ng && (*replicas_per_ng < 0 || *replicas_per_ng > max_replicas))
    return InvalidParameterValue("The parameter ReplicasPerNodeGroup must be between 0 and " +
                                 std::to_string(max_replicas) + ".");
  for (size_t i = 0; i < ngc.size(); ++i) {
    if (ngc[i].replica_count && (*ngc[i].replica_count < 0 || *ngc[i].replica_count > max_replicas))
      return InvalidParameterValue("NodeGroupConfiguration " + std::to_string(i + 1) +
                                   ": ReplicaCount must be between 0 and " +
                                   std::to_string(max_replicas) + ".");
  }
  return std::nullopt;
}

// Cluster mode: enabled or disabled by what the request says (ClusterMode, several node
// groups, the parameter group's cluster-enabled, NumCacheClusters, ...); contradictions are
// InvalidParameterCombination. Also looks the named parameter group up (`pg`, nullptr = none).
std::optional<ApiError> DecideClusterMode(const QueryParams& params, const ValidationContext& ctx,
                                          const TopologyParams& t, const ParameterGroup*& pg,
                                          ReplicationGroupRecord& g) {
  const auto& num_cache_clusters = t.num_cache_clusters;
  const auto& num_node_groups = t.num_node_groups;
  const auto& pref_azs = t.pref_azs;
  const auto& ngc = t.ngc;
  std::optional<std::string> cluster_mode;
  if (auto cm = params.Get("ClusterMode")) {
    std::string l = Lower(*cm);
    if (l == "compatible") return InvalidParameterValue(NotSupported("ClusterMode compatible"));
    if (l != "enabled" && l != "disabled")
      return InvalidParameterValue("Invalid value for ClusterMode: " + *cm + ".");
    cluster_mode = l;
  }
  if (auto name = params.Get("CacheParameterGroupName")) {
    pg = ctx.parameter_groups->Find(*name);
    for (const auto& u : ctx.user_parameter_groups)
      if (!pg && u.name == Lower(*name)) pg = &u;
    if (!pg) return faults::CacheParameterGroupNotFound(*name);
  }

  std::vector<std::string> cme_reasons, cmd_reasons;
  if (num_node_groups && *num_node_groups > 1)
    cme_reasons.push_back("NumNodeGroups=" + std::to_string(*num_node_groups));
  if (ngc.size() > 1)
    cme_reasons.push_back("NodeGroupConfiguration with " + std::to_string(ngc.size()) + " entries");
  if (cluster_mode == "enabled") cme_reasons.push_back("ClusterMode=enabled");
  if (pg && pg->cluster_enabled) cme_reasons.push_back("CacheParameterGroupName=" + pg->name);
  if (cluster_mode == "disabled") cmd_reasons.push_back("ClusterMode=disabled");
  if (num_cache_clusters) cmd_reasons.push_back("NumCacheClusters");
  if (pref_azs) cmd_reasons.push_back("PreferredCacheClusterAZs");
  if (pg && !pg->cluster_enabled) cmd_reasons.push_back("CacheParameterGroupName=" + pg->name);
  if (!cme_reasons.empty() && !cmd_reasons.empty())
    return InvalidParameterCombination(
        cme_reasons.front() + " requires cluster mode enabled, which cannot be combined with " +
        cmd_reasons.front() + " (cluster mode disabled).");
  const bool cme = !cme_reasons.empty();
  g.cluster_enabled = cme;
  return std::nullopt;
}

// Cluster mode disabled: one node group "0001" with NumCacheClusters - 1 replicas (or what
// ReplicasPerNodeGroup, NodeGroupConfiguration or PreferredCacheClusterAZs say; they must agree).
std::optional<ApiError> CmdShard(const TopologyParams& t, std::optional<bool> auto_failover,
                                 int max_replicas, CreateGroupRequest& req) {
  ReplicationGroupRecord& g = req.group;
  const auto& num_cache_clusters = t.num_cache_clusters;
  const auto& replicas_per_ng = t.replicas_per_ng;
  const auto& pref_azs = t.pref_azs;
  const auto& ngc = t.ngc;
  // Cluster mode disabled: one node group "0001".
  if (!ngc.empty() && ngc[0].slots_text)
    return InvalidParameterCombination(
        "NodeGroupConfiguration Slots can only be given for cluster mode enabled groups.");
  ShardRequest shard;
  shard.node_group_id = "0001";
  if (!ngc.empty() && ngc[0].node_group_id) {
    auto ngid = NormalizeNodeGroupId(*ngc[0].node_group_id);
    if (!ngid) return InvalidParameterValue(ngid.error().message);
    if (*ngid != "0001")
      return InvalidParameterValue(
          "A cluster mode disabled group has exactly one node group, "
          "0001; NodeGroupId " +
          *ngc[0].node_group_id + " is invalid.");
  }
  std::optional<int64_t> ngc_replicas;
  if (!ngc.empty()) ngc_replicas = ngc[0].replica_count;
  int64_t total = 1;
  if (num_cache_clusters) {
    total = *num_cache_clusters;
    if (replicas_per_ng && *replicas_per_ng != total - 1)
      return InvalidParameterCombination(
          "NumCacheClusters=" + std::to_string(total) + " and ReplicasPerNodeGroup=" +
          std::to_string(*replicas_per_ng) + " disagree (NumCacheClusters = 1 + replicas).");
    if (ngc_replicas && *ngc_replicas != total - 1)
      return InvalidParameterCombination(
          "NumCacheClusters=" + std::to_string(total) +
          " and NodeGroupConfiguration ReplicaCount=" + std::to_string(*ngc_replicas) +
          " disagree (NumCacheClusters = 1 + replicas).");
  } else if (ngc_replicas) {
    total = 1 + *ngc_replicas;
  } else if (replicas_per_ng) {
    total = 1 + *replicas_per_ng;
  } else if (pref_azs) {
    total = static_cast<int64_t>(pref_azs->size());
    if (total > 1 + max_replicas)
      return InvalidParameterValue("PreferredCacheClusterAZs lists more than " +
                                   std::to_string(1 + max_replicas) + " zones.");
  }
  shard.replica_count = static_cast<int>(total - 1);
  if (pref_azs) {
    if (static_cast<int64_t>(pref_azs->size()) != total)
      return InvalidParameterCombination("PreferredCacheClusterAZs lists " +
                                         std::to_string(pref_azs->size()) +
                                         " zones but the group has " + std::to_string(total) +
                                         " cache clusters; the numbers must be equal.");
    if (!ngc.empty() && (ngc[0].primary_az || ngc[0].replica_azs))
      return InvalidParameterCombination(
          "PreferredCacheClusterAZs cannot be combined with NodeGroupConfiguration availability "
          "zones.");
    shard.primary_az = (*pref_azs)[0];
    shard.replica_azs.assign(pref_azs->begin() + 1, pref_azs->end());
  } else if (!ngc.empty()) {
    shard.primary_az = ngc[0].primary_az;
    if (ngc[0].replica_azs) {
      if (static_cast<int>(ngc[0].replica_azs->size()) != shard.replica_count)
        return InvalidParameterCombination(
            "NodeGroupConfiguration ReplicaAvailabilityZones lists " +
            std::to_string(ngc[0].replica_azs->size()) + " zones for " +
            std::to_string(shard.replica_count) + " replicas; the numbers must be equal.");
      shard.replica_azs = *ngc[0].replica_azs;
    }
  }
  g.automatic_failover = auto_failover.value_or(false);
  if (g.automatic_failover && shard.replica_count < 1)
    return InvalidParameterCombination(
        "Automatic failover requires at least one replica: NumCacheClusters must be at least 2 "
        "when AutomaticFailoverEnabled is true.");
  req.shards.push_back(std::move(shard));
  return std::nullopt;
}

// Cluster mode enabled: NumNodeGroups node groups (or one per NodeGroupConfiguration entry),
// ids given or numbered, slots given (covering 0-16383 exactly once) or split evenly.
std::optional<ApiError> CmeShards(const TopologyParams& t, std::optional<bool> auto_failover,
                                  CreateGroupRequest& req) {
  ReplicationGroupRecord& g = req.group;
  const auto& num_node_groups = t.num_node_groups;
  const auto& replicas_per_ng = t.replicas_per_ng;
  const auto& ngc = t.ngc;
  // Cluster mode enabled.
  // AWS answers InvalidParameterValue with this text for any cluster-mode-enabled group.
  if (auto_failover && !*auto_failover)
    return InvalidParameterValue(
        "Redis with cluster mode enabled cannot be created with auto failover turned off.");
  g.automatic_failover = auto_failover.value_or(true);
  int64_t shards = num_node_groups.value_or(ngc.empty() ? 1 : static_cast<int64_t>(ngc.size()));
  if (!ngc.empty() && static_cast<int64_t>(ngc.size()) != shards)
    return InvalidParameterCombination(
        "NodeGroupConfiguration has " + std::to_string(ngc.size()) +
        " entries but NumNodeGroups is " + std::to_string(shards) + "; they must be equal.");
  size_t with_slots = 0;
  for (const auto& s : ngc) with_slots += s.slots_text ? 1 : 0;
  if (with_slots != 0 && with_slots != ngc.size())
    return InvalidParameterCombination(
        "Either every NodeGroupConfiguration entry gives Slots or none does.");
  std::set<std::string> used_ids;
  for (size_t i = 0; i < ngc.size(); ++i) {
    if (!ngc[i].node_group_id) continue;
    auto ngid = NormalizeNodeGroupId(*ngc[i].node_group_id);
    if (!ngid) return InvalidParameterValue(ngid.error().message);
    if (!used_ids.insert(*ngid).second)
      return InvalidParameterValue("NodeGroupId " + *ngid + " is given more than once.");
  }
  auto even = SplitSlotsEvenly(static_cast<uint32_t>(shards));
  std::vector<SlotRanges> per_shard;
  int next_id = 1;
  for (int64_t i = 0; i < shards; ++i) {
    ShardRequest s;
    const RawShard* raw = i < static_cast<int64_t>(ngc.size()) ? &ngc[i] : nullptr;
    if (raw && raw->node_group_id) {
      s.node_group_id = *NormalizeNodeGroupId(*raw->node_group_id);
    } else {
      while (used_ids.count(FormatNodeGroupId(next_id))) ++next_id;
      s.node_group_id = FormatNodeGroupId(next_id);
      used_ids.insert(s.node_group_id);
    }
    if (raw && raw->slots_text) {
      auto ranges = ParseSlotRanges(*raw->slots_text);
      if (!ranges)
        return InvalidParameterValue("NodeGroupConfiguration " + std::to_string(i + 1) +
                                     ": invalid Slots " + *raw->slots_text + ": " +
                                     ranges.error().message + ".");
      s.slots = NormalizeSlotRanges(*ranges);
      per_shard.push_back(*ranges);
    } else {
      s.slots = {even[static_cast<size_t>(i)]};
    }
    s.replica_count = static_cast<int>(raw && raw->replica_count ? *raw->replica_count
                                                                 : replicas_per_ng.value_or(0));
    if (raw) {
      s.primary_az = raw->primary_az;
      if (raw->replica_azs) {
        if (static_cast<int>(raw->replica_azs->size()) != s.replica_count)
          return InvalidParameterCombination("NodeGroupConfiguration " + std::to_string(i + 1) +
                                             ": ReplicaAvailabilityZones "
                                             "lists " +
                                             std::to_string(raw->replica_azs->size()) +
                                             " zones for " + std::to_string(s.replica_count) +
                                             " replicas; the numbers must be equal.");
        s.replica_azs = *raw->replica_azs;
      }
    }
    req.shards.push_back(std::move(s));
  }
  if (with_slots != 0) {
    if (auto st = CheckFullCoverage(per_shard); !st)
      return InvalidParameterValue(
          "NodeGroupConfiguration Slots must cover 0-16383 exactly "
          "once: " +
          st.error().message + ".");
  }
  return std::nullopt;
}

// The engine version (what the fleet offers) and the parameter group (the named one must match
// the version's family; else the family's default).
std::optional<ApiError> ResolveVersionAndParameterGroup(const QueryParams& params,
                                                        const ValidationContext& ctx, bool cme,
                                                        const ParameterGroup* pg,
                                                        ReplicationGroupRecord& g) {
  if (ctx.engine_versions.empty())
    return faults::InsufficientCacheClusterCapacity(
        "No host is available: no agent is registered and up.");
  if (auto v = params.Get("EngineVersion")) {
    auto resolved = ResolveEngineVersion(*v, ctx.engine_versions);
    if (!resolved) {
      std::set<std::string> uniq(ctx.engine_versions.begin(), ctx.engine_versions.end());
      std::string avail;
      for (const auto& a : uniq) avail += (avail.empty() ? "" : ", ") + a;
      return InvalidParameterValue("Cannot find version " + *v + " for redis (available: " + avail +
                                   ").");
    }
    g.engine_version = *resolved;
  } else {
    g.engine_version = HighestVersion(ctx.engine_versions);
  }
  std::string family = "redis" + g.engine_version.substr(0, g.engine_version.find('.'));
  if (pg) {
    if (pg->family != family)
      return InvalidParameterCombination("Cache parameter group " + pg->name + " (family " +
                                         pg->family + ") does not match engine version " +
                                         g.engine_version + " (family " + family + ").");
  } else {
    pg = ctx.parameter_groups->DefaultFor(family, cme);
    if (!pg)
      return faults::CacheParameterGroupNotFound("default." + family + (cme ? ".cluster.on" : ""));
  }
  g.parameter_group = pg->name;
  return std::nullopt;
}

}  // namespace

int CreateGroupRequest::total_nodes() const {
  int n = 0;
  for (const auto& s : shards) n += 1 + s.replica_count;
  return n;
}

Validated<CreateGroupRequest> ValidateCreateReplicationGroup(const QueryParams& params,
                                                             const ValidationContext& ctx) {
  CF_CHECK(RejectUnknown(params, CreateParams()));

  // ---- required parameters and the id ----
  auto raw_id = params.Get("ReplicationGroupId");
  if (!raw_id) return api::MissingParameter("ReplicationGroupId");
  auto description = params.Get("ReplicationGroupDescription");
  if (!description) return api::MissingParameter("ReplicationGroupDescription");
  auto id = NormalizeReplicationGroupId(*raw_id);
  if (!id) return InvalidParameterValue(id.error().message);

  CreateGroupRequest req;
  ReplicationGroupRecord& g = req.group;
  g.id = *id;
  g.description = *description;

  // ---- refused: not supported yet ----
  CF_CHECK(RefuseUnsupported(params, g));

  // ---- descriptive / simple parameters ----
  CF_CHECK(TakeDescriptive(params, ctx, req));

  // ---- topology and cluster mode ----
  TopologyParams t;
  CF_CHECK(TakeTopology(params, ctx, t));
  const ParameterGroup* pg = nullptr;
  CF_CHECK(DecideClusterMode(params, ctx, t, pg, g));
  const bool cme = g.cluster_enabled;

  std::optional<bool> auto_failover, multi_az;
  CF_TAKE(params.GetBool("AutomaticFailoverEnabled"), auto_failover);
  CF_TAKE(params.GetBool("MultiAZEnabled"), multi_az);

  if (!cme) {
    CF_CHECK(CmdShard(t, auto_failover, ctx.limits.max_replicas_per_shard, req));
  } else {
    CF_CHECK(CmeShards(t, auto_failover, req));
  }

  int min_replicas = req.shards.empty() ? 0 : req.shards[0].replica_count;
  for (const auto& s : req.shards) min_replicas = std::min(min_replicas, s.replica_count);
  g.multi_az = multi_az.value_or(false);
  if (g.multi_az && !g.automatic_failover)
    return InvalidParameterCombination(
        "MultiAZEnabled requires AutomaticFailoverEnabled to be true.");
  if (g.multi_az && min_replicas < 1)
    return InvalidParameterCombination(
        "MultiAZEnabled requires at least one replica in every node group.");

  if (req.total_nodes() > ctx.limits.max_nodes_per_group)
    return faults::NodeQuotaForClusterExceeded(
        "The group would have " + std::to_string(req.total_nodes()) + " nodes; at most " +
        std::to_string(ctx.limits.max_nodes_per_group) + " are allowed per replication group.");

  // ---- engine version (what the fleet offers) and parameter group ----
  CF_CHECK(ResolveVersionAndParameterGroup(params, ctx, cme, pg, g));
  g.status = GroupStatus::kCreating;
  return req;
}

Validated<DescribeGroupsRequest> ValidateDescribeReplicationGroups(const QueryParams& params) {
  static const KnownParams known = {{"ReplicationGroupId", ParamShape::kScalar},
                                    {"MaxRecords", ParamShape::kScalar},
                                    {"Marker", ParamShape::kScalar}};
  CF_CHECK(RejectUnknown(params, known));
  DescribeGroupsRequest req;
  if (auto raw = params.Get("ReplicationGroupId")) {
    auto id = NormalizeReplicationGroupId(*raw);
    if (!id) return InvalidParameterValue(id.error().message);
    req.group_id = *id;
  }
  std::optional<int64_t> max;
  CF_TAKE(params.GetInt("MaxRecords"), max);
  if (max && (*max < 20 || *max > 100))
    return InvalidParameterValue("The parameter MaxRecords must be between 20 and 100.");
  req.max_records = static_cast<int>(max.value_or(100));
  if (auto marker = params.Get("Marker")) {
    if (!marker->empty()) {
      auto after = DecodeDescribeMarker(*marker);
      if (!after) return InvalidParameterValue("Invalid Marker: " + *marker + ".");
      req.after_id = *after;
    }
  }
  return req;
}

Validated<DeleteGroupRequest> ValidateDeleteReplicationGroup(const QueryParams& params) {
  static const KnownParams known = {{"ReplicationGroupId", ParamShape::kScalar},
                                    {"RetainPrimaryCluster", ParamShape::kScalar},
                                    {"FinalSnapshotIdentifier", ParamShape::kScalar}};
  CF_CHECK(RejectUnknown(params, known));
  auto raw = params.Get("ReplicationGroupId");
  if (!raw) return api::MissingParameter("ReplicationGroupId");
  auto id = NormalizeReplicationGroupId(*raw);
  if (!id) return InvalidParameterValue(id.error().message);
  std::optional<bool> retain;
  CF_TAKE(params.GetBool("RetainPrimaryCluster"), retain);
  if (params.Has("FinalSnapshotIdentifier"))
    return InvalidParameterValue(NotSupported("A final snapshot (FinalSnapshotIdentifier)"));
  return DeleteGroupRequest{*id, retain && *retain};
}

}  // namespace cf::orchestrator
