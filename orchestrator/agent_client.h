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

class AgentApi {
 public:
  virtual ~AgentApi() = default;
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
};

// The gRPC implementation (insecure channels; mTLS is a later issue).
std::unique_ptr<AgentApi> MakeGrpcAgentApi();

}  // namespace cf::orchestrator
