// Maintenance windows and the maintenance clock (pure; maintenance_window_test.cc).
//
// A PreferredMaintenanceWindow is `ddd:hh24:mi-ddd:hh24:mi` in UTC (ElastiCache's format; the
// API validates it with ParseMaintenanceWindow, >= 60 minutes). It recurs every week; the end
// may lie in the next week (`sat:23:00-sun:01:30`: weeks are counted from Sunday 00:00 UTC
// here). The start is inclusive, the end exclusive.
//
// The maintenance clock gives the scheduler its "now": virtual = start + (real - real_start) ×
// speed, so a lab or a test can let a week pass in minutes (`maintenance.clock_speed`,
// `maintenance.clock_start` in the orchestrator config). Speed 1 without a start is real time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cf::orchestrator {

inline constexpr int64_t kWeekMs = int64_t{7} * 24 * 3600 * 1000;

struct MaintenanceWindow {
  int64_t start_ms = 0;     // offset in the week (Sunday 00:00 UTC = 0)
  int64_t duration_ms = 0;  // 0 < duration < one week
};

// nullopt for anything that is not `ddd:hh24:mi-ddd:hh24:mi` (case-insensitive) or whose
// start equals its end. ParseMaintenanceWindow (the API's check) is this plus the 60-minute
// minimum.
std::optional<MaintenanceWindow> ParseWindow(const std::string& text);

// The API's PreferredMaintenanceWindow check: "ddd:hh24:mi-ddd:hh24:mi", at least 60 minutes;
// returns it lowercased.
std::optional<std::string> ParseMaintenanceWindow(const std::string& text);
// The API's SnapshotWindow check (a daily window): "hh24:mi-hh24:mi".
bool IsValidSnapshotWindow(const std::string& text);

// Offset of epoch time t in its week (Sunday 00:00 UTC = 0). 1970-01-01 was a Thursday.
int64_t WeekOffsetMs(int64_t epoch_ms);
// start <= t < start + duration, in some week.
bool InWindow(const MaintenanceWindow& w, int64_t epoch_ms);
// The first window start at or after t (t itself when t is exactly a start).
int64_t NextWindowStart(const MaintenanceWindow& w, int64_t epoch_ms);
// When the window containing t ends; nullopt when t is outside the window.
std::optional<int64_t> WindowEnd(const MaintenanceWindow& w, int64_t epoch_ms);

// "2026-12-06T23:00:00Z" (also "...:00.123Z", "... 23:00:00", without seconds) -> epoch ms.
std::optional<int64_t> ParseUtcTimestamp(const std::string& text);

class MaintenanceClock {
 public:
  // real_start_ms: the real time the clock starts at; virtual_start_ms: the virtual time it
  // shows then (nullopt = the same as real_start_ms); speed: virtual ms per real ms (> 0).
  MaintenanceClock(int64_t real_start_ms, std::optional<int64_t> virtual_start_ms, double speed);
  int64_t VirtualMs(int64_t real_ms) const;
  // The real time at which the clock shows virtual_ms (for tests and the status endpoint).
  int64_t RealMsFor(int64_t virtual_ms) const;
  double speed() const { return speed_; }

 private:
  int64_t real_start_ms_;
  int64_t virtual_start_ms_;
  double speed_;
};

}  // namespace cf::orchestrator
