#include "orchestrator/groups/groups_feature.h"

namespace cf::orchestrator {

GroupsFeature::GroupsFeature(FeatureHost& host)
    : create(host.deps),
      remove(host.deps),
      frontend(host.store, host.config, host.poke),
      clusters(host.store, host.config),
      reaper(host.store, host.agents, host.config),
      standalone(host.store, host.config, [this] { reaper.Poke(); }) {
  host.add_handler(OpKind::kCreateGroup, &create);
  host.add_handler(OpKind::kDeleteGroup, &remove);
  frontend.Register(host.dispatcher);
  clusters.Register(host.dispatcher);
  standalone.Register(host.dispatcher);
  host.add_loop([this] { reaper.Start(); }, [this] { reaper.Stop(); });
}

}  // namespace cf::orchestrator
