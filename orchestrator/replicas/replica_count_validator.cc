#include "orchestrator/replicas/replica_count_validator.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;
using api::InvalidParameterCombination;
using api::InvalidParameterValue;
using api::QueryParams;

template <class T, class V>
std::optional<ApiError> Take(V&& v, T& out) {
  if (auto* e = std::get_if<ApiError>(&v)) return *e;
  out = std::move(std::get<0>(v));
  return std::nullopt;
}

std::string ToLower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<ApiError> RejectUnknown(const QueryParams& params, bool increase) {
  // true = a list (takes dotted keys)
  std::map<std::string, bool> known = {{"ReplicationGroupId", false},
                                       {"ApplyImmediately", false},
                                       {"NewReplicaCount", false},
                                       {"ReplicaConfiguration", true}};
  if (!increase) known["ReplicasToRemove"] = true;
  std::vector<std::string> unknown;
  for (const auto& [key, value] : params.all()) {
    const auto dot = key.find('.');
    auto it = known.find(key.substr(0, dot));
    if (it == known.end() || (!it->second && dot != std::string::npos)) unknown.push_back(key);
  }
  if (unknown.empty()) return std::nullopt;
  std::string list;
  for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
  return InvalidParameterValue("Unknown parameter" + std::string(unknown.size() > 1 ? "s" : "") +
                               ": " + list + ".");
}

std::optional<ApiError> CheckCount(int64_t v, const std::string& where, const GroupLimits& l) {
  if (v < 0 || v > l.max_replicas_per_shard)
    return InvalidParameterValue(where + " must be between 0 and " +
                                 std::to_string(l.max_replicas_per_shard) + " (got " +
                                 std::to_string(v) + ").");
  return std::nullopt;
}

}  // namespace

ApiError NoOperationFault(const std::string& message) { return {400, "NoOperationFault", message}; }
ApiError NodeQuotaForCustomerExceeded(const std::string& message) {
  return {400, "NodeQuotaForCustomerExceeded", message};
}

ReplicaValidated<ReplicaCountRequest> ParseReplicaCountRequest(const QueryParams& params,
                                                               bool increase,
                                                               const GroupLimits& limits) {
  if (auto e = RejectUnknown(params, increase)) return *e;
  ReplicaCountRequest req;
  req.increase = increase;
  auto raw_id = params.Get("ReplicationGroupId");
  if (!raw_id) return api::MissingParameter("ReplicationGroupId");
  auto id = NormalizeReplicationGroupId(*raw_id);
  if (!id) return InvalidParameterValue(id.error().message);
  req.group_id = *id;

  std::optional<bool> apply;
  if (auto e = Take(params.GetBool("ApplyImmediately"), apply)) return *e;
  if (!apply) return api::MissingParameter("ApplyImmediately");
  if (!*apply)
    return InvalidParameterValue(
        "ApplyImmediately must be true: replica count changes cannot be deferred to the "
        "maintenance window.");

  std::optional<int64_t> count;
  if (auto e = Take(params.GetInt("NewReplicaCount"), count)) return *e;
  if (count) {
    if (auto e = CheckCount(*count, "NewReplicaCount", limits)) return *e;
    req.new_replica_count = static_cast<int>(*count);
  }

  std::optional<std::vector<QueryParams>> shards;
  if (auto e = Take(params.GetStructListChecked("ReplicaConfiguration", "ConfigureShard"), shards))
    return *e;
  if (shards && shards->empty()) shards.reset();  // an empty list counts as absent
  if (shards) {
    std::set<std::string> seen;
    int n = 0;
    for (const auto& entry : *shards) {
      ++n;
      const std::string where = "ReplicaConfiguration " + std::to_string(n);
      for (const auto& [key, v] : entry.all()) {
        const std::string top = key.substr(0, key.find('.'));
        if (top != "NodeGroupId" && top != "NewReplicaCount" &&
            top != "PreferredAvailabilityZones" && top != "PreferredOutpostArns")
          return InvalidParameterValue("Unknown parameter ReplicaConfiguration.ConfigureShard." +
                                       std::to_string(n) + "." + key + ".");
      }
      ReplicaCountRequest::Shard s;
      auto raw_ng = entry.Get("NodeGroupId");
      if (!raw_ng) return api::MissingParameter("ReplicaConfiguration.ConfigureShard.NodeGroupId");
      auto ngid = NormalizeNodeGroupId(*raw_ng);
      if (!ngid) return InvalidParameterValue(where + ": " + ngid.error().message);
      if (!seen.insert(*ngid).second)
        return InvalidParameterValue("ReplicaConfiguration lists NodeGroupId " + *ngid +
                                     " more than once.");
      s.node_group_id = *ngid;
      std::optional<int64_t> c;
      if (auto e = Take(entry.GetInt("NewReplicaCount"), c)) return *e;
      if (!c) return api::MissingParameter("ReplicaConfiguration.ConfigureShard.NewReplicaCount");
      if (auto e = CheckCount(*c, where + ": NewReplicaCount", limits)) return *e;
      s.new_replica_count = static_cast<int>(*c);
      std::optional<std::vector<std::string>> azs;
      if (auto e = Take(entry.GetListChecked("PreferredAvailabilityZones",
                                             "PreferredAvailabilityZone"),
                        azs))
        return *e;
      if (azs && !azs->empty()) {
        if (!increase)
          return InvalidParameterValue(
              where + ": PreferredAvailabilityZones only applies to IncreaseReplicaCount.");
        if (static_cast<int>(azs->size()) != s.new_replica_count + 1)
          return InvalidParameterValue(
              where + ": PreferredAvailabilityZones must list NewReplicaCount + 1 (" +
              std::to_string(s.new_replica_count + 1) +
              ") Availability Zones, the primary's first (got " + std::to_string(azs->size()) +
              ").");
        s.preferred_azs = *azs;
      }
      std::optional<std::vector<std::string>> outposts;
      if (auto e = Take(entry.GetListChecked("PreferredOutpostArns", "PreferredOutpostArn"),
                        outposts))
        return *e;
      if (outposts && !outposts->empty())
        return InvalidParameterValue(where +
                                     ": PreferredOutpostArns is not supported by cachefleet.");
      req.shards.push_back(std::move(s));
    }
  }

  if (!increase) {
    std::optional<std::vector<std::string>> rm;
    if (auto e = Take(params.GetListChecked("ReplicasToRemove", "member"), rm)) return *e;
    if (rm) {
      std::set<std::string> seen;
      for (const auto& r : *rm) {
        const std::string lower = ToLower(r);
        if (!seen.insert(lower).second)
          return InvalidParameterValue("ReplicasToRemove lists " + lower + " more than once.");
        req.replicas_to_remove.push_back(lower);
      }
    }
  }

  const int given = (req.new_replica_count ? 1 : 0) + (req.shards.empty() ? 0 : 1) +
                    (req.replicas_to_remove.empty() ? 0 : 1);
  if (given == 0)
    return InvalidParameterValue(
        increase ? "Either NewReplicaCount or ReplicaConfiguration must be specified."
                 : "One of NewReplicaCount, ReplicaConfiguration or ReplicasToRemove must be "
                   "specified.");
  if (given > 1)
    return InvalidParameterCombination(
        increase ? "NewReplicaCount and ReplicaConfiguration cannot be specified together."
                 : "Specify only one of NewReplicaCount, ReplicaConfiguration and "
                   "ReplicasToRemove.");
  return req;
}

ReplicaValidated<ReplicaPlan> CheckReplicaCount(const ReplicaCountRequest& req,
                                                const GroupView& g,
                                                const ReplicaCountContext& ctx) {
  const ReplicationGroupRecord& rg = g.group;
  if (rg.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState(
        "Replication group " + rg.id + " is not in available state (it is " +
        GroupStatusName(rg.status) + ").");
  const bool cme = rg.cluster_enabled;
  const int minimum = (rg.multi_az || rg.automatic_failover || cme) ? 1 : 0;
  const std::string why_min =
      rg.multi_az ? "Multi-AZ is enabled"
                  : (cme ? "cluster mode enabled groups use automatic failover"
                         : "automatic failover is enabled");

  std::map<std::string, std::vector<const NodeRecord*>> members;
  for (const auto& n : g.nodes) members[n.node_group_id].push_back(&n);
  std::map<std::string, int> current;
  for (const auto& ng : g.node_groups)
    current[ng.node_group_id] = std::max<int>(0, static_cast<int>(members[ng.node_group_id].size()) - 1);

  ReplicaPlan plan;
  plan.increase = req.increase;
  std::map<std::string, int> target;
  std::map<std::string, std::vector<std::string>> azs;  // per node group, primary first
  if (req.new_replica_count) {
    for (const auto& [ng, c] : current) target[ng] = *req.new_replica_count;
  }
  for (const auto& s : req.shards) {
    if (!current.count(s.node_group_id))
      return InvalidParameterValue("NodeGroupId " + s.node_group_id +
                                   " is not a node group of replication group " + rg.id + ".");
    target[s.node_group_id] = s.new_replica_count;
    for (const auto& az : s.preferred_azs)
      if (!ctx.azs.count(az)) return InvalidParameterValue("Invalid availability zone: " + az);
    if (!s.preferred_azs.empty()) azs[s.node_group_id] = s.preferred_azs;
  }
  if (!req.replicas_to_remove.empty()) {
    for (const auto& id : req.replicas_to_remove) {
      const NodeRecord* node = nullptr;
      for (const auto& n : g.nodes)
        if (n.node_id == id) node = &n;
      if (!node)
        return InvalidParameterValue("Cache cluster " + id + " is not a member of replication group " +
                                     rg.id + ".");
      if (CurrentPrimary(g, node->node_group_id) == node)
        return InvalidParameterValue("Cache cluster " + id + " is the primary of node group " +
                                     node->node_group_id + " and cannot be removed.");
      auto [it, fresh] = target.emplace(node->node_group_id, current[node->node_group_id]);
      (void)fresh;
      it->second--;
      plan.remove.push_back(id);
    }
  }

  bool changes = false;
  int total_nodes = static_cast<int>(g.nodes.size());
  for (const auto& [ng, t] : target) {
    const int cur = current[ng];
    if (req.increase && t < cur)
      return InvalidParameterValue("IncreaseReplicaCount cannot lower node group " + ng +
                                   " from " + std::to_string(cur) + " to " + std::to_string(t) +
                                   " replicas; use DecreaseReplicaCount.");
    if (!req.increase && t > cur)
      return InvalidParameterValue("DecreaseReplicaCount cannot raise node group " + ng +
                                   " from " + std::to_string(cur) + " to " + std::to_string(t) +
                                   " replicas; use IncreaseReplicaCount.");
    if (!req.increase && t < minimum)
      return InvalidParameterValue("Node group " + ng + " of replication group " + rg.id +
                                   " must keep at least " + std::to_string(minimum) +
                                   " replica" + (minimum == 1 ? "" : "s") + " because " + why_min +
                                   ".");
    if (t != cur) {
      changes = true;
      plan.replicas[ng] = {cur, t};
    }
    total_nodes += t - cur;
  }
  if (!changes)
    return NoOperationFault("The replica count of replication group " + rg.id +
                            " already is what was requested; nothing to do.");
  if (total_nodes > ctx.limits.max_nodes_per_group)
    return NodeQuotaForCustomerExceeded(
        "The replication group would have " + std::to_string(total_nodes) +
        " nodes; the maximum is " + std::to_string(ctx.limits.max_nodes_per_group) + ".");

  for (const auto& [ng, c] : plan.replicas) {
    auto& mem = members[ng];
    if (req.increase) {
      int next = 0;
      for (const auto* n : mem) next = std::max(next, n->member_index);
      if (!cme)  // CMD member ids are group-wide
        for (const auto& n : g.nodes) next = std::max(next, n.member_index);
      const auto& list = azs[ng];
      for (int k = 0; k < c.second - c.first; ++k) {
        ReplicaPlan::NewReplica a;
        a.node_group_id = ng;
        a.member_index = next + 1 + k;
        a.node_id = cme ? CmeMemberId(rg.id, ng, a.member_index) : CmdMemberId(rg.id, a.member_index);
        const size_t slot = static_cast<size_t>(1 + c.first + k);
        if (slot < list.size()) {
          const std::string& az = list[slot];
          if (!ctx.azs.count(az))
            return InvalidParameterValue("Invalid availability zone: " + az);
          a.preferred_az = az;
        }
        plan.add.push_back(std::move(a));
      }
    } else if (req.replicas_to_remove.empty()) {
      // The highest-numbered replicas go first; never the current primary.
      const NodeRecord* primary = CurrentPrimary(g, ng);
      std::vector<const NodeRecord*> replicas;
      for (const auto* n : mem)
        if (n != primary) replicas.push_back(n);
      std::sort(replicas.begin(), replicas.end(), [](const NodeRecord* a, const NodeRecord* b) {
        return a->member_index > b->member_index;
      });
      for (int k = 0; k < c.first - c.second; ++k) plan.remove.push_back(replicas[k]->node_id);
    }
  }
  return plan;
}

}  // namespace cf::orchestrator
