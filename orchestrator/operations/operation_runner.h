// OperationRunner: the worker pool that carries out durable operations.
//
// Lifecycle: Start() loads every unfinished operation from the store and schedules it (this is
// how a restarted orchestrator resumes); Poke(id) schedules a new one; Stop() lets each worker
// finish the step it is in (steps check the stop flag in their waits) and joins. Stopping never
// changes an operation's state: the next Start() resumes it.
//
// Threading: `operations.worker_threads` workers take due operations from a timed queue. An
// operation is run by at most one worker at a time. The worker takes the operation over
// (OperationStore::ClaimOperation, attempt + 1) the first time this process runs it; every
// later store write is compare-and-set on that attempt, so replies of an older attempt can
// never overwrite a newer one (STYLE.md #7).
//
// Each pass: while the operation is not terminal, call its handler's Step() for the current
// state. A successful step has committed its transition; the loop continues at once. A failed
// step is recorded (retries + 1, last_error) and the operation is rescheduled after a jittered
// exponential backoff (operations.retry_initial_backoff_ms .. retry_max_backoff_ms); the
// worker moves on to other work meanwhile. Once an operation's deadline has passed, the
// handler's OnDeadline() decides what happens (a create rolls back).
//
// A watchdog thread logs operations whose state (and, for reshards, ProgressPercentage) has not
// changed for operations.stuck_operation_warn_ms (error level, rate-limited).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class OperationStore;

// Carries out the steps of one operation kind (the reconcilers implement this).
class OperationHandler {
 public:
  virtual ~OperationHandler() = default;
  // Executes the step of op.state. On success the step has committed the transition to the
  // next state (op updated). An error is retryable; the runner records it and backs off. Must
  // return promptly (with an error) once `stop` is set.
  virtual Status Step(OperationRecord& op, const std::atomic<bool>& stop) = 0;
  // Called instead of Step once op.deadline_ms has passed (only for non-terminal states).
  // May transition op (e.g. to kRollingBack); an error is treated like a failed Step.
  virtual Status OnDeadline(OperationRecord& op) = 0;
};

class OperationRunner {
 public:
  OperationRunner(OperationStore& store, OperationSettings settings);
  ~OperationRunner();  // Stop()
  OperationRunner(const OperationRunner&) = delete;
  OperationRunner& operator=(const OperationRunner&) = delete;

  // Registers the handler of a kind (before Start). Not owned.
  void SetHandler(OpKind kind, OperationHandler* handler);
  // Schedules every unfinished operation and starts the workers and the watchdog.
  Status Start();
  // Schedules an operation to run now (no-op if it is running already).
  void Poke(int64_t op_id);
  // Graceful stop: workers finish their current step, then exit.
  void Stop();

  // Tests: true when no operation is queued or running.
  bool Idle();

 private:
  void WorkerLoop();
  void WatchdogLoop();
  // Runs the operation until it finishes or must wait; returns the delay before the next
  // run after a failed step (nullopt: nothing to schedule).
  std::optional<int64_t> RunOnce(int64_t op_id);
  void Schedule(int64_t op_id, int64_t delay_ms);
  int64_t BackoffMs(int failures);

  OperationStore& store_;
  const OperationSettings settings_;
  std::map<OpKind, OperationHandler*> handlers_;

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;           // workers: queue changes, stop
  std::condition_variable watchdog_cv_;  // watchdog: stop
  // Guarded by mu_:
  std::multimap<int64_t, int64_t> due_;  // steady ms -> op id
  std::set<int64_t> queued_;             // ids in due_
  std::set<int64_t> running_;
  std::set<int64_t> repoke_;             // poked while running: run again right after
  std::map<int64_t, int64_t> attempts_;  // op id -> the attempt this process claimed
  std::map<int64_t, int> failures_;      // op id -> consecutive failed steps
  bool started_ = false;

  std::vector<std::thread> workers_;
  std::thread watchdog_;
};

}  // namespace cf::orchestrator
