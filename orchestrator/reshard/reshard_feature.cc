#include "orchestrator/reshard/reshard_feature.h"

namespace cf::orchestrator {

ReshardFeature::ReshardFeature(FeatureHost& host)
    : reconciler(host.deps, &board), frontend(host.store, host.config, host.poke, &board) {
  host.add_handler(OpKind::kReshardScaleOut, &reconciler);
  host.add_handler(OpKind::kReshardScaleIn, &reconciler);
  frontend.Register(host.dispatcher);
  host.add_get_json(kOperationsPath,
                    [this](const std::string& query) { return frontend.OperationsJson(query); });
}

}  // namespace cf::orchestrator
