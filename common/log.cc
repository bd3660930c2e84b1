#include "common/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace cf {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

std::shared_ptr<spdlog::logger> Logger(const std::string& subsystem) {
  std::lock_guard lk(g_mu);
  if (auto l = spdlog::get(subsystem)) return l;
  auto l = spdlog::stderr_color_mt(subsystem);
  l->set_level(g_level);
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  return l;
}

void SetLogLevel(const std::string& level) {
  std::lock_guard lk(g_mu);
  g_level = spdlog::level::from_str(level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

}  // namespace cf
