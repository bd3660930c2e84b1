// The maintenance scheduler: applies ModifyReplicationGroup changes recorded with
// ApplyImmediately=false (the pending_modifications rows, modify_store.h) in each group's
// PreferredMaintenanceWindow.
//
// A background thread wakes every `maintenance.tick_ms` (and when poked: a change was
// recorded). For each group with pending rows whose window contains the maintenance clock's
// "now" (maintenance_window.h; virtual time so tests need not wait a week) it takes the oldest
// recorded batch (the rows one request recorded) and, if the group is `available` with no
// operation running, replays it through the same path as an ApplyImmediately=true request
// (ModifyGroupFrontend::ReplayPending: same validation, same handler). Then, in one store
// transaction, the batch's rows (those still holding its request id) are deleted with an
// event: applied, or dropped with the fault when the replay was refused for good (e.g. the
// node type no longer fits the data). A busy group (not available, an operation running, or
// the replay answering InvalidReplicationGroupState / InternalFailure) is tried again while the
// window lasts (a replay that answered so waits kTransientRetryMs of real time first, so a
// group that keeps refusing is not asked every tick); otherwise in the next window. One batch per group per
// tick: a batch that starts an operation (a switch-over, modify-failover) makes the group
// busy until it is done.
//
// Crash safety: the rows are deleted only after the replay; a crash in between replays the
// batch again, which is harmless because the handlers are idempotent (the same node type or
// automatic-failover value again changes nothing; a PrimaryClusterId that is already the
// primary is refused and the row dropped with that event).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/maintenance_window.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

// GET /cachefleet/maintenance: the clock and every group with pending modifications.
inline constexpr char kMaintenancePath[] = "/cachefleet/maintenance";
// Real time before a replay that failed transiently is tried again.
inline constexpr int64_t kTransientRetryMs = 10000;

class MaintenanceScheduler {
 public:
  // Replays one batch (parameter -> value) of the group as an ApplyImmediately=true request;
  // nullopt = applied.
  using Replay = std::function<std::optional<api::ApiError>(
      const std::string& group_id, const std::map<std::string, std::string>& params)>;

  // real_now: the real clock (epoch ms; tests pass their own).
  MaintenanceScheduler(Store& store, const MaintenanceSettings& settings, Replay replay,
                       std::function<int64_t()> real_now = {});
  ~MaintenanceScheduler();
  void Start();
  void Stop();
  void Poke();
  // How many times Poke was called (the application's wiring is observable in tests).
  int pokes() const { return pokes_; }

  // One pass at virtual time `virtual_now_ms`; returns how many batches were applied or
  // dropped.
  int RunOnce(int64_t virtual_now_ms);
  int64_t VirtualNowMs() const;
  const MaintenanceClock& clock() const { return clock_; }
  // The JSON of GET /cachefleet/maintenance.
  std::string StatusJson();

 private:
  std::atomic<int> pokes_{0};
  void Loop();
  Store& store_;
  const MaintenanceSettings settings_;
  Replay replay_;
  std::function<int64_t()> real_now_;
  MaintenanceClock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::set<std::string> waiting_logged_;  // groups whose "busy" was logged (loop thread only)
  std::map<std::string, int64_t> retry_after_;  // group -> real ms (transient replay faults)
};

}  // namespace cf::orchestrator
