#include "orchestrator/rolling_restart/rolling_restart_frontend.h"

#include <set>

#include "common/log.h"
#include "orchestrator/api/xml_util.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/rolling_restart/rolling_restart_store.h"
#include "orchestrator/rolling_restart/rolling_restart_types.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

OperationRecord RollingRestartOp(const GroupView& v, const RollingRestartPayload& p) {
  OperationRecord op;
  op.group_id = v.group.id;
  op.kind = OpKind::kRollingRestart;
  op.topology =
      v.group.cluster_enabled ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled;
  op.state = OpState::kPending;
  op.step = "recorded";
  op.payload = RollingRestartPayloadToJson(p);
  return op;
}

// The group must be available and idle (BeginGroupOperation refuses a second unfinished
// operation itself).
Status RequireAvailable(const GroupView& v) {
  if (v.group.status != GroupStatus::kAvailable)
    return MakeError(Errc::kFailedPrecondition, "Replication group " + v.group.id +
                                                    " is not in available state (it is " +
                                                    GroupStatusName(v.group.status) + ").");
  return {};
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// static parameters

int StartPendingRollingRestarts(Store& store, const std::function<void(int64_t)>& poke) {
  auto log = Logger("params");
  auto pending = RollingRestartStoreOf(store).GroupsPendingReboot();
  if (!pending) {
    log->warn("cannot list pending-reboot groups: {}", pending.error().message);
    return 0;
  }
  int started = 0;
  for (const auto& [group_id, nodes] : *pending) {
    auto v = store.GetGroup(group_id);
    if (!v || !*v) continue;
    RollingRestartPayload p;
    p.reason = RestartReason::kParameters;
    p.parameter_group = (*v)->group.parameter_group;
    p.nodes = nodes;
    FailoverChange c;
    c.group_status = "modifying";
    c.events.push_back({group_id, "replication-group", RollingRestartStartedEvent(group_id, p)});
    const std::set<std::string> wanted(nodes.begin(), nodes.end());
    auto r = store.BeginGroupOperation(
        group_id, RollingRestartOp(**v, p),
        [&](const GroupView& g) -> Status {
          if (auto st = RequireAvailable(g); !st) return st;
          for (const auto& n : g.nodes)
            if (wanted.count(n.node_id) && n.status != "available")
              return MakeError(Errc::kFailedPrecondition, n.node_id + " is " + n.status);
          return {};
        },
        c);
    if (!r) {
      // Raced with another operation or a state change: the next pass sees it again.
      log->debug("[{}] rolling restart not started: {}", group_id, r.error().message);
      continue;
    }
    log->info("[{}] pending-reboot: rolling restart #{} of {} node(s)", group_id, r->second,
              nodes.size());
    ++started;
    if (poke) poke(r->second);
  }
  return started;
}

// ---------------------------------------------------------------------------------------------
// RebootCacheCluster

void RebootFrontend::Register(api::Dispatcher& d) {
  d.Register("RebootCacheCluster", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return RebootCacheCluster(r, n);
  });
}

std::optional<ApiError> RebootFrontend::RebootCacheCluster(const api::ApiRequest& req,
                                                           pugi::xml_node result) {
  if (auto e = settings::RejectUnknown(req.params,
                                       {{"CacheClusterId", false}, {"CacheNodeIdsToReboot", true}}))
    return *e;
  auto raw = req.params.Get("CacheClusterId");
  if (!raw || raw->empty()) return api::MissingParameter("CacheClusterId");
  auto norm = NormalizeCacheClusterId(*raw);
  if (auto* e = std::get_if<ApiError>(&norm)) return *e;
  const std::string id = std::get<std::string>(norm);
  auto list = req.params.GetListChecked("CacheNodeIdsToReboot", "CacheNodeId");
  if (auto* e = std::get_if<ApiError>(&list)) return *e;
  const auto& node_ids = std::get<std::optional<std::vector<std::string>>>(list);
  if (!node_ids || node_ids->empty()) return api::MissingParameter("CacheNodeIdsToReboot");

  // Which group holds the cluster.
  auto groups = store_.ListGroups("", 1 << 30);
  if (!groups) return faults::StoreFailure(groups.error());
  std::optional<GroupView> owner;
  for (auto& g : *groups)
    for (const auto& n : g.nodes)
      if (n.node_id == id) owner = g;
  if (!owner) {
    auto standalone = store_.ListStandaloneClusters();
    if (!standalone) return faults::StoreFailure(standalone.error());
    for (const auto& c : *standalone)
      if (c.cluster_id == id)
        return api::InvalidParameterValue("Rebooting the standalone cache cluster " + id +
                                          " is not supported by cachefleet yet.");
    return faults::CacheClusterNotFound(id);
  }
  for (const auto& nid : *node_ids)
    if (nid != "0001")
      return api::InvalidParameterValue("Cache node " + api::SanitizeXmlText(nid) +
                                        " does not exist in cache cluster " + id +
                                        " (its only cache node is 0001).");

  RollingRestartPayload p;
  p.reason = RestartReason::kReboot;
  p.nodes = {id};
  FailoverChange c;
  c.group_status = "modifying";
  c.node_status[id] = "rebooting";
  c.events.push_back({id, "cache-cluster", RollingRestartStartedEvent(owner->group.id, p)});
  std::optional<ApiError> refused;
  auto r = store_.BeginGroupOperation(
      owner->group.id, RollingRestartOp(*owner, p),
      [&](const GroupView& g) -> Status {
        const NodeRecord* node = nullptr;
        for (const auto& n : g.nodes)
          if (n.node_id == id) node = &n;
        if (!node) {
          refused = faults::CacheClusterNotFound(id);
          return MakeError(Errc::kNotFound, "gone");
        }
        if (g.group.status != GroupStatus::kAvailable) {
          refused = faults::InvalidCacheClusterState(
              "Cache cluster " + id + " is not in available state (its replication group " +
              g.group.id + " is " + GroupStatusName(g.group.status) + ").");
          return MakeError(Errc::kFailedPrecondition, "busy");
        }
        if (node->status != "available") {
          refused = faults::InvalidCacheClusterState("Cache cluster " + id +
                                                     " is not in available state.");
          return MakeError(Errc::kFailedPrecondition, "busy");
        }
        return {};
      },
      c);
  if (!r) {
    if (refused) return *refused;
    if (r.error().code == Errc::kFailedPrecondition)
      return faults::InvalidCacheClusterState(
          "Cache cluster " + id + " is not in available state (replication group " +
          owner->group.id + " has an operation in progress).");
    if (r.error().code == Errc::kNotFound) return faults::CacheClusterNotFound(id);
    return faults::StoreFailure(r.error());
  }
  if (poke_) poke_(r->second);
  Logger("api")->info("[{}] RebootCacheCluster {}: rolling restart #{}", owner->group.id, id,
                      r->second);

  const GroupView& after = r->first;
  const NodeRecord* node = nullptr;
  for (const auto& n : after.nodes)
    if (n.node_id == id) node = &n;
  if (!node) return faults::StoreFailure(Error{Errc::kInternal, "cache cluster vanished"});
  auto statuses = store_.ParameterApplyStatuses();
  if (!statuses) return faults::StoreFailure(statuses.error());
  auto hosts = store_.ListHosts();
  if (!hosts) return faults::StoreFailure(hosts.error());
  ClusterRenderInput in;
  in.group = &after.group;
  in.node = node;
  for (const auto& h : *hosts)
    if (h.host_id == node->host_id) in.endpoint_address = h.address;
  in.parameter_status = statuses->count(id) ? statuses->at(id) : "in-sync";
  RenderCacheCluster(in, config_, result.append_child("CacheCluster"));
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// EngineVersion

EngineVersionCheck ValidateEngineVersion(Store& store, const OrchestratorConfig& config,
                                         const ParameterCatalog& catalog,
                                         const api::ApiRequest& req, const GroupView& v) {
  (void)config;
  EngineVersionCheck out;
  const std::string raw = req.params.Get("EngineVersion").value_or("");
  auto hosts = store.ListHosts();
  if (!hosts) {
    out.fault = faults::StoreFailure(hosts.error());
    return out;
  }
  // The versions every host that runs one of the group's nodes reports.
  std::set<std::string> group_hosts;
  for (const auto& n : v.nodes) group_hosts.insert(n.host_id);
  std::optional<std::set<std::string>> offered;
  for (const auto& h : *hosts) {
    if (!group_hosts.count(h.host_id)) continue;
    std::set<std::string> mine(h.redis_versions.begin(), h.redis_versions.end());
    if (!offered) {
      offered = mine;
    } else {
      std::set<std::string> both;
      for (const auto& x : *offered)
        if (mine.count(x)) both.insert(x);
      offered = both;
    }
  }
  const std::vector<std::string> avail =
      offered ? std::vector<std::string>(offered->begin(), offered->end())
              : std::vector<std::string>{};
  auto resolved = ResolveEngineVersion(raw, avail);
  if (!resolved) {
    out.fault = api::InvalidParameterValue(
        "Cannot find version " + api::SanitizeXmlText(raw) +
        " for redis on every host of replication group " + v.group.id +
        " (they offer: " + (avail.empty() ? std::string("none") : Join(avail)) + ").");
    return out;
  }
  out.version = *resolved;
  const std::string& current = v.group.engine_version;
  if (*resolved == current) return out;  // nothing changes
  if (HighestVersion({*resolved, current}) == current) {
    out.fault =
        api::InvalidParameterValue("Cannot downgrade replication group " + v.group.id +
                                   " from engine version " + current + " to " + *resolved + ".");
    return out;
  }
  const std::string fam_now = catalog.FamilyForVersion("redis", current);
  const std::string fam_new = catalog.FamilyForVersion("redis", *resolved);
  if (fam_now != fam_new) {
    out.fault = api::InvalidParameterValue(
        "Upgrading replication group " + v.group.id + " from engine version " + current + " to " +
        *resolved + " changes the parameter group family (" + fam_now + " -> " +
        (fam_new.empty() ? std::string("unknown") : fam_new) +
        "); a major version upgrade is not supported by cachefleet yet.");
    return out;
  }
  if (v.group.status != GroupStatus::kAvailable) {
    out.fault = faults::InvalidReplicationGroupState("Replication group " + v.group.id +
                                                     " is not in available state (it is " +
                                                     GroupStatusName(v.group.status) + ").");
    return out;
  }
  out.changes = true;
  return out;
}

void AddEngineVersionSet(ModifyGroupFrontend& frontend, Store& store,
                         const OrchestratorConfig& config, const ParameterCatalog& catalog,
                         std::function<void(int64_t)> poke) {
  // Deferrable: ApplyImmediately=false records it for the maintenance window after the same
  // validation; the maintenance scheduler replays it through this handler.
  frontend.AddDeferrableParameterSet(
      "engine-version", {"EngineVersion"},
      [&store, &config, &catalog](const api::ApiRequest& req, const GroupView& g) {
        auto check = ValidateEngineVersion(store, config, catalog, req, g);
        return ModifyGroupFrontend::SetValidation{check.fault, check.changes};
      },
      [&store, &config, &catalog, poke](const api::ApiRequest& req, const GroupView& g,
                                        pugi::xml_node result) -> std::optional<ApiError> {
        auto check = ValidateEngineVersion(store, config, catalog, req, g);
        if (check.fault) return check.fault;
        if (!check.changes) {
          RenderGroupResult(store, config, g, result);
          return std::nullopt;
        }
        RollingRestartPayload p;
        p.reason = RestartReason::kEngineVersion;
        p.engine_version = check.version;
        for (const auto& n : g.nodes) p.nodes.push_back(n.node_id);
        FailoverChange c;
        c.group_status = "modifying";
        c.events.push_back(
            {g.group.id, "replication-group", RollingRestartStartedEvent(g.group.id, p)});
        auto r = store.BeginGroupOperation(g.group.id, RollingRestartOp(g, p), RequireAvailable, c);
        if (!r) {
          if (r.error().code == Errc::kFailedPrecondition)
            return faults::InvalidReplicationGroupState(r.error().message);
          if (r.error().code == Errc::kNotFound)
            return faults::ReplicationGroupNotFound(g.group.id);
          return faults::StoreFailure(r.error());
        }
        if (poke) poke(r->second);
        Logger("api")->info("[{}] EngineVersion {} -> {}: rolling restart #{}", g.group.id,
                            g.group.engine_version, check.version, r->second);
        RenderGroupResult(store, config, r->first, result);
        return std::nullopt;
      });
}

}  // namespace cf::orchestrator
