#include "agent/runtime/fleet_client.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "agent/nodes/node_supervisor.h"
#include "cachefleet.grpc.pb.h"
#include "cachefleet.pb.h"
#include "common/log.h"

namespace cf::agent {

namespace pb = cachefleet::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string NewBootId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 2; ++i) {
    uint64_t v = gen();
    for (int j = 0; j < 16; ++j) {
      out += kHex[v & 0xf];
      v >>= 4;
    }
  }
  return out;
}

struct FleetClient::Impl {
  Impl(FleetOptions o, NodeSupervisor& s)
      : opts(std::move(o)), sup(s), log(cf::Logger("fleet")), rng(std::random_device{}()) {}

  FleetOptions opts;
  NodeSupervisor& sup;
  std::shared_ptr<spdlog::logger> log;
  std::mt19937 rng;

  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // guarded by mu
  bool kick = false;  // guarded by mu: a node exited, heartbeat now
  std::atomic<uint64_t> registrations{0};
  std::atomic<uint64_t> heartbeats{0};
  std::atomic<uint64_t> kicked_heartbeats{0};

  // Waits up to `d`; false when stopping.
  bool Sleep(milliseconds d) {
    std::unique_lock lk(mu);
    return !cv.wait_for(lk, d, [this] { return stop; });
  }
  // Waits up to `d` or until kicked; false when stopping. *kicked: woken by Kick (cleared).
  bool SleepOrKick(milliseconds d, bool* kicked) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, d, [this] { return stop || kick; });
    *kicked = kick;
    kick = false;
    return !stop;
  }
  bool Stopping() {
    std::lock_guard lk(mu);
    return stop;
  }

  void Run() {
    // gRPC's own reconnect backoff grows to 120 s by default; an orchestrator that starts
    // after us must be found within our register backoff instead.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(opts.register_backoff_initial_ms));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(opts.register_backoff_initial_ms));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(opts.register_backoff_max_ms));
    auto channel =
        grpc::CreateCustomChannel(opts.orchestrator, grpc::InsecureChannelCredentials(), args);
    auto stub = pb::Fleet::NewStub(channel);
    uint32_t interval_ms = opts.heartbeat_interval_ms;
    uint32_t backoff_ms = 0;
    uint64_t failures = 0;
    bool registered = false;
    while (!Stopping()) {
      if (!registered) {
        pb::RegisterRequest req;
        req.set_host_id(opts.host_id);
        req.set_advertised_address(opts.advertised_address);
        req.set_availability_zone(opts.availability_zone);
        req.set_agent_endpoint(opts.agent_endpoint);
        req.set_port_range_start(opts.port_range_start);
        req.set_port_range_end(opts.port_range_end);
        req.set_max_nodes(opts.max_nodes);
        for (const auto& v : opts.redis_versions) req.add_redis_versions(v);
        req.set_boot_id(opts.boot_id);
        std::vector<pb::NodeStatus> nodes;
        sup.CollectStatuses(&nodes);
        for (auto& n : nodes) *req.add_nodes() = std::move(n);
        for (uint32_t port : sup.WarmClusterPorts()) req.add_warm_cluster_ports(port);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(opts.rpc_timeout_ms));
        pb::RegisterReply reply;
        grpc::Status st = stub->Register(&ctx, req, &reply);
        if (st.ok()) {
          registered = true;
          ++registrations;
          backoff_ms = 0;
          failures = 0;
          if (reply.heartbeat_interval_ms() > 0) interval_ms = reply.heartbeat_interval_ms();
          log->info("[{}] registered with {} (boot {}, {} node(s), heartbeat every {} ms)",
                    opts.host_id, opts.orchestrator, opts.boot_id, req.nodes_size(), interval_ms);
          continue;
        }
        backoff_ms = backoff_ms == 0 ? opts.register_backoff_initial_ms
                                     : std::min(backoff_ms * 2, opts.register_backoff_max_ms);
        if (failures++ % 10 == 0) {
          log->warn("[{}] register with {} failed: {} ({}); retrying", opts.host_id,
                    opts.orchestrator, st.error_message(), static_cast<int>(st.error_code()));
        }
        uint32_t jitter = std::uniform_int_distribution<uint32_t>(0, backoff_ms / 4)(rng);
        Sleep(milliseconds(backoff_ms + jitter));
        continue;
      }
      bool kicked = false;
      if (!SleepOrKick(milliseconds(interval_ms), &kicked)) break;
      pb::HeartbeatRequest req;
      req.set_host_id(opts.host_id);
      req.set_boot_id(opts.boot_id);
      std::vector<pb::NodeStatus> nodes;
      sup.CollectStatuses(&nodes, kicked ? opts.kick_status_budget_ms : 0);
      for (auto& n : nodes) *req.add_nodes() = std::move(n);
      for (uint32_t port : sup.WarmClusterPorts()) req.add_warm_cluster_ports(port);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(opts.rpc_timeout_ms));
      pb::HeartbeatReply reply;
      grpc::Status st = stub->Heartbeat(&ctx, req, &reply);
      if (!st.ok()) {
        if (failures++ % 10 == 0) {
          log->warn("[{}] heartbeat to {} failed: {} ({})", opts.host_id, opts.orchestrator,
                    st.error_message(), static_cast<int>(st.error_code()));
        }
        continue;
      }
      if (failures > 0) log->info("[{}] heartbeats to {} work again", opts.host_id, opts.orchestrator);
      failures = 0;
      ++heartbeats;
      if (kicked) {
        ++kicked_heartbeats;
        log->info("[{}] immediate heartbeat after a node exit", opts.host_id);
      }
      if (reply.reregister()) {
        log->info("[{}] orchestrator asked to register again", opts.host_id);
        registered = false;
      }
    }
  }
};

FleetClient::FleetClient(FleetOptions opts, NodeSupervisor& supervisor)
    : impl_(std::make_unique<Impl>(std::move(opts), supervisor)) {}

FleetClient::~FleetClient() { Stop(); }

void FleetClient::Start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([this] { impl_->Run(); });
}

void FleetClient::Stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint64_t FleetClient::registrations() const { return impl_->registrations; }
uint64_t FleetClient::heartbeats() const { return impl_->heartbeats; }
uint64_t FleetClient::kicked_heartbeats() const { return impl_->kicked_heartbeats; }

void FleetClient::Kick() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->kick = true;
  }
  impl_->cv.notify_all();
}

}  // namespace cf::agent
