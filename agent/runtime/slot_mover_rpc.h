// gRPC glue for the resharding RPCs of the Agent service: MoveSlots (proto <-> SlotMover, one
// running move per source node through MoveRegistry) and ClusterForget. agent_service.cc
// forwards to these; the mover itself (agent/slot_mover.h) knows nothing of gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include "agent/slots/slot_mover.h"
#include "cachefleet.grpc.pb.h"

namespace cf::agent {

class NodeSupervisor;

// Converts the request (0 = agent default for every limit/timeout), resolves the local source
// node (NOT_FOUND unknown, UNAVAILABLE not running, FAILED_PRECONDITION cluster mode off), runs
// the SlotMover and streams its progress. A call that loses its client ends with CANCELLED;
// one superseded by a newer attempt of the same move with ABORTED.
grpc::Status ServeMoveSlots(NodeSupervisor& supervisor, MoveRegistry& moves,
                            grpc::ServerContext* ctx, const cachefleet::v1::MoveSlotsRequest* req,
                            grpc::ServerWriter<cachefleet::v1::MoveSlotsProgress>* writer);

// CLUSTER FORGET every id on the local node in one pipeline. Unknown ids are ignored;
// forgetting the node itself is INVALID_ARGUMENT; "Can't forget my master" is
// FAILED_PRECONDITION (repoint the replica first).
grpc::Status ServeClusterForget(NodeSupervisor& supervisor,
                                const cachefleet::v1::ForgetRequest* req);

// The proto form of one progress snapshot.
void ToProto(const MoveSpec& spec, const MoveProgress& p, cachefleet::v1::MoveSlotsProgress* out);

}  // namespace cf::agent
