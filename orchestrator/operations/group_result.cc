#include "orchestrator/operations/group_result.h"

#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

OperationRecord NewPendingOperation(OpKind kind, Topology topology, int64_t now_ms) {
  OperationRecord op;
  op.kind = kind;
  op.topology = topology;
  op.state = OpState::kPending;
  op.step = "waiting for a worker";
  op.created_ms = now_ms;
  op.updated_ms = now_ms;
  return op;
}

Result<RenderContext> MakeRenderContext(Store& store, const OrchestratorConfig& config) {
  RenderContext ctx;
  ctx.region = config.region;
  ctx.account_id = config.account_id;
  auto hosts = store.ListHosts();
  if (!hosts) return hosts.error();
  const int64_t now = NowMs();
  for (auto& h : *hosts) {
    if (!HostIsUp(h, now, config.host_down_after_ms)) h.state = HostState::kDown;
    ctx.hosts[h.host_id] = std::move(h);
  }
  return ctx;
}

void RenderGroupResult(Store& store, const OrchestratorConfig& config, const GroupView& view,
                       pugi::xml_node result) {
  RenderContext ctx;
  if (auto made = MakeRenderContext(store, config); made) {
    ctx = std::move(*made);
  } else {
    ctx.region = config.region;
    ctx.account_id = config.account_id;
  }
  RenderReplicationGroup(view, ctx, result.append_child("ReplicationGroup"));
}

}  // namespace cf::orchestrator
