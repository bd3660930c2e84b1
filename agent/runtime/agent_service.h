// The Agent gRPC service (proto/cachefleet.proto): converts requests, calls the
// NodeSupervisor / node_admin functions and maps cf::Errc to gRPC status codes. Handlers do no
// locking of their own; per-node serialisation lives in NodeSupervisor.
#pragma once

#include <memory>

#include "common/result.h"

namespace grpc {
class Service;
class Status;
}  // namespace grpc

namespace cf::agent {

class NodeSupervisor;

// The service; register it with a grpc::ServerBuilder. `supervisor` must outlive it.
std::unique_ptr<grpc::Service> MakeAgentService(NodeSupervisor& supervisor);

// kInvalidArgument -> INVALID_ARGUMENT, kNotFound -> NOT_FOUND, kFailedPrecondition ->
// FAILED_PRECONDITION, kResourceExhausted -> RESOURCE_EXHAUSTED, kUnavailable -> UNAVAILABLE,
// kTimeout -> DEADLINE_EXCEEDED, kAlreadyExists -> ALREADY_EXISTS, else (kIo too) INTERNAL.
grpc::Status ToGrpcStatus(const Error& e);

}  // namespace cf::agent
