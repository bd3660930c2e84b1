#include "agent/runtime/agent_runtime.h"

#include <atomic>
#include <chrono>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/resource_quota.h>

#include "agent/runtime/agent_service.h"
#include "agent/runtime/fleet_client.h"
#include "common/log.h"

namespace cf::agent {
namespace {

// In-flight RPCs get this long on shutdown (BeginShutdown makes the long waits return at
// once). gRPC's server also waits for idle client connections to go away until this deadline,
// and an idle synchronous client never reads the GOAWAY, so keep it short.
constexpr uint32_t kShutdownTimeoutMs = 500;
constexpr int kMaxServerThreads = 64;

// "127.0.0.1:0" + 41234 -> "127.0.0.1:41234"; wildcard hosts report the advertised address.
std::string ReportedEndpoint(const std::string& listen, int port, const std::string& advertised) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host == "::" || host.empty()) {
    host = advertised.find(':') != std::string::npos ? "[" + advertised + "]" : advertised;
  }
  return host + ":" + std::to_string(port);
}

}  // namespace

struct AgentRuntime::Impl {
  AgentConfig config;
  std::string endpoint;
  std::string boot_id;
  std::string redis_version;
  std::unique_ptr<NodeSupervisor> supervisor;
  std::unique_ptr<grpc::Service> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<FleetClient> fleet;
  std::atomic<FleetClient*> kick_target{nullptr};  // the supervisor's exit listener kicks it
  bool shut_down = false;
};

AgentRuntime::AgentRuntime() : impl_(std::make_unique<Impl>()) {}
AgentRuntime::~AgentRuntime() { Shutdown(ExitPolicy::kLeaveNodesRunning); }

Result<std::unique_ptr<AgentRuntime>> AgentRuntime::Start(const AgentConfig& config) {
  auto log = cf::Logger("agent");
  std::unique_ptr<AgentRuntime> rt(new AgentRuntime());
  Impl& m = *rt->impl_;
  m.config = config;
  m.boot_id = NewBootId();

  auto exe = ResolveExecutable(config.redis_server);
  if (!exe.ok()) return exe.error();
  auto version = DetectRedisVersion(*exe);
  if (!version.ok()) return version.error();
  m.redis_version = *version;

  SupervisorOptions so;
  so.data_dir = config.data_dir;
  so.advertised_address = config.advertised_address;
  so.redis_server_path = *exe;
  so.installed_version = *version;
  so.port_range_start = config.port_range_start;
  so.port_range_end = config.port_range_end;
  so.max_nodes = config.max_nodes;
  so.redis_connect_timeout_ms = config.redis_connect_timeout_ms;
  so.redis_command_timeout_ms = config.redis_command_timeout_ms;
  so.status_timeout_ms = config.status_timeout_ms;
  so.ready_timeout_ms = config.ready_timeout_ms;
  so.stop_grace_ms = config.stop_grace_ms;
  so.warm_pool_cluster_nodes = config.warm_pool_cluster_nodes;
  so.warm_formation_node_timeout_ms = config.warm_formation_node_timeout_ms;
  m.supervisor = std::make_unique<NodeSupervisor>(so);
  // A node that exits unexpectedly is reported at once (next heartbeat now, not after the
  // interval) so the orchestrator can fail over within milliseconds.
  m.supervisor->SetExitListener([&m](const std::string&) {
    if (FleetClient* f = m.kick_target.load()) f->Kick();
  });
  if (auto s = m.supervisor->Start(); !s.ok()) return s.error();

  m.service = MakeAgentService(*m.supervisor);
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &selected_port);
  builder.RegisterService(m.service.get());
  grpc::ResourceQuota quota("cachefleet-agent");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  m.server = builder.BuildAndStart();
  if (!m.server || selected_port == 0) {
    m.supervisor->Shutdown(ExitPolicy::kLeaveNodesRunning);
    return MakeError(Errc::kUnavailable, "cannot listen on " + config.listen);
  }
  m.endpoint = ReportedEndpoint(config.listen, selected_port, config.advertised_address);

  FleetOptions fo;
  fo.orchestrator = config.orchestrator;
  fo.host_id = config.host_id;
  fo.advertised_address = config.advertised_address;
  fo.availability_zone = config.availability_zone;
  fo.agent_endpoint = m.endpoint;
  fo.port_range_start = config.port_range_start;
  fo.port_range_end = config.port_range_end;
  fo.max_nodes = config.max_nodes;
  fo.redis_versions = {*version};
  fo.boot_id = m.boot_id;
  fo.heartbeat_interval_ms = config.heartbeat_interval_ms;
  fo.rpc_timeout_ms = config.fleet_rpc_timeout_ms;
  m.fleet = std::make_unique<FleetClient>(fo, *m.supervisor);
  m.fleet->Start();
  m.kick_target = m.fleet.get();
  log->info("[{}] agent serving on {} (redis-server {} at {}, data {}, AZ {}, boot {})",
            config.host_id, m.endpoint, *version, *exe, config.data_dir,
            config.availability_zone, m.boot_id);
  return rt;
}

const std::string& AgentRuntime::endpoint() const { return impl_->endpoint; }
const std::string& AgentRuntime::boot_id() const { return impl_->boot_id; }
const std::string& AgentRuntime::redis_version() const { return impl_->redis_version; }
NodeSupervisor& AgentRuntime::supervisor() { return *impl_->supervisor; }

void AgentRuntime::Shutdown(ExitPolicy policy) {
  Impl& m = *impl_;
  if (m.shut_down) return;
  m.shut_down = true;
  auto log = cf::Logger("agent");
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [&t0] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
        .count();
  };
  m.kick_target = nullptr;
  if (m.fleet) m.fleet->Stop();
  log->debug("[{}] fleet client stopped after {} ms", m.config.host_id, ms());
  if (m.supervisor) m.supervisor->BeginShutdown();
  if (m.server) {
    m.server->Shutdown(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(kShutdownTimeoutMs));
    m.server->Wait();
  }
  log->debug("[{}] gRPC server stopped after {} ms", m.config.host_id, ms());
  if (m.supervisor) m.supervisor->Shutdown(policy);
  log->info("[{}] agent stopped in {} ms ({})", m.config.host_id, ms(),
            policy == ExitPolicy::kStopNodes ? "nodes stopped" : "nodes left running");
}

}  // namespace cf::agent
