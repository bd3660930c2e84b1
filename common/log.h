// One spdlog logger per subsystem ("api", "store", "ops", "fleet", "agent", "node", ...).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace cf {

// Returns the named logger, creating it (stderr, shared level) on first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& subsystem);
// Sets the level of every logger, existing and future ("trace".."off").
void SetLogLevel(const std::string& level);

}  // namespace cf
