#include "orchestrator/groups/replication_group_frontend.h"

#include <algorithm>
#include <set>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/placement/placement_planner.h"
#include "orchestrator/groups/replication_group_validator.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/operations/operation_payloads.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

using api::ApiError;

ReplicationGroupFrontend::ReplicationGroupFrontend(Store& store, const OrchestratorConfig& config,
                                                   std::function<void(int64_t)> poke)
    : store_(store), config_(config), poke_(std::move(poke)) {}

void ReplicationGroupFrontend::Register(api::Dispatcher& d) {
  d.Register("CreateReplicationGroup", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return CreateReplicationGroup(r, n);
  });
  d.Register("DescribeReplicationGroups", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return DescribeReplicationGroups(r, n);
  });
  d.Register("DeleteReplicationGroup", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return DeleteReplicationGroup(r, n);
  });
}

std::optional<ApiError> ReplicationGroupFrontend::CreateReplicationGroup(const api::ApiRequest& req,
                                                                         pugi::xml_node result) {
  auto hosts = store_.ListHosts();
  if (!hosts) return faults::StoreFailure(hosts.error());
  const int64_t now = NowMs();
  ValidationContext vctx;
  vctx.node_types = &config_.node_types;
  vctx.parameter_groups = &config_.parameter_groups;
  if (user_parameter_groups_) vctx.user_parameter_groups = user_parameter_groups_();
  vctx.limits = config_.limits;
  for (const auto& h : *hosts)
    if (HostIsUp(h, now, config_.host_down_after_ms))
      vctx.engine_versions.insert(vctx.engine_versions.end(), h.redis_versions.begin(),
                                  h.redis_versions.end());

  auto validated = ValidateCreateReplicationGroup(req.params, vctx);
  if (auto* e = std::get_if<ApiError>(&validated)) return *e;
  CreateGroupRequest& cr = std::get<CreateGroupRequest>(validated);

  auto exists = store_.GroupExists(cr.group.id);
  if (!exists) return faults::StoreFailure(exists.error());
  if (*exists) return faults::ReplicationGroupAlreadyExists(cr.group.id);

  // Desired state: the group, its node groups and nodes (placed inside the transaction).
  NewGroup ng;
  ng.group = cr.group;
  ng.group.status = GroupStatus::kCreating;
  ng.group.create_time_ms = now;
  ng.group.updated_ms = now;
  ng.tags = cr.tags;
  std::vector<PlacementRequest> placement;
  const bool cme = cr.group.cluster_enabled;
  for (size_t s = 0; s < cr.shards.size(); ++s) {
    const ShardRequest& shard = cr.shards[s];
    NodeGroupRecord rec;
    rec.group_id = cr.group.id;
    rec.node_group_id = shard.node_group_id;
    rec.slots = cme ? shard.slots : SlotRanges{};
    rec.status = "creating";
    ng.node_groups.push_back(rec);
    for (int m = 0; m <= shard.replica_count; ++m) {
      auto [n, p] = MakeNewMember(cr.group.id, shard.node_group_id,
                                  cme ? CmeMemberId(cr.group.id, shard.node_group_id, m + 1)
                                      : CmdMemberId(cr.group.id, m + 1),
                                  m, static_cast<int>(s), cme, now);
      ng.nodes.push_back(n);
      if (m == 0) {
        p.preferred_az = shard.primary_az;
      } else if (!shard.replica_azs.empty()) {
        p.preferred_az = shard.replica_azs[static_cast<size_t>(m - 1)];
      }
      placement.push_back(std::move(p));
    }
  }
  // A member id must not be a standalone cache cluster's (a primary RetainPrimaryCluster kept
  // from an earlier group of this id): the agents know nodes by id.
  auto standalone = store_.ListStandaloneClusters();
  if (!standalone) return faults::StoreFailure(standalone.error());
  for (const auto& c : *standalone)
    for (const auto& n : ng.nodes)
      if (n.node_id == c.cluster_id)
        return ApiError{400, "CacheClusterAlreadyExists",
                        "Cache cluster " + c.cluster_id +
                            " already exists (a standalone cache cluster); delete it "
                            "(DeleteCacheCluster) or choose another ReplicationGroupId."};
  // The node groups of a CME group are listed in id order, like the nodes.
  std::sort(ng.node_groups.begin(), ng.node_groups.end(),
            [](const NodeGroupRecord& a, const NodeGroupRecord& b) {
              return a.node_group_id < b.node_group_id;
            });
  ng.operation.kind = OpKind::kCreateGroup;
  ng.operation.topology = cme ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled;
  ng.operation.state = OpState::kPending;
  ng.operation.step = "waiting for a worker";
  ng.operation.created_ms = now;
  ng.operation.updated_ms = now;
  ng.operation.deadline_ms = now + config_.operations.create_timeout_ms;
  ng.event_message = "Creating replication group " + cr.group.id;

  const std::string version = cr.group.engine_version;
  const int64_t down_after = config_.host_down_after_ms;
  auto place = [&](const FleetSnapshot& snap, std::vector<NodeRecord>& nodes) -> Status {
    return PlaceOnFleet(snap, placement, version, down_after, nodes);
  };
  auto op_id = store_.CreateGroup(std::move(ng), place);
  if (!op_id) {
    const Error& e = op_id.error();
    // A precondition the placement refuses is a parameter the fleet cannot satisfy.
    if (e.code == Errc::kFailedPrecondition) return api::InvalidParameterValue(e.message);
    return faults::GroupChangeFault(e, cr.group.id);
  }

  auto view = store_.GetGroup(cr.group.id);
  if (!view || !*view)
    return faults::StoreFailure(view ? MakeError(Errc::kInternal, "group vanished") : view.error());
  auto rctx = MakeRenderContext(store_, config_);
  if (!rctx) return faults::StoreFailure(rctx.error());
  RenderReplicationGroup(**view, *rctx, result.append_child("ReplicationGroup"));
  Logger("api")->info("[{}] create accepted: {} node group(s), {} node(s), cluster mode {}",
                      cr.group.id, cr.shards.size(), cr.total_nodes(), cme ? "on" : "off");
  if (poke_) poke_(*op_id);
  return std::nullopt;
}

std::optional<ApiError> ReplicationGroupFrontend::DescribeReplicationGroups(
    const api::ApiRequest& req, pugi::xml_node result) {
  auto validated = ValidateDescribeReplicationGroups(req.params);
  if (auto* e = std::get_if<ApiError>(&validated)) return *e;
  const DescribeGroupsRequest& dr = std::get<DescribeGroupsRequest>(validated);

  std::vector<GroupView> groups;
  bool more = false;
  if (dr.group_id) {
    auto v = store_.GetGroup(*dr.group_id);
    if (!v) return faults::StoreFailure(v.error());
    if (!*v) return faults::ReplicationGroupNotFound(*dr.group_id);
    groups.push_back(std::move(**v));
  } else {
    auto list = store_.ListGroups(dr.after_id.value_or(""), dr.max_records + 1);
    if (!list) return faults::StoreFailure(list.error());
    groups = std::move(*list);
    if (static_cast<int>(groups.size()) > dr.max_records) {
      more = true;
      groups.resize(static_cast<size_t>(dr.max_records));
    }
  }
  auto rctx = MakeRenderContext(store_, config_);
  if (!rctx) return faults::StoreFailure(rctx.error());
  if (more)
    result.append_child("Marker").text().set(EncodeDescribeMarker(groups.back().group.id).c_str());
  pugi::xml_node list = result.append_child("ReplicationGroups");
  for (const auto& g : groups)
    RenderReplicationGroup(g, *rctx, list.append_child("ReplicationGroup"));
  return std::nullopt;
}

std::optional<ApiError> ReplicationGroupFrontend::DeleteReplicationGroup(const api::ApiRequest& req,
                                                                         pugi::xml_node result) {
  auto validated = ValidateDeleteReplicationGroup(req.params);
  if (auto* e = std::get_if<ApiError>(&validated)) return *e;
  const std::string id = std::get<DeleteGroupRequest>(validated).group_id;
  if (std::get<DeleteGroupRequest>(validated).retain_primary)
    return DeleteRetainingPrimary(id, result);

  const OperationRecord op =
      NewPendingOperation(OpKind::kDeleteGroup, Topology::kClusterModeDisabled, NowMs());
  auto r = store_.BeginDelete(id, op, "Deleting replication group " + id);
  if (!r) return faults::GroupChangeFault(r.error(), id);
  auto rctx = MakeRenderContext(store_, config_);
  if (!rctx) return faults::StoreFailure(rctx.error());
  RenderReplicationGroup(r->first, *rctx, result.append_child("ReplicationGroup"));
  Logger("api")->info("[{}] delete accepted", id);
  if (poke_) poke_(r->second);
  return std::nullopt;
}

std::optional<ApiError> ReplicationGroupFrontend::DeleteRetainingPrimary(const std::string& id,
                                                                         pugi::xml_node result) {
  auto view = store_.GetGroup(id);
  if (!view) return faults::StoreFailure(view.error());
  if (!*view) return faults::ReplicationGroupNotFound(id);
  const GroupView& g = **view;
  if (g.group.cluster_enabled)
    return api::InvalidParameterValue(
        "RetainPrimaryCluster is only supported for replication groups with cluster mode "
        "disabled (one primary); " + id + " has cluster mode enabled.");
  if (g.group.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState("Replication group " + id +
                                                " must be in available state to retain its "
                                                "primary cluster (it is " +
                                                GroupStatusName(g.group.status) + ").");
  const NodeRecord* primary = CurrentPrimary(g, "0001");
  if (!primary) return faults::StoreFailure(MakeError(Errc::kInternal, id + " has no primary"));
  ReplicaPlan plan;
  plan.increase = false;
  plan.retain_primary = primary->node_id;
  int replicas = 0;
  for (const auto& n : g.nodes)
    if (n.node_id != primary->node_id) {
      plan.remove.push_back(n.node_id);
      ++replicas;
    }
  plan.replicas[primary->node_group_id] = {replicas, 0};
  OperationRecord op =
      NewPendingOperation(OpKind::kDecreaseReplicas, Topology::kClusterModeDisabled, NowMs());
  op.payload = ReplicaPlanToJson(plan);
  auto r = store_.BeginDelete(id, op,
                             "Deleting replication group " + id + ", retaining its primary " +
                                 primary->node_id + " as a standalone cache cluster");
  if (!r) return faults::GroupChangeFault(r.error(), id);
  RenderGroupResult(store_, config_, r->first, result);
  Logger("api")->info("[{}] delete accepted, retaining primary {}", id, primary->node_id);
  if (poke_) poke_(r->second);
  return std::nullopt;
}

}  // namespace cf::orchestrator
