#include "orchestrator/operations/operation_runner.h"

#include <chrono>
#include <random>

#include "common/log.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {
OperationRunner::OperationRunner(OperationStore& store, OperationSettings settings)
    : store_(store), settings_(settings) {}

OperationRunner::~OperationRunner() { Stop(); }

void OperationRunner::SetHandler(OpKind kind, OperationHandler* handler) {
  handlers_[kind] = handler;
}

Status OperationRunner::Start() {
  auto ops = store_.ListUnfinishedOperations();
  if (!ops) return ops.error();
  {
    std::lock_guard lk(mu_);
    if (started_) return {};
    started_ = true;
  }
  for (const auto& op : *ops) {
    Logger("ops")->info("{} resuming in state {} (attempt {}, {} retries so far)", OperationTag(op),
                        OpStateName(op.state), op.attempt, op.retries);
    Schedule(op.id, 0);
  }
  for (int i = 0; i < settings_.worker_threads; ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
  watchdog_ = std::thread([this] { WatchdogLoop(); });
  return {};
}

void OperationRunner::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  watchdog_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
  if (watchdog_.joinable()) watchdog_.join();
}

void OperationRunner::Poke(int64_t op_id) { Schedule(op_id, 0); }

bool OperationRunner::Idle() {
  std::lock_guard lk(mu_);
  return queued_.empty() && running_.empty();
}

void OperationRunner::Schedule(int64_t op_id, int64_t delay_ms) {
  {
    std::lock_guard lk(mu_);
    if (running_.count(op_id)) {
      if (delay_ms == 0) repoke_.insert(op_id);
      return;
    }
    if (queued_.count(op_id)) {
      if (delay_ms != 0) return;
      // Pull a delayed entry forward.
      for (auto it = due_.begin(); it != due_.end(); ++it) {
        if (it->second == op_id) {
          due_.erase(it);
          break;
        }
      }
    }
    queued_.insert(op_id);
    due_.emplace(SteadyMs() + delay_ms, op_id);
  }
  // Every worker re-evaluates the earliest due time (one of them may be sleeping until a
  // later entry).
  cv_.notify_all();
}

int64_t OperationRunner::BackoffMs(int failures) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t base = settings_.retry_initial_backoff_ms;
  for (int i = 1; i < failures && base < settings_.retry_max_backoff_ms; ++i) base *= 2;
  base = std::min(base, settings_.retry_max_backoff_ms);
  // Full jitter in [base/2, base].
  std::uniform_int_distribution<int64_t> d(base / 2, base);
  return std::max<int64_t>(1, d(rng));
}

void OperationRunner::WorkerLoop() {
  while (true) {
    int64_t op_id = 0;
    {
      std::unique_lock lk(mu_);
      while (true) {
        if (stop_) return;
        if (!due_.empty()) {
          int64_t now = SteadyMs();
          auto it = due_.begin();
          if (it->first <= now) {
            op_id = it->second;
            due_.erase(it);
            queued_.erase(op_id);
            running_.insert(op_id);
            break;
          }
          cv_.wait_for(lk, std::chrono::milliseconds(it->first - now));
        } else {
          cv_.wait(lk);
        }
      }
    }
    std::optional<int64_t> retry_in = RunOnce(op_id);
    bool again = false;
    {
      std::lock_guard lk(mu_);
      running_.erase(op_id);
      again = repoke_.erase(op_id) > 0;
    }
    if (stop_) continue;
    if (again) {
      Schedule(op_id, 0);
    } else if (retry_in) {
      Schedule(op_id, *retry_in);
    }
  }
}

std::optional<int64_t> OperationRunner::RunOnce(int64_t op_id) {
  auto log = Logger("ops");
  // Take the operation over the first time, afterwards re-read it (same attempt).
  OperationRecord op;
  int64_t claimed = 0;
  {
    std::lock_guard lk(mu_);
    auto it = attempts_.find(op_id);
    if (it != attempts_.end()) claimed = it->second;
  }
  if (claimed == 0) {
    auto c = store_.ClaimOperation(op_id);
    if (!c) {
      log->warn("[op#{}] cannot claim: {}", op_id, c.error().message);
      return BackoffMs(3);
    }
    op = *c;
    std::lock_guard lk(mu_);
    attempts_[op_id] = op.attempt;
  } else {
    auto r = store_.GetOperation(op_id);
    if (!r || !*r) {
      log->warn("[op#{}] cannot load: {}", op_id, r ? "not found" : r.error().message);
      if (!r) return BackoffMs(3);
      return std::nullopt;
    }
    op = **r;
    if (op.attempt != claimed) {
      log->warn("{} taken over by attempt {} (ours {}); dropping", OperationTag(op), op.attempt,
                claimed);
      return std::nullopt;
    }
  }
  auto h = handlers_.find(op.kind);
  if (h == handlers_.end()) {
    log->error("{} has no handler", OperationTag(op));
    return std::nullopt;
  }
  OperationHandler& handler = *h->second;

  while (!IsTerminal(op.state)) {
    if (stop_) return std::nullopt;
    const OpState before = op.state;
    Status st;
    if (op.deadline_ms != 0 && NowMs() > op.deadline_ms && op.state != OpState::kRollingBack) {
      st = handler.OnDeadline(op);
    } else {
      st = handler.Step(op, stop_);
    }
    if (st) {
      if (op.state != before) {
        log->debug("{} {} -> {} ({} ms since created)", OperationTag(op), OpStateName(before),
                   OpStateName(op.state), NowMs() - op.created_ms);
        std::lock_guard lk(mu_);
        failures_.erase(op_id);
      }
      continue;
    }
    if (stop_) return std::nullopt;  // interrupted by shutdown: not a failure
    // A newer attempt may own the operation (its compare-and-set made ours fail).
    auto cur = store_.GetOperation(op_id);
    if (cur && *cur && (*cur)->attempt != op.attempt) {
      log->warn("{} taken over by attempt {}; dropping", OperationTag(op), (*cur)->attempt);
      return std::nullopt;
    }
    int failures;
    {
      std::lock_guard lk(mu_);
      failures = ++failures_[op_id];
    }
    if (auto rec = store_.RecordOperationError(op, st.error().message); !rec)
      log->warn("{} cannot record error: {}", OperationTag(op), rec.error().message);
    int64_t delay = BackoffMs(failures);
    log->warn("{} step {} failed (retry {} in {} ms): {}", OperationTag(op), OpStateName(op.state),
              op.retries, delay, st.error().message);
    return delay;
  }
  {
    std::lock_guard lk(mu_);
    failures_.erase(op_id);
    attempts_.erase(op_id);
  }
  log->info("{} finished: {}", OperationTag(op), OpStateName(op.state));
  return std::nullopt;
}

void OperationRunner::WatchdogLoop() {
  // op id -> (state and progress, steady ms when first seen so, steady ms of the last warning).
  // A reshard stays in move-slots for as long as its data takes to move; a rising
  // ProgressPercentage is progress too.
  struct Seen {
    OpState state;
    int64_t progress_milli;
    int64_t since_ms;
    int64_t warned_ms;
  };
  std::map<int64_t, Seen> seen;
  while (!stop_) {
    {
      std::unique_lock lk(mu_);
      watchdog_cv_.wait_for(
          lk,
          std::chrono::milliseconds(std::min<int64_t>(
              5000, std::max<int64_t>(100, settings_.stuck_operation_warn_ms / 4))),
          [&] { return stop_.load(); });
    }
    if (stop_) return;
    auto ops = store_.ListUnfinishedOperations();
    if (!ops) continue;
    const int64_t now = SteadyMs();
    std::map<int64_t, Seen> next;
    for (const auto& op : *ops) {
      auto it = seen.find(op.id);
      Seen s = (it != seen.end() && it->second.state == op.state &&
                it->second.progress_milli == op.progress_milli)
                   ? it->second
                   : Seen{op.state, op.progress_milli, now, 0};
      const int64_t stuck_for = now - s.since_ms;
      if (stuck_for >= settings_.stuck_operation_warn_ms &&
          now - s.warned_ms >= settings_.stuck_operation_warn_ms) {
        s.warned_ms = now;
        Logger("ops")->error("{} no progress in {} for {} ms ({} retries, last error: {})",
                             OperationTag(op), OpStateName(op.state), stuck_for, op.retries,
                             op.last_error.empty() ? "none" : op.last_error);
      }
      next[op.id] = s;
    }
    seen = std::move(next);
  }
}

}  // namespace cf::orchestrator
