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
namespace {

constexpr int64_t kRemeetEveryMs = 1000;
constexpr int64_t kReportEveryMs = 100;
constexpr int64_t kQuietLogEveryMs = 10000;

// How many source node groups move slots at the same time (CACHEFLEET_RESHARD_MAX_PARALLEL_SOURCES,
// 0 or unset = all of them). On a small host every parallel source adds a busy redis-server
// main thread (and its agent) competing for the same cores as the clients.
size_t MaxParallelSources() {
  const char* v = std::getenv("CACHEFLEET_RESHARD_MAX_PARALLEL_SOURCES");
  if (!v || !*v) return 0;
  return static_cast<size_t>(std::strtoul(v, nullptr, 10));
}

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string OpTag(const OperationRecord& op) {
  return "[" + op.group_id + "/reshard#" + std::to_string(op.id) + "]";
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + id;
  return s;
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

// Jittered exponential backoff in [base/2, base].
int64_t Backoff(const OperationSettings& s, int failures) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t base = s.retry_initial_backoff_ms;
  for (int i = 1; i < failures && base < s.retry_max_backoff_ms; ++i) base *= 2;
  base = std::min(base, s.retry_max_backoff_ms);
  std::uniform_int_distribution<int64_t> d(base / 2, base);
  return std::max<int64_t>(1, d(rng));
}

SlotRanges FromPb(const google::protobuf::RepeatedPtrField<pb::SlotRange>& ranges) {
  SlotRanges out;
  for (const auto& r : ranges) out.push_back(SlotRange{r.start(), r.end()});
  return NormalizeSlotRanges(out);
}

void ToPb(const SlotRanges& ranges, google::protobuf::RepeatedPtrField<pb::SlotRange>* out) {
  for (const auto& r : NormalizeSlotRanges(ranges)) {
    auto* p = out->Add();
    p->set_start(r.start);
    p->set_end(r.end);
  }
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

struct ReshardReconciler::Context {
  LoadedGroup g;
  ReshardInputs in;
  std::set<std::string> added;
  std::set<std::string> removed;
  std::vector<NodeRecord> new_nodes;
  std::vector<NodeRecord> removed_nodes;
  std::vector<NodeRecord> remaining_nodes;  // everything but the removed nodes
  bool scale_out() const { return !added.empty(); }
};

struct ReshardReconciler::MoveState {
  std::mutex mu;
  std::vector<SlotMoveRecord> moves;   // guarded by mu
  std::vector<int64_t> last_write_ms;  // guarded by mu; per move (steady)
  std::vector<bool> dirty;             // guarded by mu; figures newer than the store's
  OperationRecord ident;               // id + attempt for the store's compare-and-set (const)
  std::vector<int64_t> last_event_ms;  // guarded by mu; per move (steady)
  std::optional<Error> abort_error;    // guarded by mu
  std::atomic<bool> aborted{false};    // a newer attempt owns the operation: stop everything
  std::mutex op_mu;                    // serialises store calls that update `op`
  RateWindow rate{5000};               // reporter thread only
  int64_t last_log_ms = 0;             // reporter thread only
  int64_t last_logged_milli = -1;      // reporter thread only
  int64_t last_logged_keys = -1;       // reporter thread only

  void Abort(const Error& e) {
    std::lock_guard lk(mu);
    AbortLocked(e);
  }
  void AbortLocked(const Error& e) {
    if (!abort_error) abort_error = e;
    aborted = true;
  }
  // Writes move i's figures (mu held, so writes of one move are ordered). False when the
  // write failed; a stale attempt also aborts every move.
  bool FlushLocked(Store& store, size_t i) {
    if (auto s = ReshardStoreOf(store).RecordSlotMoveProgress(ident, moves[i]); !s) {
      if (s.error().code == Errc::kFailedPrecondition) AbortLocked(s.error());
      Logger("reshard")->warn("[{}/reshard#{}] move {}: cannot persist progress: {}",
                              ident.group_id, ident.id, moves[i].move_id, s.error().message);
      return false;
    }
    dirty[i] = false;
    last_write_ms[i] = SteadyMs();
    return true;
  }
};

Status ReshardReconciler::Advance(OperationRecord& op, const std::string& step) {
  OpState next = NextState(op.kind, op.topology, op.state);
  return deps_.store->TransitionOperation(op, next, step);
}

Status ReshardReconciler::OnDeadline(OperationRecord& op) {
  std::atomic<bool> never{false};
  return Step(op, never);
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
  const auto& nodes = c.g.view.nodes;
  const NewNodeFilter is_new = [&c](const NodeRecord& n) {
    return c.added.count(n.node_group_id) > 0;
  };
  const auto pairs = NewNodeMeetPairs(nodes, is_new);
  if (auto st = MeetPairs(deps_, c.g, pairs); !st) return st;
  return Advance(op, "waiting for the new nodes to join");
}

Status ReshardReconciler::AwaitMembership(OperationRecord& op, const Context& c,
                                          const std::atomic<bool>& stop) {
  const int64_t deadline = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  int64_t last_meet = SteadyMs();
  std::string last_why;
  const auto& nodes = c.g.view.nodes;
  const NewNodeFilter is_new = [&c](const NodeRecord& n) {
    return c.added.count(n.node_group_id) > 0;
  };
  const NodeRecord* first_old = FirstEstablishedNode(nodes, is_new);
  while (true) {
    auto statuses = PollStatuses(deps_, c.g);
    auto probes = BuildProbes(c.g, statuses);
    std::string why = CheckMembership(probes);
    if (why.empty()) return Advance(op, "attaching the new replicas");
    if (why != last_why) {
      Logger("reshard")->debug("{} waiting for the new nodes to join: {}", OpTag(op), why);
      (void)deps_.store->SetOperationStep(op, "waiting for the new nodes to join: " + why);
      last_why = why;
    }
    const int64_t now = SteadyMs();
    if (now >= deadline)
      return MakeError(Errc::kTimeout, "the new nodes did not join within " +
                                           std::to_string(deps_.settings.step_wait_timeout_ms) +
                                           " ms: " + why);
    if (now - last_meet >= kRemeetEveryMs && first_old) {
      // Self-healing: new nodes that still miss peers meet an old node again (idempotent).
      last_meet = now;
      RemeetStragglers(deps_, c.g, statuses, is_new, *first_old);
    }
    if (!SleepFor(deps_.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }
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

// ---- move-slots -----------------------------------------------------------------------------

Status ReshardReconciler::RunMoves(OperationRecord& op, const Context& c,
                                   const std::atomic<bool>& stop) {
  auto moves = ReshardStoreOf(*deps_.store).ListSlotMoves(op.id);
  if (!moves) return moves.error();
  MoveState st;
  st.moves = std::move(*moves);
  st.last_write_ms.assign(st.moves.size(), 0);
  st.dirty.assign(st.moves.size(), false);
  st.ident.id = op.id;
  st.ident.attempt = op.attempt;
  st.ident.group_id = op.group_id;
  st.ident.state = op.state;
  st.last_event_ms.assign(st.moves.size(), 0);
  std::map<std::string, std::vector<size_t>> by_source;
  for (size_t i = 0; i < st.moves.size(); ++i)
    if (st.moves[i].status != SlotMoveStatus::kDone)
      by_source[st.moves[i].from_node_group].push_back(i);

  if (!by_source.empty()) {
    Logger("reshard")->info(
        "{} moving slots: {} move(s) left from {} source node group(s)", OpTag(op),
        [&] {
          size_t n = 0;
          for (auto& [s, v] : by_source) n += v.size();
          return n;
        }(),
        by_source.size());
    std::atomic<size_t> running{by_source.size()};
    // At most MaxParallelSources() sources move at once (the others wait their turn).
    std::mutex slots_mu;
    std::condition_variable slots_cv;
    size_t free_slots = MaxParallelSources();
    if (free_slots == 0) free_slots = by_source.size();
    std::vector<std::thread> threads;
    for (auto& [source, indexes] : by_source) {
      threads.emplace_back([&, idx = indexes] {
        bool acquired = false;
        {
          std::unique_lock lk(slots_mu);
          while (free_slots == 0 && !stop && !st.aborted)
            slots_cv.wait_for(lk, std::chrono::milliseconds(kReportEveryMs));
          if (free_slots > 0) {
            --free_slots;
            acquired = true;
          }
        }
        if (acquired) {
          RunSourceMoves(op, c, st, idx, stop);
          {
            std::lock_guard lk(slots_mu);
            ++free_slots;
          }
          slots_cv.notify_all();
        }
        running--;
      });
    }
    while (running > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kReportEveryMs));
      Report(op, st, false);
    }
    for (auto& t : threads) t.join();
  }
  Report(op, st, true);
  if (stop) return MakeError(Errc::kUnavailable, "stopping");
  if (st.aborted) {
    std::lock_guard lk(st.mu);
    return st.abort_error ? *st.abort_error : MakeError(Errc::kFailedPrecondition, "moves aborted");
  }
  ReshardFigures f;
  {
    std::lock_guard lk(st.mu);
    f = SumMoves(st.moves);
  }
  if (!f.all_done())
    return MakeError(Errc::kUnavailable,
                     std::to_string(f.moves - f.moves_done) + " slot moves are not done yet");
  return Advance(op, "moved " + std::to_string(f.slots_done) + " slots and " +
                         std::to_string(f.keys_moved) + " keys; waiting for the cluster to agree");
}

void ReshardReconciler::RunSourceMoves(OperationRecord& op, const Context& c, MoveState& st,
                                       std::vector<size_t> move_indexes,
                                       const std::atomic<bool>& stop) {
  for (size_t i : move_indexes) {
    if (stop || st.aborted) return;
    RunOneMove(op, c, st, i, stop);
  }
}

void ReshardReconciler::RunOneMove(OperationRecord& op, const Context& c, MoveState& st,
                                   size_t index, const std::atomic<bool>& stop) {
  auto log = Logger("reshard");
  const OperationRecord& ident = st.ident;
  std::string move_id, from, to;
  SlotRanges planned;
  {
    std::lock_guard lk(st.mu);
    move_id = st.moves[index].move_id;
    from = st.moves[index].from_node_group;
    to = st.moves[index].to_node_group;
    planned = st.moves[index].slots;
  }
  auto cancelled = [&] { return stop.load() || st.aborted.load(); };

  int failures = 0;
  while (!cancelled()) {
    std::string error;
    int64_t attempt = 0;
    do {
      // 1. Who is who now. Reloaded on every attempt: an agent that restarted re-registers
      // with a new endpoint, and the observed roles may have changed.
      auto fresh = LoadGroup(*deps_.store, op.group_id);
      if (!fresh) {
        error = fresh.error().message;
        break;
      }
      const LoadedGroup& g = *fresh;
      const auto& nodes = g.view.nodes;
      auto statuses = PollStatuses(deps_, g);
      auto master_of = [&](const std::string& ng) -> std::optional<size_t> {
        std::optional<size_t> any;
        for (size_t i = 0; i < nodes.size(); ++i) {
          if (nodes[i].node_group_id != ng || !statuses[i] || statuses[i]->role() != "master")
            continue;
          if (statuses[i]->slots_size() > 0) return i;
          if (!any) any = i;
        }
        return any;
      };
      // "node group 0001 has no reachable primary (rs-0001-001: no answer, rs-0001-002: slave)"
      auto no_primary = [&](const std::string& ng) {
        std::string why;
        for (size_t i = 0; i < nodes.size(); ++i) {
          if (nodes[i].node_group_id != ng) continue;
          why += (why.empty() ? "" : ", ") + nodes[i].node_id + ": " +
                 (statuses[i] ? (statuses[i]->role().empty() ? "no role" : statuses[i]->role())
                              : "no answer from " + nodes[i].host_id);
        }
        return "node group " + ng + " has no reachable primary (" + why + ")";
      };
      auto target_i = master_of(to);
      if (!target_i) {
        error = no_primary(to);
        break;
      }
      const pb::NodeStatus& target = *statuses[*target_i];
      // 2. What is left.
      SlotRanges done_slots;
      {
        std::lock_guard lk(st.mu);
        done_slots = st.moves[index].slots_done;
      }
      SlotRanges owned_by_target = FromPb(target.slots());
      SlotRanges left = SubtractSlots(SubtractSlots(planned, done_slots), owned_by_target);
      if (left.empty()) {
        // Everything is on the target already (moved by an attempt whose last messages were
        // lost, or by the agent before a crash): done without a call.
        bool ok = false;
        {
          std::lock_guard lk(st.mu);
          st.moves[index].slots_done = planned;
          st.moves[index].status = SlotMoveStatus::kDone;
          st.moves[index].finished_ms = NowMs();
          ok = st.FlushLocked(*deps_.store, index);
        }
        if (ok) {
          log->info("{} move {} done: the target owns every slot", OpTag(op), move_id);
          return;
        }
        error = "cannot record the move as done";
        break;
      }
      std::optional<size_t> source_i = master_of(from);
      if (!source_i) {
        // The source may have become a replica after giving away its last slot; the mover
        // finishes open slots from there (it tolerates SETSLOT errors on a replica).
        for (size_t i = 0; i < nodes.size(); ++i)
          if (nodes[i].node_group_id == from && statuses[i] &&
              nodes[i].desired_role == NodeRole::kPrimary)
            source_i = i;
      }
      if (!source_i) {
        error = no_primary(from);
        break;
      }
      const NodeRecord& source = nodes[*source_i];
      // 3. A new attempt.
      auto a = ReshardStoreOf(*deps_.store).StartSlotMoveAttempt(ident, move_id);
      if (!a) {
        if (a.error().code == Errc::kFailedPrecondition) st.Abort(a.error());
        error = a.error().message;
        break;
      }
      attempt = *a;
      uint64_t base_keys = 0, base_bytes = 0;
      {
        std::lock_guard lk(st.mu);
        auto& m = st.moves[index];
        m.attempt = attempt;
        m.status = SlotMoveStatus::kRunning;
        if (m.started_ms == 0) m.started_ms = NowMs();
        base_keys = m.keys_moved;
        base_bytes = m.bytes_moved;
      }
      pb::MoveSlotsRequest req;
      req.set_move_id(move_id);
      req.set_attempt(static_cast<uint64_t>(attempt));
      req.set_source_node_id(source.node_id);
      auto* tgt = req.mutable_target();
      tgt->set_cluster_node_id(target.cluster_node_id());
      const HostRecord* th = g.HostOf(nodes[*target_i]);
      tgt->set_ip(th ? th->address : "");
      tgt->set_port(nodes[*target_i].port);
      ToPb(left, req.mutable_slots());
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (i == *source_i || i == *target_i || !statuses[i] || statuses[i]->role() != "master")
          continue;
        auto* o = req.add_other_primaries();
        o->set_cluster_node_id(statuses[i]->cluster_node_id());
        const HostRecord* h = g.HostOf(nodes[i]);
        o->set_ip(h ? h->address : "");
        o->set_port(nodes[i].port);
      }
      log->info("{} move {} attempt {}: {} slots from {} ({}) to {} ({})", OpTag(op), move_id,
                attempt, CountSlots(left), source.node_id, from, nodes[*target_i].node_id, to);
      // 4. Stream.
      uint32_t agent_retries = 0;
      auto on_progress = [&](const pb::MoveSlotsProgress& msg) -> bool {
        if (msg.move_id() != move_id || static_cast<int64_t>(msg.attempt()) != attempt)
          return true;  // a reply of an older attempt: ignored
        bool ok = true;
        {
          std::lock_guard lk(st.mu);
          auto& m = st.moves[index];
          SlotRanges d = m.slots_done;
          auto add = FromPb(msg.completed());
          d.insert(d.end(), add.begin(), add.end());
          m.slots_done = NormalizeSlotRanges(d);
          m.keys_moved = base_keys + msg.keys_moved();
          m.bytes_moved = base_bytes + msg.bytes_moved();
          if (msg.keys_total() > 0 || m.keys_total < 0)
            m.keys_total = static_cast<int64_t>(base_keys + msg.keys_total());
          if (msg.done()) {
            m.status = SlotMoveStatus::kDone;
            m.slots_done = m.slots;
            m.finished_ms = NowMs();
          }
          st.dirty[index] = true;
          if (msg.done() ||
              SteadyMs() - st.last_write_ms[index] >= deps_.settings.move_progress_write_ms)
            ok = st.FlushLocked(*deps_.store, index);
        }
        if (msg.retries() > agent_retries) {
          agent_retries = msg.retries();
          log->warn("{} move {} attempt {}: the agent retried ({} so far): {}", OpTag(op), move_id,
                    attempt, msg.retries(), msg.last_error());
        }
        return ok || !st.aborted;
      };
      MoveStreamLimits limits;
      limits.deadline_ms = deps_.settings.move_deadline_ms;
      limits.stall_timeout_ms = deps_.settings.move_stall_timeout_ms;
      auto r = deps_.agents->MoveSlots(g.TargetOf(source), req, limits, on_progress, cancelled);
      if (cancelled()) return;
      bool done = false;
      {
        std::lock_guard lk(st.mu);
        done = st.moves[index].status == SlotMoveStatus::kDone;
      }
      if (r && done) {
        log->info("{} move {} done (attempt {})", OpTag(op), move_id, attempt);
        return;
      }
      error = r ? "the MoveSlots stream ended before the move was done" : r.error().message;
    } while (false);

    if (cancelled()) return;
    // 5. Retry with backoff.
    ++failures;
    const int64_t delay = Backoff(deps_.settings, failures);
    std::string event;
    {
      std::lock_guard lk(st.mu);
      auto& m = st.moves[index];
      m.retries++;
      m.last_error = error;
      if (m.status != SlotMoveStatus::kDone) m.status = SlotMoveStatus::kRetrying;
      const int64_t now = SteadyMs();
      if (st.last_event_ms[index] == 0 ||
          now - st.last_event_ms[index] >= deps_.settings.move_error_event_interval_ms) {
        st.last_event_ms[index] = now;
        event =
            "Slot move " + from + " -> " + to + " failed (" +
            (attempt > 0 ? "attempt " + std::to_string(attempt) : std::string("before a call")) +
            ", " + std::to_string(m.retries) + " retries so far): " + error + "; retrying";
      }
    }
    if (attempt > 0) {
      std::lock_guard lk(st.op_mu);
      if (auto s =
              ReshardStoreOf(*deps_.store).RecordSlotMoveError(op, move_id, attempt, error, event);
          !s) {
        if (s.error().code == Errc::kFailedPrecondition) {
          st.Abort(s.error());
          return;
        }
      }
    } else {
      std::lock_guard lk(st.op_mu);
      (void)deps_.store->RecordOperationError(op, error);
      if (!event.empty())
        (void)deps_.store->AddEvent(op.group_id, "replication-group", event, NowMs());
    }
    log->warn("{} move {} {} failed (retry in {} ms): {}", OpTag(op), move_id,
              attempt > 0 ? "attempt " + std::to_string(attempt) : std::string("preparation"),
              delay, error);
    if (!SleepFor(delay, stop)) return;
  }
}

void ReshardReconciler::Report(OperationRecord& op, MoveState& st, bool force_log) {
  ReshardFigures f;
  const int64_t now = SteadyMs();
  int running = 0, retrying = 0;
  {
    std::lock_guard lk(st.mu);
    for (const auto& m : st.moves) {
      running += m.status == SlotMoveStatus::kRunning ? 1 : 0;
      retrying += m.status == SlotMoveStatus::kRetrying ? 1 : 0;
    }
    // A stream that went quiet (a long slot, a pause) still gets its last figures stored.
    for (size_t i = 0; i < st.moves.size(); ++i)
      if (st.dirty[i] &&
          (force_log || now - st.last_write_ms[i] >= deps_.settings.move_progress_write_ms))
        (void)st.FlushLocked(*deps_.store, i);
    f = SumMoves(st.moves);
  }
  st.rate.Add(now, static_cast<double>(f.keys_moved), WorkDone(f));
  const double kps = st.rate.KeysPerSecond();
  const auto eta = EtaSeconds(f, st.rate.UnitsPerSecond());
  {
    std::lock_guard lk(st.op_mu);
    const double shown = ShownProgress(op.progress_milli / 1000.0, f);
    const int64_t milli = ToMilli(shown);
    if (milli > op.progress_milli) {
      if (auto s = ReshardStoreOf(*deps_.store).RaiseReshardProgress(op, milli); !s) {
        if (s.error().code == Errc::kFailedPrecondition) st.Abort(s.error());
      }
    }
  }
  if (board_) board_->Publish(op.id, ReshardLiveBoard::Live{kps, eta, NowMs()});
  if (!force_log && now - st.last_log_ms < deps_.settings.progress_log_interval_ms) return;
  // Nothing new (a stalled or retrying move): one line every kQuietLogEveryMs is enough.
  const bool unchanged = st.last_logged_milli == op.progress_milli &&
                         st.last_logged_keys == static_cast<int64_t>(f.keys_moved);
  if (unchanged && (force_log || now - st.last_log_ms < kQuietLogEveryMs)) return;
  st.last_log_ms = now;
  st.last_logged_milli = op.progress_milli;
  st.last_logged_keys = static_cast<int64_t>(f.keys_moved);
  const std::string text =
      Fixed(op.progress_milli / 1000.0, 1) + "%: slots " + std::to_string(f.slots_done) + "/" +
      std::to_string(f.slots_planned) + ", keys " + std::to_string(f.keys_moved) + "/" +
      std::to_string(f.keys_total) + ", " + Bytes(f.bytes_moved) + ", " + Fixed(kps, 0) +
      " keys/s, eta " + (eta ? Fixed(*eta, 1) + " s" : std::string("?"));
  Logger("reshard")->info("{} {}", OpTag(op), text);
  std::lock_guard lk(st.op_mu);
  // The step says what runs; the figures live in the moves (they would be stale here).
  (void)deps_.store->SetOperationStep(
      op, "moving slots: " + std::to_string(f.moves_done) + " of " + std::to_string(f.moves) +
              " moves done, " + std::to_string(running) + " running" +
              (retrying ? ", " + std::to_string(retrying) + " retrying" : std::string()));
}

// ---- await-healthy --------------------------------------------------------------------------

Status ReshardReconciler::AwaitHealthy(OperationRecord& op, const Context& c,
                                       const std::atomic<bool>& stop) {
  const LoadedGroup rem = Restrict(c.g, c.remaining_nodes, c.removed);
  const int64_t deadline = SteadyMs() + deps_.settings.step_wait_timeout_ms;
  std::string last_why;
  while (true) {
    auto statuses = PollStatuses(deps_, rem);
    auto probes = BuildProbes(rem, statuses);
    std::string why = CheckClusterHealthy(probes, rem.view.node_groups);
    if (why.empty()) {
      if (c.scale_out()) return Complete(op, c);
      return Advance(op, "forgetting the removed nodes");
    }
    if (why != last_why) {
      Logger("reshard")->debug("{} waiting: {}", OpTag(op), why);
      (void)deps_.store->SetOperationStep(op, "waiting: " + why);
      last_why = why;
    }
    if (SteadyMs() >= deadline)
      return MakeError(Errc::kTimeout, "group not healthy within " +
                                           std::to_string(deps_.settings.step_wait_timeout_ms) +
                                           " ms after the moves: " + why);
    if (!SleepFor(deps_.settings.poll_interval_ms, stop))
      return MakeError(Errc::kUnavailable, "stopping");
  }
}

// ---- scale-in: forget, stop -----------------------------------------------------------------

Status ReshardReconciler::ForgetEverywhere(const Context& c) {
  pb::ForgetRequest proto;
  for (const auto& n : c.removed_nodes)
    if (!n.cluster_node_id.empty()) proto.add_forget_cluster_node_ids(n.cluster_node_id);
  if (proto.forget_cluster_node_ids_size() == 0) return {};
  const auto& nodes = c.remaining_nodes;
  ErrorCollector errors;
  deps_.pool->ParallelFor(nodes.size(), [&](size_t i) {
    pb::ForgetRequest req = proto;
    req.set_node_id(nodes[i].node_id);
    if (auto st = deps_.agents->ClusterForget(c.g.TargetOf(nodes[i]), req,
                                              deps_.settings.agent_rpc_timeout_ms);
        !st)
      errors.Add(st.error());
  });
  return errors.Result(nodes.size(), "cluster forget");
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
