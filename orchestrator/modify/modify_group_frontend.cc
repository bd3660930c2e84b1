#include "orchestrator/modify/modify_group_frontend.h"

#include <cctype>
#include <map>

#include "common/log.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/operations/operation_payloads.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

// Top-level parameters that are lists (their keys carry a dotted suffix).
const std::set<std::string>& ListParams() {
  static const std::set<std::string> s = {"CacheSecurityGroupNames", "SecurityGroupIds",
                                          "UserGroupIdsToAdd", "UserGroupIdsToRemove",
                                          "LogDeliveryConfigurations"};
  return s;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The parameters every set may see besides its own.
bool Common(const std::string& p) {
  return p == "ReplicationGroupId" || p == "ApplyImmediately" || p == "NodeGroupId";
}

}  // namespace

const std::set<std::string>& ModifyReplicationGroupParams() {
  static const std::set<std::string> s = {
      // 2017 model
      "ReplicationGroupId", "ReplicationGroupDescription", "PrimaryClusterId",
      "SnapshottingClusterId", "AutomaticFailoverEnabled", "CacheSecurityGroupNames",
      "SecurityGroupIds", "PreferredMaintenanceWindow", "NotificationTopicArn",
      "CacheParameterGroupName", "NotificationTopicStatus", "ApplyImmediately", "EngineVersion",
      "AutoMinorVersionUpgrade", "SnapshotRetentionLimit", "SnapshotWindow", "CacheNodeType",
      "NodeGroupId",
      // later
      "MultiAZEnabled", "Engine", "AuthToken", "AuthTokenUpdateStrategy", "UserGroupIdsToAdd",
      "UserGroupIdsToRemove", "RemoveUserGroups", "LogDeliveryConfigurations", "IpDiscovery",
      "TransitEncryptionEnabled", "TransitEncryptionMode", "ClusterMode"};
  return s;
}

ModifyGroupFrontend::ModifyGroupFrontend(Store& store, const OrchestratorConfig& config,
                                         std::function<void(int64_t)> poke)
    : store_(store), config_(config), poke_(std::move(poke)) {
  AddDeferrableParameterSet(
      "failover", {"PrimaryClusterId", "AutomaticFailoverEnabled", "MultiAZEnabled"},
      [this](const api::ApiRequest& r, const GroupView& g) { return ValidateFailover(r, g); },
      [this](const api::ApiRequest& r, const GroupView& g, pugi::xml_node out) {
        return ModifyFailover(r, g, out);
      });
}

void ModifyGroupFrontend::Register(api::Dispatcher& d) {
  d.Register("ModifyReplicationGroup", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return ModifyReplicationGroup(r, n);
  });
}

void ModifyGroupFrontend::AddParameterSet(const std::string& name, std::vector<std::string> params,
                                          SetHandler handler) {
  sets_.push_back(ParamSet{name, std::move(params), std::move(handler), nullptr});
}

void ModifyGroupFrontend::AddDeferrableParameterSet(const std::string& name,
                                                    std::vector<std::string> params,
                                                    SetValidator validate, SetHandler handler) {
  sets_.push_back(ParamSet{name, std::move(params), std::move(handler), std::move(validate)});
}

std::optional<ApiError> ModifyGroupFrontend::ModifyReplicationGroup(const api::ApiRequest& req,
                                                                    pugi::xml_node result) {
  return Dispatch(req, result, /*replay=*/false);
}

std::optional<ApiError> ModifyGroupFrontend::Dispatch(const api::ApiRequest& req,
                                                      pugi::xml_node result, bool replay) {
  const auto& known = ModifyReplicationGroupParams();
  std::vector<std::string> unknown;
  std::set<std::string> present;
  for (const auto& [key, value] : req.params.all()) {
    const auto dot = key.find('.');
    const std::string top = key.substr(0, dot);
    const bool list = ListParams().count(top) != 0;
    // A bare "Param=" is an empty list; a scalar never has a suffix.
    if (!known.count(top) || (!list && dot != std::string::npos)) {
      unknown.push_back(key);
      continue;
    }
    present.insert(top);
  }
  if (!unknown.empty())
    return api::InvalidParameterValue("Unknown parameter" +
                                      std::string(unknown.size() > 1 ? "s" : "") + ": " +
                                      Join(unknown) + ".");
  auto raw_id = req.params.Get("ReplicationGroupId");
  if (!raw_id || raw_id->empty()) return api::MissingParameter("ReplicationGroupId");
  auto id = NormalizeReplicationGroupId(*raw_id);
  if (!id) return api::InvalidParameterValue(id.error().message);
  auto apply = req.params.GetBool("ApplyImmediately");
  if (auto* e = std::get_if<ApiError>(&apply)) return *e;

  // Which sets the request touches.
  std::map<size_t, std::vector<std::string>> touched;
  std::vector<std::string> unclaimed;
  for (const auto& p : present) {
    if (Common(p)) continue;
    bool claimed = false;
    for (size_t i = 0; i < sets_.size() && !claimed; ++i) {
      for (const auto& q : sets_[i].params) {
        if (q == p) {
          touched[i].push_back(p);
          claimed = true;
          break;
        }
      }
    }
    if (!claimed) unclaimed.push_back(p);
  }
  if (!unclaimed.empty())
    return api::InvalidParameterValue("ModifyReplicationGroup parameter" +
                                      std::string(unclaimed.size() > 1 ? "s " : " ") +
                                      Join(unclaimed) + (unclaimed.size() > 1 ? " are" : " is") +
                                      " not supported by cachefleet yet.");
  if (touched.size() > 1) {
    std::vector<std::string> names;
    for (const auto& [i, ps] : touched) names.push_back(Join(ps));
    return api::InvalidParameterCombination(
        "cachefleet modifies one kind of setting per ModifyReplicationGroup "
        "call; these cannot "
        "be combined: " +
        Join(names) + ".");
  }
  if (touched.empty()) return api::InvalidParameterCombination("No modifications were requested.");

  auto view = store_.GetGroup(*id);
  if (!view) return faults::StoreFailure(view.error());
  if (!*view) return faults::ReplicationGroupNotFound(*id);
  const ParamSet& set = sets_[touched.begin()->first];
  const std::vector<std::string>& names = touched.begin()->second;
  // ApplyImmediately defaults to false (elasticache-api.md §4).
  const bool immediately = std::get<std::optional<bool>>(apply) == true;
  if (set.validate && !immediately) return Defer(set, names, req, **view, result);
  auto fault = set.handler(req, **view, result);
  if (!fault && set.validate && !replay) Supersede((*view)->group.id, names);
  return fault;
}

// ---------------------------------------------------------------------------------------------
// the failover set

namespace {

// What a valid failover-set request does: nothing (changes false), or an operation.
struct FailoverPlan {
  bool changes = false;
  OperationRecord op;
  FailoverChange change;
};

// Validation of the failover set, shared by ModifyFailover and ValidateFailover (the
// deferred path): every fault, nothing written.
std::variant<ApiError, FailoverPlan> PlanFailover(const api::ApiRequest& req, const GroupView& gv,
                                                  const OrchestratorConfig& config) {
  const ReplicationGroupRecord& g = gv.group;
  auto af = req.params.GetBool("AutomaticFailoverEnabled");
  if (auto* e = std::get_if<ApiError>(&af)) return *e;
  auto maz = req.params.GetBool("MultiAZEnabled");
  if (auto* e = std::get_if<ApiError>(&maz)) return *e;
  const auto want_af = std::get<std::optional<bool>>(af);
  const auto want_maz = std::get<std::optional<bool>>(maz);
  const auto primary_id = req.params.Get("PrimaryClusterId");

  if (primary_id && (want_af || want_maz))
    return api::InvalidParameterCombination(
        "PrimaryClusterId cannot be combined with AutomaticFailoverEnabled or "
        "MultiAZEnabled in "
        "one ModifyReplicationGroup call.");
  auto not_available = [&]() -> std::optional<ApiError> {
    if (g.status != GroupStatus::kAvailable)
      return faults::InvalidReplicationGroupState("Replication group " + g.id +
                                                  " is not in available state (it is " +
                                                  GroupStatusName(g.status) + ").");
    return std::nullopt;
  };
  const int64_t now = NowMs();
  FailoverPlan plan;
  plan.changes = true;
  OperationRecord& op = plan.op;
  op.topology = g.cluster_enabled ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled;
  op.state = OpState::kPending;
  op.step = "waiting for a worker";
  op.created_ms = now;
  FailoverChange& change = plan.change;
  change.group_status = "modifying";

  if (primary_id) {
    if (primary_id->empty())
      return api::InvalidParameterValue("PrimaryClusterId must not be empty.");
    const NodeRecord* node = nullptr;
    std::string lower = *primary_id;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& n : gv.nodes)
      if (n.node_id == lower) node = &n;
    if (!node) return faults::CacheClusterNotFound(*primary_id);
    if (auto e = not_available()) return *e;
    const NodeRecord* current = ShardPrimary(gv, node->node_group_id);
    if (current == node)
      return api::InvalidParameterValue("Cache cluster " + node->node_id +
                                        " is already the primary of node group " +
                                        node->node_group_id + ".");
    if (!current)
      return faults::InvalidCacheClusterState("Node group " + node->node_group_id +
                                                       " has no primary.");
    if (node->observed.known &&
        (node->observed.state != "running" || !node->observed.master_link_up))
      return faults::InvalidCacheClusterState(
          "Cache cluster " + node->node_id + " is not an in-sync replica (" + node->observed.state +
          ", link " + (node->observed.master_link_up ? "up" : "down") + ").");
    FailoverPayload p;
    p.reason = FailoverReason::kSwitchover;
    p.node_group_id = node->node_group_id;
    p.old_primary = current->node_id;
    p.new_primary = node->node_id;
    op.kind = OpKind::kFailover;
    op.payload = FailoverPayloadToJson(p);
    op.deadline_ms = now + config.failover.operation_timeout_ms;
    change.events.push_back({g.id, "replication-group",
                             "Switching the primary of node group " + node->node_group_id +
                                 " from " + current->node_id + " to " + node->node_id});
  } else {
    const bool af_after = want_af.value_or(g.automatic_failover);
    const bool maz_after = want_maz.value_or(g.multi_az);
    if (g.cluster_enabled && want_af == false)
      return api::InvalidParameterValue(
          "Automatic failover cannot be disabled for Redis (cluster mode "
          "enabled) replication "
          "groups.");
    bool every_shard_has_replica = !gv.node_groups.empty();
    for (const auto& ng : gv.node_groups) {
      int members = 0;
      for (const auto& n : gv.nodes) members += n.node_group_id == ng.node_group_id ? 1 : 0;
      every_shard_has_replica = every_shard_has_replica && members >= 2;
    }
    if (want_af == true && !every_shard_has_replica)
      return api::InvalidParameterCombination(
          "Automatic failover needs at least one replica in every node group "
          "of replication "
          "group " +
          g.id + ".");
    if (maz_after && !af_after)
      return api::InvalidParameterCombination(
          want_maz == true ? "Multi-AZ requires automatic failover to be enabled."
                           : "Automatic failover cannot be disabled while Multi-AZ is "
                             "enabled; "
                             "disable Multi-AZ (MultiAZEnabled=false) as well.");
    if (want_maz == true && !every_shard_has_replica)
      return api::InvalidParameterCombination(
          "Multi-AZ needs at least one replica in every node group of "
          "replication group " +
          g.id + ".");
    if (af_after == g.automatic_failover && maz_after == g.multi_az) {
      plan.changes = false;  // nothing to change
      return plan;
    }
    if (auto e = not_available()) return *e;
    FailoverSettingPayload p;
    if (af_after != g.automatic_failover) p.automatic_failover = af_after;
    if (maz_after != g.multi_az) p.multi_az = maz_after;
    op.kind = OpKind::kModifyFailover;
    op.payload = FailoverSettingPayloadToJson(p);
  }
  return plan;
}

}  // namespace

ModifyGroupFrontend::SetValidation ModifyGroupFrontend::ValidateFailover(
    const api::ApiRequest& req, const GroupView& gv) {
  auto plan = PlanFailover(req, gv, config_);
  if (auto* e = std::get_if<ApiError>(&plan)) return SetValidation{*e, false};
  return SetValidation{std::nullopt, std::get<FailoverPlan>(plan).changes};
}

std::optional<ApiError> ModifyGroupFrontend::ModifyFailover(const api::ApiRequest& req,
                                                            const GroupView& gv,
                                                            pugi::xml_node result) {
  auto planned = PlanFailover(req, gv, config_);
  if (auto* e = std::get_if<ApiError>(&planned)) return *e;
  FailoverPlan& plan = std::get<FailoverPlan>(planned);
  if (!plan.changes) {
    RenderGroupResult(store_, config_, gv, result);
    return std::nullopt;
  }
  return BeginOperation(gv, plan.op, plan.change, result);
}

std::optional<ApiError> ModifyGroupFrontend::BeginOperation(const GroupView& gv,
                                                            const OperationRecord& op,
                                                            const FailoverChange& change,
                                                            pugi::xml_node result) {
  const ReplicationGroupRecord& g = gv.group;
  auto check = [&](const GroupView& cur) -> Status {
    if (cur.group.status != GroupStatus::kAvailable)
      return MakeError(Errc::kFailedPrecondition, "Replication group " + g.id +
                                                      " is not in available state (it is " +
                                                      GroupStatusName(cur.group.status) + ").");
    return {};
  };
  auto begun = store_.BeginGroupOperation(g.id, op, check, change);
  if (!begun) return faults::GroupChangeFault(begun.error(), g.id);
  RenderGroupResult(store_, config_, begun->first, result);
  Logger("api")->info("[{}] ModifyReplicationGroup accepted: {} #{}", g.id, OpKindName(op.kind),
                      begun->second);
  if (poke_) poke_(begun->second);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// ApplyImmediately=false: recording a deferrable set's request in the group's pending
// modifications, clearing them when an immediate request supersedes them, and the maintenance
// scheduler's replay.

namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Booleans are stored as true/false whatever case they came in (the API accepts any case).
std::string Canonical(const std::string& v) {
  const std::string l = Lower(v);
  return l == "true" || l == "false" ? l : v;
}

}  // namespace

std::optional<api::ApiError> ModifyGroupFrontend::Defer(const ParamSet& set,
                                                        const std::vector<std::string>& names,
                                                        const api::ApiRequest& req,
                                                        const GroupView& g, pugi::xml_node result) {
  SetValidation v = set.validate(req, g);
  if (v.fault) return v.fault;
  std::map<std::string, std::string> values;
  std::vector<std::string> clear;
  std::string list;
  if (v.changes) {
    for (const auto& n : names) {
      auto value = req.params.Get(n);
      if (!value) continue;  // scalar parameters only (see the header)
      values[n] = Canonical(*value);
      list += (list.empty() ? "" : ", ") + n + "=" + values[n];
    }
  } else {
    // The values requested are the current ones: the latest request wins, so whatever was
    // pending for these parameters is dropped.
    clear = names;
  }
  const std::string event = values.empty()
                                ? std::string()
                                : "Modification of replication group " + g.group.id +
                                      " will be applied in the maintenance window " +
                                      g.group.preferred_maintenance_window + " (UTC): " + list;
  auto after = ModifyStoreOf(store_).RecordPendingModifications(g.group.id, values, clear, event);
  if (!after) {
    const Error& e = after.error();
    if (e.code == Errc::kNotFound) return faults::ReplicationGroupNotFound(g.group.id);
    return faults::StoreFailure(e);
  }
  RenderGroupResult(store_, config_, *after, result);
  if (values.empty())
    Logger("api")->info("[{}] {}: the current values; pending values of these parameters dropped",
                        g.group.id, set.name);
  else
    Logger("api")->info("[{}] pending until the maintenance window {}: {}", g.group.id,
                        g.group.preferred_maintenance_window, list);
  if (pending_listener_) pending_listener_();
  return std::nullopt;
}

void ModifyGroupFrontend::Supersede(const std::string& group_id,
                                    const std::vector<std::string>& names) {
  auto removed = ModifyStoreOf(store_).ClearPendingModifications(group_id, names);
  if (!removed) {
    // The change itself is done; a pending value left behind is replayed later and is then
    // either the same value again (no change) or what the user asked for before.
    Logger("api")->warn("[{}] cannot clear pending values superseded by an immediate change: {}",
                        group_id, removed.error().message);
    return;
  }
  if (*removed > 0)
    Logger("api")->info("[{}] {} pending value(s) superseded by an immediate change", group_id,
                        *removed);
}

std::optional<api::ApiError> ModifyGroupFrontend::ReplayPending(
    const std::string& group_id, const std::map<std::string, std::string>& params,
    pugi::xml_node result) {
  std::map<std::string, std::string> p = params;
  p["ReplicationGroupId"] = group_id;
  p["ApplyImmediately"] = "true";
  api::ApiRequest req;
  req.action = "ModifyReplicationGroup";
  req.version = "2015-02-02";
  req.params = api::QueryParams(std::move(p));
  req.request_id = "maintenance-window";
  return Dispatch(req, result, /*replay=*/true);
}

}  // namespace cf::orchestrator
