// The reshard's move-slots phase (see reshard_reconciler.h): one thread per source node group
// (at most CACHEFLEET_RESHARD_MAX_PARALLEL_SOURCES at once) runs that source's moves in turn;
// each move is attempted until done — who is who now, a new attempt number, the MoveSlots
// stream — with jittered backoff between attempts; a reporter persists and logs the figures.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "common/log.h"
#include "orchestrator/reshard/reshard_reconciler.h"
#include "orchestrator/reshard/reshard_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

using namespace reshard_detail;

namespace {

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

// Jittered exponential backoff in [base/2, base].
int64_t Backoff(const OperationSettings& s, int failures) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t base = s.retry_initial_backoff_ms;
  for (int i = 1; i < failures && base < s.retry_max_backoff_ms; ++i) base *= 2;
  base = std::min(base, s.retry_max_backoff_ms);
  std::uniform_int_distribution<int64_t> d(base / 2, base);
  return std::max<int64_t>(1, d(rng));
}

void ToPb(const SlotRanges& ranges, google::protobuf::RepeatedPtrField<pb::SlotRange>* out) {
  for (const auto& r : NormalizeSlotRanges(ranges)) {
    auto* p = out->Add();
    p->set_start(r.start);
    p->set_end(r.end);
  }
}

}  // namespace

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

// Who is who for one attempt of a move, and what is left of it.
struct ReshardReconciler::MoveEnds {
  LoadedGroup g;
  std::vector<std::optional<pb::NodeStatus>> statuses;  // per g.view.nodes
  size_t source = 0;                                    // index into g.view.nodes
  size_t target = 0;
  SlotRanges left;  // planned - done - what the target owns already
};

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
  (void)c;
  SlotMoveRecord plan;
  {
    std::lock_guard lk(st.mu);
    plan = st.moves[index];
  }
  auto cancelled = [&] { return stop.load() || st.aborted.load(); };
  int failures = 0;
  while (!cancelled()) {
    std::string error;
    int64_t attempt = 0;
    if (AttemptMove(op, st, index, plan, stop, attempt, error)) return;
    if (cancelled()) return;
    // 5. Retry with backoff.
    ++failures;
    const int64_t delay = Backoff(deps_.settings, failures);
    if (!RecordMoveFailure(op, st, index, plan, attempt, error)) return;
    Logger("reshard")->warn("{} move {} {} failed (retry in {} ms): {}", OpTag(op), plan.move_id,
                            attempt > 0 ? "attempt " + std::to_string(attempt)
                                        : std::string("preparation"),
                            delay, error);
    if (!SleepFor(delay, stop)) return;
  }
}

std::optional<ReshardReconciler::MoveEnds> ReshardReconciler::FindMoveEnds(
    const OperationRecord& op, MoveState& st, size_t index, const SlotMoveRecord& plan,
    std::string& error) {
  const std::string& from = plan.from_node_group;
  const std::string& to = plan.to_node_group;
  // 1. Who is who now. Reloaded on every attempt: an agent that restarted re-registers
  // with a new endpoint, and the observed roles may have changed.
  auto fresh = LoadGroup(*deps_.store, op.group_id);
  if (!fresh) {
    error = fresh.error().message;
    return std::nullopt;
  }
  MoveEnds e;
  e.g = std::move(*fresh);
  const auto& nodes = e.g.view.nodes;
  e.statuses = PollStatuses(deps_, e.g);
  const auto& statuses = e.statuses;
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
    return std::nullopt;
  }
  e.target = *target_i;
  const pb::NodeStatus& target = *statuses[*target_i];
  // 2. What is left.
  SlotRanges done_slots;
  {
    std::lock_guard lk(st.mu);
    done_slots = st.moves[index].slots_done;
  }
  SlotRanges owned_by_target = FromPb(target.slots());
  e.left = SubtractSlots(SubtractSlots(plan.slots, done_slots), owned_by_target);
  if (e.left.empty()) return e;  // done without a call: no source needed
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
    return std::nullopt;
  }
  e.source = *source_i;
  return e;
}

bool ReshardReconciler::AttemptMove(OperationRecord& op, MoveState& st, size_t index,
                                    const SlotMoveRecord& plan, const std::atomic<bool>& stop,
                                    int64_t& attempt, std::string& error) {
  auto log = Logger("reshard");
  const std::string& move_id = plan.move_id;
  auto ends = FindMoveEnds(op, st, index, plan, error);
  if (!ends) return false;
  if (ends->left.empty()) {
    // Everything is on the target already (moved by an attempt whose last messages were
    // lost, or by the agent before a crash): done without a call.
    bool ok = false;
    {
      std::lock_guard lk(st.mu);
      st.moves[index].slots_done = plan.slots;
      st.moves[index].status = SlotMoveStatus::kDone;
      st.moves[index].finished_ms = NowMs();
      ok = st.FlushLocked(*deps_.store, index);
    }
    if (ok) {
      log->info("{} move {} done: the target owns every slot", OpTag(op), move_id);
      return true;
    }
    error = "cannot record the move as done";
    return false;
  }
  const auto& nodes = ends->g.view.nodes;
  const auto& statuses = ends->statuses;
  const LoadedGroup& g = ends->g;
  const SlotRanges& left = ends->left;
  const size_t source_i = ends->source;
  const size_t target_i = ends->target;
  const NodeRecord& source = nodes[source_i];
  const pb::NodeStatus& target = *statuses[target_i];
  // 3. A new attempt.
  auto a = ReshardStoreOf(*deps_.store).StartSlotMoveAttempt(st.ident, move_id);
  if (!a) {
    if (a.error().code == Errc::kFailedPrecondition) st.Abort(a.error());
    error = a.error().message;
    return false;
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
  const HostRecord* th = g.HostOf(nodes[target_i]);
  tgt->set_ip(th ? th->address : "");
  tgt->set_port(nodes[target_i].port);
  ToPb(left, req.mutable_slots());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i == source_i || i == target_i || !statuses[i] || statuses[i]->role() != "master")
      continue;
    auto* o = req.add_other_primaries();
    o->set_cluster_node_id(statuses[i]->cluster_node_id());
    const HostRecord* h = g.HostOf(nodes[i]);
    o->set_ip(h ? h->address : "");
    o->set_port(nodes[i].port);
  }
  log->info("{} move {} attempt {}: {} slots from {} ({}) to {} ({})", OpTag(op), move_id,
            attempt, CountSlots(left), source.node_id, plan.from_node_group,
            nodes[target_i].node_id, plan.to_node_group);
  // 4. Stream.
  return StreamMove(op, st, index, *ends, req, base_keys, base_bytes, stop, error);
}

bool ReshardReconciler::StreamMove(OperationRecord& op, MoveState& st, size_t index,
                                   const MoveEnds& ends, const pb::MoveSlotsRequest& req,
                                   uint64_t base_keys, uint64_t base_bytes,
                                   const std::atomic<bool>& stop, std::string& error) {
  auto log = Logger("reshard");
  const std::string& move_id = req.move_id();
  const int64_t attempt = static_cast<int64_t>(req.attempt());
  auto cancelled = [&] { return stop.load() || st.aborted.load(); };
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
  const NodeRecord& source = ends.g.view.nodes[ends.source];
  auto r = deps_.agents->MoveSlots(ends.g.TargetOf(source), req, limits, on_progress, cancelled);
  if (cancelled()) return true;
  bool done = false;
  {
    std::lock_guard lk(st.mu);
    done = st.moves[index].status == SlotMoveStatus::kDone;
  }
  if (r && done) {
    log->info("{} move {} done (attempt {})", OpTag(op), move_id, attempt);
    return true;
  }
  error = r ? "the MoveSlots stream ended before the move was done" : r.error().message;
  return false;
}

bool ReshardReconciler::RecordMoveFailure(OperationRecord& op, MoveState& st, size_t index,
                                          const SlotMoveRecord& plan, int64_t attempt,
                                          const std::string& error) {
  const std::string& move_id = plan.move_id;
  const std::string& from = plan.from_node_group;
  const std::string& to = plan.to_node_group;
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
        return false;
      }
    }
  } else {
    std::lock_guard lk(st.op_mu);
    (void)deps_.store->RecordOperationError(op, error);
    if (!event.empty())
      (void)deps_.store->AddEvent(op.group_id, "replication-group", event, NowMs());
  }
  return true;
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

}  // namespace cf::orchestrator
