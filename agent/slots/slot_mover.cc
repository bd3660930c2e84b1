#include "agent/slots/slot_mover.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "agent/redis/node_admin.h"
#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"
#include "agent/slots/migrate_flight.h"
#include "agent/slots/move_session.h"
#include "agent/slots/slot_completion.h"
#include "common/log.h"

namespace cf::agent {
namespace {

using std::chrono::milliseconds;

// ARGV = slot, count, slot, count, ...; returns keys1, sizes1, keys2, sizes2, ... (MEMORY USAGE;
// 0 for a key that vanished). Read-only; reads keys of several slots, all local (they exist
// in slots this node owns), hence the flags.
constexpr std::string_view kFetchScript = R"(#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 1, #ARGV, 2 do
  local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[i], ARGV[i + 1])
  local sizes = {}
  for j, k in ipairs(keys) do sizes[j] = redis.call('MEMORY', 'USAGE', k) or 0 end
  out[#out + 1] = keys
  out[#out + 1] = sizes
end
return out
)";
// Slots whose keys are all on the target are completed together (see RunRounds).
constexpr size_t kCompleteBatchSlots = 1024;
// Flights' worth of keys fetched per round (see Round).
constexpr uint64_t kFlightsPerFetch = 4;
// With whole-slot flights a fetch asks for at least this many keys (several whole slots), so
// small flights do not each need a fetch round trip.
constexpr uint64_t kMinWholeSlotFetchKeys = 256;

}  // namespace

// ---------------------------------------------------------------------------------------------

// One MoveSlots call: drives the phases (move_phase.h) over the session; the flight and the
// completion steps are FlightRunner and SlotCompleter.
struct SlotMover::Impl : MoveSession {
  // What the classification of the requested slots left to do.
  struct MovePlan {
    std::vector<uint32_t> move, finish_on_target, clear_source_mark;
    std::vector<bool> target_owns;  // per slot of `move`
  };

  Impl(MoveSpec s, ProgressSink k, CancelCheck c)
      : MoveSession(std::move(s), std::move(k), std::move(c)) {}

  FlightRunner flight_runner{*this};
  SlotCompleter completer{*this};

  // ----- the whole call (phases kPrepare .. kDone) -----
  Status Run();  // RunPhases, then kFailed / kCancelled on an error
  Status RunPhases();
  void Connect();
  // kPrepare: views, node timeout, classification and its checks (nothing is changed).
  Status Prepare(const std::vector<uint32_t>& slots, MovePlan* out);
  void SetMigrateTimeouts();  // from the source's cluster-node-timeout
  void ClearStaleSourceMarks(const std::vector<uint32_t>& slots);
  Result<std::vector<uint64_t>> CountKeys(const std::vector<uint32_t>& move);  // kCountKeys
  Status MoveWindows(const MovePlan& plan, const std::vector<uint64_t>& counts);
  void LogDone(Clock::time_point t0);

  // ----- windows (kImporting, kMigrating, kMigrateRounds <-> kCompleting) -----
  // GETKEYSINSLOT for the asked slots and, with size_keys, MEMORY USAGE of every key.
  Status Fetch(const std::vector<MoveWork>& pending,
               const std::vector<std::pair<size_t, uint64_t>>& asked,
               std::vector<SlotKeys>* fetched);
  // One round over `pending` (slots with keys): fetch, size, migrate, recount. Slots left
  // without keys move from `pending` to `ready`.
  Status Round(std::vector<MoveWork>& pending, std::vector<uint32_t>* ready);
  // Rounds until every slot of `pending` is finished, completing ready slots in batches.
  Status RunRounds(std::vector<MoveWork>& pending, std::vector<uint32_t> ready);
  // kRollingBack: closes what can be closed after a stop; returns the slots that stay open.
  std::vector<MoveWork> RollBack(std::vector<MoveWork>& pending);
  Status MoveWindow(std::vector<MoveWork> window);
  // kDraining: after a cancel, roll back untouched slots, drain the touched ones.
  Status Cancel(std::vector<MoveWork>& pending);
};

// GETKEYSINSLOT for the asked slots and, with size_keys, MEMORY USAGE of every key.
// Sizing every key (not a sample) is what finds the one huge key hidden among small ones
// (pitfall 1); it costs ~1-2 us per key on the source against ~20 us for MIGRATE itself.
// Both run in one server-side script (one round trip, no per-key command parsing); a server
// that refuses the script gets two pipelines instead.
Status SlotMover::Impl::Fetch(const std::vector<MoveWork>& pending,
             const std::vector<std::pair<size_t, uint64_t>>& asked,
             std::vector<SlotKeys>* fetched) {
  fetched->clear();
  if (spec.size_keys && spec.fetch_script && use_fetch_script) {
    Cmd ev = {"EVAL", std::string(kFetchScript), "0"};
    for (auto [i, n] : asked) {
      ev.push_back(std::to_string(pending[i].slot));
      ev.push_back(std::to_string(n));
    }
    auto r = Pipe(*source, {ev}, "GETKEYSINSLOT+MEMORY USAGE (script)");
    if (!r.ok()) return r.error();
    const auto& rep = (*r)[0];
    if (rep.ok() && rep->size() == 2 * asked.size()) {
      for (size_t j = 0; j < asked.size(); ++j) {
        SlotKeys sk;
        sk.slot = pending[asked[j].first].slot;
        RedisReply keys = rep->at(2 * j), sizes = rep->at(2 * j + 1);
        for (size_t k = 0; k < keys.size(); ++k) {
          long long b = sizes.at(k).integer();
          sk.keys.push_back({keys.at(k).str(), b > 0 ? static_cast<uint64_t>(b) : 0});
        }
        fetched->push_back(std::move(sk));
      }
      return {};
    }
    use_fetch_script = false;
    log->warn("{} the source refused the fetch script ({}); using GETKEYSINSLOT and MEMORY "
              "USAGE pipelines", tag, rep.ok() ? "unexpected reply" : rep.error().message);
  }
  Cmds cmds;
  for (auto [i, n] : asked) {
    cmds.push_back({"CLUSTER", "GETKEYSINSLOT", std::to_string(pending[i].slot), std::to_string(n)});
  }
  auto g = Pipe(*source, cmds, "GETKEYSINSLOT");
  if (!g.ok()) return g.error();
  size_t nkeys = 0;
  for (size_t j = 0; j < asked.size(); ++j) {
    if (!(*g)[j].ok()) return (*g)[j].error();
    SlotKeys sk;
    sk.slot = pending[asked[j].first].slot;
    const RedisReply& arr = *(*g)[j];
    for (size_t k = 0; k < arr.size(); ++k) sk.keys.push_back({arr.at(k).str(), 0});
    nkeys += sk.keys.size();
    fetched->push_back(std::move(sk));
  }
  if (!spec.size_keys || nkeys == 0) return {};
  Cmds mc;
  mc.reserve(nkeys);
  for (const auto& sk : *fetched) {
    for (const auto& k : sk.keys) mc.push_back({"MEMORY", "USAGE", k.key});
  }
  auto m = Pipe(*source, mc, "MEMORY USAGE");
  if (!m.ok()) return m.error();
  size_t n = 0;
  for (auto& sk : *fetched) {
    for (auto& k : sk.keys) {
      const auto& r = (*m)[n++];  // nil or ASK: the key is gone
      k.bytes = (r.ok() && r->is_integer()) ? static_cast<uint64_t>(r->integer()) : 0;
    }
  }
  return {};
}

// One round over `pending` (slots with keys): fetch, size, migrate, recount. Slots left
// without keys move from `pending` to `ready`.
Status SlotMover::Impl::Round(std::vector<MoveWork>& pending, std::vector<uint32_t>* ready) {
  SetPhase(MovePhase::kMigrateRounds);
  // Fetch.
  std::vector<std::pair<size_t, uint64_t>> asked;  // index into pending, keys asked
  // Keys for several flights per fetch: the fetch is a round trip and a blocking script of
  // its own, and with small (paced) flights it would otherwise come once per flight.
  uint64_t budget = uint64_t{sizer.fetch_keys()} * kFlightsPerFetch;
  if (spec.whole_slot_flights) budget = std::max<uint64_t>(budget, kMinWholeSlotFetchKeys);
  budget = std::min<uint64_t>(budget, std::max<uint64_t>(spec.batch.max_batch_keys, 1) * 2);
  for (size_t i = 0; i < pending.size() && budget > 0; ++i) {
    // One more than the count: getting fewer back proves the slot is empty (see below).
    uint64_t n = std::min<uint64_t>(pending[i].keys_left + 1, budget);
    // Whole-slot flights: a slot that does not fit waits for the next round (unless it is
    // the first: a slot bigger than the budget is fetched in parts).
    if (spec.whole_slot_flights && n < pending[i].keys_left + 1 && !asked.empty()) break;
    asked.push_back({i, n});
    budget -= n;
  }
  std::vector<SlotKeys> fetched;
  auto busy_from = Clock::now();
  if (auto s = Fetch(pending, asked, &fetched); !s.ok()) return s;
  if (spec.size_keys) {
    std::vector<uint64_t> sizes;
    for (const auto& sk : fetched) {
      for (const auto& k : sk.keys) sizes.push_back(k.bytes);
    }
    sizer.Observe(sizes);
  }

  // Migrate.
  std::map<uint32_t, uint64_t> covered;
  BatchLimits flight_limits = spec.batch;
  if (spec.whole_slot_flights) {
    flight_limits.flight_keys = std::max<uint32_t>(sizer.fetch_keys(), 1);  // at slot bounds
  } else {
    flight_limits.max_batch_keys = std::max<uint32_t>(sizer.fetch_keys(), 1);
  }
  std::vector<Flight> flights = PlanFlights(fetched, flight_limits);
  for (auto& f : flights) {
    if (f.oversized) {
      log->info("{} slot {}: key {} is {} bytes, over the {} byte batch budget: moving it "
                "alone (MIGRATE timeout {} ms)", tag, f.commands[0].slot,
                Printable(f.commands[0].keys[0]), f.bytes, spec.batch.max_batch_bytes,
                big_key_timeout_ms);
    }
    auto tf = Clock::now();
    uint32_t retries_before = prog.retries;
    if (auto s = flight_runner.Run(f, pending, &covered); !s.ok()) return s;
    if (!f.oversized && prog.retries == retries_before) {
      sizer.ObserveMigrate(f.keys, std::chrono::duration<double, std::milli>(Clock::now() - tf).count());
    }
    Pace(busy_from);  // the first flight's share includes the fetch
    busy_from = Clock::now();
    if (!pending.empty()) {
      prog.current_slot = pending.front().slot;
    }
    if (Cancelled()) break;
  }

  // Which slots are empty now: GETKEYSINSLOT returned fewer keys than asked (it returned
  // them all) and every MIGRATE of them succeeded. No key can appear in a MIGRATING slot
  // meanwhile (a missing key is ASKed to the target), so no COUNTKEYSINSLOT round trip is
  // needed; should one still be there, the source's NODE refuses ("still hold keys") and the
  // slot comes back here (Complete).
  for (size_t j = 0; j < asked.size(); ++j) {
    MoveWork& w = pending[asked[j].first];
    uint64_t got = fetched[j].keys.size();
    uint64_t cov = covered[w.slot];
    if (got < asked[j].second && cov == got) {
      w.keys_left = 0;
      ready->push_back(w.slot);
    } else {
      w.keys_left = w.keys_left > cov ? w.keys_left - cov : 1;
    }
  }
  std::erase_if(pending, [](const MoveWork& w) { return w.keys_left == 0; });
  if (!pending.empty()) {
    prog.current_slot = pending.front().slot;
    prog.current_slot_keys_left = pending.front().keys_left;
  } else {
    prog.current_slot_keys_left = 0;
  }
  return {};
}

// Rounds until every slot of `pending` is finished. Slots whose keys are all on the target
// are completed (NODE everywhere) in batches: when kCompleteBatchSlots are ready, when the
// oldest has waited complete_delay_ms, or when nothing else is left. Each batch costs every
// node a config rewrite and an fsync (the target's PONG rebinds the slots on the source),
// so completing per round would cost more than the MIGRATEs of small slots; meanwhile the
// ready slots keep working through ASK. Stops early, with "cancelled", when Cancelled().
Status SlotMover::Impl::RunRounds(std::vector<MoveWork>& pending, std::vector<uint32_t> ready) {
  Clock::time_point ready_since = Clock::now();
  auto flush = [&]() -> Status {
    if (ready.empty()) return {};
    SetPhase(MovePhase::kCompleting);
    auto refused = completer.Complete(ready, in_last_window && pending.empty());
    ready.clear();
    if (!refused.ok()) return refused.error();
    for (uint32_t s : *refused) pending.push_back(MoveWork{s, 1, true, true});
    Emit();
    return {};
  };
  while (!pending.empty() || !ready.empty()) {
    if (!pending.empty()) {
      if (Cancelled()) {
        if (auto f = flush(); !f.ok()) return f;
        return CancelError();
      }
      size_t before = ready.size();
      if (auto s = Round(pending, &ready); !s.ok()) {
        Status f = flush();  // fully migrated slots are safe to finish
        if (!f.ok()) log->warn("{} completing ready slots after an error: {}", tag, f.error().message);
        return s;
      }
      if (before == 0 && !ready.empty()) ready_since = Clock::now();
    }
    if (!ready.empty() &&
        (pending.empty() || ready.size() >= kCompleteBatchSlots ||
         Clock::now() - ready_since >= milliseconds(spec.complete_delay_ms))) {
      if (auto f = flush(); !f.ok()) return f;
    } else {
      MaybeEmit();
    }
  }
  return {};
}

// Closes what can be closed after a stop: untouched slots go back to STABLE on both sides
// when the target holds no key of them; the others get IMPORTING back and are returned (they
// stay open, or are drained after a cancel).
std::vector<MoveWork> SlotMover::Impl::RollBack(std::vector<MoveWork>& pending) {
  SetPhase(MovePhase::kRollingBack);
  std::vector<MoveWork> keep, untouched;
  for (auto& w : pending) (w.touched || w.target_owns ? keep : untouched).push_back(w);
  if (untouched.empty()) return keep;
  Cmds tc;
  for (auto& w : untouched) {
    tc.push_back({"CLUSTER", "SETSLOT", std::to_string(w.slot), "STABLE"});
    tc.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(w.slot)});
  }
  auto t = Pipe(*target, tc, "rollback: SETSLOT STABLE (target)");
  if (!t.ok()) {
    log->warn("{} rollback: {}; {} slot(s) stay open", tag, t.error().message, untouched.size());
    keep.insert(keep.end(), untouched.begin(), untouched.end());
    return keep;
  }
  Cmds sc, reimport;
  std::vector<uint32_t> stable;
  for (size_t i = 0; i < untouched.size(); ++i) {
    const auto& cnt = (*t)[2 * i + 1];
    std::string s = std::to_string(untouched[i].slot);
    if ((*t)[2 * i].ok() && cnt.ok() && cnt->integer() == 0) {
      sc.push_back({"CLUSTER", "SETSLOT", s, "STABLE"});
      stable.push_back(untouched[i].slot);
    } else {
      // Clients created keys there through ASK: the slot must be finished, not rolled back.
      reimport.push_back({"CLUSTER", "SETSLOT", s, "IMPORTING", source_id});
      untouched[i].touched = true;
      keep.push_back(untouched[i]);
    }
  }
  if (!reimport.empty()) (void)Pipe(*target, reimport, "rollback: SETSLOT IMPORTING (target)");
  if (!sc.empty()) {
    auto s = Pipe(*source, sc, "rollback: SETSLOT STABLE (source)");
    if (!s.ok()) log->warn("{} rollback on the source: {}", tag, s.error().message);
  }
  if (!stable.empty()) {
    log->info("{} rolled back {} untouched slot(s) to STABLE (first {})", tag, stable.size(),
              stable.front());
  }
  return keep;
}

// Moves one window of kMove slots.
Status SlotMover::Impl::MoveWindow(std::vector<MoveWork> window) {
  const std::string& dst = spec.target.cluster_node_id;
  // a. IMPORTING on the target (not for slots it already owns).
  SetPhase(MovePhase::kImporting);
  Cmds ic;
  std::vector<uint32_t> islots;
  for (const auto& w : window) {
    if (w.target_owns) continue;
    ic.push_back({"CLUSTER", "SETSLOT", std::to_string(w.slot), "IMPORTING", source_id});
    islots.push_back(w.slot);
  }
  if (!ic.empty()) {
    auto r = Pipe(*target, ic, "SETSLOT IMPORTING (target)");
    if (!r.ok()) return r.error();
    for (size_t i = 0; i < ic.size(); ++i) {
      if (!(*r)[i].ok()) {
        Error e = MakeError(Errc::kFailedPrecondition,
                            "SETSLOT " + std::to_string(islots[i]) + " IMPORTING on the target: " +
                                (*r)[i].error().message);
        RollBack(window);
        return e;
      }
    }
  }
  // b. MIGRATING + count on the source.
  SetPhase(MovePhase::kMigrating);
  Cmds mc;
  for (const auto& w : window) {
    mc.push_back({"CLUSTER", "SETSLOT", std::to_string(w.slot), "MIGRATING", dst});
    mc.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(w.slot)});
  }
  auto m = Pipe(*source, mc, "SETSLOT MIGRATING (source)");
  if (!m.ok()) {
    RollBack(window);
    return m.error();
  }
  std::vector<uint32_t> empty;
  std::vector<MoveWork> pending;
  for (size_t i = 0; i < window.size(); ++i) {
    if (!(*m)[2 * i].ok() || !(*m)[2 * i + 1].ok()) {
      const Error& e = (*m)[2 * i].ok() ? (*m)[2 * i + 1].error() : (*m)[2 * i].error();
      Error out = MakeError(Errc::kFailedPrecondition,
                            "SETSLOT " + std::to_string(window[i].slot) +
                                " MIGRATING on the source: " + e.message);
      RollBack(window);
      return out;
    }
    window[i].keys_left = static_cast<uint64_t>(std::max<long long>((*m)[2 * i + 1]->integer(), 0));
    if (window[i].keys_left == 0) {
      empty.push_back(window[i].slot);
    } else {
      pending.push_back(window[i]);
    }
  }
  // c+d. Empty slots are ready at once; the others go through rounds of MIGRATE.
  if (!pending.empty()) {
    prog.current_slot = pending.front().slot;
    prog.current_slot_keys_left = pending.front().keys_left;
  }
  Status s = RunRounds(pending, std::move(empty));
  if (s.ok()) return {};
  if (Cancelled() && !draining) return Cancel(pending);
  std::vector<MoveWork> left = RollBack(pending);
  log->error("{} stopped: {} ({} slot(s) of the window left open)", tag, s.error().message,
             left.size());
  return s;
}

// After a cancel: roll back untouched slots, drain the touched ones for cancel_drain_ms.
Status SlotMover::Impl::Cancel(std::vector<MoveWork>& pending) {
  log->info("{} cancelled; closing {} open slot(s) of the current window", tag, pending.size());
  std::vector<MoveWork> left = RollBack(pending);
  draining = true;
  SetPhase(MovePhase::kDraining);
  drain_deadline = Clock::now() + milliseconds(spec.cancel_drain_ms);
  if (auto s = RunRounds(left, {}); !s.ok()) {
    log->warn("{} drain after cancel: {}", tag, s.error().message);
  }
  if (!left.empty()) {
    log->warn("{} {} partly moved slot(s) left open (first {}); the next call finishes them",
              tag, left.size(), left.front().slot);
  }
  draining = false;
  return CancelError();
}

Status SlotMover::Impl::Run() {
  Status s = RunPhases();
  if (!s.ok() && !IsTerminal(phase)) SetPhase(Cancelled() ? MovePhase::kCancelled : MovePhase::kFailed);
  return s;
}

Status SlotMover::Impl::RunPhases() {
  if (auto s = ValidateMoveSpec(spec); !s.ok()) return s;
  auto t0 = Clock::now();
  std::vector<uint32_t> slots = ExpandSlots(NormalizeSlotRanges(spec.slots));
  prog.slots_total = static_cast<uint32_t>(slots.size());
  Connect();

  MovePlan plan;
  if (auto s = Prepare(slots, &plan); !s.ok()) return s;
  // Slots the source already gave up: the target must claim them at once.
  if (auto s = completer.FinishOnTarget(plan.finish_on_target); !s.ok()) return s;
  ClearStaleSourceMarks(plan.clear_source_mark);

  SetPhase(MovePhase::kCountKeys);
  auto counts = CountKeys(plan.move);
  if (!counts.ok()) return counts.error();
  Emit();
  if (Cancelled()) return CancelError();
  source_profile0 = ReadProfile(*source);
  target_profile0 = ReadProfile(*target);

  if (auto s = MoveWindows(plan, *counts); !s.ok()) return s;

  completer.DrainOthers();
  SetPhase(MovePhase::kDone);
  prog.done = true;
  prog.current_slot_keys_left = 0;
  Emit();
  LogDone(t0);
  return {};
}

void SlotMover::Impl::Connect() {
  source = std::make_unique<Peer>("source", "", ConnOpts(spec.source_host, spec.source_port),
                                  spec.auth_password);
  target = std::make_unique<Peer>("target", spec.target.cluster_node_id,
                                  ConnOpts(spec.target.ip, spec.target.port), spec.auth_password);
  for (const auto& o : spec.other_primaries) {
    if (o.cluster_node_id == spec.target.cluster_node_id) continue;
    others.push_back(std::make_unique<Peer>("primary", o.cluster_node_id,
                                            ConnOpts(o.ip, o.port), spec.auth_password));
  }
}

void SlotMover::Impl::SetMigrateTimeouts() {
  uint32_t node_timeout_ms = 0;
  if (auto c = Pipe(*source, {{"CONFIG", "GET", "cluster-node-timeout"}}, "CONFIG GET");
      c.ok() && (*c)[0].ok()) {
    node_timeout_ms = static_cast<uint32_t>(std::strtoul((*c)[0]->at(1).str().c_str(), nullptr, 10));
  }
  migrate_timeout_ms = spec.migrate_timeout_ms;
  big_key_timeout_ms = migrate_timeout_ms;
  if (node_timeout_ms > 0) {
    migrate_timeout_ms = std::min(migrate_timeout_ms, std::max<uint32_t>(node_timeout_ms / 2, 100));
    big_key_timeout_ms = std::min(migrate_timeout_ms, std::max<uint32_t>(node_timeout_ms / 4, 100));
  }
}

Status SlotMover::Impl::Prepare(const std::vector<uint32_t>& slots, MovePlan* out) {
  // Views and the node timeout.
  auto sv = ReadNodes(*source);
  if (!sv.ok()) return sv.error();
  auto tv = ReadNodes(*target);
  if (!tv.ok()) return tv.error();
  const ClusterNodeEntry* me = FindMyself(*sv);
  if (!me) return MakeError(Errc::kFailedPrecondition, "the source's CLUSTER NODES has no myself");
  source_id = me->id;
  source->id = source_id;
  std::erase_if(others, [&](const auto& o) { return o->id == source_id; });
  tag = "[" + spec.move_id + "/" + std::to_string(spec.attempt) + " " + spec.source_node_id +
        "(" + Short(source_id) + ")->" + Short(spec.target.cluster_node_id) + "]";
  SetMigrateTimeouts();

  auto plan = ClassifySlots(*sv, *tv, spec.target.cluster_node_id, slots);
  if (!plan.ok()) return plan.error();
  std::vector<uint32_t>& move = out->move;
  std::vector<uint32_t>& finish_on_target = out->finish_on_target;
  std::string conflicts;
  size_t nconflicts = 0, resumed = 0;
  for (const auto& p : *plan) {
    switch (p.action) {
      case SlotAction::kDone:
        prog.slots_done++;
        prog.completed.push_back({p.slot, p.slot});
        if (p.source_marked) out->clear_source_mark.push_back(p.slot);
        break;
      case SlotAction::kMove:
        move.push_back(p.slot);
        out->target_owns.push_back(p.target_owns);
        if (p.target_owns) target_owned.insert(p.slot);
        if (p.resumed) ++resumed;
        break;
      case SlotAction::kFinishOnTarget:
        finish_on_target.push_back(p.slot);
        break;
      case SlotAction::kConflict:
        if (nconflicts++ < 5) conflicts += (conflicts.empty() ? "" : "; ") +
                                           std::string("slot ") + std::to_string(p.slot) + ": " + p.reason;
        break;
    }
  }
  if (nconflicts > 0) {
    return MakeError(Errc::kFailedPrecondition,
                     std::to_string(nconflicts) + " slot(s) cannot be moved from " +
                         spec.source_node_id + ": " + conflicts + (nconflicts > 5 ? "; ..." : "") +
                         ". Nothing was changed");
  }
  bool source_master = me->is_master();
  if ((!move.empty() || !finish_on_target.empty()) && !source_master) {
    return MakeError(Errc::kFailedPrecondition,
                     "the source " + spec.source_node_id + " is not a primary (failover?)");
  }
  const ClusterNodeEntry* tme = FindMyself(*tv);
  if (!move.empty() && !tme->is_master()) {
    return MakeError(Errc::kFailedPrecondition, "the target is not a primary");
  }
  if (!move.empty() && !FindNodeById(*tv, source_id)) {
    return MakeError(Errc::kFailedPrecondition,
                     "the target does not know the source " + source_id + " yet (MEET first)");
  }
  if (!move.empty() && !FindNodeById(*sv, spec.target.cluster_node_id)) {
    return MakeError(Errc::kFailedPrecondition,
                     "the source does not know the target yet (MEET first)");
  }
  log->info("{} start: {} slot(s): {} to move ({} resumed), {} already on the target, {} to "
            "finish on the target; migrate timeout {} ms (big keys {} ms)", tag, slots.size(),
            move.size(), resumed, prog.slots_done, finish_on_target.size(), migrate_timeout_ms,
            big_key_timeout_ms);
  return {};
}

void SlotMover::Impl::ClearStaleSourceMarks(const std::vector<uint32_t>& slots) {
  if (slots.empty()) return;
  Cmds cmds;
  for (uint32_t s : slots) {
    cmds.push_back({"CLUSTER", "SETSLOT", std::to_string(s), "NODE", spec.target.cluster_node_id});
  }
  auto r = Pipe(*source, cmds, "SETSLOT NODE (source, stale mark)");
  if (!r.ok()) log->warn("{} clearing stale marks on the source: {}", tag, r.error().message);
}

Result<std::vector<uint64_t>> SlotMover::Impl::CountKeys(const std::vector<uint32_t>& move) {
  // Count keys (progress weights and windows).
  std::vector<uint64_t> counts(move.size(), 0);
  if (move.empty()) return counts;
  Cmds cmds;
  for (uint32_t s : move) cmds.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(s)});
  auto r = Pipe(*source, cmds, "COUNTKEYSINSLOT");
  if (!r.ok()) return r.error();
  for (size_t i = 0; i < move.size(); ++i) {
    if (!(*r)[i].ok()) return (*r)[i].error();
    counts[i] = static_cast<uint64_t>(std::max<long long>((*r)[i]->integer(), 0));
    prog.keys_total += counts[i];
  }
  return counts;
}

Status SlotMover::Impl::MoveWindows(const MovePlan& plan, const std::vector<uint64_t>& counts) {
  const auto windows = PlanWindows(counts, spec.max_window_slots, spec.max_window_keys);
  for (const auto& w : windows) {
    if (Cancelled()) return CancelError();
    in_last_window = &w == &windows.back();
    std::vector<MoveWork> window;
    for (size_t i = w.begin; i < w.end; ++i) {
      window.push_back(MoveWork{plan.move[i], counts[i], plan.target_owns[i], false});
    }
    prog.current_slot = window.front().slot;
    prog.current_slot_keys_left = window.front().keys_left;
    if (auto s = MoveWindow(std::move(window)); !s.ok()) {
      prog.last_error = s.error().message;
      Emit();
      return s;
    }
  }
  return {};
}

void SlotMover::Impl::LogDone(Clock::time_point t0) {
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::string source_prof = ProfileDelta(source_profile0, ReadProfile(*source));
  std::string target_prof = ProfileDelta(target_profile0, ReadProfile(*target));
  log->info("{} done: {} slot(s), {} key(s), ~{} bytes in {:.3f} s ({:.0f} keys/s), {} retries; "
            "completion batches: {} quiet, {} with epoch bump/broadcast; "
            "time by step: {}; source redis: {}; target redis: {}", tag, prog.slots_done,
            prog.keys_moved, prog.bytes_moved, secs,
            secs > 0 ? static_cast<double>(prog.keys_moved) / secs : 0.0, prog.retries,
            completer.quiet_batches(), completer.bump_batches(), StepTimes(), source_prof,
            target_prof);
}


// ---------------------------------------------------------------------------------------------

SlotMover::SlotMover(MoveSpec spec, ProgressSink sink, CancelCheck cancelled)
    : impl_(std::make_unique<Impl>(std::move(spec), std::move(sink), std::move(cancelled))) {}
SlotMover::~SlotMover() = default;
Status SlotMover::Run() { return impl_->Run(); }
const MoveProgress& SlotMover::progress() const { return impl_->prog; }

Status ValidateMoveSpec(const MoveSpec& s) {
  auto bad = [](std::string m) { return MakeError(Errc::kInvalidArgument, "MoveSlots: " + m); };
  if (s.slots.empty()) return bad("no slots given");
  for (const auto& r : s.slots) {
    if (r.start > r.end || r.end >= kNumSlots) {
      return bad("bad slot range " + std::to_string(r.start) + "-" + std::to_string(r.end));
    }
  }
  if (s.target.cluster_node_id.size() != 40) {
    return bad("target cluster_node_id '" + s.target.cluster_node_id + "' is not a 40-char node id");
  }
  if (NormalizeIp(s.target.ip).empty()) return bad("target ip '" + s.target.ip + "' is not an IP");
  if (s.target.port == 0 || s.target.port > 65535) return bad("target port out of range");
  for (const auto& o : s.other_primaries) {
    if (o.cluster_node_id.empty() || NormalizeIp(o.ip).empty() || o.port == 0 || o.port > 65535) {
      return bad("other primary '" + o.cluster_node_id + "' at " + o.ip + ":" +
                 std::to_string(o.port) + " is not a valid peer");
    }
  }
  if (s.source_port == 0 || s.source_port > 65535) return bad("source port out of range");
  if (s.batch.max_batch_keys == 0 || s.batch.max_batch_bytes == 0) return bad("zero batch limits");
  if (s.migrate_timeout_ms == 0) return bad("zero migrate timeout");
  return {};
}

// ---------------------------------------------------------------------------------------------

Result<std::shared_ptr<MoveRegistry::Ticket>> MoveRegistry::Begin(const std::string& source,
                                                                  const std::string& move_id,
                                                                  uint64_t attempt,
                                                                  uint32_t wait_ms) {
  std::unique_lock lk(mu_);
  auto deadline = Clock::now() + milliseconds(wait_ms);
  while (true) {
    auto it = active_.find(source);
    if (it == active_.end()) break;
    const auto& cur = it->second;
    if (cur->move_id != move_id) {
      return MakeError(Errc::kUnavailable, "source " + source + " is busy with move " +
                                               cur->move_id + "; one move per source at a time");
    }
    if (attempt < cur->attempt) {
      return MakeError(Errc::kFailedPrecondition,
                       "stale attempt " + std::to_string(attempt) + " of move " + move_id +
                           ": attempt " + std::to_string(cur->attempt) + " is running");
    }
    cur->stop = true;  // superseded: stops between batches
    if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && active_.count(source)) {
      return MakeError(Errc::kUnavailable, "attempt " + std::to_string(cur->attempt) + " of move " +
                                               move_id + " is still stopping; retry");
    }
  }
  auto t = std::make_shared<Ticket>();
  t->source_node_id = source;
  t->move_id = move_id;
  t->attempt = attempt;
  active_[source] = t;
  return t;
}

void MoveRegistry::End(const std::shared_ptr<Ticket>& t) {
  {
    std::lock_guard lk(mu_);
    auto it = active_.find(t->source_node_id);
    if (it != active_.end() && it->second == t) active_.erase(it);
  }
  cv_.notify_all();
}

}  // namespace cf::agent
