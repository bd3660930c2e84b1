#include "orchestrator/modify/modify_parameter_group.h"

#include <functional>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/operations/node_params.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Deps {
  Store& store;
  const OrchestratorConfig& config;
  const ParameterCatalog& catalog;
  std::function<std::vector<ParameterGroup>()> user_groups;
  std::function<void()> poke;
};

std::optional<ApiError> Modify(const Deps& d, const api::ApiRequest& req, const GroupView& g,
                               pugi::xml_node result) {
  const std::string raw = req.params.Get("CacheParameterGroupName").value_or("");
  if (raw.empty()) return api::InvalidParameterValue("CacheParameterGroupName must not be empty.");
  // ApplyImmediately is not looked at: as in ElastiCache, a parameter group change is applied
  // as soon as possible whatever it says (dynamic values at once, static ones pending-reboot).
  const std::string name = Lower(raw);
  const ParameterGroup* builtin = d.config.parameter_groups.Find(name);
  std::optional<ParameterGroup> target;
  if (builtin) {
    target = *builtin;
  } else {
    for (const auto& u : d.user_groups ? d.user_groups() : std::vector<ParameterGroup>{})
      if (Lower(u.name) == name) target = u;
  }
  if (!target) return faults::CacheParameterGroupNotFound(raw);
  const std::string family = d.catalog.FamilyForVersion(g.group.engine, g.group.engine_version);
  if (target->family != family)
    return api::InvalidParameterCombination(
        "Cache parameter group " + target->name + " (family " + target->family +
        ") does not match the engine version " + g.group.engine_version + " of replication group " +
        g.group.id + " (family " + family + ").");
  if (target->cluster_enabled != g.group.cluster_enabled)
    return api::InvalidParameterCombination(
        "Cache parameter group " + target->name + " is for cluster mode " +
        (target->cluster_enabled ? "enabled" : "disabled") + " but replication group " +
        g.group.id + " has cluster mode " + (g.group.cluster_enabled ? "enabled" : "disabled") +
        ".");
  const std::string current = Lower(g.group.parameter_group);
  if (current == name) {
    RenderGroupResult(d.store, d.config, g, result);
    return std::nullopt;
  }
  if (g.group.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState("Replication group " + g.group.id +
                                                " is not in available state (it is " +
                                                GroupStatusName(g.group.status) + ").");
  // The stored rows of both groups. A built-in group has one once a replication group switched
  // back to it (its reset values and generation; ModifyStore::SwitchParameterGroup), else none.
  std::optional<UserParameterGroup> old_user, new_user;
  {
    auto o = d.store.GetParameterGroup(current);
    if (!o) return faults::StoreFailure(o.error());
    old_user = *o;
  }
  if (builtin) {
    auto n = d.store.GetParameterGroup(name);
    if (!n) return faults::StoreFailure(n.error());
    new_user = *n;
  } else {
    auto n = d.store.GetParameterGroup(name);
    if (!n) return faults::StoreFailure(n.error());
    if (!*n) return faults::CacheParameterGroupNotFound(raw);
    new_user = **n;
  }
  ParameterGroupSwitch sw;
  sw.name = builtin ? target->name : name;
  if (builtin) sw.builtin_family = target->family;
  const FamilyDef* fam = d.catalog.Family(family);
  if (fam && old_user) {
    // A static value of the old group that the new one does not run: pending-reboot too.
    for (const auto& [k, v] : old_user->values) {
      const ParameterDef* p = fam->Find(k);
      if (!p || !p->requires_reboot || k == "cluster-enabled") continue;
      const bool set_by_new = new_user && new_user->values.count(k);
      if (v != (set_by_new ? new_user->values.at(k) : p->default_value)) sw.pending_reboot = true;
    }
  }
  if (fam && new_user) {
    for (const auto& [k, v] : new_user->values) {
      const ParameterDef* p = fam->Find(k);
      if (p && p->requires_reboot && k != "cluster-enabled" && v != p->default_value)
        sw.pending_reboot = true;
    }
  }
  if (fam && old_user) {
    // The old group's dynamic parameters the new one does not set: its nodes keep getting them
    // with their default (the agent never drops a dynamic key; DynamicConfig only sends dynamic
    // ones). For a built-in new group these are the rows that make the switch back work.
    std::map<std::string, std::string> old_keys = old_user->reset;
    for (const auto& [k, v] : old_user->values) old_keys[k] = v;
    for (const auto& [k, v] : DynamicConfig(old_keys, d.catalog, family)) {
      (void)v;
      if (new_user && (new_user->values.count(k) || new_user->reset.count(k))) continue;
      if (const ParameterDef* p = fam->Find(k)) sw.reset_defaults[k] = p->default_value;
    }
  }
  auto after = ModifyStoreOf(d.store).SwitchParameterGroup(
      g.group.id, sw,
      "Replication group " + g.group.id + " switched from cache parameter group " + current +
          " to " + sw.name);
  if (!after) return faults::GroupChangeFault(after.error(), g.group.id);
  RenderGroupResult(d.store, d.config, *after, result);
  Logger("api")->info("[{}] cache parameter group {} -> {}", g.group.id, current, sw.name);
  if (d.poke) d.poke();
  return std::nullopt;
}

}  // namespace

void AddParameterGroupSet(ModifyGroupFrontend& frontend, Store& store,
                          const OrchestratorConfig& config, const ParameterCatalog& catalog,
                          std::function<std::vector<ParameterGroup>()> user_groups,
                          std::function<void()> poke_applier) {
  auto deps = std::make_shared<Deps>(
      Deps{store, config, catalog, std::move(user_groups), std::move(poke_applier)});
  frontend.AddParameterSet("parameter-group", {"CacheParameterGroupName"},
                           [deps](const api::ApiRequest& r, const GroupView& g,
                                  pugi::xml_node out) { return Modify(*deps, r, g, out); });
}

}  // namespace cf::orchestrator
