#include "orchestrator/groups/replication_group_frontend.h"

#include <algorithm>
#include <set>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/placement/placement_planner.h"
#include "orchestrator/groups/replication_group_validator.h"
#include "orchestrator/core/replication_group_xml.h"
#include "orchestrator/replicas/replica_count_frontend.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

ApiError StoreFailure(const Error& e) {
  Logger("api")->error("store error: {}", e.message);
  return api::InternalFailure("An internal error occurred: " + e.message);
}

Result<RenderContext> MakeRenderContext(Store& store, const OrchestratorConfig& cfg) {
  RenderContext ctx;
  ctx.region = cfg.region;
  ctx.account_id = cfg.account_id;
  auto hosts = store.ListHosts();
  if (!hosts) return hosts.error();
  const int64_t now = NowMs();
  for (auto& h : *hosts) {
    // Render with the effective state (a host past host_down_after_ms is down even if the
    // monitor has not marked it yet).
    if (!HostIsUp(h, now, cfg.host_down_after_ms)) h.state = HostState::kDown;
    ctx.hosts[h.host_id] = std::move(h);
  }
  return ctx;
}

}  // namespace

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
  if (!hosts) return StoreFailure(hosts.error());
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
  if (!exists) return StoreFailure(exists.error());
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
      NodeRecord n;
      n.node_id = cme ? CmeMemberId(cr.group.id, shard.node_group_id, m + 1)
                      : CmdMemberId(cr.group.id, m + 1);
      n.group_id = cr.group.id;
      n.node_group_id = shard.node_group_id;
      n.member_index = m + 1;
      n.desired_role = m == 0 ? NodeRole::kPrimary : NodeRole::kReplica;
      n.status = "creating";
      n.create_time_ms = now;
      ng.nodes.push_back(n);
      PlacementRequest p;
      p.node_id = n.node_id;
      p.shard = static_cast<int>(s);
      p.member = m;
      p.role = n.desired_role;
      p.cluster_mode = cme;
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
  if (!standalone) return StoreFailure(standalone.error());
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
    switch (e.code) {
      case Errc::kAlreadyExists:
        return faults::ReplicationGroupAlreadyExists(cr.group.id);
      case Errc::kInvalidArgument:
        return api::InvalidParameterValue(e.message);
      case Errc::kResourceExhausted:
        return faults::InsufficientCacheClusterCapacity(e.message);
      case Errc::kFailedPrecondition:
        return api::InvalidParameterValue(e.message);
      default:
        return StoreFailure(e);
    }
  }

  auto view = store_.GetGroup(cr.group.id);
  if (!view || !*view)
    return StoreFailure(view ? MakeError(Errc::kInternal, "group vanished") : view.error());
  auto rctx = MakeRenderContext(store_, config_);
  if (!rctx) return StoreFailure(rctx.error());
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
    if (!v) return StoreFailure(v.error());
    if (!*v) return faults::ReplicationGroupNotFound(*dr.group_id);
    groups.push_back(std::move(**v));
  } else {
    auto list = store_.ListGroups(dr.after_id.value_or(""), dr.max_records + 1);
    if (!list) return StoreFailure(list.error());
    groups = std::move(*list);
    if (static_cast<int>(groups.size()) > dr.max_records) {
      more = true;
      groups.resize(static_cast<size_t>(dr.max_records));
    }
  }
  auto rctx = MakeRenderContext(store_, config_);
  if (!rctx) return StoreFailure(rctx.error());
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
    return DeleteRetainingPrimary(store_, config_, poke_, id, result);

  const int64_t now = NowMs();
  OperationRecord op;
  op.kind = OpKind::kDeleteGroup;
  op.state = OpState::kPending;
  op.step = "waiting for a worker";
  op.created_ms = now;
  op.updated_ms = now;
  auto r = store_.BeginDelete(id, op, "Deleting replication group " + id);
  if (!r) {
    const Error& e = r.error();
    if (e.code == Errc::kNotFound) return faults::ReplicationGroupNotFound(id);
    if (e.code == Errc::kFailedPrecondition) return faults::InvalidReplicationGroupState(e.message);
    return StoreFailure(e);
  }
  auto rctx = MakeRenderContext(store_, config_);
  if (!rctx) return StoreFailure(rctx.error());
  RenderReplicationGroup(r->first, *rctx, result.append_child("ReplicationGroup"));
  Logger("api")->info("[{}] delete accepted", id);
  if (poke_) poke_(r->second);
  return std::nullopt;
}

}  // namespace cf::orchestrator
