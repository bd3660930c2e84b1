// ElastiCache faults the orchestrator's actions return, with the exact wire codes and HTTP
// statuses of elasticache-api.md §2 (the generic ones live in api/api_types.h), and the one
// translation of a store error into a fault that every frontend uses.
#pragma once

#include <string>

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
api::ApiError StoreFailure(const Error& e);

// The fault for a group change the store refused (CreateGroup, BeginReshard, BeginDelete, ...):
// kNotFound -> ReplicationGroupNotFoundFault, kAlreadyExists -> ReplicationGroupAlreadyExists,
// kFailedPrecondition -> InvalidReplicationGroupState, kInvalidArgument ->
// InvalidParameterValue, kResourceExhausted -> InsufficientCacheClusterCapacity (the message is
// the store's), anything else -> StoreFailure.
api::ApiError GroupChangeFault(const Error& e, const std::string& group_id);

}  // namespace cf::orchestrator::faults
