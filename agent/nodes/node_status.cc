#include "agent/nodes/node_status.h"

#include <algorithm>

#include "agent/redis/redis_conn.h"
#include "cachefleet.pb.h"

namespace cf::agent {

Result<RedisObservation> ObserveRedis(RedisConn& conn, bool cluster_enabled) {
  std::vector<std::vector<std::string>> cmds = {{"INFO", "server", "replication", "memory", "keyspace"}};
  if (cluster_enabled) {
    cmds.push_back({"CLUSTER", "MYID"});
    cmds.push_back({"CLUSTER", "NODES"});
    cmds.push_back({"CLUSTER", "INFO"});
  }
  auto replies = conn.Pipeline(cmds);
  if (!replies.ok()) return replies.error();
  auto& r = *replies;
  for (auto& one : r) {
    if (!one.ok()) return one.error();
  }
  RedisObservation obs;
  obs.cluster_enabled = cluster_enabled;
  obs.info = ParseInfo(r[0]->str());
  if (cluster_enabled) {
    obs.myid = r[1]->str();
    auto nodes = ParseClusterNodes(r[2]->str());
    if (!nodes.ok()) return nodes.error();
    obs.nodes = std::move(*nodes);
    obs.cluster_info = ParseInfo(r[3]->str());
  }
  return obs;
}

void FillNodeStatus(const RedisObservation& obs, cachefleet::v1::NodeStatus* out) {
  const InfoMap& info = obs.info;
  out->set_redis_version(InfoString(info, "redis_version"));
  std::string role = InfoString(info, "role");
  out->set_role(role);
  if (role == "slave") {
    out->set_master_host(InfoString(info, "master_host"));
    out->set_master_port(static_cast<uint32_t>(InfoInt(info, "master_port")));
    out->set_master_link_up(InfoString(info, "master_link_status") == "up");
    out->set_repl_offset(InfoInt(info, "slave_repl_offset"));
  } else {
    out->set_repl_offset(InfoInt(info, "master_repl_offset"));
  }
  out->set_connected_replicas(static_cast<uint32_t>(InfoInt(info, "connected_slaves")));
  out->set_used_memory(static_cast<uint64_t>(InfoInt(info, "used_memory")));
  out->set_maxmemory(static_cast<uint64_t>(InfoInt(info, "maxmemory")));
  out->set_keys(InfoTotalKeys(info));

  if (!obs.cluster_enabled) return;
  const ClusterNodeEntry* me = FindMyself(obs.nodes);
  out->set_cluster_node_id(!obs.myid.empty() ? obs.myid : (me ? me->id : std::string()));
  out->set_cluster_state(InfoString(obs.cluster_info, "cluster_state"));
  out->set_cluster_known_nodes(static_cast<uint32_t>(InfoInt(obs.cluster_info, "cluster_known_nodes")));
  if (me) {
    if (me->is_replica()) out->set_master_cluster_node_id(me->master_id);
    out->set_config_epoch(me->config_epoch);
    for (const auto& r : me->slots) {
      auto* s = out->add_slots();
      s->set_start(r.start);
      s->set_end(r.end);
    }
  }
  std::vector<const ClusterNodeEntry*> owners;
  bool open = false;
  for (const auto& n : obs.nodes) {
    if (!n.open_slots.empty()) open = true;
    if (!n.slots.empty()) owners.push_back(&n);
    if (n.unhealthy()) out->add_unhealthy_peers(n.id);
    if (n.is_replica() && !n.master_id.empty()) {
      auto* v = out->add_replicas_seen();
      v->set_cluster_node_id(n.id);
      v->set_master_cluster_node_id(n.master_id);
    }
  }
  std::sort(owners.begin(), owners.end(), [](const ClusterNodeEntry* a, const ClusterNodeEntry* b) {
    return a->slots.front().start < b->slots.front().start;
  });
  for (const auto* n : owners) {
    auto* o = out->add_slot_owners();
    o->set_cluster_node_id(n->id);
    for (const auto& r : n->slots) {
      auto* s = o->add_ranges();
      s->set_start(r.start);
      s->set_end(r.end);
    }
  }
  out->set_has_open_slots(open);
}

}  // namespace cf::agent
