// ElastiCache faults the orchestrator's actions return, with the exact wire codes and HTTP
// statuses of elasticache-api.md §2 (the generic ones live in api/api_types.h), and the one
// translation of a store error into a fault that every frontend uses.
#pragma once

#include <string>

#include "common/log.h"
#include "common/result.h"
#include "orchestrator/api/api_types.h"

namespace cf::orchestrator::faults {

inline api::ApiError ReplicationGroupNotFound(const std::string& id) {
  return {404, "ReplicationGroupNotFoundFault", "ReplicationGroup " + id + " not found."};
}
inline api::ApiError ReplicationGroupAlreadyExists(const std::string& id) {
  return {400, "ReplicationGroupAlreadyExists", "ReplicationGroup " + id + " already exists."};
}
inline api::ApiError InvalidReplicationGroupState(const std::string& message) {
  return {400, "InvalidReplicationGroupState", message};
}
inline api::ApiError InsufficientCacheClusterCapacity(const std::string& message) {
  return {400, "InsufficientCacheClusterCapacity", message};
}
inline api::ApiError CacheParameterGroupNotFound(const std::string& name) {
  return {404, "CacheParameterGroupNotFound", "CacheParameterGroup " + name + " not found."};
}
inline api::ApiError CacheSubnetGroupNotFound(const std::string& name) {
  return {400, "CacheSubnetGroupNotFoundFault", "CacheSubnetGroup " + name + " not found."};
}
inline api::ApiError TagQuotaPerResourceExceeded(const std::string& message) {
  return {400, "TagQuotaPerResourceExceeded", message};
}
inline api::ApiError NodeQuotaForClusterExceeded(const std::string& message) {
  return {400, "NodeQuotaForClusterExceeded", message};
}
inline api::ApiError NodeGroupsPerReplicationGroupQuotaExceeded(const std::string& message) {
  return {400, "NodeGroupsPerReplicationGroupQuotaExceeded", message};
}
inline api::ApiError NodeGroupNotFound(const std::string& group_id,
                                       const std::string& node_group_id) {
  return {404, "NodeGroupNotFoundFault",
          "NodeGroup " + node_group_id + " not found in replication group " + group_id + "."};
}
inline api::ApiError TestFailoverNotAvailable(const std::string& message) {
  return {400, "TestFailoverNotAvailableFault", message};
}
inline api::ApiError InvalidCacheClusterState(const std::string& message) {
  return {400, "InvalidCacheClusterState", message};
}
inline api::ApiError CacheClusterNotFound(const std::string& id) {
  return {404, "CacheClusterNotFound", "CacheCluster " + id + " not found."};
}

// A store error no fault describes: logged (logger "api") and answered InternalFailure (500).
inline api::ApiError StoreFailure(const Error& e) {
  Logger("api")->error("store error: {}", e.message);
  return api::InternalFailure("An internal error occurred: " + e.message);
}

// The fault for a group change the store refused (CreateGroup, BeginReshard, BeginDelete, ...):
// kNotFound -> ReplicationGroupNotFoundFault, kAlreadyExists -> ReplicationGroupAlreadyExists,
// kFailedPrecondition -> InvalidReplicationGroupState, kInvalidArgument ->
// InvalidParameterValue, kResourceExhausted -> InsufficientCacheClusterCapacity (the message is
// the store's), anything else -> StoreFailure.
inline api::ApiError GroupChangeFault(const Error& e, const std::string& group_id) {
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
