#include "agent/runtime/agent_service.h"

#include <grpcpp/grpcpp.h>

#include "agent/redis/node_admin.h"
#include "agent/redis/node_failover.h"
#include "agent/redis/node_spec.h"
#include "agent/nodes/node_supervisor.h"
#include "agent/redis/redis_conn.h"
#include "agent/runtime/slot_mover_rpc.h"
#include "cachefleet.grpc.pb.h"
#include "common/log.h"

namespace cf::agent {
namespace {

namespace pb = cachefleet::v1;

NodeSpec FromProto(const pb::NodeSpec& p) {
  NodeSpec s;
  s.node_id = p.node_id();
  s.group_id = p.group_id();
  s.port = p.port();
  s.cluster_enabled = p.cluster_enabled();
  s.maxmemory_bytes = p.maxmemory_bytes();
  s.engine_version = p.engine_version();
  for (const auto& [k, v] : p.config()) s.config[k] = v;
  s.cluster_node_timeout_ms = p.cluster_node_timeout_ms();
  s.hold_on_exit = p.hold_on_exit();
  s.hold_max_ms = p.hold_max_ms();
  return s;
}

class AgentServiceImpl final : public pb::Agent::Service {
 public:
  explicit AgentServiceImpl(NodeSupervisor& sup) : sup_(sup), log_(cf::Logger("agent")) {}

  grpc::Status LaunchNode(grpc::ServerContext*, const pb::LaunchNodeRequest* req,
                          pb::NodeStatus* out) override {
    auto s = sup_.LaunchNode(FromProto(req->spec()), req->ready_timeout_ms(), out);
    return Reply("LaunchNode", req->spec().node_id(), s);
  }

  grpc::Status StopNode(grpc::ServerContext*, const pb::StopNodeRequest* req,
                        pb::StopNodeReply* out) override {
    auto r = sup_.StopNode(req->node_id(), req->purge_data(), req->grace_ms());
    if (!r.ok()) return Reply("StopNode", req->node_id(), r.error());
    out->set_existed(*r);
    return grpc::Status::OK;
  }

  grpc::Status GetNodeStatus(grpc::ServerContext*, const pb::NodeRef* req,
                             pb::NodeStatus* out) override {
    return Reply("GetNodeStatus", req->node_id(), sup_.GetNodeStatus(req->node_id(), out), true);
  }

  grpc::Status ListNodes(grpc::ServerContext*, const pb::ListNodesRequest*,
                         pb::ListNodesReply* out) override {
    std::vector<pb::NodeStatus> nodes;
    sup_.CollectStatuses(&nodes);
    for (auto& n : nodes) *out->add_nodes() = std::move(n);
    return grpc::Status::OK;
  }

  grpc::Status ClusterMeet(grpc::ServerContext*, const pb::ClusterMeetRequest* req,
                           pb::Ack*) override {
    auto s = sup_.WithNode(req->node_id(), [&](const NodeSpec& spec, RedisConn& c) {
      return AdminClusterMeet(c, spec, req->peer_ip(), req->peer_port());
    });
    return Reply("ClusterMeet", req->node_id(), s);
  }

  grpc::Status ClusterAddSlots(grpc::ServerContext*, const pb::ClusterAddSlotsRequest* req,
                               pb::Ack*) override {
    SlotRanges ranges;
    for (const auto& r : req->ranges()) ranges.push_back({r.start(), r.end()});
    auto s = sup_.WithNode(req->node_id(), [&](const NodeSpec& spec, RedisConn& c) {
      return AdminClusterAddSlots(c, spec, ranges, req->config_epoch());
    });
    return Reply("ClusterAddSlots", req->node_id(), s);
  }

  grpc::Status ClusterReplicate(grpc::ServerContext*, const pb::ClusterReplicateRequest* req,
                                pb::Ack*) override {
    auto s = sup_.WithNode(req->node_id(), [&](const NodeSpec& spec, RedisConn& c) {
      return AdminClusterReplicate(c, spec, req->master_cluster_node_id());
    });
    return Reply("ClusterReplicate", req->node_id(), s, true);
  }

  grpc::Status ReplicaOf(grpc::ServerContext*, const pb::ReplicaOfRequest* req,
                         pb::Ack*) override {
    auto s = sup_.WithNode(req->node_id(), [&](const NodeSpec& spec, RedisConn& c) {
      return AdminReplicaOf(c, spec, req->master_host(), req->master_port());
    });
    return Reply("ReplicaOf", req->node_id(), s);
  }

  // Resharding (agent/slot_mover.h, agent/slot_mover_rpc.h).
  grpc::Status MoveSlots(grpc::ServerContext* ctx, const pb::MoveSlotsRequest* req,
                         grpc::ServerWriter<pb::MoveSlotsProgress>* writer) override {
    return ServeMoveSlots(sup_, moves_, ctx, req, writer);
  }

  grpc::Status ClusterForget(grpc::ServerContext*, const pb::ForgetRequest* req,
                             pb::Ack*) override {
    return ServeClusterForget(sup_, req);
  }

  // Failover primitives and settings (NodeSupervisor; Redis side in node_failover.h).
  grpc::Status KillNode(grpc::ServerContext*, const pb::KillNodeRequest* req,
                        pb::NodeStatus* out) override {
    return Reply("KillNode", req->node_id(), sup_.KillNode(req->node_id(), out));
  }

  grpc::Status RestartNode(grpc::ServerContext*, const pb::RestartNodeRequest* req,
                           pb::NodeStatus* out) override {
    PeerRef peer;
    if (req->has_replica_of()) {
      peer.cluster_node_id = req->replica_of().cluster_node_id();
      peer.ip = req->replica_of().ip();
      peer.port = req->replica_of().port();
    }
    return Reply("RestartNode", req->node_id(),
                 sup_.RestartNode(req->node_id(), peer, req->ready_timeout_ms(), out));
  }

  grpc::Status Failover(grpc::ServerContext*, const pb::FailoverRequest* req,
                        pb::FailoverReply* out) override {
    PromoteMode mode;
    switch (req->mode()) {
      case pb::FAILOVER_COORDINATED: mode = PromoteMode::kCoordinated; break;
      case pb::FAILOVER_FORCE: mode = PromoteMode::kForce; break;
      case pb::FAILOVER_TAKEOVER: mode = PromoteMode::kTakeover; break;
      default:
        return Reply("Failover", req->node_id(),
                     MakeError(Errc::kInvalidArgument, "Failover: mode must be set"));
    }
    std::string method;
    uint32_t elapsed_ms = 0;
    auto s = sup_.Failover(req->node_id(), mode, req->timeout_ms(), req->force_timeout_ms(),
                           out->mutable_status(), &method, &elapsed_ms);
    out->set_method(method);
    out->set_elapsed_ms(elapsed_ms);
    return Reply("Failover", req->node_id(), s);
  }

  grpc::Status ReconfigureNode(grpc::ServerContext*, const pb::ReconfigureNodeRequest* req,
                               pb::NodeStatus* out) override {
    return Reply("ReconfigureNode", req->spec().node_id(),
                 sup_.ReconfigureNode(
                     FromProto(req->spec()), req->restart(), req->ready_timeout_ms(), out,
                     req->force_restart(),
                     std::set<std::string>(req->static_keys().begin(), req->static_keys().end())));
  }

 private:
  // `quiet`: expected, retried errors (NOT_FOUND status probes, REPLICATE before MEET
  // converged) are logged at debug.
  grpc::Status Reply(const char* rpc, const std::string& node_id, const Status& s,
                     bool quiet = false) {
    if (s.ok()) {
      log_->debug("[{}] {} ok", node_id, rpc);
      return grpc::Status::OK;
    }
    if (quiet) {
      log_->debug("[{}] {}: {}", node_id, rpc, s.error().message);
    } else {
      log_->warn("[{}] {}: {} ({})", node_id, rpc, s.error().message, ErrcName(s.error().code));
    }
    return ToGrpcStatus(s.error());
  }

  NodeSupervisor& sup_;
  std::shared_ptr<spdlog::logger> log_;
  MoveRegistry moves_;  // one running MoveSlots per source node
};

}  // namespace

grpc::Status ToGrpcStatus(const Error& e) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (e.code) {
    case Errc::kOk: return grpc::Status::OK;
    case Errc::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case Errc::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case Errc::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case Errc::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case Errc::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case Errc::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case Errc::kIo: code = grpc::StatusCode::INTERNAL; break;
    case Errc::kTimeout: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case Errc::kInternal: code = grpc::StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, e.message);
}

std::unique_ptr<grpc::Service> MakeAgentService(NodeSupervisor& supervisor) {
  return std::make_unique<AgentServiceImpl>(supervisor);
}

}  // namespace cf::agent
