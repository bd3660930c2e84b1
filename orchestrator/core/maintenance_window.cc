#include "orchestrator/core/maintenance_window.h"

#include <cctype>
#include <cmath>
#include <ctime>

namespace cf::orchestrator {
namespace {

constexpr int64_t kMinuteMs = 60 * 1000;
constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;

int64_t Mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }

// "ddd:hh24:mi" -> offset in the week.
std::optional<int64_t> ParsePoint(const std::string& p) {
  static const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  if (p.size() != 9 || p[3] != ':' || p[6] != ':') return std::nullopt;
  std::string day;
  for (int i = 0; i < 3; ++i)
    day += static_cast<char>(std::tolower(static_cast<unsigned char>(p[i])));
  int d = -1;
  for (int i = 0; i < 7; ++i)
    if (day == kDays[i]) d = i;
  if (d < 0) return std::nullopt;
  for (int i : {4, 5, 7, 8})
    if (!std::isdigit(static_cast<unsigned char>(p[i]))) return std::nullopt;
  const int hh = (p[4] - '0') * 10 + (p[5] - '0');
  const int mi = (p[7] - '0') * 10 + (p[8] - '0');
  if (hh > 23 || mi > 59) return std::nullopt;
  return d * kDayMs + hh * 60 * kMinuteMs + mi * kMinuteMs;
}

bool ParseHhMm(const std::string& s, int& minutes) {
  if (s.size() != 5 || s[2] != ':') return false;
  for (int i : {0, 1, 3, 4})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return false;
  minutes = h * 60 + m;
  return true;
}

}  // namespace

std::optional<MaintenanceWindow> ParseWindow(const std::string& text) {
  if (text.size() != 19 || text[9] != '-') return std::nullopt;
  auto a = ParsePoint(text.substr(0, 9));
  auto b = ParsePoint(text.substr(10));
  if (!a || !b || *a == *b) return std::nullopt;
  return MaintenanceWindow{*a, Mod(*b - *a, kWeekMs)};
}

int64_t WeekOffsetMs(int64_t epoch_ms) {
  // 1970-01-01 00:00 UTC was a Thursday: 4 days after a Sunday 00:00.
  return Mod(epoch_ms + 4 * kDayMs, kWeekMs);
}

bool InWindow(const MaintenanceWindow& w, int64_t epoch_ms) {
  return Mod(WeekOffsetMs(epoch_ms) - w.start_ms, kWeekMs) < w.duration_ms;
}

int64_t NextWindowStart(const MaintenanceWindow& w, int64_t epoch_ms) {
  return epoch_ms + Mod(w.start_ms - WeekOffsetMs(epoch_ms), kWeekMs);
}

std::optional<int64_t> WindowEnd(const MaintenanceWindow& w, int64_t epoch_ms) {
  const int64_t into = Mod(WeekOffsetMs(epoch_ms) - w.start_ms, kWeekMs);
  if (into >= w.duration_ms) return std::nullopt;
  return epoch_ms - into + w.duration_ms;
}

std::optional<int64_t> ParseUtcTimestamp(const std::string& text) {
  std::string t = text;
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t.pop_back();
  int ms = 0;
  if (auto dot = t.find('.'); dot != std::string::npos) {
    std::string frac = t.substr(dot + 1);
    t = t.substr(0, dot);
    if (frac.empty() || frac.size() > 3) return std::nullopt;
    for (char c : frac)
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    while (frac.size() < 3) frac += '0';
    ms = std::stoi(frac);
  }
  if (t.size() == 16) t += ":00";
  // YYYY-MM-DDTHH:MM:SS
  if (t.size() != 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't' &&
                                                        t[10] != ' ') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(t.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(t.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(t.substr(8, 2));
  tm.tm_hour = std::stoi(t.substr(11, 2));
  tm.tm_min = std::stoi(t.substr(14, 2));
  tm.tm_sec = std::stoi(t.substr(17, 2));
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 59)
    return std::nullopt;
  const std::tm in = tm;
  const time_t secs = timegm(&tm);
  // timegm normalises 31 Feb to 3 Mar: refuse dates that do not exist.
  if (tm.tm_mday != in.tm_mday || tm.tm_mon != in.tm_mon) return std::nullopt;
  return static_cast<int64_t>(secs) * 1000 + ms;
}

MaintenanceClock::MaintenanceClock(int64_t real_start_ms, std::optional<int64_t> virtual_start_ms,
                                   double speed)
    : real_start_ms_(real_start_ms),
      virtual_start_ms_(virtual_start_ms.value_or(real_start_ms)),
      speed_(speed > 0 ? speed : 1.0) {}

int64_t MaintenanceClock::VirtualMs(int64_t real_ms) const {
  return virtual_start_ms_ +
         static_cast<int64_t>(std::llround(static_cast<double>(real_ms - real_start_ms_) * speed_));
}

int64_t MaintenanceClock::RealMsFor(int64_t virtual_ms) const {
  return real_start_ms_ + static_cast<int64_t>(std::llround(
                              static_cast<double>(virtual_ms - virtual_start_ms_) / speed_));
}

std::optional<std::string> ParseMaintenanceWindow(const std::string& text) {
  auto w = ParseWindow(text);
  if (!w || w->duration_ms < int64_t{60} * 60 * 1000) return std::nullopt;
  std::string lower = text;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

bool IsValidSnapshotWindow(const std::string& text) {
  if (text.size() != 11 || text[5] != '-') return false;
  int a = 0, b = 0;
  return ParseHhMm(text.substr(0, 5), a) && ParseHhMm(text.substr(6), b);
}

}  // namespace cf::orchestrator
