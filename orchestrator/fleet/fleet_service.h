// FleetService: the orchestrator's side of the fleet. Serves the Fleet gRPC service
// (Register / Heartbeat) on fleet.listen and watches host liveness.
//
//   Register   validates and upserts the host (address, AZ, agent endpoint, port range,
//              capacity, redis versions, boot id); state up; records the nodes it reports.
//   Heartbeat  known host + boot id: refreshes last_heartbeat and writes the reported node
//              status into the nodes' observed columns (heartbeats are the source of the
//              "observed" state users see). Unknown host or another boot id: reregister=true.
//   Monitor    a thread marks hosts `down` once they have sent nothing for
//              fleet.host_down_after_ms; down hosts get no new nodes (placement skips them).
//
// Threading: gRPC's own server threads call the handlers; all state is in the Store. Nodes an
// agent reports that the store does not know are logged (rate-limited) as orphans.
// This header pulls in no gRPC headers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

class FleetService {
 public:
  FleetService(Store& store, const OrchestratorConfig& config);
  ~FleetService();  // Stop()
  FleetService(const FleetService&) = delete;
  FleetService& operator=(const FleetService&) = delete;

  // Binds config.fleet_listen (port 0 = any free port) and starts serving and monitoring.
  Status Start();
  uint16_t port() const;
  // Stops the server (in-flight calls get up to 1 s) and the monitor.
  void Stop();

  // One monitor pass (exposed for tests): marks stale hosts down.
  void CheckHostsOnce();
  // Called (on a gRPC thread) whenever a Register or Heartbeat reports a NODE_EXITED node, so
  // that failover starts without waiting for the next scan (failover_monitor.h).
  void SetNodeExitedListener(std::function<void()> listener);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// {"status":"ok","hosts":[{"host_id":..,"az":..,"state":"up"|"down","address":..,...}],
//  "operations":[{"id":..,"group_id":..,"kind":..,"state":..,"step":..,"retries":..,
//                 "last_error":..,...}]}   (unfinished operations only)
std::string HealthJson(Store& store, const OrchestratorConfig& config);

}  // namespace cf::orchestrator
