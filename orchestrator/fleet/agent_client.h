// Calls to the agents' Agent gRPC service (proto/cachefleet.proto).
//
// AgentApi is the orchestrator's only way to act on hosts. The gRPC implementation keeps one
// channel per host (re-created when the host re-registers with a new endpoint) and puts a
// deadline on every call; the deadlines are named settings (operations.*_timeout_ms). gRPC
// status codes become cf::Errc values (RESOURCE_EXHAUSTED -> kResourceExhausted, ...), and the
// message names the host and the call.
//
// Thread-safe: calls may run concurrently from any thread. This header pulls in the protobuf
// messages but no gRPC headers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cachefleet.pb.h"
#include "common/result.h"

namespace cf::orchestrator {

namespace pb = ::cachefleet::v1;

struct AgentTarget {
  std::string host_id;
  std::string endpoint;  // host:port of the agent's gRPC service
};

// Deadlines of a MoveSlots stream (a move can last minutes, so it has no short deadline; a stream
// that stops talking is given up instead).
struct MoveStreamLimits {
  int64_t deadline_ms = 6 * 3600 * 1000;  // the whole call
  int64_t stall_timeout_ms = 120000;      // no message for this long -> cancelled, kTimeout
};

class AgentApi {
 public:
  virtual ~AgentApi() = default;
  // Settings change (proto: ReconfigureNode): CONFIG SET of the spec's differences, or a
  // restart with the new spec. Not pure so that test doubles need not implement it.
  virtual Result<pb::NodeStatus> ReconfigureNode(const AgentTarget& t,
                                                 const pb::ReconfigureNodeRequest& req,
                                                 int64_t timeout_ms) {
    return MakeError(Errc::kFailedPrecondition, t.host_id + " ReconfigureNode: not implemented");
  }
  virtual Result<pb::NodeStatus> LaunchNode(const AgentTarget& t, const pb::LaunchNodeRequest& req,
                                            int64_t timeout_ms) = 0;
  virtual Result<pb::StopNodeReply> StopNode(const AgentTarget& t, const pb::StopNodeRequest& req,
                                             int64_t timeout_ms) = 0;
  virtual Result<pb::NodeStatus> GetNodeStatus(const AgentTarget& t, const std::string& node_id,
                                               int64_t timeout_ms) = 0;
  virtual Result<pb::ListNodesReply> ListNodes(const AgentTarget& t, int64_t timeout_ms) = 0;
  virtual Status ClusterMeet(const AgentTarget& t, const pb::ClusterMeetRequest& req,
                             int64_t timeout_ms) = 0;
  virtual Status ClusterAddSlots(const AgentTarget& t, const pb::ClusterAddSlotsRequest& req,
                                 int64_t timeout_ms) = 0;
  virtual Status ClusterReplicate(const AgentTarget& t, const pb::ClusterReplicateRequest& req,
                                  int64_t timeout_ms) = 0;
  virtual Status ReplicaOf(const AgentTarget& t, const pb::ReplicaOfRequest& req,
                           int64_t timeout_ms) = 0;
  // Server-streaming slot move on the source's agent. on_progress runs for every message, in
  // order, on the calling thread; returning false cancels the call. cancelled() is polled about
  // every 50 ms and cancels the call when true. OK once the stream ended OK (the last message
  // had done=true); a cancelled call returns kUnavailable ("cancelled").
  virtual Status MoveSlots(const AgentTarget& t, const pb::MoveSlotsRequest& req,
                           const MoveStreamLimits& limits,
                           const std::function<bool(const pb::MoveSlotsProgress&)>& on_progress,
                           const std::function<bool()>& cancelled) = 0;
  virtual Status ClusterForget(const AgentTarget& t, const pb::ForgetRequest& req,
                               int64_t timeout_ms) = 0;
  // Failover primitives (proto: KillNode / RestartNode / Failover).
  virtual Result<pb::NodeStatus> KillNode(const AgentTarget& t, const pb::KillNodeRequest& req,
                                          int64_t timeout_ms) = 0;
  virtual Result<pb::NodeStatus> RestartNode(const AgentTarget& t,
                                             const pb::RestartNodeRequest& req,
                                             int64_t timeout_ms) = 0;
  virtual Result<pb::FailoverReply> Failover(const AgentTarget& t, const pb::FailoverRequest& req,
                                             int64_t timeout_ms) = 0;
};

// The gRPC implementation (insecure channels; mTLS is a later issue).
std::unique_ptr<AgentApi> MakeGrpcAgentApi();

}  // namespace cf::orchestrator
