// AgentRuntime: the whole agent in one object (supervisor + Agent gRPC server + Fleet client),
// used by main.cc and by in-process tests.
//
// Start order: resolve redis-server and its version, start the supervisor (adopts nodes on
// disk), start the gRPC server (port 0 allowed), then start registering with the
// orchestrator. Shutdown order is the reverse: stop heartbeats, make waits return, stop the gRPC
// server (deadline shutdown_timeout_ms), then stop or detach the nodes per ExitPolicy.
#pragma once

#include <memory>
#include <string>

#include "agent/runtime/agent_config.h"
#include "agent/nodes/node_supervisor.h"
#include "common/result.h"

namespace cf::agent {

class AgentRuntime {
 public:
  static Result<std::unique_ptr<AgentRuntime>> Start(const AgentConfig& config);
  ~AgentRuntime();  // Shutdown(kLeaveNodesRunning) unless already shut down

  // host:port of the Agent service as reported to the orchestrator.
  const std::string& endpoint() const;
  const std::string& boot_id() const;
  const std::string& redis_version() const;
  NodeSupervisor& supervisor();
  void Shutdown(ExitPolicy policy);

 private:
  AgentRuntime();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::agent
