// DescribeCacheClusters: every node (member cache cluster) of every replication group and every
// standalone cache cluster (RetainPrimaryCluster; no ReplicationGroupId), as ElastiCache
// presents them. Ordered by CacheClusterId; MaxRecords 20-100; opaque Marker
// ("cfc1." + hex of the last id). ShowCacheNodeInfo adds CacheNodes with the endpoint.
#pragma once

#include <map>
#include <optional>
#include <pugixml.hpp>
#include <string>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

class Store;

struct DescribeClustersRequest {
  std::optional<std::string> cluster_id;  // lowercase
  int max_records = 100;
  std::string after;  // decoded Marker
  bool show_node_info = false;
  bool only_outside_groups = false;  // ShowCacheClustersNotInReplicationGroups
};

// CacheClusterId: 1-50 letters/digits/hyphens, first a letter, no "--", no trailing "-";
// returned lowercased. The fault names CacheClusterIdentifier like ElastiCache does.
settings::Checked<std::string> NormalizeCacheClusterId(const std::string& raw);
settings::Checked<DescribeClustersRequest> ValidateDescribeCacheClusters(
    const api::QueryParams& params);

std::string CacheClusterArn(const OrchestratorConfig& cfg, const std::string& id);

struct ClusterRenderInput {
  const ReplicationGroupRecord* group = nullptr;
  const NodeRecord* node = nullptr;
  std::string endpoint_address;  // "" = host unknown
  std::string parameter_status = "in-sync";
  bool show_node_info = false;
  // A standalone cache cluster (StandaloneCluster, store/store.h): no ReplicationGroupId; `group` and
  // `node` are built from its row (StandaloneRenderRecords).
  bool standalone = false;
};
// The records RenderCacheCluster takes, built from a standalone cluster's row.
void StandaloneRenderRecords(const StandaloneCluster& c, ReplicationGroupRecord& g, NodeRecord& n);
// Fills an empty <CacheCluster> element.
void RenderCacheCluster(const ClusterRenderInput& in, const OrchestratorConfig& cfg,
                        pugi::xml_node out);

class CacheClusterFrontend {
 public:
  CacheClusterFrontend(Store& store, const OrchestratorConfig& config)
      : store_(store), config_(config) {}
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> DescribeCacheClusters(const api::ApiRequest& req,
                                                     pugi::xml_node result);

 private:
  Store& store_;
  const OrchestratorConfig& config_;
};

}  // namespace cf::orchestrator
