#include "agent/redis/node_failover.h"

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "agent/redis/node_admin.h"
#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"

namespace cf::agent {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t MsLeft(Clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
}

Error Annotate(const Error& e, const std::string& what) {
  return MakeError(e.code, what + ": " + e.message);
}

struct Myself {
  bool master = false;
  bool owns_slots = false;
  std::string id;
  std::string master_id;
  uint64_t slots = 0;
};

Result<Myself> ReadMyself(RedisConn& c) {
  auto r = c.Command({"CLUSTER", "NODES"});
  if (!r.ok()) return r.error();
  auto nodes = ParseClusterNodes(r->str());
  if (!nodes.ok()) return nodes.error();
  const ClusterNodeEntry* me = FindMyself(*nodes);
  if (!me) return MakeError(Errc::kInternal, "no 'myself' line in CLUSTER NODES");
  Myself m;
  m.master = me->is_master();
  m.id = me->id;
  m.master_id = me->master_id;
  for (const auto& s : me->slots) m.slots += s.end - s.start + 1;
  m.owns_slots = m.slots > 0;
  return m;
}

Result<InfoMap> ReadReplication(RedisConn& c) {
  auto r = c.Command({"INFO", "replication"});
  if (!r.ok()) return r.error();
  return ParseInfo(r->str());
}

void SleepPoll(uint32_t poll_ms, Clock::time_point deadline) {
  auto until = std::min(Clock::now() + milliseconds(poll_ms), deadline);
  std::this_thread::sleep_until(until);
}

Result<std::string> PromoteCluster(RedisConn& c, const NodeSpec& spec, const PromoteOptions& o) {
  const std::string what = "Failover " + spec.node_id;
  if (!ArmDeadline(c, o.deadline)) return MakeError(Errc::kTimeout, what + ": deadline passed");
  auto me = ReadMyself(c);
  if (!me.ok()) return Annotate(me.error(), what);
  if (me->master) {
    if (me->owns_slots) return std::string("already primary");
    return MakeError(Errc::kFailedPrecondition,
                     what + ": the node is a master that owns no slots; nothing to take over");
  }
  std::string method;
  std::vector<std::string> argv = {"CLUSTER", "FAILOVER"};
  switch (o.mode) {
    case PromoteMode::kCoordinated: method = "CLUSTER FAILOVER"; break;
    case PromoteMode::kForce: method = "FORCE"; argv.push_back("FORCE"); break;
    case PromoteMode::kTakeover: method = "TAKEOVER"; argv.push_back("TAKEOVER"); break;
  }
  auto r = c.Command(argv);
  if (!r.ok()) return Annotate(r.error(), what + " (" + method + ")");
  auto escalate_at = Clock::now() + milliseconds(o.force_timeout_ms);
  bool escalated = o.mode != PromoteMode::kForce;
  Error last = MakeError(Errc::kTimeout, "still a replica");
  while (true) {
    SleepPoll(o.poll_ms, o.deadline);
    if (ArmDeadline(c, o.deadline)) {
      auto now_me = ReadMyself(c);
      if (now_me.ok()) {
        if (now_me->master && now_me->owns_slots) return method;
        last = MakeError(Errc::kTimeout, now_me->master ? "master without slots" : "still a replica");
      } else {
        last = now_me.error();
      }
    }
    if (!escalated && Clock::now() >= escalate_at && MsLeft(o.deadline) > 0) {
      escalated = true;
      ArmDeadline(c, o.deadline);
      auto t = c.Command({"CLUSTER", "FAILOVER", "TAKEOVER"});
      if (t.ok()) {
        method = "TAKEOVER";
      } else {
        last = t.error();  // e.g. it became master meanwhile ("send it to a replica"): poll on
      }
    }
    if (MsLeft(o.deadline) <= 0) {
      return MakeError(Errc::kTimeout, what + ": not a primary owning slots before the deadline (" +
                                           method + "): " + last.message);
    }
  }
}

// The address under which the primary lists replica `self_ip:self_port` (INFO replication
// slaveN:ip=...,port=...): the replica's connection source, which FAILOVER TO must match.
std::string ReplicaAddressOnPrimary(const InfoMap& primary_info, const std::string& self_ip,
                                    uint32_t self_port) {
  std::vector<std::string> candidates;
  for (const auto& [k, v] : primary_info) {
    if (k.rfind("slave", 0) != 0 || k.size() <= 5 ||
        !std::all_of(k.begin() + 5, k.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      continue;
    }
    std::string ip;
    uint32_t port = 0;
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string kv = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      size_t eq = kv.find('=');
      if (eq != std::string::npos) {
        if (kv.substr(0, eq) == "ip") ip = kv.substr(eq + 1);
        if (kv.substr(0, eq) == "port") port = static_cast<uint32_t>(std::strtoul(kv.c_str() + eq + 1, nullptr, 10));
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (port != self_port) continue;
    if (NormalizeIp(ip) == NormalizeIp(self_ip)) return ip;
    candidates.push_back(ip);
  }
  if (candidates.size() == 1) return candidates[0];
  return self_ip;
}

Result<std::string> PromoteStandalone(RedisConn& c, const NodeSpec& spec, const PromoteOptions& o) {
  const std::string what = "Failover " + spec.node_id;
  if (!ArmDeadline(c, o.deadline)) return MakeError(Errc::kTimeout, what + ": deadline passed");
  auto info = ReadReplication(c);
  if (!info.ok()) return Annotate(info.error(), what);
  if (InfoString(*info, "role") == "master") return std::string("already primary");

  std::function<void()> nudge_;
  auto wait_master = [&](const std::string& method) -> Result<std::string> {
    Error last = MakeError(Errc::kTimeout, "still a replica");
    while (true) {
      if (nudge_) nudge_();
      if (ArmDeadline(c, o.deadline)) {
        auto i = ReadReplication(c);
        if (i.ok() && InfoString(*i, "role") == "master") return method;
        if (!i.ok()) last = i.error();
      }
      if (MsLeft(o.deadline) <= 0) {
        return MakeError(Errc::kTimeout,
                         what + ": not a primary before the deadline (" + method + "): " + last.message);
      }
      SleepPoll(o.poll_ms, o.deadline);
    }
  };

  if (o.mode != PromoteMode::kCoordinated) {
    auto r = c.Command({"REPLICAOF", "NO", "ONE"});
    if (!r.ok()) return Annotate(r.error(), what + " (REPLICAOF NO ONE)");
    return wait_master("REPLICAOF NO ONE");
  }

  // Coordinated: FAILOVER TO us, sent to the primary we follow.
  std::string primary_host = InfoString(*info, "master_host");
  auto primary_port = static_cast<uint32_t>(InfoInt(*info, "master_port"));
  if (primary_host.empty() || primary_port == 0) {
    return MakeError(Errc::kFailedPrecondition, what + ": the replica follows no primary");
  }
  std::string where = primary_host + ":" + std::to_string(primary_port);
  int64_t left = MsLeft(o.deadline);
  if (left <= 0) return MakeError(Errc::kTimeout, what + ": deadline passed");
  RedisConn p({.host = primary_host,
               .port = static_cast<uint16_t>(primary_port),
               .connect_timeout_ms = static_cast<uint32_t>(std::min<int64_t>(o.connect_timeout_ms, left)),
               .command_timeout_ms = static_cast<uint32_t>(std::min<int64_t>(1000, left))});
  auto pinfo = ReadReplication(p);
  if (!pinfo.ok()) return Annotate(pinfo.error(), what + ": primary " + where);
  if (InfoString(*pinfo, "role") != "master") {
    return MakeError(Errc::kFailedPrecondition,
                     what + ": " + where + " (the replica's primary) is not a master");
  }
  std::string my_addr = ReplicaAddressOnPrimary(*pinfo, o.self_ip, spec.port);
  left = MsLeft(o.deadline);
  if (left <= 0 || !ArmDeadline(p, o.deadline)) return MakeError(Errc::kTimeout, what + ": deadline passed");
  auto r = p.Command({"FAILOVER", "TO", my_addr, std::to_string(spec.port), "TIMEOUT",
                      std::to_string(std::max<int64_t>(1, left))});
  if (!r.ok() && r.error().message.find("in progress") == std::string::npos) {
    return Annotate(r.error(), what + ": FAILOVER TO " + my_addr + " " +
                                   std::to_string(spec.port) + " on " + where);
  }
  // The primary now pauses writes and waits until the replica's acknowledged offset equals its
  // own; a replica acknowledges once a second, and the primary's GETACK is suppressed while
  // writes are paused. A replica answers REPLCONF GETACK from any client by sending an ACK to
  // its master (no reply to us), so nudge it until the switch happens: ~ms instead of <= 1 s.
  nudge_ = [&] {
    RedisConn n({.host = c.options().host,
                 .port = c.options().port,
                 .connect_timeout_ms = 50,
                 .command_timeout_ms = 50});
    if (!n.Append({"REPLCONF", "GETACK", "*"}).ok() || !n.Append({"PING"}).ok()) return;
    (void)n.GetReply();  // PING's reply: GETACK was processed
  };
  auto done = wait_master("FAILOVER");
  nudge_ = nullptr;
  if (!done.ok()) {
    RedisConn abort_conn({.host = primary_host,
                          .port = static_cast<uint16_t>(primary_port),
                          .connect_timeout_ms = 200,
                          .command_timeout_ms = 200});
    (void)abort_conn.Command({"FAILOVER", "ABORT"});  // best effort: unpause the primary
  }
  return done;
}

}  // namespace

bool ArmDeadline(RedisConn& conn, Clock::time_point deadline, uint32_t cap_ms) {
  int64_t left = MsLeft(deadline);
  if (left <= 0) return false;
  conn.SetCommandTimeout(static_cast<uint32_t>(std::clamp<int64_t>(left, 10, cap_ms)));
  return true;
}

Result<std::string> PromoteReplica(RedisConn& conn, const NodeSpec& spec, const PromoteOptions& o) {
  return spec.cluster_enabled ? PromoteCluster(conn, spec, o) : PromoteStandalone(conn, spec, o);
}

Status FollowClusterMaster(RedisConn& conn, const NodeSpec& spec, const std::string& master_id,
                           Clock::time_point deadline, uint32_t poll_ms) {
  const std::string what = "RestartNode " + spec.node_id + " as replica of " + master_id;
  Error last = MakeError(Errc::kTimeout, "not checked yet");
  while (true) {
    if (ArmDeadline(conn, deadline)) {
      auto me = ReadMyself(conn);
      if (!me.ok()) {
        last = me.error();
      } else if (me->id == master_id) {
        return MakeError(Errc::kInvalidArgument, what + ": that is the node itself");
      } else if (!me->master && me->master_id == master_id) {
        return {};
      } else if (me->owns_slots) {
        last = MakeError(Errc::kTimeout, "still claims " + std::to_string(me->slots) +
                                             " slot(s); waiting to learn the newer owner");
      } else {
        auto s = AdminClusterReplicate(conn, spec, master_id);
        if (s.ok()) return {};
        if (s.error().code == Errc::kInvalidArgument) return s;
        last = s.error();
      }
    }
    if (MsLeft(deadline) <= 0) {
      return MakeError(Errc::kTimeout, what + ": not following it before the deadline: " + last.message);
    }
    SleepPoll(poll_ms, deadline);
  }
}

}  // namespace cf::agent
