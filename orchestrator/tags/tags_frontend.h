// AddTagsToResource, ListTagsForResource, RemoveTagsFromResource on replication groups, cache
// clusters and cache parameter groups, addressed by ARN:
//   arn:aws:elasticache:<region>:<account>:replicationgroup:<id> | cluster:<id> |
//   parametergroup:<name>   (region and account from the orchestrator config)
// Every call answers the resulting TagList. At most 50 tags per resource.
#pragma once

#include <optional>
#include <pugixml.hpp>
#include <string>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/store/store.h"
#include "orchestrator/tags/tag_store.h"

namespace cf::orchestrator {

struct ParsedArn {
  TagResource kind = TagResource::kReplicationGroup;
  std::string id;  // lowercase
  bool snapshot = false;  // "snapshot:<name>": no snapshots exist yet
};

// InvalidARN for anything that is not an ElastiCache ARN of this region and account with a
// supported resource type.
settings::Checked<ParsedArn> ParseElastiCacheArn(const std::string& arn,
                                                 const OrchestratorConfig& cfg);

class TagsFrontend {
 public:
  TagsFrontend(Store& store, const OrchestratorConfig& config) : store_(store), config_(config) {}
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> AddTagsToResource(const api::ApiRequest& req, pugi::xml_node result);
  std::optional<api::ApiError> ListTagsForResource(const api::ApiRequest& req,
                                                   pugi::xml_node result);
  std::optional<api::ApiError> RemoveTagsFromResource(const api::ApiRequest& req,
                                                      pugi::xml_node result);

 private:
  std::optional<api::ApiError> Change(const api::ApiRequest& req, pugi::xml_node result,
                                      bool add);
  Store& store_;
  const OrchestratorConfig& config_;
};

}  // namespace cf::orchestrator
