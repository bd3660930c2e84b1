// RecordingAgents: an AgentApi for the tests of what the parameter applier and the node-type
// operation send: it records every ReconfigureNode (and can fail them all, or refuse one
// maxmemory); every other call is "unused".
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "orchestrator/fleet/agent_client.h"

namespace cf::orchestrator::testing {

class RecordingAgents : public AgentApi {
 public:
  Result<pb::NodeStatus> LaunchNode(const AgentTarget&, const pb::LaunchNodeRequest&,
                                    int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Result<pb::StopNodeReply> StopNode(const AgentTarget&, const pb::StopNodeRequest&,
                                     int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Result<pb::NodeStatus> GetNodeStatus(const AgentTarget&, const std::string&, int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Result<pb::ListNodesReply> ListNodes(const AgentTarget&, int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Status ClusterMeet(const AgentTarget&, const pb::ClusterMeetRequest&, int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Status ClusterAddSlots(const AgentTarget&, const pb::ClusterAddSlotsRequest&, int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Status ClusterReplicate(const AgentTarget&, const pb::ClusterReplicateRequest&,
                          int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Status ReplicaOf(const AgentTarget&, const pb::ReplicaOfRequest&, int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Status MoveSlots(const AgentTarget&, const pb::MoveSlotsRequest&, const MoveStreamLimits&,
                   const std::function<bool(const pb::MoveSlotsProgress&)>&,
                   const std::function<bool()>&) override {
    return MakeError(Errc::kInternal, "unused");
  }
  Status ClusterForget(const AgentTarget&, const pb::ForgetRequest&, int64_t) override {
    return MakeError(Errc::kInternal, "unused");
  }
  // The failover primitives: declared without `override` so that this double compiles
  // whether or not AgentApi declares them yet.
  Result<pb::NodeStatus> KillNode(const AgentTarget&, const pb::KillNodeRequest&, int64_t) {
    return MakeError(Errc::kInternal, "unused");
  }
  Result<pb::NodeStatus> RestartNode(const AgentTarget&, const pb::RestartNodeRequest&,
                                     int64_t) {
    return MakeError(Errc::kInternal, "unused");
  }
  Result<pb::FailoverReply> Failover(const AgentTarget&, const pb::FailoverRequest&,
                                     int64_t) {
    return MakeError(Errc::kInternal, "unused");
  }
  Result<pb::NodeStatus> ReconfigureNode(const AgentTarget& t, const pb::ReconfigureNodeRequest& r,
                                         int64_t) override {
    std::lock_guard lk(mu);  // the node-type operation calls every node in parallel
    if (fail) return MakeError(Errc::kUnavailable, "agent down");
    calls.push_back(r);
    // The node cannot take the limit (the agent's CONFIG SET refused): an answer.
    if (refuse_maxmemory && r.spec().maxmemory_bytes() == refuse_maxmemory)
      return MakeError(Errc::kFailedPrecondition, "CONFIG SET maxmemory refused");
    pb::NodeStatus s;
    s.set_node_id(r.spec().node_id());
    return s;
  }
  bool fail = false;               // every ReconfigureNode: the agent does not answer
  uint64_t refuse_maxmemory = 0;   // a spec with this maxmemory is refused
  std::mutex mu;
  std::vector<pb::ReconfigureNodeRequest> calls;
};

}  // namespace cf::orchestrator::testing
