#include "agent/slots/slot_completion.h"

namespace cf::agent {
namespace {

using std::chrono::milliseconds;

constexpr uint32_t kPeerDownRetryMs = 5000;  // how long an unreachable other primary is skipped

}  // namespace

// SETSLOT S NODE <dst> on every other primary, written to all of them without waiting:
// best effort (gossip spreads the change anyway; this only shortens the window of
// redirects), and in parallel moves the other primaries are sources busy with their own
// MIGRATEs, so waiting for them would stall this move. Their replies are read before the
// next batch to the same peer (DrainOther), and at the end of the call.
void SlotCompleter::NodeOnOthersSend(const std::vector<uint32_t>& slots) {
  if (slots.empty()) return;
  const std::string& dst = s_.spec.target.cluster_node_id;
  for (auto& o : s_.others) {
    DrainOther(*o);
    if (o->replica || Clock::now() < o->down_until) continue;
    Status s = o->Ready();
    for (size_t i = 0; s.ok() && i < slots.size(); ++i) {
      s = o->conn.Append({"CLUSTER", "SETSLOT", std::to_string(slots[i]), "NODE", dst});
    }
    if (s.ok()) s = o->conn.Flush();
    if (!s.ok()) PeerDown(*o, s.error().message);
  }
}

void SlotCompleter::PeerDown(Peer& o, const std::string& why) {
  o.conn.Close();
  o.down_until = Clock::now() + milliseconds(kPeerDownRetryMs);
  s_.prog.last_error = "SETSLOT NODE on " + o.name() + ": " + why;
  s_.log->warn("{} {} (skipped for {} ms; gossip will inform it)", s_.tag, s_.prog.last_error,
            kPeerDownRetryMs);
}

// Reads the replies of NODE commands sent to another primary.
void SlotCompleter::DrainOther(Peer& o) {
  if (o.conn.pending() == 0) return;
  auto t0 = Clock::now();
  std::string first_error;
  while (o.conn.pending() > 0) {
    auto r = o.conn.GetReply();
    if (r.ok()) continue;
    if (!o.conn.connected()) {
      PeerDown(o, r.error().message);
      break;
    }
    std::string text = RedisText(r.error(), o.conn.where());
    if (Contains(text, "only with masters")) {
      if (!o.replica) s_.log->info("{} {} is a replica; no SETSLOT there", s_.tag, o.name());
      o.replica = true;  // a replica now: SETSLOT is refused there, and not needed
    } else if (first_error.empty()) {
      first_error = text;
    }
  }
  if (!first_error.empty()) {
    s_.prog.last_error = "SETSLOT NODE on " + o.name() + ": " + first_error;
    s_.log->warn("{} {}", s_.tag, s_.prog.last_error);
  }
  s_.AddStepTime("SETSLOT NODE (others, replies)", t0);
}

// The end of §5 for slots whose keys are all on the target: NODE on the target first, then
// the source and the other primaries (those two in parallel: both only need the target to
// have claimed the slots; see NodeOnOthersSend). Returns the slots the source refused because it still holds keys
// (they go back to the MIGRATE loop); errors are fatal.
//
// On the target, SETSLOT NODE of a slot it imports bumps its config epoch when it is not
// the highest and broadcasts a PONG to every node, and every node then scans all 16384
// slots twice for that PONG: one PONG per slot is what makes redis-cli need ~1 ms per empty
// slot, and would cost ~1.5 s of CPU on every node for 16384 slots. So for a batch, only the
// first importing slot gets the plain NODE (the epoch bump happens before any other claim of
// the batch), the last one too (its PONG carries the whole batch), and the slots between are
// set STABLE then NODE in the same pipeline: same end state, no PONG each. The other nodes
// learn from our explicit NODE (masters) and from those two PONGs and gossip (replicas).
//
// Quiet batches (spec.quiet_complete): the first plain NODE bumps the target's epoch only when
// it is not the cluster's unique highest, and then every node fsyncs its nodes.conf for the
// new epoch; the PONG broadcast reaches the other nodes before our explicit NODE does, so
// each of them rewrites and fsyncs nodes.conf for the claim as well. With two targets (3 -> 5)
// the targets take turns at being the highest, so every batch did that on every node (an
// fsync is 3-60 ms on this disk, a stall of each node's clients). A claim only needs the
// target's epoch above the source's (the only former owner); when the target's view shows
// that, every slot of the batch gets STABLE + NODE: no bump, no broadcast, masters learn from
// our NODE and replicas from gossip. The last batch of the call still ends with a plain NODE
// (its PONG tells every node at once).
Result<bool> SlotCompleter::TargetEpochAboveSource() {
  auto v = s_.ReadNodes(*s_.target);
  if (!v.ok()) return v.error();
  const ClusterNodeEntry* me = FindMyself(*v);
  const ClusterNodeEntry* src = FindNodeById(*v, s_.source_id);
  return me && src && me->config_epoch > src->config_epoch;
}

Result<std::vector<uint32_t>> SlotCompleter::Complete(const std::vector<uint32_t>& slots,
                                                      bool final_batch) {
  if (slots.empty()) return std::vector<uint32_t>{};
  const std::string& dst = s_.spec.target.cluster_node_id;
  auto node_cmd = [&](uint32_t s) -> Cmd { return {"CLUSTER", "SETSLOT", std::to_string(s), "NODE", dst}; };

  std::vector<uint32_t> importing;
  for (uint32_t s : slots) {
    if (!s_.target_owned.count(s)) importing.push_back(s);
  }
  bool quiet = false;
  if (s_.spec.quiet_complete && !importing.empty()) {
    auto above = TargetEpochAboveSource();
    if (!above.ok()) return above.error();
    quiet = *above;
  }
  Cmds tc;
  std::vector<uint32_t> tc_slot;  // slot of each target command (for messages)
  auto add = [&](Cmd c, uint32_t s) {
    tc.push_back(std::move(c));
    tc_slot.push_back(s);
  };
  if (quiet) {
    ++quiet_batches_;
    for (uint32_t s : slots) {
      bool plain = final_batch && !importing.empty() && s == importing.back();
      if (!s_.target_owned.count(s) && !plain) add({"CLUSTER", "SETSLOT", std::to_string(s), "STABLE"}, s);
      add(node_cmd(s), s);
    }
  } else {
    if (!importing.empty()) ++bump_batches_;
    if (!importing.empty()) add(node_cmd(importing.front()), importing.front());
    for (uint32_t s : slots) {
      if (!importing.empty() && (s == importing.front() || s == importing.back())) continue;
      if (!s_.target_owned.count(s)) add({"CLUSTER", "SETSLOT", std::to_string(s), "STABLE"}, s);
      add(node_cmd(s), s);
    }
    if (importing.size() > 1) add(node_cmd(importing.back()), importing.back());
  }

  auto t = s_.Pipe(*s_.target, tc, "SETSLOT NODE (target)");
  if (!t.ok()) return t.error();
  for (size_t i = 0; i < tc.size(); ++i) {
    if (!(*t)[i].ok()) {
      return MakeError(Errc::kFailedPrecondition,
                       "SETSLOT " + std::to_string(tc_slot[i]) + " " + tc[i][3] +
                           " on the target: " + (*t)[i].error().message + " (slot left open)");
    }
  }
  // Point of no return: the target owns these slots now.
  for (uint32_t s : slots) s_.target_owned.insert(s);
  Cmds sc;
  sc.reserve(slots.size());
  for (uint32_t s : slots) sc.push_back(node_cmd(s));
  NodeOnOthersSend(slots);
  auto s = s_.Pipe(*s_.source, sc, "SETSLOT NODE (source)");
  if (!s.ok()) return s.error();
  std::vector<uint32_t> finished, refused;
  for (size_t i = 0; i < slots.size(); ++i) {
    if ((*s)[i].ok()) {
      finished.push_back(slots[i]);
      continue;
    }
    std::string text = RedisText((*s)[i].error(), s_.source->conn.where());
    if (Contains(text, "only with masters")) {
      finished.push_back(slots[i]);  // the source turned replica after losing its last slot
    } else if (Contains(text, "still hold keys")) {
      refused.push_back(slots[i]);
      s_.log->warn("{} slot {}: the source still holds keys after the target took it; "
                "migrating them", s_.tag, slots[i]);
    } else {
      return MakeError(Errc::kFailedPrecondition,
                       "SETSLOT " + std::to_string(slots[i]) + " NODE on the source: " + text);
    }
  }
  for (uint32_t f : finished) s_.prog.completed.push_back({f, f});
  s_.prog.slots_done += static_cast<uint32_t>(finished.size());
  return refused;
}

Status SlotCompleter::FinishOnTarget(const std::vector<uint32_t>& slots) {
  if (slots.empty()) return {};
  Cmds cmds;
  for (uint32_t s : slots) {
    cmds.push_back({"CLUSTER", "SETSLOT", std::to_string(s), "NODE", s_.spec.target.cluster_node_id});
  }
  auto r = s_.Pipe(*s_.target, cmds, "SETSLOT NODE (target)");
  if (!r.ok()) return r.error();
  for (size_t i = 0; i < cmds.size(); ++i) {
    if (!(*r)[i].ok()) return (*r)[i].error();
  }
  NodeOnOthersSend(slots);
  for (uint32_t s : slots) s_.prog.completed.push_back({s, s});
  s_.prog.slots_done += static_cast<uint32_t>(slots.size());
  return {};
}

void SlotCompleter::DrainOthers() {
  for (auto& o : s_.others) DrainOther(*o);
}

}  // namespace cf::agent
