// A standalone cache cluster: the primary a DeleteReplicationGroup with RetainPrimaryCluster=true
// kept (store table standalone_clusters, schema v5; store_standalone.cc). Its redis-server keeps
// running on its host and port (the port stays reserved); it no longer belongs to a replication
// group. DescribeCacheClusters can list these (Store::ListStandaloneClusters) with
// ReplicationGroupId absent (ShowCacheClustersNotInReplicationGroups).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cf::orchestrator {

struct StandaloneCluster {
  std::string cluster_id;       // the former member id, e.g. "rg-001"
  std::string former_group_id;  // the replication group it came from
  std::string host_id;
  uint32_t port = 0;
  std::string az;
  std::string status = "available";
  std::string cache_node_type;
  uint64_t maxmemory_bytes = 0;
  std::string engine = "redis";
  std::string engine_version;
  std::string parameter_group;
  std::string preferred_maintenance_window;
  std::string snapshot_window;
  int snapshot_retention_limit = 0;
  std::vector<std::string> security_group_ids;
  std::string notification_topic_arn;
  std::string notification_topic_status = "active";
  bool auto_minor_version_upgrade = true;
  int64_t create_time_ms = 0;  // the node's creation time
};

}  // namespace cf::orchestrator
