#include "orchestrator/reshard/reshard_reconciler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/group_formation.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/reshard/reshard_planner.h"
#include "orchestrator/reshard/reshard_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

namespace reshard_detail {

std::string OpTag(const OperationRecord& op) {
  return "[" + op.group_id + "/reshard#" + std::to_string(op.id) + "]";
}

std::string Bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.1f GB", b / double(1ull << 30));
  else if (b >= (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.1f MB", b / double(1ull << 20));
  else if (b >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

SlotRanges FromPb(const google::protobuf::RepeatedPtrField<pb::SlotRange>& ranges) {
  SlotRanges out;
  for (const auto& r : ranges) out.push_back(SlotRange{r.start(), r.end()});
  return NormalizeSlotRanges(out);
}

}  // namespace reshard_detail

using namespace reshard_detail;

namespace {

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + id;
  return s;
}

// A LoadedGroup restricted to some nodes (and node groups).
LoadedGroup Restrict(const LoadedGroup& g, const std::vector<NodeRecord>& nodes,
                     const std::set<std::string>& drop_node_groups) {
  LoadedGroup out;
  out.hosts = g.hosts;
  out.view.group = g.view.group;
  out.view.tags = g.view.tags;
  for (const auto& ng : g.view.node_groups)
    if (!drop_node_groups.count(ng.node_group_id)) out.view.node_groups.push_back(ng);
  out.view.nodes = nodes;
  return out;
}

}  // namespace

Status ReshardReconciler::Advance(OperationRecord& op, const std::string& step) {
  OpState next = NextState(op.kind, op.topology, op.state);
  return deps_.store->TransitionOperation(op, next, step);
}

Status ReshardReconciler::Step(OperationRecord& op, const std::atomic<bool>& stop) {
  auto loaded = LoadGroup(*deps_.store, op.group_id);
  if (!loaded) return loaded.error();
  auto inputs = ReshardInputsFromJson(op.payload);
  if (!inputs) return inputs.error();
  Context c;
  c.g = std::move(*loaded);
  c.in = std::move(*inputs);
  for (auto& n : c.g.view.nodes)
    if (n.cluster_node_id.empty()) n.cluster_node_id = n.observed.cluster_node_id;
  for (const auto& a : c.in.add) c.added.insert(a.node_group_id);
  c.removed.insert(c.in.remove.begin(), c.in.remove.end());
  for (const auto& n : c.g.view.nodes) {
    if (c.added.count(n.node_group_id)) c.new_nodes.push_back(n);
    if (c.removed.count(n.node_group_id)) {
      c.removed_nodes.push_back(n);
    } else {
      c.remaining_nodes.push_back(n);
    }
  }

  switch (op.state) {
    case OpState::kPending:
      return Advance(op, c.scale_out()
                             ? "launching " + std::to_string(c.new_nodes.size()) +
                                   " nodes for node groups " +
                                   JoinIds(std::vector<std::string>(c.added.begin(), c.added.end()))
                             : "planning slot moves");
    case OpState::kLaunchNodes:
      return LaunchNewNodes(op, c);
    case OpState::kMeet:
      return MeetNewNodes(op, c);
    case OpState::kAwaitMembership:
      return AwaitMembership(op, c, stop);
    case OpState::kReplicate:
      return ReplicateNewNodes(op, c, stop);
    case OpState::kPlanMoves:
      return PlanMoves(op, c, stop);
    case OpState::kMoveSlots:
      return RunMoves(op, c, stop);
    case OpState::kAwaitHealthy:
      return AwaitHealthy(op, c, stop);
    case OpState::kForgetNodes:
      return ForgetRemoved(op, c);
    case OpState::kStopNodes:
      return StopRemoved(op, c, stop);
    default:
      return MakeError(Errc::kInternal, std::string(OpKindName(op.kind)) +
                                            " has no step for state " + OpStateName(op.state));
  }
}

// ---- scale-out: launch, meet, membership, replicate -----------------------------------------

Status ReshardReconciler::LaunchNewNodes(OperationRecord& op, const Context& c) {
  if (auto st = LaunchNodesParallel(deps_, c.g, c.new_nodes); !st) return st;
  Logger("reshard")->debug("{} {} new nodes launched", OpTag(op), c.new_nodes.size());
  return Advance(op, "meeting the new nodes");
}

Status ReshardReconciler::MeetNewNodes(OperationRecord& op, const Context& c) {
  // Launch recorded the cluster ids; reload so that the MEETs below name live nodes.
  const NewNodeFilter is_new = [&c](const NodeRecord& n) {
    return c.added.count(n.node_group_id) > 0;
  };
  if (auto st = orchestrator::MeetNewNodes(deps_, c.g, is_new); !st) return st;
  return Advance(op, "waiting for the new nodes to join");
}

Status ReshardReconciler::AwaitMembership(OperationRecord& op, const Context& c,
                                          const std::atomic<bool>& stop) {
  const NewNodeFilter is_new = [&c](const NodeRecord& n) {
    return c.added.count(n.node_group_id) > 0;
  };
  const WaitReport report{&op, "waiting for the new nodes to join", [&](const std::string& why) {
                            Logger("reshard")->debug("{} waiting for the new nodes to join: {}",
                                                     OpTag(op), why);
                          }};
  if (auto st =
          AwaitClusterMembership(deps_, c.g, is_new, report, "the new nodes did not join", stop);
      !st)
    return st;
  return Advance(op, "attaching the new replicas");
}

Status ReshardReconciler::ReplicateNewNodes(OperationRecord& op, const Context& c,
                                            const std::atomic<bool>& stop) {
  std::vector<NodeRecord> replicas;
  for (const auto& n : c.new_nodes)
    if (n.desired_role == NodeRole::kReplica) replicas.push_back(n);
  if (auto st = ReplicateToPlannedPrimaries(deps_, c.g, replicas, stop); !st) return st;
  return Advance(op, "planning slot moves");
}

// ---- plan-moves -----------------------------------------------------------------------------

Status ReshardReconciler::PlanMoves(OperationRecord& op, const Context& c,
                                    const std::atomic<bool>& stop) {
  auto log = Logger("reshard");
  const auto& nodes = c.g.view.nodes;
  const int64_t deadline = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  std::vector<std::optional<pb::NodeStatus>> statuses;
  std::string why;
  // Wait until every node answers, agrees on slot ownership, has no open slot and reports
  // cluster_state ok.
  while (true) {
    statuses = PollStatuses(deps_, c.g);
    why.clear();
    std::string sig;
    for (size_t i = 0; i < nodes.size() && why.empty(); ++i) {
      if (!statuses[i]) {
        why = nodes[i].node_id + " did not answer";
      } else if (statuses[i]->has_open_slots()) {
        why = nodes[i].node_id + " has open slots";
      } else if (statuses[i]->cluster_state() != "ok") {
        // A new primary answers MIGRATE's RESTORE with CLUSTERDOWN until it sees every slot
        // covered: moving before that only fails and leaves slots open for a retry.
        why = nodes[i].node_id + " reports cluster_state " + statuses[i]->cluster_state();
      } else if (i == 0) {
        sig = SlotSignature(*statuses[i]);
      } else if (SlotSignature(*statuses[i]) != sig) {
        why = nodes[i].node_id + " does not agree on slot ownership yet";
      }
    }
    if (why.empty()) break;
    if (SteadyMs() >= deadline)
      return MakeError(Errc::kTimeout, "cannot plan the slot moves: " + why);
    if (!SleepFor(deps_.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }

  // Observed ownership -> node groups.
  std::map<std::string, std::string> group_of;  // cluster node id -> node group
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].cluster_node_id.empty())
      group_of[nodes[i].cluster_node_id] = nodes[i].node_group_id;
    if (statuses[i] && !statuses[i]->cluster_node_id().empty())
      group_of[statuses[i]->cluster_node_id()] = nodes[i].node_group_id;
  }
  std::map<std::string, SlotRanges> owned;
  for (const auto& o : statuses[0]->slot_owners()) {
    auto it = group_of.find(o.cluster_node_id());
    if (it == group_of.end())
      return MakeError(Errc::kFailedPrecondition,
                       "slots owned by " + o.cluster_node_id() +
                           ", a node that is not part of the group; refusing to plan");
    auto& r = owned[it->second];
    auto add = FromPb(o.ranges());
    r.insert(r.end(), add.begin(), add.end());
  }
  std::vector<ShardSlots> current;
  for (const auto& ng : c.g.view.node_groups) {
    if (c.added.count(ng.node_group_id)) {
      if (!owned[ng.node_group_id].empty())
        return MakeError(Errc::kFailedPrecondition,
                         "new node group " + ng.node_group_id + " already owns slots");
      continue;
    }
    current.push_back(ShardSlots{ng.node_group_id, NormalizeSlotRanges(owned[ng.node_group_id])});
  }
  std::vector<std::string> add_ids;
  for (const auto& a : c.in.add) add_ids.push_back(a.node_group_id);
  auto plan = PlanReshard(current, add_ids, c.in.remove);
  if (!plan) return MakeError(plan.error().code, "reshard plan: " + plan.error().message);

  // Keys per slot of each source, from what its master reports.
  std::map<std::string, double> keys_per_slot;
  for (const auto& s : current) {
    uint64_t keys = 0;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].node_group_id == s.node_group_id && statuses[i]->role() == "master")
        keys = std::max<uint64_t>(keys, statuses[i]->keys());
    const uint32_t n = CountSlots(s.slots);
    keys_per_slot[s.node_group_id] = n ? static_cast<double>(keys) / n : 0;
  }
  std::vector<SlotMoveRecord> moves;
  uint64_t keys_estimate = 0;
  std::set<std::string> targets;
  for (const auto& m : plan->moves) {
    SlotMoveRecord r;
    r.op_id = op.id;
    r.move_id = std::to_string(op.id) + ":" + m.from + "->" + m.to;
    r.seq = static_cast<int>(moves.size());
    r.from_node_group = m.from;
    r.to_node_group = m.to;
    r.slots = m.slots;
    r.keys_estimate = static_cast<uint64_t>(std::llround(keys_per_slot[m.from] * m.count()));
    keys_estimate += r.keys_estimate;
    targets.insert(m.to);
    moves.push_back(std::move(r));
  }
  std::map<std::string, SlotRanges> planned;
  for (const auto& r : plan->result) planned[r.node_group_id] = r.slots;
  for (const auto& id : c.in.remove) planned[id] = {};

  std::string summary = "Moving " + std::to_string(plan->slots_moved) + " slots (about " +
                        std::to_string(keys_estimate) + " keys) in " +
                        std::to_string(moves.size()) + " move" + (moves.size() == 1 ? "" : "s") +
                        " to node groups " +
                        JoinIds(std::vector<std::string>(targets.begin(), targets.end()));
  if (auto st = ReshardStoreOf(*deps_.store).SavePlannedMoves(op, moves, planned, "moving slots");
      !st)
    return st;
  (void)deps_.store->AddEvent(op.group_id, "replication-group", summary, NowMs());
  log->info("{} {}", OpTag(op), summary);
  for (const auto& m : moves)
    log->debug("{} move {}: {} slots {} (about {} keys)", OpTag(op), m.move_id, m.slots_planned(),
               FormatSlotRanges(m.slots), m.keys_estimate);
  return {};
}

// ---- await-healthy --------------------------------------------------------------------------

Status ReshardReconciler::AwaitHealthy(OperationRecord& op, const Context& c,
                                       const std::atomic<bool>& stop) {
  const LoadedGroup rem = Restrict(c.g, c.remaining_nodes, c.removed);
  const WaitReport report{&op, "waiting", [&](const std::string& why) {
                            Logger("reshard")->debug("{} waiting: {}", OpTag(op), why);
                          }};
  if (auto st = AwaitGroupHealthy(deps_, rem, true, report, "group not healthy",
                                  " after the moves", stop);
      !st)
    return st;
  if (c.scale_out()) return Complete(op, c);
  return Advance(op, "forgetting the removed nodes");
}

// ---- scale-in: forget, stop -----------------------------------------------------------------

Status ReshardReconciler::ForgetEverywhere(const Context& c) {
  return ForgetNodes(deps_, c.g, c.remaining_nodes, c.removed_nodes);
}

Status ReshardReconciler::ForgetRemoved(OperationRecord& op, const Context& c) {
  // Never take a node out that still owns a slot or, as a master, holds a key
  // (redis-cluster-ops.md §10 #10). A removed master usually turned itself into a replica of the
  // node that took its last slot (cluster-allow-replica-migration), so its keys are copies.
  std::vector<NodeRecord> live;
  for (const auto& n : c.removed_nodes)
    if (n.status != "stopped") live.push_back(n);
  const LoadedGroup removed = Restrict(c.g, live, {});
  auto statuses = PollStatuses(deps_, removed);
  for (size_t i = 0; i < live.size(); ++i) {
    if (!statuses[i]) return MakeError(Errc::kUnavailable, live[i].node_id + " did not answer");
    const auto& s = *statuses[i];
    if (s.slots_size() > 0)
      return MakeError(Errc::kFailedPrecondition, live[i].node_id + " still owns slots " +
                                                      FormatSlotRanges(FromPb(s.slots())));
    if (s.role() == "master" && s.keys() > 0)
      return MakeError(Errc::kFailedPrecondition, live[i].node_id +
                                                      " is a master without slots "
                                                      "but still holds " +
                                                      std::to_string(s.keys()) + " keys");
  }
  if (auto st = ForgetEverywhere(c); !st) return st;
  Logger("reshard")->info("{} {} removed node(s) forgotten by {} remaining node(s)", OpTag(op),
                          c.removed_nodes.size(), c.remaining_nodes.size());
  return Advance(op, "stopping the removed nodes");
}

Status ReshardReconciler::StopRemoved(OperationRecord& op, const Context& c,
                                      const std::atomic<bool>& stop) {
  // Grace: a client with a stale slot map still sends to the removed nodes; kept up, they answer
  // MOVED (they own no slot) instead of refusing the connection. Counted from the commit that
  // entered this state (op.updated_ms, wall clock, never earlier than the FORGETs), so a resumed
  // operation does not wait again for time that already passed.
  const int64_t grace_until = op.updated_ms + deps_.settings.removed_node_grace_ms;
  if (const int64_t wait = std::min(grace_until - NowMs(), deps_.settings.removed_node_grace_ms);
      wait > 0) {
    Logger("reshard")->debug(
        "{} keeping the removed nodes up for {} ms (clients with a stale "
        "slot map get MOVED)",
        OpTag(op), wait);
    if (!SleepFor(wait, stop)) return MakeError(Errc::kUnavailable, "stopping");
  }
  const LoadedGroup removed = Restrict(c.g, c.removed_nodes, {});
  if (auto st = StopNodes(deps_, removed); !st) return st;
  if (auto st = ForgetEverywhere(c); !st) return st;
  return Complete(op, c);
}

Status ReshardReconciler::Complete(OperationRecord& op, const Context& c) {
  ReshardCompletion comp;
  for (const auto& ng : c.g.view.node_groups)
    if (!c.removed.count(ng.node_group_id)) comp.slots[ng.node_group_id] = ng.slots;
  comp.removed_node_groups = c.in.remove;
  ReshardFigures f;
  int64_t first_start = 0, last_finish = 0;
  if (auto moves = ReshardStoreOf(*deps_.store).ListSlotMoves(op.id); moves) {
    f = SumMoves(*moves);
    for (const auto& m : *moves) {
      if (m.started_ms && (!first_start || m.started_ms < first_start)) first_start = m.started_ms;
      last_finish = std::max(last_finish, m.finished_ms);
    }
  }
  const double move_s = last_finish > first_start ? (last_finish - first_start) / 1000.0 : 0.0;
  const double total_s = (NowMs() - op.created_ms) / 1000.0;
  const double kps = move_s > 0 ? f.keys_moved / move_s : 0.0;
  comp.event_message =
      "Finished modifying number of node groups from " + std::to_string(c.in.from_count) + " to " +
      std::to_string(c.in.to_count) + ": moved " + std::to_string(f.slots_done) + " slots and " +
      std::to_string(f.keys_moved) + " keys (" + Bytes(f.bytes_moved) + ") in " + Fixed(move_s, 1) +
      " s (" + Fixed(kps, 0) + " keys/s); " + Fixed(total_s, 1) + " s in total";
  if (auto st = deps_.store->CompleteReshard(op, comp); !st) return st;
  if (board_) board_->Remove(op.id);
  Logger("reshard")->info("{} {}", OpTag(op), comp.event_message);
  return {};
}

}  // namespace cf::orchestrator
