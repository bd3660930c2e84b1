#include "orchestrator/fleet/fleet_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cachefleet.grpc.pb.h"
#include "common/log.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

namespace pb = ::cachefleet::v1;

std::vector<std::pair<std::string, ObservedNode>> Observations(
    const google::protobuf::RepeatedPtrField<pb::NodeStatus>& nodes, int64_t now) {
  std::vector<std::pair<std::string, ObservedNode>> out;
  for (const auto& n : nodes) out.emplace_back(n.node_id(), ToObserved(n, now));
  return out;
}

class FleetServiceImpl final : public pb::Fleet::Service {
 public:
  FleetServiceImpl(Store& store, const OrchestratorConfig& config)
      : store_(store), config_(config) {}

  grpc::Status Register(grpc::ServerContext*, const pb::RegisterRequest* req,
                        pb::RegisterReply* reply) override {
    auto log = Logger("fleet");
    if (req->host_id().empty() || req->advertised_address().empty() ||
        req->agent_endpoint().empty() || req->boot_id().empty())
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "host_id, advertised_address, agent_endpoint and boot_id are required"};
    if (req->port_range_start() == 0 || req->port_range_end() > 65535 ||
        req->port_range_end() < req->port_range_start())
      return {grpc::StatusCode::INVALID_ARGUMENT, "bad port range"};
    const int64_t now = NowMs();
    HostRecord h;
    h.host_id = req->host_id();
    h.address = req->advertised_address();
    h.az = req->availability_zone();
    h.agent_endpoint = req->agent_endpoint();
    h.port_range_start = req->port_range_start();
    h.port_range_end = req->port_range_end();
    h.max_nodes = req->max_nodes();
    h.redis_versions.assign(req->redis_versions().begin(), req->redis_versions().end());
    h.warm_cluster_ports.assign(req->warm_cluster_ports().begin(), req->warm_cluster_ports().end());
    h.boot_id = req->boot_id();
    h.registered_ms = now;
    h.last_heartbeat_ms = now;
    h.state = HostState::kUp;
    if (auto st = store_.UpsertHost(h); !st) {
      log->error("[{}] cannot register: {}", h.host_id, st.error().message);
      return {grpc::StatusCode::UNAVAILABLE, st.error().message};
    }
    Record(h.host_id, req->nodes(), now);
    log->info("[{}] registered: {} az={} agent={} ports {}-{} versions [{}] nodes={} warm={}",
              h.host_id, h.address, h.az, h.agent_endpoint, h.port_range_start, h.port_range_end,
              fmt::join(h.redis_versions, ","), req->nodes_size(), h.warm_cluster_ports.size());
    reply->set_heartbeat_interval_ms(static_cast<uint32_t>(config_.heartbeat_interval_ms));
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const pb::HeartbeatRequest* req,
                         pb::HeartbeatReply* reply) override {
    const int64_t now = NowMs();
    auto known = store_.TouchHost(
        req->host_id(), req->boot_id(), now,
        std::vector<uint32_t>(req->warm_cluster_ports().begin(), req->warm_cluster_ports().end()));
    if (!known) return {grpc::StatusCode::UNAVAILABLE, known.error().message};
    if (!*known) {
      Logger("fleet")->info("[{}] heartbeat from an unknown host or boot; asking to re-register",
                            req->host_id());
      reply->set_reregister(true);
      return grpc::Status::OK;
    }
    Record(req->host_id(), req->nodes(), now);
    return grpc::Status::OK;
  }

 private:
  void Record(const std::string& host_id,
              const google::protobuf::RepeatedPtrField<pb::NodeStatus>& nodes, int64_t now) {
    if (nodes.empty()) return;
    auto unknown = store_.RecordObservations(host_id, Observations(nodes, now));
    for (const auto& n : nodes) {
      if (n.state() != pb::NODE_EXITED) continue;
      std::function<void()> cb;
      {
        std::lock_guard lk(mu_);
        cb = on_exited_;
      }
      if (cb) cb();
      break;
    }
    if (!unknown) {
      Logger("fleet")->warn("[{}] cannot record node status: {}", host_id, unknown.error().message);
      return;
    }
    if (unknown->empty()) return;
    std::lock_guard lk(mu_);
    int64_t& last = orphan_logged_ms_[host_id];
    if (now - last < 60000) return;  // rate limit
    last = now;
    Logger("fleet")->warn("[{}] reports nodes the store does not know (orphans): {}", host_id,
                          fmt::join(*unknown, ", "));
  }

  Store& store_;
  const OrchestratorConfig& config_;
  std::mutex mu_;
  std::map<std::string, int64_t> orphan_logged_ms_;  // guarded by mu_
  std::function<void()> on_exited_;                  // guarded by mu_

 public:
  void SetOnExited(std::function<void()> cb) {
    std::lock_guard lk(mu_);
    on_exited_ = std::move(cb);
  }
};

}  // namespace

struct FleetService::Impl {
  Impl(Store& s, const OrchestratorConfig& c) : store(s), config(c), service(s, c) {}
  Store& store;
  const OrchestratorConfig& config;
  FleetServiceImpl service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::thread monitor;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
};

FleetService::FleetService(Store& store, const OrchestratorConfig& config)
    : impl_(std::make_unique<Impl>(store, config)) {}

FleetService::~FleetService() { Stop(); }

Status FleetService::Start() {
  grpc::ServerBuilder builder;
  const std::string addr =
      impl_->config.fleet_listen.host + ":" + std::to_string(impl_->config.fleet_listen.port);
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &impl_->port);
  builder.RegisterService(&impl_->service);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || impl_->port == 0)
    return MakeError(Errc::kUnavailable, "fleet: cannot listen on " + addr);
  impl_->monitor = std::thread([this] {
    const int64_t every = std::clamp<int64_t>(impl_->config.host_down_after_ms / 4, 20, 1000);
    std::unique_lock lk(impl_->mu);
    while (!impl_->stopping) {
      impl_->cv.wait_for(lk, std::chrono::milliseconds(every));
      if (impl_->stopping) break;
      lk.unlock();
      CheckHostsOnce();
      lk.lock();
    }
  });
  return {};
}

void FleetService::SetNodeExitedListener(std::function<void()> listener) {
  impl_->service.SetOnExited(std::move(listener));
}

uint16_t FleetService::port() const { return static_cast<uint16_t>(impl_->port); }

void FleetService::CheckHostsOnce() {
  auto down = impl_->store.MarkStaleHostsDown(NowMs(), impl_->config.host_down_after_ms);
  if (!down) {
    Logger("fleet")->warn("host monitor: {}", down.error().message);
    return;
  }
  for (const auto& id : *down)
    Logger("fleet")->warn("[{}] no heartbeat for {} ms: host is down", id,
                          impl_->config.host_down_after_ms);
}

void FleetService::Stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->monitor.joinable()) impl_->monitor.join();
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    impl_->server->Wait();
    impl_->server.reset();
  }
}

std::string HealthJson(Store& store, const OrchestratorConfig& config) {
  nlohmann::json j;
  j["status"] = "ok";
  j["hosts"] = nlohmann::json::array();
  auto hosts = store.ListHosts();
  if (!hosts) {
    j["status"] = "error";
    j["error"] = hosts.error().message;
    return j.dump();
  }
  const int64_t now = NowMs();
  for (const auto& h : *hosts) {
    bool up = h.state == HostState::kUp && now - h.last_heartbeat_ms <= config.host_down_after_ms;
    j["hosts"].push_back({{"host_id", h.host_id},
                          {"az", h.az},
                          {"state", up ? "up" : "down"},
                          {"address", h.address},
                          {"agent_endpoint", h.agent_endpoint},
                          {"redis_versions", h.redis_versions},
                          {"warm_cluster_ports", h.warm_cluster_ports},
                          {"last_heartbeat_ms", h.last_heartbeat_ms}});
  }
  // Unfinished operations with their progress and retry state (STYLE.md #5).
  j["operations"] = nlohmann::json::array();
  if (auto ops = store.ListUnfinishedOperations(); ops.ok()) {
    for (const auto& op : *ops)
      j["operations"].push_back({{"id", op.id},
                                 {"group_id", op.group_id},
                                 {"kind", OpKindName(op.kind)},
                                 {"state", OpStateName(op.state)},
                                 {"step", op.step},
                                 {"attempt", op.attempt},
                                 {"retries", op.retries},
                                 {"last_error", op.last_error},
                                 {"created_ms", op.created_ms},
                                 {"updated_ms", op.updated_ms}});
  }
  return j.dump();
}

}  // namespace cf::orchestrator
