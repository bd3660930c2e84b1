// The agent's YAML configuration (configs/agent.example.yaml) and its validation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace cf::agent {

struct AgentConfig {
  std::string host_id;             // [a-z0-9-]
  std::string advertised_address;  // an IP literal (CLUSTER MEET and announce-ip need IPs)
  std::string availability_zone;
  std::string listen = "127.0.0.1:0";  // gRPC listen address; port 0 = pick one
  std::string orchestrator;            // Fleet service address host:port
  uint32_t port_range_start = 0;       // node client ports (inclusive)
  uint32_t port_range_end = 0;
  uint32_t max_nodes = 0;              // 0 = port range only
  std::string data_dir;                // absolute after loading
  std::string redis_server = "redis-server";
  uint32_t heartbeat_interval_ms = 1000;
  std::string log_level = "info";
  // Idle cluster-enabled redis-servers kept running on the highest free ports of the range, so
  // a LaunchNode on such a port claims a node that is past Redis' 2 s cluster start-up delay.
  // 0 = off.
  uint32_t warm_pool_cluster_nodes = 0;

  // Optional tuning (not in the example file; defaults are what the lab uses).
  uint32_t redis_connect_timeout_ms = 500;
  uint32_t redis_command_timeout_ms = 2000;
  uint32_t status_timeout_ms = 1000;      // per-node status query (INFO + CLUSTER *)
  uint32_t ready_timeout_ms = 10000;      // LaunchNode default
  uint32_t stop_grace_ms = 5000;          // StopNode default (SIGTERM -> SIGKILL)
  uint32_t fleet_rpc_timeout_ms = 3000;   // Register / Heartbeat deadline
  // cluster-node-timeout of a claimed warm node until it reports cluster_state ok (Redis'
  // rejoin delay is this value, at least 500 ms); 0 = the spec's value at once.
  uint32_t warm_formation_node_timeout_ms = 500;
};

// Parses and validates YAML text. Unknown keys are rejected (typos must not pass silently).
// Relative data_dir is resolved against `base_dir`.
Result<AgentConfig> ParseAgentConfig(std::string_view yaml_text, const std::string& base_dir);
// Reads `path` and parses it (relative data_dir resolves against the current directory).
Result<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace cf::agent
