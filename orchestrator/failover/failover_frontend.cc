#include "orchestrator/failover/failover_frontend.h"

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"
#include "orchestrator/failover/failover_store.h"
#include "orchestrator/failover/failover_types.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

using api::ApiError;

FailoverFrontend::FailoverFrontend(Store& store, const OrchestratorConfig& config,
                                   std::function<void(int64_t)> poke)
    : store_(store), config_(config), poke_(std::move(poke)) {}

void FailoverFrontend::Register(api::Dispatcher& d) {
  d.Register("TestFailover",
             [this](const api::ApiRequest& r, pugi::xml_node n) { return TestFailover(r, n); });
}

std::optional<ApiError> FailoverFrontend::TestFailover(const api::ApiRequest& req,
                                                       pugi::xml_node result) {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : req.params.all())
    if (key != "ReplicationGroupId" && key != "NodeGroupId") unknown.push_back(key);
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    return api::InvalidParameterValue(
        "Unknown parameter" + std::string(unknown.size() > 1 ? "s" : "") + ": " + list + ".");
  }
  auto raw_id = req.params.Get("ReplicationGroupId");
  if (!raw_id || raw_id->empty()) return api::MissingParameter("ReplicationGroupId");
  auto raw_ng = req.params.Get("NodeGroupId");
  if (!raw_ng || raw_ng->empty()) return api::MissingParameter("NodeGroupId");
  auto id = NormalizeReplicationGroupId(*raw_id);
  if (!id) return api::InvalidParameterValue(id.error().message);
  auto ng = NormalizeNodeGroupId(*raw_ng);
  if (!ng) return api::InvalidParameterValue(ng.error().message);

  auto view = store_.GetGroup(*id);
  if (!view) return faults::StoreFailure(view.error());
  if (!*view) return faults::ReplicationGroupNotFound(*id);
  const GroupView& g = **view;
  bool found = false;
  for (const auto& x : g.node_groups) found = found || x.node_group_id == *ng;
  if (!found) return faults::NodeGroupNotFound(*id, *ng);
  if (!g.group.automatic_failover)
    return faults::InvalidReplicationGroupState(
        "Replication group " + *id +
        " does not have automatic failover enabled; TestFailover needs it.");
  if (g.group.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState("Replication group " + *id +
                                                " is not in available state (it is " +
                                                GroupStatusName(g.group.status) + ").");
  const NodeRecord* primary = ShardPrimary(g, *ng);
  if (!primary) return faults::NodeGroupNotFound(*id, *ng);
  bool replica = false;
  for (const auto& n : g.nodes)
    replica = replica || (n.node_group_id == *ng && &n != primary &&
                          (!n.observed.known || n.observed.state == "running"));
  if (!replica)
    return faults::InvalidCacheClusterState("Node group " + *ng +
                                                     " of replication group " + *id +
                                                     " has no running replica to fail over to.");

  const int64_t now = NowMs();
  const auto& fo = config_.failover;
  auto recent = FailoverStoreOf(store_).CountOperationsSince(
      *id, OpKind::kFailover, "%\"reason\":\"test\"%", now - fo.test_failover_window_ms);
  if (!recent) return faults::StoreFailure(recent.error());
  if (!TestFailoverAllowed(*recent, fo.test_failover_max_per_window))
    return faults::TestFailoverNotAvailable(
        "TestFailover is not available for replication group " + *id + ": " +
        std::to_string(*recent) + " node groups were tested in the last " +
        std::to_string(fo.test_failover_window_ms / 3600000) + " hours (at most " +
        std::to_string(fo.test_failover_max_per_window) + ").");

  FailoverPayload p;
  p.reason = FailoverReason::kTest;
  p.node_group_id = *ng;
  p.old_primary = primary->node_id;
  OperationRecord op = NewPendingOperation(
      OpKind::kFailover,
      g.group.cluster_enabled ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled, now);
  op.deadline_ms = now + fo.operation_timeout_ms;
  op.payload = FailoverPayloadToJson(p);
  FailoverChange change;
  change.group_status = "modifying";
  change.events.push_back({*id, "replication-group", TestFailoverCalledEvent(*ng)});
  auto check = [&](const GroupView& cur) -> Status {
    if (cur.group.status != GroupStatus::kAvailable)
      return MakeError(Errc::kFailedPrecondition, "Replication group " + *id +
                                                      " is not in available state (it is " +
                                                      GroupStatusName(cur.group.status) + ").");
    return {};
  };
  auto begun = store_.BeginGroupOperation(*id, op, check, change);
  if (!begun) return faults::GroupChangeFault(begun.error(), *id);
  RenderGroupResult(store_, config_, begun->first, result);
  Logger("api")->info("[{}] TestFailover of node group {} accepted (primary {})", *id, *ng,
                      primary->node_id);
  if (poke_) poke_(begun->second);
  return std::nullopt;
}

}  // namespace cf::orchestrator
