#include "orchestrator/modify/modify_node_type.h"

#include <functional>
#include <mutex>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/replication_group_xml.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/operations/node_params.h"
#include "orchestrator/operations/reconciler_context.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

ApiError StoreFailure(const Error& e) {
  Logger("api")->error("store error: {}", e.message);
  return api::InternalFailure("An internal error occurred: " + e.message);
}

struct Deps {
  Deps(Store& s, const OrchestratorConfig& c, const ParameterCatalog& cat, AgentApi& a)
      : store(s), config(c), catalog(cat), agents(a) {}
  Store& store;
  const OrchestratorConfig& config;
  const ParameterCatalog& catalog;
  AgentApi& agents;
  std::mutex mu;  // one node-type change at a time
};

// The validation (also the deferred path's, ApplyImmediately=false): the type, the group's
// state and every node's used memory. Writes nothing. nt = nullptr: nothing to change.
std::variant<ApiError, const NodeType*> Check(Deps& d, const api::ApiRequest& req,
                                              const GroupView& v) {
  const std::string type = req.params.Get("CacheNodeType").value_or("");
  const NodeType* nt = d.config.node_types.Find(type);
  if (!nt)
    return api::InvalidParameterValue("Invalid CacheNodeType " + type +
                                      ": not a node type of this fleet (configs/node_types.yaml).");
  if (v.group.cache_node_type == nt->name && v.group.maxmemory_bytes == nt->memory_bytes)
    return static_cast<const NodeType*>(nullptr);
  if (v.group.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState("Replication group " + v.group.id +
                                                " is not in available state (it is " +
                                                GroupStatusName(v.group.status) + ").");
  std::map<std::string, AgentTarget> targets;
  if (auto hs = d.store.ListHosts(); hs)
    for (const auto& h : *hs) targets[h.host_id] = AgentTarget{h.host_id, h.agent_endpoint};
  // Used memory: fresh from the agents, else the last observation.
  for (const auto& n : v.nodes) {
    uint64_t used = n.observed.known ? n.observed.used_memory : 0;
    if (auto s = d.agents.GetNodeStatus(targets[n.host_id], n.node_id,
                                        d.config.operations.agent_rpc_timeout_ms);
        s)
      used = ToObserved(*s, NowMs()).used_memory;
    if (used > nt->memory_bytes)
      return api::InvalidParameterValue("Cannot scale replication group " + v.group.id + " to " +
                                        nt->name + " (" + std::to_string(nt->memory_bytes) +
                                        " bytes of memory): cache cluster " + n.node_id +
                                        " holds " + std::to_string(used) + " bytes.");
  }
  return nt;
}

ModifyGroupFrontend::SetValidation Validate(Deps& d, const api::ApiRequest& req,
                                            const GroupView& g) {
  auto checked = Check(d, req, g);
  if (auto* e = std::get_if<ApiError>(&checked)) return {*e, false};
  return {std::nullopt, std::get<const NodeType*>(checked) != nullptr};
}

std::optional<ApiError> Modify(Deps& d, const api::ApiRequest& req, const GroupView& g,
                               pugi::xml_node result) {
  std::lock_guard lk(d.mu);
  auto cur = d.store.GetGroup(g.group.id);
  if (!cur) return StoreFailure(cur.error());
  if (!*cur) return faults::ReplicationGroupNotFound(g.group.id);
  const GroupView& v = **cur;
  auto render = [&](const GroupView& gv) {
    RenderContext rctx;
    rctx.region = d.config.region;
    rctx.account_id = d.config.account_id;
    if (auto hs = d.store.ListHosts(); hs) {
      for (auto& h : *hs) {
        if (!HostIsUp(h, NowMs(), d.config.host_down_after_ms)) h.state = HostState::kDown;
        rctx.hosts[h.host_id] = std::move(h);
      }
    }
    RenderReplicationGroup(gv, rctx, result.append_child("ReplicationGroup"));
  };
  auto checked = Check(d, req, v);
  if (auto* e = std::get_if<ApiError>(&checked)) return *e;
  const NodeType* nt = std::get<const NodeType*>(checked);
  if (!nt) {
    render(v);
    return std::nullopt;
  }
  std::map<std::string, AgentTarget> targets;
  if (auto hs = d.store.ListHosts(); hs)
    for (const auto& h : *hs) targets[h.host_id] = AgentTarget{h.host_id, h.agent_endpoint};
  // The spec the parameter applier would send, with the new maxmemory.
  // (Static values go as static_keys: kept in the spec, never CONFIG SET.)
  std::map<std::string, std::string> all;
  std::string family;
  {  // a built-in group has a row (reset values) once a group switched back to it
    auto pg = d.store.GetParameterGroup(v.group.parameter_group);
    if (!pg) return StoreFailure(pg.error());
    if (*pg) {
      all = (*pg)->reset;
      for (const auto& [k, val] : (*pg)->values) all[k] = val;
      family = (*pg)->family;
    }
  }
  auto request = [&](const NodeRecord& n, uint64_t maxmemory) {
    ReplicationGroupRecord gr = v.group;
    gr.maxmemory_bytes = maxmemory;
    pb::ReconfigureNodeRequest r;
    *r.mutable_spec() =
        BuildNodeSpec(gr, n, d.config.cluster_node_timeout_ms, d.config.failover.hold_max_ms);
    if (!family.empty()) AddParameterConfig(all, d.catalog, family, r);
    r.set_restart(false);
    return r;
  };
  std::vector<const NodeRecord*> done;
  for (const auto& n : v.nodes) {
    auto r = d.agents.ReconfigureNode(targets[n.host_id], request(n, nt->memory_bytes),
                                      d.config.operations.agent_rpc_timeout_ms);
    if (!r) {
      for (const NodeRecord* back : done)
        (void)d.agents.ReconfigureNode(targets[back->host_id],
                                       request(*back, v.group.maxmemory_bytes),
                                       d.config.operations.agent_rpc_timeout_ms);
      Logger("api")->warn("[{}] node type {} refused by {}: {}", v.group.id, nt->name, n.node_id,
                          r.error().message);
      return faults::InvalidReplicationGroupState(
          "Cache cluster " + n.node_id + " could not take the new memory limit of " + nt->name +
          " (" + r.error().message + "); nothing changed.");
    }
    done.push_back(&n);
  }
  auto after = ModifyStoreOf(d.store).SetGroupNodeType(
      v.group.id, nt->name, nt->memory_bytes,
      "Replication group " + v.group.id + " scaled from " + v.group.cache_node_type + " to " +
          nt->name + " (maxmemory " + std::to_string(nt->memory_bytes) + " bytes on " +
          std::to_string(v.nodes.size()) + " node(s))");
  if (!after) return StoreFailure(after.error());
  render(*after);
  Logger("api")->info("[{}] node type {} -> {}", v.group.id, v.group.cache_node_type, nt->name);
  return std::nullopt;
}

}  // namespace

void AddNodeTypeSet(ModifyGroupFrontend& frontend, Store& store, const OrchestratorConfig& config,
                    const ParameterCatalog& catalog, AgentApi& agents) {
  auto deps = std::make_shared<Deps>(store, config, catalog, agents);
  frontend.AddDeferrableParameterSet(
      "node-type", {"CacheNodeType"},
      [deps](const api::ApiRequest& r, const GroupView& g) { return Validate(*deps, r, g); },
      [deps](const api::ApiRequest& r, const GroupView& g, pugi::xml_node out) {
        return Modify(*deps, r, g, out);
      });
}

}  // namespace cf::orchestrator
