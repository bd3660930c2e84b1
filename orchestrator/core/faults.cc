#include "orchestrator/core/faults.h"

#include "common/log.h"

namespace cf::orchestrator::faults {

api::ApiError StoreFailure(const Error& e) {
  Logger("api")->error("store error: {}", e.message);
  return api::InternalFailure("An internal error occurred: " + e.message);
}

api::ApiError GroupChangeFault(const Error& e, const std::string& group_id) {
  switch (e.code) {
    case Errc::kNotFound:
      return ReplicationGroupNotFound(group_id);
    case Errc::kAlreadyExists:
      return ReplicationGroupAlreadyExists(group_id);
    case Errc::kFailedPrecondition:
      return InvalidReplicationGroupState(e.message);
    case Errc::kInvalidArgument:
      return api::InvalidParameterValue(e.message);
    case Errc::kResourceExhausted:
      return InsufficientCacheClusterCapacity(e.message);
    default:
      return StoreFailure(e);
  }
}

}  // namespace cf::orchestrator::faults
