#include "orchestrator/fleet/agent_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "cachefleet.grpc.pb.h"

namespace cf::orchestrator {
namespace {

Error FromGrpc(const grpc::Status& s, const AgentTarget& t, const char* call) {
  Errc c = Errc::kInternal;
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      c = Errc::kInvalidArgument;
      break;
    case grpc::StatusCode::NOT_FOUND:
      c = Errc::kNotFound;
      break;
    case grpc::StatusCode::ALREADY_EXISTS:
      c = Errc::kAlreadyExists;
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      c = Errc::kFailedPrecondition;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      c = Errc::kResourceExhausted;
      break;
    case grpc::StatusCode::UNAVAILABLE:
      c = Errc::kUnavailable;
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      c = Errc::kTimeout;
      break;
    case grpc::StatusCode::CANCELLED:
      c = Errc::kUnavailable;
      break;
    default:
      c = Errc::kInternal;
      break;
  }
  return MakeError(c, t.host_id + " " + call + ": " + s.error_message());
}

class GrpcAgentApi final : public AgentApi {
 public:
  Result<pb::NodeStatus> ReconfigureNode(const AgentTarget& t,
                                         const pb::ReconfigureNodeRequest& req,
                                         int64_t timeout_ms) override {
    return Unary<pb::NodeStatus>(
        t, "ReconfigureNode", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.ReconfigureNode(ctx, req, out); });
  }
  Result<pb::NodeStatus> LaunchNode(const AgentTarget& t, const pb::LaunchNodeRequest& req,
                                    int64_t timeout_ms) override {
    return Unary<pb::NodeStatus>(
        t, "LaunchNode", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.LaunchNode(ctx, req, out); });
  }
  Result<pb::StopNodeReply> StopNode(const AgentTarget& t, const pb::StopNodeRequest& req,
                                     int64_t timeout_ms) override {
    return Unary<pb::StopNodeReply>(
        t, "StopNode", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.StopNode(ctx, req, out); });
  }
  Result<pb::NodeStatus> GetNodeStatus(const AgentTarget& t, const std::string& node_id,
                                       int64_t timeout_ms) override {
    pb::NodeRef ref;
    ref.set_node_id(node_id);
    return Unary<pb::NodeStatus>(
        t, "GetNodeStatus", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.GetNodeStatus(ctx, ref, out); });
  }
  Result<pb::ListNodesReply> ListNodes(const AgentTarget& t, int64_t timeout_ms) override {
    pb::ListNodesRequest req;
    return Unary<pb::ListNodesReply>(
        t, "ListNodes", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.ListNodes(ctx, req, out); });
  }
  Status ClusterMeet(const AgentTarget& t, const pb::ClusterMeetRequest& req,
                     int64_t timeout_ms) override {
    return AckCall(t, "ClusterMeet", timeout_ms, [&](auto& stub, auto* ctx, auto* out) {
      return stub.ClusterMeet(ctx, req, out);
    });
  }
  Status ClusterAddSlots(const AgentTarget& t, const pb::ClusterAddSlotsRequest& req,
                         int64_t timeout_ms) override {
    return AckCall(t, "ClusterAddSlots", timeout_ms, [&](auto& stub, auto* ctx, auto* out) {
      return stub.ClusterAddSlots(ctx, req, out);
    });
  }
  Status ClusterReplicate(const AgentTarget& t, const pb::ClusterReplicateRequest& req,
                          int64_t timeout_ms) override {
    return AckCall(t, "ClusterReplicate", timeout_ms, [&](auto& stub, auto* ctx, auto* out) {
      return stub.ClusterReplicate(ctx, req, out);
    });
  }
  Status ReplicaOf(const AgentTarget& t, const pb::ReplicaOfRequest& req,
                   int64_t timeout_ms) override {
    return AckCall(t, "ReplicaOf", timeout_ms,
                   [&](auto& stub, auto* ctx, auto* out) { return stub.ReplicaOf(ctx, req, out); });
  }
  Status ClusterForget(const AgentTarget& t, const pb::ForgetRequest& req,
                       int64_t timeout_ms) override {
    return AckCall(t, "ClusterForget", timeout_ms, [&](auto& stub, auto* ctx, auto* out) {
      return stub.ClusterForget(ctx, req, out);
    });
  }
  Result<pb::NodeStatus> KillNode(const AgentTarget& t, const pb::KillNodeRequest& req,
                                  int64_t timeout_ms) override {
    return Unary<pb::NodeStatus>(
        t, "KillNode", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.KillNode(ctx, req, out); });
  }
  Result<pb::NodeStatus> RestartNode(const AgentTarget& t, const pb::RestartNodeRequest& req,
                                     int64_t timeout_ms) override {
    return Unary<pb::NodeStatus>(
        t, "RestartNode", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.RestartNode(ctx, req, out); });
  }
  Result<pb::FailoverReply> Failover(const AgentTarget& t, const pb::FailoverRequest& req,
                                     int64_t timeout_ms) override {
    return Unary<pb::FailoverReply>(
        t, "Failover", timeout_ms,
        [&](auto& stub, auto* ctx, auto* out) { return stub.Failover(ctx, req, out); });
  }

  Status MoveSlots(const AgentTarget& t, const pb::MoveSlotsRequest& req,
                   const MoveStreamLimits& limits,
                   const std::function<bool(const pb::MoveSlotsProgress&)>& on_progress,
                   const std::function<bool()>& cancelled) override {
    using Clock = std::chrono::steady_clock;
    auto ch = StubFor(t);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(limits.deadline_ms));
    // A watcher cancels the call when the caller wants it (stop, stale attempt) or the stream
    // has been silent for stall_timeout_ms; Read() then returns false at once.
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;              // guarded by mu
    auto last_message = Clock::now();   // guarded by mu
    std::atomic<int> why_cancelled{0};  // 1 = caller, 2 = stall
    std::thread watcher([&] {
      std::unique_lock lk(mu);
      while (!finished) {
        cv.wait_for(lk, std::chrono::milliseconds(50));
        if (finished) break;
        int why = 0;
        if (cancelled && cancelled()) why = 1;
        if (Clock::now() - last_message > std::chrono::milliseconds(limits.stall_timeout_ms))
          why = 2;
        if (why != 0) {
          why_cancelled = why;
          ctx.TryCancel();
          break;
        }
      }
    });
    auto reader = ch->stub->MoveSlots(&ctx, req);
    pb::MoveSlotsProgress msg;
    bool handler_stopped = false;
    while (reader->Read(&msg)) {
      {
        std::lock_guard lk(mu);
        last_message = Clock::now();
      }
      if (!on_progress(msg)) {
        handler_stopped = true;
        ctx.TryCancel();
        break;
      }
    }
    grpc::Status s = reader->Finish();
    {
      std::lock_guard lk(mu);
      finished = true;
    }
    cv.notify_all();
    watcher.join();
    if (handler_stopped || why_cancelled == 1)
      return MakeError(Errc::kUnavailable, t.host_id + " MoveSlots: cancelled");
    if (why_cancelled == 2)
      return MakeError(Errc::kTimeout, t.host_id + " MoveSlots: no progress for " +
                                           std::to_string(limits.stall_timeout_ms) + " ms");
    if (!s.ok()) return FromGrpc(s, t, "MoveSlots");
    return {};
  }

 private:
  struct Channel {
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::Agent::Stub> stub;
  };

  // The stub for a host; a new channel when the host's endpoint changed.
  std::shared_ptr<Channel> StubFor(const AgentTarget& t) {
    std::lock_guard lk(mu_);
    auto& c = channels_[t.host_id];
    if (!c || c->endpoint != t.endpoint) {
      auto ch = std::make_shared<Channel>();
      ch->endpoint = t.endpoint;
      grpc::ChannelArguments args;
      // Reconnect quickly after an agent restart (the default backoff grows to 120 s).
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
      ch->channel = grpc::CreateCustomChannel(t.endpoint, grpc::InsecureChannelCredentials(), args);
      ch->stub = pb::Agent::NewStub(ch->channel);
      c = ch;
    }
    return c;
  }

  template <class Reply, class Fn>
  Result<Reply> Unary(const AgentTarget& t, const char* call, int64_t timeout_ms, Fn&& fn) {
    auto ch = StubFor(t);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    Reply reply;
    grpc::Status s = fn(*ch->stub, &ctx, &reply);
    if (!s.ok()) return FromGrpc(s, t, call);
    return reply;
  }

  template <class Fn>
  Status AckCall(const AgentTarget& t, const char* call, int64_t timeout_ms, Fn&& fn) {
    auto r = Unary<pb::Ack>(t, call, timeout_ms, std::forward<Fn>(fn));
    if (!r) return r.error();
    return {};
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Channel>> channels_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<AgentApi> MakeGrpcAgentApi() { return std::make_unique<GrpcAgentApi>(); }

}  // namespace cf::orchestrator
