// ElastiCache faults the replication-group actions return, with the exact wire codes and HTTP
// statuses of elasticache-api.md §2 (the generic ones live in api/api_types.h).
#pragma once

#include <string>

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

}  // namespace cf::orchestrator::faults
