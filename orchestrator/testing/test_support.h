// Shared fixtures for the orchestrator unit tests: a temp directory, a config built in code,
// a store on disk, hosts registered straight into the store, and API request helpers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <pugixml.hpp>
#include <string>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator::testing {

inline OrchestratorConfig TestConfig() {
  OrchestratorConfig cfg;
  cfg.node_types = *ParseNodeTypes(
      "default: cache.t3.micro\nnode_types:\n  cache.t3.micro: {memory_gib: 0.5}\n"
      "  cache.r6g.large: {memory_gib: 13.07}\n");
  cfg.parameter_groups = *ParseParameterGroups(
      "parameter_groups:\n  - {name: default.redis7, family: redis7}\n"
      "  - {name: default.redis7.cluster.on, family: redis7, cluster_enabled: true}\n");
  cfg.region = "us-east-1";
  cfg.account_id = "123456789012";
  cfg.host_down_after_ms = 60000;
  cfg.operations.worker_threads = 2;
  cfg.operations.rpc_threads = 16;
  cfg.operations.poll_interval_ms = 2;
  cfg.operations.retry_initial_backoff_ms = 5;
  cfg.operations.retry_max_backoff_ms = 50;
  cfg.operations.agent_rpc_timeout_ms = 1000;
  cfg.operations.launch_timeout_ms = 2000;
  cfg.operations.step_wait_timeout_ms = 2000;
  cfg.operations.stop_grace_ms = 100;
  return cfg;
}

inline HostRecord TestHost(const std::string& id, const std::string& az, uint32_t port_start,
                           const std::string& endpoint = "127.0.0.1:1") {
  HostRecord h;
  h.host_id = id;
  h.address = "127.0.0.1";
  h.az = az;
  h.agent_endpoint = endpoint;
  h.port_range_start = port_start;
  h.port_range_end = port_start + 99;
  h.redis_versions = {"7.0.15"};
  h.boot_id = "boot-" + id;
  h.registered_ms = NowMs();
  h.last_heartbeat_ms = NowMs();
  return h;
}

class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("cf-orch-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline api::ApiRequest Request(const std::string& action,
                               std::map<std::string, std::string> params) {
  api::ApiRequest r;
  r.action = action;
  r.version = "2015-02-02";
  r.params = api::QueryParams(std::move(params));
  r.region = "us-east-1";
  r.request_id = "test-request";
  return r;
}

// Dispatches one API call; its answer goes into a "Result" child of `out` (of a scratch
// document when `out` is null). The operation fixtures' Call().
inline std::optional<api::ApiError> CallApi(api::Dispatcher& d, const std::string& action,
                                            const std::map<std::string, std::string>& params,
                                            pugi::xml_document* out) {
  pugi::xml_document scratch;
  pugi::xml_document& doc = out ? *out : scratch;
  return d.Dispatch(Request(action, params), doc.append_child("Result"));
}

// ModifyCacheParameterGroup's parameters: group `name` takes `values` (parameter -> value).
inline std::map<std::string, std::string> ParameterValuesRequest(
    const std::string& name, const std::map<std::string, std::string>& values) {
  std::map<std::string, std::string> p{{"CacheParameterGroupName", name}};
  int i = 0;
  for (const auto& [k, v] : values) {
    const std::string pre = "ParameterNameValues.ParameterNameValue." + std::to_string(++i);
    p[pre + ".ParameterName"] = k;
    p[pre + ".ParameterValue"] = v;
  }
  return p;
}

// Children of `parent` named `name`, in order.
inline std::vector<pugi::xml_node> Children(pugi::xml_node parent, const char* name) {
  std::vector<pugi::xml_node> out;
  for (auto c : parent.children(name)) out.push_back(c);
  return out;
}

}  // namespace cf::orchestrator::testing
