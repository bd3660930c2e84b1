#include "orchestrator/reshard/reshard_frontend.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "orchestrator/api/form_decoder.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/id_rules.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/placement/placement_planner.h"
#include "orchestrator/reshard/reshard_progress.h"
#include "orchestrator/reshard/reshard_store.h"
#include "orchestrator/reshard/reshard_validator.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;
using nlohmann::json;

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

// "group=<id>&..." -> the group parameter (percent-decoded), "" when absent.
std::string GroupParam(const std::string& query) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == "group" && eq != std::string::npos) {
      auto v = api::PercentDecode(pair.substr(eq + 1), /*plus_is_space=*/true);
      return v ? *v : std::string();
    }
    pos = amp + 1;
  }
  return "";
}

}  // namespace

ReshardFrontend::ReshardFrontend(Store& store, const OrchestratorConfig& config,
                                 std::function<void(int64_t)> poke, const ReshardLiveBoard* board)
    : store_(store), config_(config), poke_(std::move(poke)), board_(board) {}

void ReshardFrontend::Register(api::Dispatcher& d) {
  d.Register("ModifyReplicationGroupShardConfiguration",
             [this](const api::ApiRequest& r, pugi::xml_node n) {
               return ModifyReplicationGroupShardConfiguration(r, n);
             });
}

std::optional<ApiError> ReshardFrontend::ModifyReplicationGroupShardConfiguration(
    const api::ApiRequest& req, pugi::xml_node result) {
  auto parsed = ParseModifyShardConfiguration(req.params, config_.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ShardConfigRequest& sr = std::get<ShardConfigRequest>(parsed);

  auto view = store_.GetGroup(sr.group_id);
  if (!view) return faults::StoreFailure(view.error());
  if (!*view) return faults::ReplicationGroupNotFound(sr.group_id);
  auto hosts = store_.ListHosts();
  if (!hosts) return faults::StoreFailure(hosts.error());
  const int64_t now = NowMs();
  ShardConfigContext ctx;
  ctx.limits = config_.limits;
  for (const auto& h : *hosts)
    ctx.azs[h.az] = ctx.azs[h.az] || HostIsUp(h, now, config_.host_down_after_ms);
  auto checked = CheckModifyShardConfiguration(sr, **view, ctx);
  if (auto* e = std::get_if<ApiError>(&checked)) return *e;
  const ReshardInputs& in = std::get<ReshardInputs>(checked);
  const GroupView& g = **view;

  NewReshard r;
  r.group_id = g.group.id;
  std::vector<PlacementRequest> placement;
  for (size_t s = 0; s < in.add.size(); ++s) {
    const NewNodeGroupSpec& spec = in.add[s];
    NodeGroupRecord ng;
    ng.group_id = g.group.id;
    ng.node_group_id = spec.node_group_id;
    ng.status = "creating";
    r.new_node_groups.push_back(ng);
    for (int m = 0; m <= in.replicas_per_node_group; ++m) {
      // The shard index counts past the old node groups (rotates placement ties past them).
      auto [n, p] = MakeNewMember(g.group.id, spec.node_group_id,
                                  CmeMemberId(g.group.id, spec.node_group_id, m + 1), m,
                                  static_cast<int>(g.node_groups.size() + s), true, now);
      r.new_nodes.push_back(n);
      if (static_cast<size_t>(m) < spec.preferred_azs.size())
        p.preferred_az = spec.preferred_azs[m];
      placement.push_back(std::move(p));
    }
  }
  r.removed_node_groups = in.remove;
  const bool out = !in.add.empty();
  r.operation = NewPendingOperation(out ? OpKind::kReshardScaleOut : OpKind::kReshardScaleIn,
                                    Topology::kClusterModeEnabled, now);
  OperationRecord& op = r.operation;
  op.payload = ReshardInputsToJson(in);
  std::vector<std::string> added;
  for (const auto& a : in.add) added.push_back(a.node_group_id);
  r.event_message =
      "Modifying number of node groups from " + std::to_string(in.from_count) + " to " +
      std::to_string(in.to_count) +
      (out ? " (adding " + JoinIds(added) + ")" : " (removing " + JoinIds(in.remove) + ")");

  const std::string version = g.group.engine_version;
  const int64_t down_after = config_.host_down_after_ms;
  auto place = [&](const FleetSnapshot& snap, std::vector<NodeRecord>& nodes) -> Status {
    return PlaceOnFleet(snap, placement, version, down_after, nodes);
  };
  auto begun = store_.BeginReshard(std::move(r), place);
  if (!begun) return faults::GroupChangeFault(begun.error(), sr.group_id);
  RenderGroupResult(store_, config_, begun->first, result);
  Logger("api")->info(
      "[{}] reshard accepted: {} -> {} node groups{}", sr.group_id, in.from_count, in.to_count,
      out ? " (adding " + JoinIds(added) + ")" : " (removing " + JoinIds(in.remove) + ")");
  if (poke_) poke_(begun->second);
  return std::nullopt;
}

std::string ReshardFrontend::OperationsJson(const std::string& query) const {
  json j;
  j["operations"] = json::array();
  const std::string raw_group = GroupParam(query);
  std::string group;
  if (!raw_group.empty()) {
    auto id = NormalizeReplicationGroupId(raw_group);
    if (!id) {
      j["error"] = id.error().message;
      return j.dump();
    }
    group = *id;
  }
  auto ops = store_.ListOperations(group, kFinishedOperationsListed);
  if (!ops) {
    j["error"] = ops.error().message;
    return j.dump();
  }
  for (const auto& op : *ops) {
    const bool finished = IsTerminal(op.state);
    json o;
    o["id"] = op.id;
    o["group"] = op.group_id;
    o["kind"] = IsReshard(op.kind) ? "reshard" : OpKindName(op.kind);
    o["op_kind"] = OpKindName(op.kind);
    o["state"] = OpStateName(op.state);
    o["step"] = op.step;
    o["retries"] = op.retries;
    o["last_error"] = op.last_error;
    o["attempt"] = op.attempt;
    o["started_at"] = FormatTimestamp(op.created_ms);
    o["started_ms"] = op.created_ms;
    o["finished_at"] = finished ? json(FormatTimestamp(op.finished_ms)) : json(nullptr);
    o["finished_ms"] = finished ? json(op.finished_ms) : json(nullptr);
    o["updated_ms"] = op.updated_ms;
    ReshardFigures f;
    json moves = json::array();
    int64_t first_start = 0, last_finish = 0;
    if (IsReshard(op.kind)) {
      o["direction"] = op.kind == OpKind::kReshardScaleOut ? "scale-out" : "scale-in";
      if (auto in = ReshardInputsFromJson(op.payload); in) {
        o["from_node_groups"] = in->from_count;
        o["to_node_groups"] = in->to_count;
        std::vector<std::string> added;
        for (const auto& a : in->add) added.push_back(a.node_group_id);
        o["adding"] = added;
        o["removing"] = in->remove;
      }
      if (auto ms = ReshardStoreOf(store_).ListSlotMoves(op.id); ms) {
        f = SumMoves(*ms);
        for (const auto& m : *ms) {
          if (m.started_ms && (!first_start || m.started_ms < first_start))
            first_start = m.started_ms;
          last_finish = std::max(last_finish, m.finished_ms);
          moves.push_back({{"id", m.move_id},
                           {"from", m.from_node_group},
                           {"to", m.to_node_group},
                           {"slots", FormatSlotRanges(m.slots)},
                           {"slots_planned", m.slots_planned()},
                           {"slots_done", m.status == SlotMoveStatus::kDone ? m.slots_planned()
                                                                            : m.slots_moved()},
                           {"keys_moved", m.keys_moved},
                           {"keys_total", m.keys_expected()},
                           {"bytes_moved", m.bytes_moved},
                           {"attempt", m.attempt},
                           {"status", SlotMoveStatusName(m.status)},
                           {"retries", m.retries},
                           {"last_error", m.last_error}});
        }
      }
      o["progress_percentage"] =
          op.state == OpState::kSucceeded ? 100.0 : op.progress_milli / 1000.0;
    } else {
      o["progress_percentage"] = op.state == OpState::kSucceeded ? 100.0 : 0.0;
    }
    o["slots_planned"] = f.slots_planned;
    o["slots_done"] = f.slots_done;
    o["keys_moved"] = f.keys_moved;
    o["keys_total"] = f.keys_total;
    o["bytes_moved"] = f.bytes_moved;
    o["moves"] = moves;
    // When the last slot move finished (orchestrator clock, like started_ms): a scale-in is
    // `available` only after removed_node_grace_ms more.
    o["moves_finished_ms"] = last_finish ? json(last_finish) : json(nullptr);
    std::optional<ReshardLiveBoard::Live> live;
    if (!finished && board_) live = board_->Get(op.id);
    if (live) {
      o["keys_per_second"] = live->keys_per_second;
      o["eta_seconds"] = live->eta_seconds ? json(*live->eta_seconds) : json(nullptr);
    } else if (finished) {
      const double s = last_finish > first_start ? (last_finish - first_start) / 1000.0 : 0.0;
      o["keys_per_second"] = s > 0 ? f.keys_moved / s : 0.0;
      o["eta_seconds"] = 0.0;
    } else {
      o["keys_per_second"] = 0.0;
      o["eta_seconds"] = nullptr;
    }
    j["operations"].push_back(std::move(o));
  }
  return j.dump();
}

}  // namespace cf::orchestrator
