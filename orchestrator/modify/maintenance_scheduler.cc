#include "orchestrator/modify/maintenance_scheduler.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "orchestrator/core/replication_group_xml.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

std::string List(const std::vector<PendingModification>& batch) {
  std::string s;
  for (const auto& p : batch) s += (s.empty() ? "" : ", ") + p.name + "=" + p.value;
  return s;
}

// Faults that mean "not now" rather than "never".
bool Transient(const api::ApiError& e) {
  return e.code == "InvalidReplicationGroupState" || e.code == "InternalFailure";
}

}  // namespace

MaintenanceScheduler::MaintenanceScheduler(Store& store, const MaintenanceSettings& settings,
                                           Replay replay, std::function<int64_t()> real_now)
    : store_(store),
      settings_(settings),
      replay_(std::move(replay)),
      real_now_(real_now ? std::move(real_now) : std::function<int64_t()>([] { return NowMs(); })),
      clock_(real_now_(), settings.clock_start_ms, settings.clock_speed) {}

MaintenanceScheduler::~MaintenanceScheduler() { Stop(); }

void MaintenanceScheduler::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  Logger("maintenance")
      ->info("maintenance clock: speed {} (virtual s per real s), virtual now {}", clock_.speed(),
             FormatTimestamp(VirtualNowMs()));
  thread_ = std::thread([this] { Loop(); });
}

void MaintenanceScheduler::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MaintenanceScheduler::Poke() {
  ++pokes_;
  {
    std::lock_guard lk(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

int64_t MaintenanceScheduler::VirtualNowMs() const { return clock_.VirtualMs(real_now_()); }

void MaintenanceScheduler::Loop() {
  while (!stop_) {
    RunOnce(VirtualNowMs());
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(settings_.tick_ms),
                 [this] { return poked_ || stop_.load(); });
    poked_ = false;
  }
}

int MaintenanceScheduler::RunOnce(int64_t now) {
  auto log = Logger("maintenance");
  auto groups = ModifyStoreOf(store_).ListPendingGroups();
  if (!groups) {
    log->warn("cannot list pending modifications: {}", groups.error().message);
    return 0;
  }
  int done = 0;
  for (const auto& g : *groups) {
    if (stop_) break;
    auto w = ParseWindow(g.maintenance_window);
    if (!w) {
      if (waiting_logged_.insert(g.group_id + "/window").second)
        log->warn("[{}] pending modifications but no usable maintenance window '{}'", g.group_id,
                  g.maintenance_window);
      continue;
    }
    if (!InWindow(*w, now)) continue;
    if (g.status != GroupStatus::kAvailable || g.operation_running) {
      if (waiting_logged_.insert(g.group_id).second)
        log->info("[{}] in its maintenance window {} but {}: pending modifications wait",
                  g.group_id, g.maintenance_window,
                  g.operation_running ? "an operation is running" : GroupStatusName(g.status));
      continue;
    }
    if (auto it = retry_after_.find(g.group_id);
        it != retry_after_.end() && real_now_() < it->second)
      continue;
    // The oldest batch: the rows the earliest request recorded.
    std::vector<PendingModification> batch;
    std::map<std::string, std::string> params;
    for (const auto& p : g.pending) {
      if (p.request_id != g.pending.front().request_id) continue;
      batch.push_back(p);
      params[p.name] = p.value;
    }
    const std::string list = List(batch);
    log->info("[{}] maintenance window {}: applying {}", g.group_id, g.maintenance_window, list);
    auto fault = replay_(g.group_id, params);
    if (fault && Transient(*fault)) {
      retry_after_[g.group_id] = real_now_() + kTransientRetryMs;
      if (waiting_logged_.insert(g.group_id).second)
        log->info("[{}] pending {} not applied yet ({}: {}); retried while the window lasts",
                  g.group_id, list, fault->code, fault->message);
      continue;
    }
    waiting_logged_.erase(g.group_id);
    retry_after_.erase(g.group_id);
    const std::string event =
        fault ? "Pending modification of replication group " + g.group_id + " (" + list +
                    ") could not be applied in the maintenance window " + g.maintenance_window +
                    " and was dropped: " + fault->code + ": " + fault->message
              : "Pending modification of replication group " + g.group_id + " (" + list +
                    ") applied in the maintenance window " + g.maintenance_window;
    if (auto st = ModifyStoreOf(store_).FinishPendingModifications(g.group_id, batch, event); !st) {
      log->warn("[{}] cannot record the maintenance result: {}", g.group_id, st.error().message);
      continue;
    }
    if (fault)
      log->warn("[{}] {}", g.group_id, event);
    else
      log->info("[{}] {}", g.group_id, event);
    ++done;
  }
  return done;
}

std::string MaintenanceScheduler::StatusJson() {
  using nlohmann::json;
  const int64_t now = VirtualNowMs();
  json j;
  j["virtual_now_ms"] = now;
  j["virtual_now"] = FormatTimestamp(now);
  j["clock_speed"] = clock_.speed();
  j["real_now_ms"] = real_now_();
  j["tick_ms"] = settings_.tick_ms;
  json groups = json::array();
  if (auto gs = ModifyStoreOf(store_).ListPendingGroups(); gs) {
    for (const auto& g : *gs) {
      json e;
      e["group_id"] = g.group_id;
      e["maintenance_window"] = g.maintenance_window;
      e["status"] = GroupStatusName(g.status);
      e["operation_running"] = g.operation_running;
      if (auto w = ParseWindow(g.maintenance_window)) {
        e["in_window"] = InWindow(*w, now);
        const int64_t next = NextWindowStart(*w, now);
        e["next_window_start_ms"] = next;
        e["next_window_start"] = FormatTimestamp(next);
      }
      json pending = json::array();
      for (const auto& p : g.pending)
        pending.push_back({{"name", p.name},
                           {"value", p.value},
                           {"request_id", p.request_id},
                           {"requested_ms", p.requested_ms}});
      e["pending"] = pending;
      groups.push_back(e);
    }
  } else {
    j["error"] = gs.error().message;
  }
  j["groups"] = groups;
  return j.dump();
}

}  // namespace cf::orchestrator
