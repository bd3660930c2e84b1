// ReshardFrontend: the ModifyReplicationGroupShardConfiguration action and the operations
// endpoint.
//
// The action: parse (reshard_validator.h) -> load the group (ReplicationGroupNotFoundFault 404)
// -> check against it -> ONE store transaction (Store::BeginReshard): the group `modifying`, the
// new node groups and nodes placed (primary + the group's replica count, preferred AZs first,
// distinct hosts, warm ports, exactly as a create places them) with status `creating`, the
// removed node groups `deleting`, the operation (payload = the plan inputs) and the event
// "Modifying number of node groups from X to Y ..." -> answer with the ReplicationGroup (Status
// modifying) -> poke the runner. A rejection changes nothing.
//
// GET /cachefleet/operations[?group=<id>] (unsigned, read-only; what `cachefleet watch`
// reads): {"operations":[{...}]} with, per operation, newest first: id, group, kind ("reshard",
// "create-group", "delete-group"), op_kind, direction, state, step, progress_percentage,
// slots_done, slots_planned, keys_moved, keys_total, bytes_moved, keys_per_second, eta_seconds,
// retries, last_error, started_at, finished_at (ISO-8601 or null), started_ms, finished_ms,
// from_node_groups, to_node_groups and "moves" (one entry per slot move). Without `group`:
// every unfinished operation plus the last 20 finished ones.
//
// Handlers do no network I/O; they only touch the store and the live board.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/operations/feature_host.h"
#include "orchestrator/reshard/reshard_progress.h"
#include "orchestrator/reshard/reshard_reconciler.h"

namespace cf::orchestrator {

class Store;
class ReshardLiveBoard;

inline constexpr char kOperationsPath[] = "/cachefleet/operations";
inline constexpr int kFinishedOperationsListed = 20;

class ReshardFrontend {
 public:
  // poke(op_id) hands a new operation to the runner; board may be nullptr.
  ReshardFrontend(Store& store, const OrchestratorConfig& config, std::function<void(int64_t)> poke,
                  const ReshardLiveBoard* board);

  void Register(api::Dispatcher& dispatcher);

  std::optional<api::ApiError> ModifyReplicationGroupShardConfiguration(const api::ApiRequest& req,
                                                                        pugi::xml_node result);

  // The body of GET /cachefleet/operations; `query` is the raw query string.
  std::string OperationsJson(const std::string& query) const;

 private:
  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void(int64_t)> poke_;
  const ReshardLiveBoard* board_;
};

// ---------------------------------------------------------------------------------------------
// ReshardFeature: the reshard feature as the application registers it (app.h): the reconciler
// (kReshardScaleOut, kReshardScaleIn), the action and GET /cachefleet/operations (live
// progress). Here rather than in a reshard_feature.h: the folder holds at most 15 files.
struct ReshardFeature {
  explicit ReshardFeature(FeatureHost& host);
  ReshardLiveBoard board;  // the running moves' progress, between reconciler and frontend
  ReshardReconciler reconciler;
  ReshardFrontend frontend;
};

inline ReshardFeature::ReshardFeature(FeatureHost& host)
    : reconciler(host.deps, &board), frontend(host.store, host.config, host.poke, &board) {
  host.add_handler(OpKind::kReshardScaleOut, &reconciler);
  host.add_handler(OpKind::kReshardScaleIn, &reconciler);
  frontend.Register(host.dispatcher);
  host.add_get_json(kOperationsPath,
                    [this](const std::string& query) { return frontend.OperationsJson(query); });
}

}  // namespace cf::orchestrator
