#include "agent/runtime/agent_config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <spdlog/common.h>
#include <yaml-cpp/yaml.h>

#include "agent/redis/node_spec.h"

namespace cf::agent {
namespace {

Error Bad(const std::string& msg) { return MakeError(Errc::kInvalidArgument, "config: " + msg); }

bool IsIp(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// "host:port" with a numeric port (0 allowed when allow_zero).
bool IsHostPort(const std::string& s, bool allow_zero) {
  size_t c = s.rfind(':');
  if (c == std::string::npos || c == 0 || c + 1 >= s.size()) return false;
  std::string port = s.substr(c + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long p = std::stoul(port);
  return p <= 65535 && (allow_zero || p > 0);
}

template <class T>
Status ReadUint(const YAML::Node& n, const char* key, T* out) {
  if (!n[key]) return {};
  try {
    long long v = n[key].as<long long>();
    if (v < 0) return Bad(std::string(key) + " must not be negative");
    *out = static_cast<T>(v);
    return {};
  } catch (const YAML::Exception&) {
    return Bad(std::string(key) + " must be a number");
  }
}

Status ReadString(const YAML::Node& n, const char* key, std::string* out) {
  if (!n[key]) return {};
  try {
    if (!n[key].IsScalar()) return Bad(std::string(key) + " must be a string");
    *out = n[key].as<std::string>();
    return {};
  } catch (const YAML::Exception&) {
    return Bad(std::string(key) + " must be a string");
  }
}

}  // namespace

Result<AgentConfig> ParseAgentConfig(std::string_view yaml_text, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Bad(std::string("YAML parse error: ") + e.what());
  }
  if (!root.IsMap()) return Bad("top level must be a mapping");

  static const std::set<std::string> kKnown = {
      "host_id", "advertised_address", "availability_zone", "listen", "orchestrator",
      "port_range", "max_nodes", "data_dir", "redis_server", "heartbeat_interval_ms",
      "log_level", "redis_connect_timeout_ms", "redis_command_timeout_ms", "status_timeout_ms",
      "ready_timeout_ms", "stop_grace_ms", "fleet_rpc_timeout_ms", "warm_pool_cluster_nodes",
      "warm_formation_node_timeout_ms"};
  for (const auto& kv : root) {
    std::string k = kv.first.as<std::string>();
    if (!kKnown.count(k)) return Bad("unknown key '" + k + "'");
  }
  for (const char* req : {"host_id", "advertised_address", "availability_zone", "orchestrator",
                          "port_range", "data_dir"}) {
    if (!root[req]) return Bad(std::string("missing required key '") + req + "'");
  }

  AgentConfig c;
  for (auto [key, field] : {std::pair{"host_id", &c.host_id},
                            {"advertised_address", &c.advertised_address},
                            {"availability_zone", &c.availability_zone},
                            {"listen", &c.listen},
                            {"orchestrator", &c.orchestrator},
                            {"data_dir", &c.data_dir},
                            {"redis_server", &c.redis_server},
                            {"log_level", &c.log_level}}) {
    if (auto s = ReadString(root, key, field); !s.ok()) return s.error();
  }
  const YAML::Node pr = root["port_range"];
  if (!pr.IsMap() || !pr["start"] || !pr["end"]) return Bad("port_range needs start and end");
  if (auto s = ReadUint(pr, "start", &c.port_range_start); !s.ok()) return s.error();
  if (auto s = ReadUint(pr, "end", &c.port_range_end); !s.ok()) return s.error();
  for (auto [key, field] : {std::pair{"max_nodes", &c.max_nodes},
                            {"heartbeat_interval_ms", &c.heartbeat_interval_ms},
                            {"redis_connect_timeout_ms", &c.redis_connect_timeout_ms},
                            {"redis_command_timeout_ms", &c.redis_command_timeout_ms},
                            {"status_timeout_ms", &c.status_timeout_ms},
                            {"ready_timeout_ms", &c.ready_timeout_ms},
                            {"stop_grace_ms", &c.stop_grace_ms},
                            {"fleet_rpc_timeout_ms", &c.fleet_rpc_timeout_ms},
                            {"warm_pool_cluster_nodes", &c.warm_pool_cluster_nodes},
                            {"warm_formation_node_timeout_ms",
                             &c.warm_formation_node_timeout_ms}}) {
    if (auto s = ReadUint(root, key, field); !s.ok()) return s.error();
  }

  // Validation.
  if (c.host_id.empty() || c.host_id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") !=
                               std::string::npos) {
    return Bad("host_id '" + c.host_id + "' must be non-empty [a-z0-9-]");
  }
  if (!IsIp(c.advertised_address)) {
    return Bad("advertised_address '" + c.advertised_address +
               "' must be an IP address (CLUSTER MEET does not take hostnames)");
  }
  if (c.availability_zone.empty()) return Bad("availability_zone must not be empty");
  if (!IsHostPort(c.listen, true)) return Bad("listen '" + c.listen + "' must be host:port");
  if (!IsHostPort(c.orchestrator, false)) {
    return Bad("orchestrator '" + c.orchestrator + "' must be host:port");
  }
  if (c.port_range_start == 0 || c.port_range_start > c.port_range_end ||
      c.port_range_end > kMaxNodePort) {
    return Bad("port_range must satisfy 1 <= start <= end <= " + std::to_string(kMaxNodePort) +
               " (bus port = port + 10000)");
  }
  if (c.warm_pool_cluster_nodes > c.port_range_end - c.port_range_start + 1) {
    return Bad("warm_pool_cluster_nodes " + std::to_string(c.warm_pool_cluster_nodes) +
               " exceeds the port range");
  }
  if (c.data_dir.empty()) return Bad("data_dir must not be empty");
  if (c.redis_server.empty()) return Bad("redis_server must not be empty");
  if (c.heartbeat_interval_ms < 10 || c.heartbeat_interval_ms > 600000) {
    return Bad("heartbeat_interval_ms must be 10..600000");
  }
  if (spdlog::level::from_str(c.log_level) == spdlog::level::off && c.log_level != "off") {
    return Bad("log_level '" + c.log_level + "' must be trace|debug|info|warn|error|critical|off");
  }
  for (auto [key, v] : {std::pair{"redis_connect_timeout_ms", c.redis_connect_timeout_ms},
                        {"redis_command_timeout_ms", c.redis_command_timeout_ms},
                        {"status_timeout_ms", c.status_timeout_ms},
                        {"ready_timeout_ms", c.ready_timeout_ms},
                        {"fleet_rpc_timeout_ms", c.fleet_rpc_timeout_ms}}) {
    if (v == 0) return Bad(std::string(key) + " must be > 0");
  }
  std::filesystem::path dd(c.data_dir);
  if (dd.is_relative()) dd = std::filesystem::path(base_dir) / dd;
  c.data_dir = dd.lexically_normal().string();
  while (c.data_dir.size() > 1 && c.data_dir.back() == '/') c.data_dir.pop_back();
  return c;
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return Bad("cannot read " + path);
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  return ParseAgentConfig(*text, ec ? std::string("/") : cwd.string());
}

}  // namespace cf::agent
