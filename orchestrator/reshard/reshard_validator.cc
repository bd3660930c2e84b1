#include "orchestrator/reshard/reshard_validator.h"

#include <algorithm>
#include <set>

#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;
using api::InvalidParameterCombination;
using api::InvalidParameterValue;
using api::QueryParams;

// Top-level parameters of the action: true = a list (takes dotted keys).
const std::map<std::string, bool>& KnownParams() {
  static const std::map<std::string, bool> k = {
      {"ReplicationGroupId", false},     {"NodeGroupCount", false},    {"ApplyImmediately", false},
      {"ReshardingConfiguration", true}, {"NodeGroupsToRemove", true}, {"NodeGroupsToRetain", true},
  };
  return k;
}

std::optional<ApiError> RejectUnknown(const QueryParams& params) {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : params.all()) {
    const auto dot = key.find('.');
    auto it = KnownParams().find(key.substr(0, dot));
    if (it == KnownParams().end() || (!it->second && dot != std::string::npos))
      unknown.push_back(key);
  }
  if (unknown.empty()) return std::nullopt;
  std::string list;
  for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
  return InvalidParameterValue("Unknown parameter" + std::string(unknown.size() > 1 ? "s" : "") +
                               ": " + list + ".");
}

template <class T, class V>
std::optional<ApiError> Take(V&& v, T& out) {
  if (auto* e = std::get_if<ApiError>(&v)) return *e;
  out = std::move(std::get<0>(v));
  return std::nullopt;
}

// A list of node group ids (1-4 digits each), normalized; duplicates rejected.
std::optional<ApiError> ParseIdList(const QueryParams& params, const char* param, const char* item,
                                    std::vector<std::string>& out) {
  std::optional<std::vector<std::string>> raw;
  if (auto e = Take(params.GetListChecked(param, item), raw)) return e;
  if (!raw) return std::nullopt;
  std::set<std::string> seen;
  for (const auto& r : *raw) {
    auto id = NormalizeNodeGroupId(r);
    if (!id) return InvalidParameterValue(std::string(param) + ": " + id.error().message);
    if (!seen.insert(*id).second)
      return InvalidParameterValue(std::string(param) + " lists node group " + *id +
                                   " more than once.");
    out.push_back(*id);
  }
  return std::nullopt;
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

}  // namespace

int ReplicasPerNodeGroup(const GroupView& group) {
  std::map<std::string, int> members;
  for (const auto& n : group.nodes) members[n.node_group_id]++;
  std::map<int, int> freq;  // replicas -> node groups with that many
  for (const auto& ng : group.node_groups) freq[std::max(0, members[ng.node_group_id] - 1)]++;
  int best = 0, best_count = -1;
  for (const auto& [replicas, count] : freq)
    if (count >= best_count) {
      best = replicas;
      best_count = count;
    }
  return best;
}

Validated<ShardConfigRequest> ParseModifyShardConfiguration(const QueryParams& params,
                                                            const GroupLimits& limits) {
  if (auto e = RejectUnknown(params)) return *e;
  ShardConfigRequest req;

  auto raw_id = params.Get("ReplicationGroupId");
  if (!raw_id) return api::MissingParameter("ReplicationGroupId");
  auto id = NormalizeReplicationGroupId(*raw_id);
  if (!id) return InvalidParameterValue(id.error().message);
  req.group_id = *id;

  std::optional<int64_t> count;
  if (auto e = Take(params.GetInt("NodeGroupCount"), count)) return *e;
  if (!count) return api::MissingParameter("NodeGroupCount");
  if (*count < 1) return InvalidParameterValue("The parameter NodeGroupCount must be at least 1.");
  if (*count > limits.max_node_groups)
    return faults::NodeGroupsPerReplicationGroupQuotaExceeded(
        "NodeGroupCount " + std::to_string(*count) + " exceeds the maximum of " +
        std::to_string(limits.max_node_groups) + " node groups per replication group.");
  req.node_group_count = static_cast<int>(*count);

  std::optional<bool> apply;
  if (auto e = Take(params.GetBool("ApplyImmediately"), apply)) return *e;
  if (!apply) return api::MissingParameter("ApplyImmediately");
  if (!*apply)
    return InvalidParameterValue(
        "ApplyImmediately must be true: shard configuration changes cannot be deferred to the "
        "maintenance window.");

  std::optional<std::vector<QueryParams>> resharding;
  if (auto e =
          Take(params.GetStructListChecked("ReshardingConfiguration", "ReshardingConfiguration"),
               resharding))
    return *e;
  if (resharding) {
    std::set<std::string> seen;
    int n = 0;
    for (const auto& entry : *resharding) {
      ++n;
      const std::string where = "ReshardingConfiguration " + std::to_string(n);
      for (const auto& [key, v] : entry.all()) {
        const std::string top = key.substr(0, key.find('.'));
        if (top != "NodeGroupId" && top != "PreferredAvailabilityZones")
          return InvalidParameterValue("Unknown parameter ReshardingConfiguration." +
                                       std::to_string(n) + "." + key + ".");
      }
      ShardConfigRequest::ReshardingEntry out;
      if (auto raw = entry.Get("NodeGroupId")) {
        auto ngid = NormalizeNodeGroupId(*raw);
        if (!ngid) return InvalidParameterValue(where + ": " + ngid.error().message);
        if (!seen.insert(*ngid).second)
          return InvalidParameterValue("ReshardingConfiguration lists NodeGroupId " + *ngid +
                                       " more than once.");
        out.node_group_id = *ngid;
      }
      std::optional<std::vector<std::string>> azs;
      if (auto e =
              Take(entry.GetListChecked("PreferredAvailabilityZones", "AvailabilityZone"), azs))
        return *e;
      if (azs) {
        for (const auto& az : *azs)
          if (az.empty())
            return InvalidParameterValue(where +
                                         ": PreferredAvailabilityZones must not contain "
                                         "an empty zone.");
        out.preferred_azs = *azs;
      }
      req.resharding.push_back(std::move(out));
    }
  }

  if (auto e = ParseIdList(params, "NodeGroupsToRemove", "NodeGroupToRemove", req.to_remove))
    return *e;
  if (auto e = ParseIdList(params, "NodeGroupsToRetain", "NodeGroupToRetain", req.to_retain))
    return *e;
  req.has_remove = !req.to_remove.empty();
  req.has_retain = !req.to_retain.empty();
  if (req.has_remove && req.has_retain)
    return InvalidParameterCombination(
        "NodeGroupsToRemove and NodeGroupsToRetain cannot both be specified.");
  return req;
}

Validated<ReshardInputs> CheckModifyShardConfiguration(const ShardConfigRequest& req,
                                                       const GroupView& group,
                                                       const ShardConfigContext& ctx) {
  const std::string& gid = group.group.id;
  if (!group.group.cluster_enabled)
    return InvalidParameterValue("Replication group " + gid +
                                 " has cluster mode disabled; only cluster mode enabled groups "
                                 "can change their number of node groups.");
  if (group.group.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState("Replication group " + gid +
                                                " is not in available state (it is " +
                                                GroupStatusName(group.group.status) + ").");

  const int current = static_cast<int>(group.node_groups.size());
  const int wanted = req.node_group_count;
  if (wanted == current)
    return InvalidParameterValue("The requested NodeGroupCount (" + std::to_string(wanted) +
                                 ") is the same as the current number of node groups of "
                                 "replication group " +
                                 gid + ".");
  std::set<std::string> existing;
  for (const auto& ng : group.node_groups) existing.insert(ng.node_group_id);

  ReshardInputs in;
  in.from_count = current;
  in.to_count = wanted;
  in.replicas_per_node_group = ReplicasPerNodeGroup(group);

  if (wanted > current) {
    // ---- scale out ----
    if (req.has_remove || req.has_retain)
      return InvalidParameterCombination(
          std::string(req.has_remove ? "NodeGroupsToRemove" : "NodeGroupsToRetain") +
          " can only be specified when NodeGroupCount is less than the current number of node "
          "groups (" +
          std::to_string(current) + ").");
    const int adding = wanted - current;
    if (static_cast<int>(req.resharding.size()) > adding)
      return InvalidParameterValue(
          "ReshardingConfiguration has " + std::to_string(req.resharding.size()) +
          " entries but only " + std::to_string(adding) + " node group" +
          (adding > 1 ? "s are" : " is") + " added (" + std::to_string(current) + " -> " +
          std::to_string(wanted) + ").");
    const int nodes_per_shard = 1 + in.replicas_per_node_group;
    const int total_nodes = static_cast<int>(group.nodes.size()) + adding * nodes_per_shard;
    if (total_nodes > ctx.limits.max_nodes_per_group)
      return faults::NodeQuotaForClusterExceeded(
          "The group would have " + std::to_string(total_nodes) + " nodes; at most " +
          std::to_string(ctx.limits.max_nodes_per_group) + " are allowed per replication group.");
    std::set<std::string> used = existing;
    for (const auto& e : req.resharding) {
      if (!e.node_group_id) continue;
      if (existing.count(*e.node_group_id))
        return InvalidParameterValue("NodeGroupId " + *e.node_group_id +
                                     " already exists in replication group " + gid + ".");
      used.insert(*e.node_group_id);
    }
    for (size_t i = 0; i < req.resharding.size(); ++i) {
      const auto& azs = req.resharding[i].preferred_azs;
      if (static_cast<int>(azs.size()) > nodes_per_shard)
        return InvalidParameterValue(
            "ReshardingConfiguration " + std::to_string(i + 1) + " lists " +
            std::to_string(azs.size()) + " availability zones but a new node group has " +
            std::to_string(nodes_per_shard) + " node" + (nodes_per_shard > 1 ? "s" : "") + ".");
      for (const auto& az : azs) {
        auto it = ctx.azs.find(az);
        if (it == ctx.azs.end()) return InvalidParameterValue("Invalid availability zone: " + az);
        if (!it->second)
          return faults::InsufficientCacheClusterCapacity(
              "No host is available in availability zone " + az + ".");
      }
    }
    int next_id = 1;
    for (int i = 0; i < adding; ++i) {
      NewNodeGroupSpec s;
      const auto* e = i < static_cast<int>(req.resharding.size()) ? &req.resharding[i] : nullptr;
      if (e && e->node_group_id) {
        s.node_group_id = *e->node_group_id;
      } else {
        while (used.count(FormatNodeGroupId(next_id))) ++next_id;
        s.node_group_id = FormatNodeGroupId(next_id);
        used.insert(s.node_group_id);
      }
      if (e) s.preferred_azs = e->preferred_azs;
      in.add.push_back(std::move(s));
    }
    return in;
  }

  // ---- scale in ----
  if (!req.resharding.empty())
    return InvalidParameterCombination(
        "ReshardingConfiguration can only be specified when NodeGroupCount is greater than the "
        "current number of node groups (" +
        std::to_string(current) + ").");
  if (!req.has_remove && !req.has_retain)
    return InvalidParameterValue(
        "NodeGroupsToRemove or NodeGroupsToRetain is required when NodeGroupCount (" +
        std::to_string(wanted) + ") is less than the current number of node groups (" +
        std::to_string(current) + ").");
  const std::vector<std::string>& listed = req.has_remove ? req.to_remove : req.to_retain;
  const char* param = req.has_remove ? "NodeGroupsToRemove" : "NodeGroupsToRetain";
  std::vector<std::string> unknown;
  for (const auto& id : listed)
    if (!existing.count(id)) unknown.push_back(id);
  if (!unknown.empty())
    return InvalidParameterValue(
        std::string(param) + ": node group" + (unknown.size() > 1 ? "s " : " ") + JoinIds(unknown) +
        (unknown.size() > 1 ? " do" : " does") + " not exist in replication group " + gid + ".");
  if (req.has_remove) {
    if (current - static_cast<int>(listed.size()) != wanted)
      return InvalidParameterValue("NodeGroupCount (" + std::to_string(wanted) +
                                   ") does not match NodeGroupsToRemove: "
                                   "removing " +
                                   std::to_string(listed.size()) + " of " +
                                   std::to_string(current) + " node groups leaves " +
                                   std::to_string(current - static_cast<int>(listed.size())) + ".");
    in.remove = listed;
  } else {
    if (static_cast<int>(listed.size()) != wanted)
      return InvalidParameterValue("NodeGroupCount (" + std::to_string(wanted) +
                                   ") does not match NodeGroupsToRetain, which lists " +
                                   std::to_string(listed.size()) + " node groups.");
    const std::set<std::string> keep(listed.begin(), listed.end());
    for (const auto& ng : group.node_groups)
      if (!keep.count(ng.node_group_id)) in.remove.push_back(ng.node_group_id);
  }
  std::sort(in.remove.begin(), in.remove.end());
  return in;
}

}  // namespace cf::orchestrator
