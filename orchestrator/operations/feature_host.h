// FeatureHost: what a feature folder registers itself with. The application object (app.h)
// builds one and hands it to each feature's constructor; the feature registers
//   * the handler of each of its OpKinds with the operation runner (AddHandler),
//   * its API actions with the dispatcher,
//   * its unsigned read-only JSON endpoints (AddGetJson, e.g. GET /cachefleet/operations),
//   * its background loops (AddLoop: started and stopped with the application).
// Where two features meet (one's listener is the other's loop), the application wires them;
// a feature never includes another feature for it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "orchestrator/catalog/parameter_group_catalog.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::api {
class Dispatcher;
}

namespace cf::orchestrator {

class AgentApi;
class OperationHandler;
class Store;

struct FeatureHost {
  using GetJson = std::function<std::string(const std::string& query)>;

  Store& store;
  const OrchestratorConfig& config;
  const ParameterCatalog& catalog;
  AgentApi& agents;
  const ReconcilerDeps& deps;  // the reconcilers' store, agents, RPC pool and settings
  api::Dispatcher& dispatcher;
  // Hands a newly written operation to the runner.
  std::function<void(int64_t op_id)> poke;
  // Registers the handler (not owned) of an operation kind.
  std::function<void(OpKind, OperationHandler*)> add_handler;
  // Registers an unsigned GET endpoint: exact path -> body of the raw query string.
  std::function<void(const std::string& path, GetJson)> add_get_json;
  // Registers a background loop (its Start and Stop).
  std::function<void(std::function<void()> start, std::function<void()> stop)> add_loop;
};

}  // namespace cf::orchestrator
