// Cache parameter groups and engine versions: DescribeCacheEngineVersions,
// DescribeCacheParameterGroups, DescribeCacheParameters, DescribeEngineDefaultParameters,
// CreateCacheParameterGroup, ModifyCacheParameterGroup, ResetCacheParameterGroup,
// DeleteCacheParameterGroup. Built-in groups come from configs/parameter_groups.yaml (read-only),
// user-created groups from the store. Every request is validated before any change; a change
// is one store transaction that bumps the group's generation, and the parameter applier
// (parameter_group_applier.h) brings every node of every replication group using it to that
// generation with ReconfigureNode (CONFIG SET). Static parameters make the nodes
// pending-reboot.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/catalog/parameter_group_catalog.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

class Store;

inline constexpr int kMaxParameterGroups = 150;

// A parameter group as the API shows it: built-in or user-created, with every parameter's
// effective value and source.
struct EffectiveParameterGroup {
  std::string name;
  std::string family;
  std::string description;
  bool builtin = false;
  bool cluster_enabled = false;
  std::map<std::string, std::string> values;   // every parameter of the family
  std::map<std::string, std::string> sources;  // user / system / engine-default
};

// Pure: the effective view of a built-in or user group.
EffectiveParameterGroup EffectiveBuiltin(const ParameterGroup& g, const ParameterCatalog& cat);
EffectiveParameterGroup EffectiveUser(const UserParameterGroup& g, const ParameterCatalog& cat);

// CreateCacheParameterGroup's name rule: 1-255 letters/digits/hyphens, first a letter, no
// "--", no trailing "-". Returns it lowercased, or the fault.
settings::Checked<std::string> NormalizeParameterGroupName(const std::string& raw);

std::string ParameterGroupArn(const OrchestratorConfig& cfg, const std::string& name);

class ParameterGroupFrontend {
 public:
  // poke() wakes the parameter applier after a change.
  ParameterGroupFrontend(Store& store, const OrchestratorConfig& config,
                         const ParameterCatalog& catalog, std::function<void()> poke);
  void Register(api::Dispatcher& dispatcher);

  // The user groups as the replication-group validator sees them (cluster mode from their
  // cluster-enabled value).
  static std::vector<ParameterGroup> UserGroupsForValidation(Store& store,
                                                             const ParameterCatalog& catalog);
  // nullopt = no such group (built-in or user); error = store failure.
  Result<std::optional<EffectiveParameterGroup>> Resolve(const std::string& name);

  std::optional<api::ApiError> DescribeCacheEngineVersions(const api::ApiRequest& req,
                                                           pugi::xml_node result);
  std::optional<api::ApiError> DescribeCacheParameterGroups(const api::ApiRequest& req,
                                                            pugi::xml_node result);
  std::optional<api::ApiError> DescribeCacheParameters(const api::ApiRequest& req,
                                                       pugi::xml_node result);
  std::optional<api::ApiError> DescribeEngineDefaultParameters(const api::ApiRequest& req,
                                                               pugi::xml_node result);
  std::optional<api::ApiError> CreateCacheParameterGroup(const api::ApiRequest& req,
                                                         pugi::xml_node result);
  std::optional<api::ApiError> ModifyCacheParameterGroup(const api::ApiRequest& req,
                                                         pugi::xml_node result);
  std::optional<api::ApiError> ResetCacheParameterGroup(const api::ApiRequest& req,
                                                        pugi::xml_node result);
  std::optional<api::ApiError> DeleteCacheParameterGroup(const api::ApiRequest& req,
                                                         pugi::xml_node result);

 private:
  std::optional<api::ApiError> ApplyChange(const EffectiveParameterGroup& g,
                                           std::map<std::string, std::string> set,
                                           std::map<std::string, std::string> reset,
                                           const std::string& event);
  Store& store_;
  const OrchestratorConfig& config_;
  const ParameterCatalog& catalog_;
  std::function<void()> poke_;
};

}  // namespace cf::orchestrator
