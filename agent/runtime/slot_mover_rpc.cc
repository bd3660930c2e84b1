#include "agent/runtime/slot_mover_rpc.h"

#include <cstdlib>

#include "agent/runtime/agent_service.h"
#include "agent/redis/node_spec.h"
#include "agent/nodes/node_supervisor.h"
#include "agent/redis/redis_conn.h"
#include "common/log.h"

namespace cf::agent {
namespace {

namespace pb = cachefleet::v1;

// How long a new attempt waits for the attempt it supersedes to stop (it stops between
// batches, then drains partly moved slots for up to cancel_drain_ms).
constexpr uint32_t kSupersedeWaitMs = 15000;

MovePeer FromProto(const pb::PeerNode& p) { return {p.cluster_node_id(), p.ip(), p.port()}; }

// Operator/benchmark overrides of the agent's mover defaults (used when the request leaves the
// setting at 0): CACHEFLEET_MOVER_MAX_BATCH_MS, CACHEFLEET_MOVER_BUSY_PERCENT,
// CACHEFLEET_MOVER_WHOLE_SLOTS and CACHEFLEET_MOVER_QUIET_COMPLETE (0 turns them off; agent/README.md).
uint32_t EnvOr(const char* name, uint32_t dflt) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  char* end = nullptr;
  unsigned long n = std::strtoul(v, &end, 10);
  return (end && *end == '\0' && n <= 100000) ? static_cast<uint32_t>(n) : dflt;
}

MoveSpec SpecFromRequest(const pb::MoveSlotsRequest& r) {
  MoveSpec s;
  s.move_id = r.move_id();
  s.attempt = r.attempt();
  s.source_node_id = r.source_node_id();
  s.target = FromProto(r.target());
  for (const auto& x : r.slots()) s.slots.push_back({x.start(), x.end()});
  for (const auto& o : r.other_primaries()) s.other_primaries.push_back(FromProto(o));
  if (r.migrate_timeout_ms() > 0) s.migrate_timeout_ms = r.migrate_timeout_ms();
  s.batch.max_batch_keys = r.max_batch_keys() > 0 ? r.max_batch_keys() : kDefaultMaxBatchKeys;
  s.batch.max_batch_bytes = r.max_batch_bytes() > 0 ? r.max_batch_bytes() : kDefaultMaxBatchBytes;
  s.batch.target_batch_ms = r.max_batch_ms() > 0
                                ? r.max_batch_ms()
                                : EnvOr("CACHEFLEET_MOVER_MAX_BATCH_MS", kDefaultMaxBatchMs);
  s.batch.busy_percent = EnvOr("CACHEFLEET_MOVER_BUSY_PERCENT", kDefaultBusyPercent);
  s.quiet_complete = EnvOr("CACHEFLEET_MOVER_QUIET_COMPLETE", s.quiet_complete ? 1 : 0) != 0;
  s.whole_slot_flights = EnvOr("CACHEFLEET_MOVER_WHOLE_SLOTS", s.whole_slot_flights ? 1 : 0) != 0;
  s.auth_password = r.auth_password();
  return s;
}

}  // namespace

void ToProto(const MoveSpec& spec, const MoveProgress& p, pb::MoveSlotsProgress* out) {
  out->set_move_id(spec.move_id);
  out->set_attempt(spec.attempt);
  out->set_slots_done(p.slots_done);
  out->set_slots_total(p.slots_total);
  out->set_keys_total(p.keys_total);
  out->set_keys_moved(p.keys_moved);
  out->set_bytes_moved(p.bytes_moved);
  for (const auto& r : p.completed) {
    auto* c = out->add_completed();
    c->set_start(r.start);
    c->set_end(r.end);
  }
  out->set_current_slot(p.current_slot);
  out->set_current_slot_keys_left(p.current_slot_keys_left);
  out->set_done(p.done);
  out->set_last_error(p.last_error);
  out->set_retries(p.retries);
}

grpc::Status ServeMoveSlots(NodeSupervisor& sup, MoveRegistry& moves, grpc::ServerContext* ctx,
                            const pb::MoveSlotsRequest* req,
                            grpc::ServerWriter<pb::MoveSlotsProgress>* writer) {
  auto log = cf::Logger("migration");
  MoveSpec spec = SpecFromRequest(*req);
  if (req->source_node_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "MoveSlots: source_node_id is empty");
  }
  // The source's port, and a check that it runs (the op lock is held only for this).
  Status found = sup.WithNode(req->source_node_id(), [&](const NodeSpec& ns, RedisConn&) -> Status {
    if (!ns.cluster_enabled) {
      return MakeError(Errc::kFailedPrecondition,
                       "MoveSlots: node " + ns.node_id + " runs with cluster mode off");
    }
    spec.source_port = ns.port;
    return {};
  });
  if (!found.ok()) return ToGrpcStatus(found.error());
  spec.source_host = sup.options().advertised_address;
  if (auto v = ValidateMoveSpec(spec); !v.ok()) return ToGrpcStatus(v.error());

  auto ticket = moves.Begin(spec.source_node_id, spec.move_id, spec.attempt, kSupersedeWaitMs);
  if (!ticket.ok()) {
    log->warn("[{}/{} {}] MoveSlots refused: {}", spec.move_id, spec.attempt,
              spec.source_node_id, ticket.error().message);
    return ToGrpcStatus(ticket.error());
  }
  std::shared_ptr<MoveRegistry::Ticket> t = *ticket;
  SlotMover mover(
      spec,
      [&](const MoveProgress& p) {
        pb::MoveSlotsProgress m;
        ToProto(spec, p, &m);
        return writer->Write(m);
      },
      [&] { return ctx->IsCancelled() || t->stop.load(); });
  Status s = mover.Run();
  moves.End(t);
  if (s.ok()) return grpc::Status::OK;
  if (t->stop.load()) {
    return grpc::Status(grpc::StatusCode::ABORTED,
                        "superseded by a newer attempt of move " + spec.move_id);
  }
  if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, s.error().message);
  log->warn("[{}/{} {}] MoveSlots failed: {} ({})", spec.move_id, spec.attempt,
            spec.source_node_id, s.error().message, ErrcName(s.error().code));
  return ToGrpcStatus(s.error());
}

grpc::Status ServeClusterForget(NodeSupervisor& sup, const pb::ForgetRequest* req) {
  std::vector<std::string> ids(req->forget_cluster_node_ids().begin(),
                               req->forget_cluster_node_ids().end());
  Status s = sup.WithNode(req->node_id(), [&](const NodeSpec& ns, RedisConn& conn) -> Status {
    if (!ns.cluster_enabled) {
      return MakeError(Errc::kFailedPrecondition,
                       "ClusterForget: node " + ns.node_id + " runs with cluster mode off");
    }
    if (ids.empty()) return {};
    std::vector<std::vector<std::string>> cmds;
    for (const auto& id : ids) cmds.push_back({"CLUSTER", "FORGET", id});
    auto r = conn.Pipeline(cmds);
    if (!r.ok()) return r.error();
    for (size_t i = 0; i < ids.size(); ++i) {
      if ((*r)[i].ok()) continue;
      const std::string& m = (*r)[i].error().message;
      if (m.find("Unknown node") != std::string::npos) continue;  // already forgotten
      Errc code = Errc::kFailedPrecondition;
      if (m.find("forget myself") != std::string::npos) code = Errc::kInvalidArgument;
      return MakeError(code, "ClusterForget " + ids[i] + " on " + ns.node_id + ": " + m);
    }
    return {};
  });
  if (!s.ok()) {
    cf::Logger("agent")->warn("[{}] ClusterForget: {} ({})", req->node_id(), s.error().message,
                              ErrcName(s.error().code));
    return ToGrpcStatus(s.error());
  }
  return grpc::Status::OK;
}

}  // namespace cf::agent
