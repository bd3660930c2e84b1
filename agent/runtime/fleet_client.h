// FleetClient: registers this agent with the orchestrator's Fleet service and heartbeats.
//
// One background thread:
//   kRegistering: Register (deadline fleet_rpc_timeout_ms) until it succeeds, backing off
//                 100 ms doubling to 5 s with jitter. The orchestrator may start after us.
//   kRegistered:  every heartbeat_interval_ms (the orchestrator's value from RegisterReply if
//                 set) send Heartbeat with every node's status and the warm pool ports
//                 (NodeSupervisor::WarmClusterPorts; Register carries both too).
//                 `reregister` in the reply goes back to kRegistering at once.
//                 Kick() (the supervisor's exit listener: a node exited unexpectedly) sends
//                 the next heartbeat at once instead of after the interval, with each node's
//                 Redis status bounded by kick_status_budget_ms so a hung node cannot delay it. RPC failures are logged (rate-limited) and the
//                 heartbeats continue; an orchestrator that lost us answers `reregister`.
// Stop() interrupts any wait and joins the thread (at most one RPC deadline).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cf::agent {

class NodeSupervisor;

struct FleetOptions {
  std::string orchestrator;  // host:port of the Fleet service
  std::string host_id;
  std::string advertised_address;
  std::string availability_zone;
  std::string agent_endpoint;  // host:port of our Agent service
  uint32_t port_range_start = 0;
  uint32_t port_range_end = 0;
  uint32_t max_nodes = 0;
  std::vector<std::string> redis_versions;
  std::string boot_id;
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t rpc_timeout_ms = 3000;
  uint32_t register_backoff_initial_ms = 100;
  uint32_t register_backoff_max_ms = 5000;
  uint32_t kick_status_budget_ms = 200;
};

class FleetClient {
 public:
  FleetClient(FleetOptions opts, NodeSupervisor& supervisor);
  ~FleetClient();  // Stop()
  void Start();
  void Stop();
  // Sends a heartbeat now (any thread; cheap, takes no other lock).
  void Kick();
  // Counters for tests and logs.
  uint64_t registrations() const;
  uint64_t heartbeats() const;
  uint64_t kicked_heartbeats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A fresh random id (32 hex chars) for boot_id.
std::string NewBootId();

}  // namespace cf::agent
