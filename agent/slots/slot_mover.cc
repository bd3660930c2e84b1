#include "agent/slots/slot_mover.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "agent/redis/node_admin.h"
#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"
#include "common/log.h"

namespace cf::agent {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Cmd = std::vector<std::string>;
using Cmds = std::vector<Cmd>;
using Replies = std::vector<Result<RedisReply>>;

constexpr std::string_view kTargetReplied = "Target instance replied with error: ";
constexpr uint32_t kPeerDownRetryMs = 5000;  // how long an unreachable other primary is skipped
// ARGV = slot, count, slot, count, ...; returns keys1, sizes1, keys2, sizes2, ... (MEMORY USAGE;
// 0 for a key that vanished). Read-only; reads keys of several slots, all local (they exist
// in slots this node owns), hence the flags.
constexpr std::string_view kFetchScript = R"(#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 1, #ARGV, 2 do
  local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[i], ARGV[i + 1])
  local sizes = {}
  for j, k in ipairs(keys) do sizes[j] = redis.call('MEMORY', 'USAGE', k) or 0 end
  out[#out + 1] = keys
  out[#out + 1] = sizes
end
return out
)";
// Slots whose keys are all on the target are completed together (see RunRounds).
constexpr size_t kCompleteBatchSlots = 1024;
// Flights' worth of keys fetched per round (see Round).
constexpr uint64_t kFlightsPerFetch = 4;
// With whole-slot flights a fetch asks for at least this many keys (several whole slots), so
// small flights do not each need a fetch round trip.
constexpr uint64_t kMinWholeSlotFetchKeys = 256;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool Contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }

// Printable form of a key for messages (keys are binary-safe).
std::string Printable(std::string_view k, size_t max_len = 64) {
  std::string out;
  for (unsigned char c : k.substr(0, max_len)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (k.size() > max_len) out += "...";
  return out;
}

std::string Short(std::string_view id) { return std::string(id.substr(0, 8)); }

// One node we talk to, with AUTH re-sent after every (re)connect.
struct Peer {
  std::string role;  // "source", "target", "primary"
  std::string id;
  RedisConn conn;
  std::string password;
  Clock::time_point down_until{};  // other primaries: skipped until then after a failure
  bool replica = false;            // other primaries: turned out to be a replica; skipped

  Peer(std::string r, std::string i, RedisConnOptions o, std::string pw)
      : role(std::move(r)), id(std::move(i)), conn(std::move(o)), password(std::move(pw)) {}

  std::string name() const { return role + " " + conn.where(); }

  Status Ready() {
    if (conn.connected()) return {};
    if (auto s = conn.Connect(); !s.ok()) return s;
    if (!password.empty()) {
      auto r = conn.Command({"AUTH", password});
      if (!r.ok() && !Contains(r.error().message, "without any password configured")) {
        conn.Close();
        return MakeError(Errc::kFailedPrecondition, "AUTH on " + name() + ": " + r.error().message);
      }
    }
    return {};
  }
};

// The Redis text of an error reply ("redis h:p: <text>" -> "<text>").
std::string RedisText(const Error& e, const std::string& where) {
  std::string prefix = "redis " + where + ": ";
  return StartsWith(e.message, prefix) ? e.message.substr(prefix.size()) : e.message;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct SlotMover::Impl {
  // A slot of the current window.
  struct Work {
    uint32_t slot = 0;
    uint64_t keys_left = 0;
    bool target_owns = false;
    bool touched = false;  // keys of it reached the target through us (cannot roll back)
  };

  MoveSpec spec;
  ProgressSink sink;
  CancelCheck cancelled;
  std::shared_ptr<spdlog::logger> log = cf::Logger("migration");
  std::string tag;  // "[move/attempt src->dst]"

  std::unique_ptr<Peer> source, target;
  std::vector<std::unique_ptr<Peer>> others;
  std::string source_id;
  // Slots the target owns already (claimed before this call, or NODE'd by us): no IMPORTING,
  // no STABLE for them on the target.
  std::set<uint32_t> target_owned;
  uint32_t migrate_timeout_ms = kDefaultMigrateTimeoutMs;
  uint32_t big_key_timeout_ms = kDefaultMigrateTimeoutMs;

  MoveProgress prog;
  BatchSizer sizer{BatchLimits{}};
  bool sink_failed = false;
  bool draining = false;
  bool use_fetch_script = true;  // false once the source refused kFetchScript
  bool in_last_window = false;   // the window being moved is the call's last
  uint64_t quiet_batches = 0, bump_batches = 0;  // completion batches by kind (Complete)
  Clock::time_point drain_deadline{};
  Clock::time_point last_emit{};
  // Wall time and calls per step ("SETSLOT NODE (target)", "MIGRATE", ...), logged at the end:
  // where a slow move spent its time.
  std::map<std::string, std::pair<double, uint64_t>, std::less<>> step_time;

  void AddStepTime(std::string_view step, Clock::time_point t0) {
    auto it = step_time.find(step);
    if (it == step_time.end()) it = step_time.emplace(std::string(step), std::pair{0.0, 0}).first;
    it->second.first += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    it->second.second += 1;
  }

  // Server-side profile of a node (INFO cpu + commandstats): CPU ms of the process and usec
  // per command, read at the start and the end of the call; the differences, logged with the
  // step times, tell the node's own work (DUMP/serialisation in MIGRATE, RESTORE on the target,
  // the fetch script) apart from round trips and the agent's share of each step's wall time.
  struct ServerProfile {
    bool ok = false;
    double cpu_ms = 0;
    std::map<std::string, double> cmd_usec;  // "migrate", "eval", "restore-asking", ...
  };
  ServerProfile ReadProfile(Peer& p) {
    ServerProfile out;
    if (!p.Ready().ok()) return out;
    auto r = p.conn.Pipeline({{"INFO", "cpu"}, {"INFO", "commandstats"}});
    if (!r.ok() || !(*r)[0].ok() || !(*r)[1].ok()) return out;
    auto field = [](const std::string& text, const std::string& key) -> double {
      auto pos = text.find(key + ":");
      return pos == std::string::npos ? 0.0 : std::strtod(text.c_str() + pos + key.size() + 1, nullptr);
    };
    const std::string cpu = (*r)[0]->str();
    out.cpu_ms = 1000.0 * (field(cpu, "used_cpu_user") + field(cpu, "used_cpu_sys"));
    const std::string stats = (*r)[1]->str();
    for (size_t pos = 0; (pos = stats.find("cmdstat_", pos)) != std::string::npos;) {
      size_t colon = stats.find(':', pos);
      size_t eol = stats.find('\n', pos);
      if (colon == std::string::npos) break;
      std::string name = stats.substr(pos + 8, colon - pos - 8);
      size_t u = stats.find("usec=", colon);
      if (u != std::string::npos && (eol == std::string::npos || u < eol)) {
        out.cmd_usec[name] = std::strtod(stats.c_str() + u + 5, nullptr);
      }
      pos = colon;
    }
    out.ok = true;
    return out;
  }
  static std::string ProfileDelta(const ServerProfile& a, const ServerProfile& b) {
    if (!a.ok || !b.ok) return "n/a";
    std::string out = "cpu " + std::to_string(static_cast<long long>(b.cpu_ms - a.cpu_ms)) + " ms";
    std::vector<std::pair<double, std::string>> v;
    for (const auto& [k, us] : b.cmd_usec) {
      auto it = a.cmd_usec.find(k);
      double d = us - (it == a.cmd_usec.end() ? 0.0 : it->second);
      if (d >= 1000) v.push_back({d, k});
    }
    std::sort(v.rbegin(), v.rend());
    for (size_t i = 0; i < v.size() && i < 5; ++i) {
      out += ", " + v[i].second + " " + std::to_string(static_cast<long long>(v[i].first / 1000)) + " ms";
    }
    return out;
  }
  ServerProfile source_profile0, target_profile0;

  std::string StepTimes() const {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& [k, t] : step_time) {
      v.push_back({t.first, k + " " + std::to_string(static_cast<long long>(t.first)) + " ms/" +
                                std::to_string(t.second)});
    }
    std::sort(v.rbegin(), v.rend());
    std::string out;
    for (const auto& [ms, text] : v) out += (out.empty() ? "" : ", ") + text;
    return out;
  }

  Impl(MoveSpec s, ProgressSink k, CancelCheck c)
      : spec(std::move(s)), sink(std::move(k)), cancelled(std::move(c)), sizer(spec.batch) {
    tag = "[" + spec.move_id + "/" + std::to_string(spec.attempt) + " " + spec.source_node_id +
          "->" + Short(spec.target.cluster_node_id) + "]";
  }

  // ----- progress, cancel, retries ---------------------------------------------------------

  bool Cancelled() {
    if (draining) return Clock::now() > drain_deadline;
    return sink_failed || (cancelled && cancelled());
  }

  void Emit() {
    last_emit = Clock::now();
    if (sink_failed || !sink) {
      prog.completed.clear();
      return;
    }
    MoveProgress p = prog;
    p.completed = NormalizeSlotRanges(p.completed);
    auto t0 = Clock::now();
    bool delivered = sink(p);
    AddStepTime("progress", t0);
    if (!delivered) {
      sink_failed = true;
      log->warn("{} progress stream closed by the client", tag);
    }
    prog.completed.clear();
  }

  void MaybeEmit() {
    if (Clock::now() - last_emit >= milliseconds(spec.progress_interval_ms)) Emit();
  }

  void NoteRetry(const std::string& what) {
    ++prog.retries;
    prog.last_error = what;
    log->warn("{} retry {}: {}", tag, prog.retries, what);
    Emit();
  }

  // Sleeps the backoff of retry number `attempt` (0-based); false when cancelled meanwhile.
  bool Backoff(uint32_t attempt) {
    uint64_t ms = spec.retry_backoff_initial_ms;
    for (uint32_t i = 0; i < attempt && ms < spec.retry_backoff_max_ms; ++i) ms *= 2;
    ms = std::min<uint64_t>(ms, spec.retry_backoff_max_ms);
    auto until = Clock::now() + milliseconds(ms);
    while (Clock::now() < until) {
      if (Cancelled()) return false;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
  }

  // Pacing (BatchLimits::busy_percent): the source was busy with our work since `busy_from`;
  // stay idle for the matching share so its clients get their turn. Interrupted by a cancel.
  void Pace(Clock::time_point busy_from) {
    auto now = Clock::now();
    double busy_ms = std::chrono::duration<double, std::milli>(now - busy_from).count();
    double idle_ms = PaceIdleMs(busy_ms, spec.batch.busy_percent);
    if (idle_ms <= 0) return;
    auto idle = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(idle_ms));
    auto until = now + idle;
    while (Clock::now() < until && !Cancelled()) {
      std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), milliseconds(10)));
    }
    AddStepTime("pace (idle for clients)", now);
  }

  Error CancelError() const {
    return MakeError(Errc::kUnavailable, "move cancelled" + std::string(sink_failed ? " (client gone)" : ""));
  }

  // Runs idempotent `cmds` on `p`, retrying connection failures and timeouts with backoff.
  // The outer Result fails when the node stays unreachable (or we are cancelled); each inner
  // Result is one command's reply or error reply.
  Result<Replies> Pipe(Peer& p, const Cmds& cmds, std::string_view step) {
    auto t0 = Clock::now();
    struct Timed {
      Impl* self;
      std::string_view step;
      Clock::time_point t0;
      ~Timed() { self->AddStepTime(step, t0); }
    } timed{this, step, t0};
    for (uint32_t attempt = 0;; ++attempt) {
      Error err;
      if (auto s = p.Ready(); !s.ok()) {
        err = s.error();
      } else {
        auto r = p.conn.Pipeline(cmds);
        if (r.ok()) return r;
        err = r.error();
      }
      if (err.code == Errc::kFailedPrecondition) return err;  // AUTH refused: no retry helps
      if (attempt >= spec.max_retries) {
        return MakeError(err.code, std::string(step) + " on " + p.name() + " failed after " +
                                       std::to_string(attempt) + " retries: " + err.message);
      }
      NoteRetry(std::string(step) + " on " + p.name() + ": " + err.message);
      if (!Backoff(attempt)) return CancelError();
    }
  }

  // ----- prepare ---------------------------------------------------------------------------

  RedisConnOptions ConnOpts(const std::string& host, uint32_t port) const {
    return RedisConnOptions{.host = host,
                            .port = static_cast<uint16_t>(port),
                            .connect_timeout_ms = spec.connect_timeout_ms,
                            .command_timeout_ms = spec.command_timeout_ms};
  }

  Result<std::vector<ClusterNodeEntry>> ReadNodes(Peer& p) {
    auto r = Pipe(p, {{"CLUSTER", "NODES"}}, "CLUSTER NODES");
    if (!r.ok()) return r.error();
    if (!(*r)[0].ok()) return (*r)[0].error();
    return ParseClusterNodes((*r)[0]->str());
  }

  // ----- finishing slots -------------------------------------------------------------------

  // SETSLOT S NODE <dst> on every other primary, written to all of them without waiting:
  // best effort (gossip spreads the change anyway; this only shortens the window of
  // redirects), and in parallel moves the other primaries are sources busy with their own
  // MIGRATEs, so waiting for them would stall this move. Their replies are read before the
  // next batch to the same peer (DrainOther), and at the end of the call.
  void NodeOnOthersSend(const std::vector<uint32_t>& slots) {
    if (slots.empty()) return;
    const std::string& dst = spec.target.cluster_node_id;
    for (auto& o : others) {
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

  void PeerDown(Peer& o, const std::string& why) {
    o.conn.Close();
    o.down_until = Clock::now() + milliseconds(kPeerDownRetryMs);
    prog.last_error = "SETSLOT NODE on " + o.name() + ": " + why;
    log->warn("{} {} (skipped for {} ms; gossip will inform it)", tag, prog.last_error,
              kPeerDownRetryMs);
  }

  // Reads the replies of NODE commands sent to another primary.
  void DrainOther(Peer& o) {
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
        if (!o.replica) log->info("{} {} is a replica; no SETSLOT there", tag, o.name());
        o.replica = true;  // a replica now: SETSLOT is refused there, and not needed
      } else if (first_error.empty()) {
        first_error = text;
      }
    }
    if (!first_error.empty()) {
      prog.last_error = "SETSLOT NODE on " + o.name() + ": " + first_error;
      log->warn("{} {}", tag, prog.last_error);
    }
    AddStepTime("SETSLOT NODE (others, replies)", t0);
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
  Result<bool> TargetEpochAboveSource() {
    auto v = ReadNodes(*target);
    if (!v.ok()) return v.error();
    const ClusterNodeEntry* me = FindMyself(*v);
    const ClusterNodeEntry* src = FindNodeById(*v, source_id);
    return me && src && me->config_epoch > src->config_epoch;
  }

  Result<std::vector<uint32_t>> Complete(const std::vector<uint32_t>& slots, bool final_batch = false) {
    if (slots.empty()) return std::vector<uint32_t>{};
    const std::string& dst = spec.target.cluster_node_id;
    auto node_cmd = [&](uint32_t s) -> Cmd { return {"CLUSTER", "SETSLOT", std::to_string(s), "NODE", dst}; };

    std::vector<uint32_t> importing;
    for (uint32_t s : slots) {
      if (!target_owned.count(s)) importing.push_back(s);
    }
    bool quiet = false;
    if (spec.quiet_complete && !importing.empty()) {
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
      ++quiet_batches;
      for (uint32_t s : slots) {
        bool plain = final_batch && !importing.empty() && s == importing.back();
        if (!target_owned.count(s) && !plain) add({"CLUSTER", "SETSLOT", std::to_string(s), "STABLE"}, s);
        add(node_cmd(s), s);
      }
    } else {
      if (!importing.empty()) ++bump_batches;
      if (!importing.empty()) add(node_cmd(importing.front()), importing.front());
      for (uint32_t s : slots) {
        if (!importing.empty() && (s == importing.front() || s == importing.back())) continue;
        if (!target_owned.count(s)) add({"CLUSTER", "SETSLOT", std::to_string(s), "STABLE"}, s);
        add(node_cmd(s), s);
      }
      if (importing.size() > 1) add(node_cmd(importing.back()), importing.back());
    }

    auto t = Pipe(*target, tc, "SETSLOT NODE (target)");
    if (!t.ok()) return t.error();
    for (size_t i = 0; i < tc.size(); ++i) {
      if (!(*t)[i].ok()) {
        return MakeError(Errc::kFailedPrecondition,
                         "SETSLOT " + std::to_string(tc_slot[i]) + " " + tc[i][3] +
                             " on the target: " + (*t)[i].error().message + " (slot left open)");
      }
    }
    // Point of no return: the target owns these slots now.
    for (uint32_t s : slots) target_owned.insert(s);
    Cmds sc;
    sc.reserve(slots.size());
    for (uint32_t s : slots) sc.push_back(node_cmd(s));
    NodeOnOthersSend(slots);
    auto s = Pipe(*source, sc, "SETSLOT NODE (source)");
    if (!s.ok()) return s.error();
    std::vector<uint32_t> finished, refused;
    for (size_t i = 0; i < slots.size(); ++i) {
      if ((*s)[i].ok()) {
        finished.push_back(slots[i]);
        continue;
      }
      std::string text = RedisText((*s)[i].error(), source->conn.where());
      if (Contains(text, "only with masters")) {
        finished.push_back(slots[i]);  // the source turned replica after losing its last slot
      } else if (Contains(text, "still hold keys")) {
        refused.push_back(slots[i]);
        log->warn("{} slot {}: the source still holds keys after the target took it; "
                  "migrating them", tag, slots[i]);
      } else {
        return MakeError(Errc::kFailedPrecondition,
                         "SETSLOT " + std::to_string(slots[i]) + " NODE on the source: " + text);
      }
    }
    for (uint32_t f : finished) prog.completed.push_back({f, f});
    prog.slots_done += static_cast<uint32_t>(finished.size());
    return refused;
  }

  // ----- MIGRATE ---------------------------------------------------------------------------

  Cmd MigrateArgv(const MigrateCommand& c, uint32_t timeout_ms) const {
    Cmd a = {"MIGRATE", spec.target.ip, std::to_string(spec.target.port), "", "0",
             std::to_string(timeout_ms)};
    if (c.replace) a.push_back("REPLACE");
    if (!spec.auth_password.empty()) {
      a.push_back("AUTH");
      a.push_back(spec.auth_password);
    }
    a.push_back("KEYS");
    a.insert(a.end(), c.keys.begin(), c.keys.end());
    return a;
  }

  // Is the target still there and a master? kFailedPrecondition when it is a replica now;
  // OK when it answers as a master or does not answer (the caller keeps retrying).
  Status CheckTarget() {
    Status s = target->Ready();
    if (!s.ok()) return s.error().code == Errc::kFailedPrecondition ? s : Status{};
    auto r = target->conn.Command({"ROLE"});
    if (!r.ok()) return {};
    std::string role = r->at(0).str();
    if (role != "master") {
      return MakeError(Errc::kFailedPrecondition,
                       "the target " + target->conn.where() + " is a " + role +
                           " now (failover?); re-plan the move");
    }
    return {};
  }

  // BUSYKEY: compares the command's keys on both sides. True when keys present on both sides
  // exist and all have the same value (resend with REPLACE); false when none is on both sides
  // any more (resend as is); kFailedPrecondition naming the keys when a value differs or the
  // target's copy cannot be read.
  Result<bool> ResolveBusyKeys(const MigrateCommand& c) {
    Cmds sc, tc;
    for (const auto& k : c.keys) {
      sc.push_back({"DUMP", k});
      sc.push_back({"PTTL", k});
      tc.push_back({"ASKING"});
      tc.push_back({"DUMP", k});
      tc.push_back({"ASKING"});
      tc.push_back({"PTTL", k});
    }
    auto sr = Pipe(*source, sc, "DUMP (source)");
    if (!sr.ok()) return sr.error();
    auto tr = Pipe(*target, tc, "DUMP (target)");
    if (!tr.ok()) return tr.error();
    std::vector<std::string> differ;
    size_t same = 0;
    std::string ttl_note;
    for (size_t i = 0; i < c.keys.size(); ++i) {
      const auto& sd = (*sr)[2 * i];
      const auto& td = (*tr)[4 * i + 1];
      // Gone from the source (nil, or ASK once a key is missing): MIGRATE skips it.
      if (!sd.ok() || sd->is_nil()) continue;
      if (!td.ok()) {  // cannot see the target's copy: never overwrite what we did not compare
        differ.push_back(c.keys[i] + " (target: " + td.error().message + ")");
        continue;
      }
      if (td->is_nil()) continue;  // not on the target: not a busy one
      bool equal = sd->str() == td->str();
      if (!equal) equal = DigestsEqual(c.keys[i]);
      if (!equal) {
        differ.push_back(c.keys[i]);
        continue;
      }
      ++same;
      const auto& st = (*sr)[2 * i + 1];
      const auto& tt = (*tr)[4 * i + 3];
      if (st.ok() && tt.ok() && ttl_note.empty() &&
          (st->integer() < 0) != (tt->integer() < 0)) {
        ttl_note = "; TTL differs for " + Printable(c.keys[i]) + " (source " +
                   std::to_string(st->integer()) + " ms, target " + std::to_string(tt->integer()) +
                   " ms): the source's TTL is kept";
      }
    }
    if (!differ.empty()) {
      std::string names;
      for (size_t i = 0; i < differ.size() && i < 10; ++i) {
        names += (i ? ", " : "") + Printable(differ[i]);
      }
      if (differ.size() > 10) names += ", ... (" + std::to_string(differ.size()) + " keys)";
      return MakeError(Errc::kFailedPrecondition,
                       "BUSYKEY in slot " + std::to_string(c.slot) + ": the target already holds " +
                           std::to_string(differ.size()) + " key(s) with a value different from "
                           "the source's: " + names + ". Not overwritten; the slot stays open. "
                           "Decide which copy is right, delete the other, then retry the move");
    }
    if (same == 0) {
      prog.last_error = "BUSYKEY in slot " + std::to_string(c.slot) +
                        ": no key is on both sides any more; resending";
      return false;
    }
    prog.last_error = "BUSYKEY in slot " + std::to_string(c.slot) + ": " + std::to_string(same) +
                      " key(s) already on the target with identical values; resending with "
                      "REPLACE" + ttl_note;
    return true;
  }

  // DEBUG DIGEST-VALUE on both sides (order-independent for hashes and sets, unlike DUMP).
  // False when DEBUG is not allowed or the digests differ.
  bool DigestsEqual(const std::string& key) {
    auto s = Pipe(*source, {{"DEBUG", "DIGEST-VALUE", key}}, "DEBUG DIGEST-VALUE (source)");
    auto t = Pipe(*target, {{"ASKING"}, {"DEBUG", "DIGEST-VALUE", key}}, "DEBUG DIGEST-VALUE (target)");
    if (!s.ok() || !t.ok() || !(*s)[0].ok() || !(*t)[1].ok()) return false;
    return (*s)[0]->at(0).str() == (*t)[1]->at(0).str() && !(*s)[0]->at(0).str().empty();
  }

  // Runs one flight (pipelined MIGRATEs). Marks slots touched, counts keys and bytes.
  // `covered` (slot -> keys) counts the keys of commands that returned OK or NOKEY.
  Status RunFlight(Flight& f, std::vector<Work>& window, std::map<uint32_t, uint64_t>* covered) {
    std::vector<bool> done(f.commands.size(), false);
    uint32_t timeout = f.oversized ? big_key_timeout_ms : migrate_timeout_ms;
    for (uint32_t attempt = 0;; ++attempt) {
      std::vector<size_t> idx;
      Cmds cmds;
      for (size_t i = 0; i < f.commands.size(); ++i) {
        if (done[i]) continue;
        idx.push_back(i);
        cmds.push_back(MigrateArgv(f.commands[i], timeout));
      }
      if (idx.empty()) return {};
      if (attempt > 2 * spec.max_retries + 2) {  // BUSYKEY resends included: never unbounded
        return MakeError(Errc::kUnavailable,
                         "MIGRATE of slot " + std::to_string(f.commands[idx[0]].slot) +
                             " keeps failing after " + std::to_string(attempt) +
                             " attempts: " + prog.last_error + " (slot left open)");
      }

      std::string retry_reason;
      bool backoff = true;
      Status ready = source->Ready();
      if (!ready.ok()) {
        if (ready.error().code == Errc::kFailedPrecondition) return ready;
        retry_reason = ready.error().message;
      } else {
        source->conn.SetCommandTimeout(spec.migrate_reply_timeout_ms);
        auto tm = Clock::now();
        auto r = source->conn.Pipeline(cmds);
        AddStepTime("MIGRATE", tm);
        source->conn.SetCommandTimeout(spec.command_timeout_ms);
        if (!r.ok()) {
          retry_reason = "no reply to MIGRATE: " + r.error().message;
        } else {
          for (size_t j = 0; j < idx.size(); ++j) {
            MigrateCommand& c = f.commands[idx[j]];
            const auto& rep = (*r)[j];
            if (rep.ok()) {
              done[idx[j]] = true;
              (*covered)[c.slot] += c.keys.size();
              if (rep->str() != "NOKEY") {
                prog.keys_moved += c.keys.size();
                prog.bytes_moved += c.bytes;
                for (auto& w : window) {
                  if (w.slot == c.slot) w.touched = true;
                }
              }
              continue;
            }
            std::string text = RedisText(rep.error(), source->conn.where());
            Status verdict = ClassifyMigrateError(c, text, &retry_reason, &backoff);
            if (!verdict.ok()) return verdict;
          }
        }
      }
      if (retry_reason.empty()) continue;  // only REPLACE resends left, or all done
      if (attempt >= spec.max_retries) {
        return MakeError(Errc::kUnavailable, "MIGRATE of slot " +
                                                 std::to_string(f.commands[idx[0]].slot) +
                                                 " failed after " + std::to_string(attempt) +
                                                 " retries: " + retry_reason + " (slot left open)");
      }
      NoteRetry(retry_reason);
      if (backoff) {
        if (!Backoff(attempt)) return CancelError();
        if (auto s = CheckTarget(); !s.ok()) return s;
      }
    }
  }

  // Decides what a MIGRATE error reply means. Returns an error to stop; otherwise sets
  // `retry_reason` (retry the command) or leaves it empty after arranging a REPLACE resend.
  Status ClassifyMigrateError(MigrateCommand& c, const std::string& text,
                              std::string* retry_reason, bool* backoff) {
    const std::string slot = std::to_string(c.slot);
    if (StartsWith(text, "IOERR")) {
      *retry_reason = "MIGRATE slot " + slot + ": " + text;
      return {};
    }
    size_t p = text.find(kTargetReplied);
    if (p == std::string::npos) {
      // The source itself refused.
      if (StartsWith(text, "MOVED") || StartsWith(text, "ASK")) {
        return MakeError(Errc::kFailedPrecondition,
                         "the source no longer owns slot " + slot + " (" + text + "); re-read "
                         "the topology and recover the slot");
      }
      if (StartsWith(text, "CLUSTERDOWN") || StartsWith(text, "LOADING") ||
          StartsWith(text, "BUSY ") || StartsWith(text, "TRYAGAIN")) {
        return MakeError(Errc::kUnavailable, "MIGRATE slot " + slot + " refused by the source: " +
                                                 text + " (slot left open)");
      }
      return MakeError(Errc::kFailedPrecondition,
                       "MIGRATE slot " + slot + " refused by the source: " + text +
                           " (slot left open)");
    }
    std::string inner = text.substr(p + kTargetReplied.size());
    if (StartsWith(inner, "CLUSTERDOWN")) {
      return MakeError(Errc::kUnavailable,
                       "target says " + inner + " (slot " + slot + " left open)");
    }
    switch (ClassifyRedisError(inner)) {
      case RedisErrorKind::kBusyKey: {
        if (c.replace) {
          return MakeError(Errc::kInternal, "BUSYKEY despite REPLACE in slot " + slot + ": " + inner);
        }
        auto busy = ResolveBusyKeys(c);
        if (!busy.ok()) return busy.error();
        if (*busy) c.replace = true;
        ++prog.retries;
        log->warn("{} {}", tag, prog.last_error);
        Emit();
        return {};  // resent at once, with REPLACE
      }
      case RedisErrorKind::kMoved:
      case RedisErrorKind::kAsk: {
        // The target is not importing the slot (lost its mark): mark it again and retry.
        auto r = Pipe(*target, {{"CLUSTER", "SETSLOT", slot, "IMPORTING", source_id}},
                      "SETSLOT IMPORTING (target)");
        if (!r.ok()) return r.error();
        if (!(*r)[0].ok()) {
          return MakeError(Errc::kFailedPrecondition,
                           "target refused to import slot " + slot + " again: " +
                               (*r)[0].error().message);
        }
        *retry_reason = "target answered " + inner + " for slot " + slot + "; IMPORTING re-set";
        *backoff = false;
        return {};
      }
      case RedisErrorKind::kReadOnly:
        return MakeError(Errc::kFailedPrecondition,
                         "the target is no longer a primary (" + inner + "); slot " + slot +
                             " left open, re-plan the move");
      case RedisErrorKind::kLoading:
      case RedisErrorKind::kTryAgain:
      case RedisErrorKind::kBusy:
      case RedisErrorKind::kMasterDown:
        return MakeError(Errc::kUnavailable,
                         "target says " + inner + " (slot " + slot + " left open; retry later)");
      case RedisErrorKind::kOom:
        return MakeError(Errc::kFailedPrecondition,
                         "target is out of memory (" + inner + "); slot " + slot +
                             " left open: resize the target or roll back");
      default:
        return MakeError(Errc::kFailedPrecondition,
                         "target refused MIGRATE of slot " + slot + ": " + inner +
                             " (slot left open)");
    }
  }

  // ----- windows ---------------------------------------------------------------------------

  // GETKEYSINSLOT for the asked slots and, with size_keys, MEMORY USAGE of every key.
  // Sizing every key (not a sample) is what finds the one huge key hidden among small ones
  // (pitfall 1); it costs ~1-2 us per key on the source against ~20 us for MIGRATE itself.
  // Both run in one server-side script (one round trip, no per-key command parsing); a server
  // that refuses the script gets two pipelines instead.
  Status Fetch(const std::vector<Work>& pending,
               const std::vector<std::pair<size_t, uint64_t>>& asked,
               std::vector<SlotKeys>* fetched) {
    fetched->clear();
    if (spec.size_keys && spec.fetch_script && use_fetch_script) {
      Cmd ev = {"EVAL", std::string(kFetchScript), "0"};
      for (auto [i, n] : asked) {
        ev.push_back(std::to_string(pending[i].slot));
        ev.push_back(std::to_string(n));
      }
      auto r = Pipe(*source, {ev}, "GETKEYSINSLOT+MEMORY USAGE (script)");
      if (!r.ok()) return r.error();
      const auto& rep = (*r)[0];
      if (rep.ok() && rep->size() == 2 * asked.size()) {
        for (size_t j = 0; j < asked.size(); ++j) {
          SlotKeys sk;
          sk.slot = pending[asked[j].first].slot;
          RedisReply keys = rep->at(2 * j), sizes = rep->at(2 * j + 1);
          for (size_t k = 0; k < keys.size(); ++k) {
            long long b = sizes.at(k).integer();
            sk.keys.push_back({keys.at(k).str(), b > 0 ? static_cast<uint64_t>(b) : 0});
          }
          fetched->push_back(std::move(sk));
        }
        return {};
      }
      use_fetch_script = false;
      log->warn("{} the source refused the fetch script ({}); using GETKEYSINSLOT and MEMORY "
                "USAGE pipelines", tag, rep.ok() ? "unexpected reply" : rep.error().message);
    }
    Cmds cmds;
    for (auto [i, n] : asked) {
      cmds.push_back({"CLUSTER", "GETKEYSINSLOT", std::to_string(pending[i].slot), std::to_string(n)});
    }
    auto g = Pipe(*source, cmds, "GETKEYSINSLOT");
    if (!g.ok()) return g.error();
    size_t nkeys = 0;
    for (size_t j = 0; j < asked.size(); ++j) {
      if (!(*g)[j].ok()) return (*g)[j].error();
      SlotKeys sk;
      sk.slot = pending[asked[j].first].slot;
      const RedisReply& arr = *(*g)[j];
      for (size_t k = 0; k < arr.size(); ++k) sk.keys.push_back({arr.at(k).str(), 0});
      nkeys += sk.keys.size();
      fetched->push_back(std::move(sk));
    }
    if (!spec.size_keys || nkeys == 0) return {};
    Cmds mc;
    mc.reserve(nkeys);
    for (const auto& sk : *fetched) {
      for (const auto& k : sk.keys) mc.push_back({"MEMORY", "USAGE", k.key});
    }
    auto m = Pipe(*source, mc, "MEMORY USAGE");
    if (!m.ok()) return m.error();
    size_t n = 0;
    for (auto& sk : *fetched) {
      for (auto& k : sk.keys) {
        const auto& r = (*m)[n++];  // nil or ASK: the key is gone
        k.bytes = (r.ok() && r->is_integer()) ? static_cast<uint64_t>(r->integer()) : 0;
      }
    }
    return {};
  }

  // One round over `pending` (slots with keys): fetch, size, migrate, recount. Slots left
  // without keys move from `pending` to `ready`.
  Status Round(std::vector<Work>& pending, std::vector<uint32_t>* ready) {
    // Fetch.
    std::vector<std::pair<size_t, uint64_t>> asked;  // index into pending, keys asked
    // Keys for several flights per fetch: the fetch is a round trip and a blocking script of
    // its own, and with small (paced) flights it would otherwise come once per flight.
    uint64_t budget = uint64_t{sizer.fetch_keys()} * kFlightsPerFetch;
    if (spec.whole_slot_flights) budget = std::max<uint64_t>(budget, kMinWholeSlotFetchKeys);
    budget = std::min<uint64_t>(budget, std::max<uint64_t>(spec.batch.max_batch_keys, 1) * 2);
    for (size_t i = 0; i < pending.size() && budget > 0; ++i) {
      // One more than the count: getting fewer back proves the slot is empty (see below).
      uint64_t n = std::min<uint64_t>(pending[i].keys_left + 1, budget);
      // Whole-slot flights: a slot that does not fit waits for the next round (unless it is
      // the first: a slot bigger than the budget is fetched in parts).
      if (spec.whole_slot_flights && n < pending[i].keys_left + 1 && !asked.empty()) break;
      asked.push_back({i, n});
      budget -= n;
    }
    std::vector<SlotKeys> fetched;
    auto busy_from = Clock::now();
    if (auto s = Fetch(pending, asked, &fetched); !s.ok()) return s;
    if (spec.size_keys) {
      std::vector<uint64_t> sizes;
      for (const auto& sk : fetched) {
        for (const auto& k : sk.keys) sizes.push_back(k.bytes);
      }
      sizer.Observe(sizes);
    }

    // Migrate.
    std::map<uint32_t, uint64_t> covered;
    BatchLimits flight_limits = spec.batch;
    if (spec.whole_slot_flights) {
      flight_limits.flight_keys = std::max<uint32_t>(sizer.fetch_keys(), 1);  // at slot bounds
    } else {
      flight_limits.max_batch_keys = std::max<uint32_t>(sizer.fetch_keys(), 1);
    }
    std::vector<Flight> flights = PlanFlights(fetched, flight_limits);
    for (auto& f : flights) {
      if (f.oversized) {
        log->info("{} slot {}: key {} is {} bytes, over the {} byte batch budget: moving it "
                  "alone (MIGRATE timeout {} ms)", tag, f.commands[0].slot,
                  Printable(f.commands[0].keys[0]), f.bytes, spec.batch.max_batch_bytes,
                  big_key_timeout_ms);
      }
      auto tf = Clock::now();
      uint32_t retries_before = prog.retries;
      if (auto s = RunFlight(f, pending, &covered); !s.ok()) return s;
      if (!f.oversized && prog.retries == retries_before) {
        sizer.ObserveMigrate(f.keys, std::chrono::duration<double, std::milli>(Clock::now() - tf).count());
      }
      Pace(busy_from);  // the first flight's share includes the fetch
      busy_from = Clock::now();
      if (!pending.empty()) {
        prog.current_slot = pending.front().slot;
      }
      if (Cancelled()) break;
    }

    // Which slots are empty now: GETKEYSINSLOT returned fewer keys than asked (it returned
    // them all) and every MIGRATE of them succeeded. No key can appear in a MIGRATING slot
    // meanwhile (a missing key is ASKed to the target), so no COUNTKEYSINSLOT round trip is
    // needed; should one still be there, the source's NODE refuses ("still hold keys") and the
    // slot comes back here (Complete).
    for (size_t j = 0; j < asked.size(); ++j) {
      Work& w = pending[asked[j].first];
      uint64_t got = fetched[j].keys.size();
      uint64_t cov = covered[w.slot];
      if (got < asked[j].second && cov == got) {
        w.keys_left = 0;
        ready->push_back(w.slot);
      } else {
        w.keys_left = w.keys_left > cov ? w.keys_left - cov : 1;
      }
    }
    std::erase_if(pending, [](const Work& w) { return w.keys_left == 0; });
    if (!pending.empty()) {
      prog.current_slot = pending.front().slot;
      prog.current_slot_keys_left = pending.front().keys_left;
    } else {
      prog.current_slot_keys_left = 0;
    }
    return {};
  }

  // Rounds until every slot of `pending` is finished. Slots whose keys are all on the target
  // are completed (NODE everywhere) in batches: when kCompleteBatchSlots are ready, when the
  // oldest has waited complete_delay_ms, or when nothing else is left. Each batch costs every
  // node a config rewrite and an fsync (the target's PONG rebinds the slots on the source),
  // so completing per round would cost more than the MIGRATEs of small slots; meanwhile the
  // ready slots keep working through ASK. Stops early, with "cancelled", when Cancelled().
  Status RunRounds(std::vector<Work>& pending, std::vector<uint32_t> ready) {
    Clock::time_point ready_since = Clock::now();
    auto flush = [&]() -> Status {
      if (ready.empty()) return {};
      auto refused = Complete(ready, in_last_window && pending.empty());
      ready.clear();
      if (!refused.ok()) return refused.error();
      for (uint32_t s : *refused) pending.push_back(Work{s, 1, true, true});
      Emit();
      return {};
    };
    while (!pending.empty() || !ready.empty()) {
      if (!pending.empty()) {
        if (Cancelled()) {
          if (auto f = flush(); !f.ok()) return f;
          return CancelError();
        }
        size_t before = ready.size();
        if (auto s = Round(pending, &ready); !s.ok()) {
          Status f = flush();  // fully migrated slots are safe to finish
          if (!f.ok()) log->warn("{} completing ready slots after an error: {}", tag, f.error().message);
          return s;
        }
        if (before == 0 && !ready.empty()) ready_since = Clock::now();
      }
      if (!ready.empty() &&
          (pending.empty() || ready.size() >= kCompleteBatchSlots ||
           Clock::now() - ready_since >= milliseconds(spec.complete_delay_ms))) {
        if (auto f = flush(); !f.ok()) return f;
      } else {
        MaybeEmit();
      }
    }
    return {};
  }

  // Closes what can be closed after a stop: untouched slots go back to STABLE on both sides
  // when the target holds no key of them; the others get IMPORTING back and are returned (they
  // stay open, or are drained after a cancel).
  std::vector<Work> RollBack(std::vector<Work>& pending) {
    std::vector<Work> keep, untouched;
    for (auto& w : pending) (w.touched || w.target_owns ? keep : untouched).push_back(w);
    if (untouched.empty()) return keep;
    Cmds tc;
    for (auto& w : untouched) {
      tc.push_back({"CLUSTER", "SETSLOT", std::to_string(w.slot), "STABLE"});
      tc.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(w.slot)});
    }
    auto t = Pipe(*target, tc, "rollback: SETSLOT STABLE (target)");
    if (!t.ok()) {
      log->warn("{} rollback: {}; {} slot(s) stay open", tag, t.error().message, untouched.size());
      keep.insert(keep.end(), untouched.begin(), untouched.end());
      return keep;
    }
    Cmds sc, reimport;
    std::vector<uint32_t> stable;
    for (size_t i = 0; i < untouched.size(); ++i) {
      const auto& cnt = (*t)[2 * i + 1];
      std::string s = std::to_string(untouched[i].slot);
      if ((*t)[2 * i].ok() && cnt.ok() && cnt->integer() == 0) {
        sc.push_back({"CLUSTER", "SETSLOT", s, "STABLE"});
        stable.push_back(untouched[i].slot);
      } else {
        // Clients created keys there through ASK: the slot must be finished, not rolled back.
        reimport.push_back({"CLUSTER", "SETSLOT", s, "IMPORTING", source_id});
        untouched[i].touched = true;
        keep.push_back(untouched[i]);
      }
    }
    if (!reimport.empty()) (void)Pipe(*target, reimport, "rollback: SETSLOT IMPORTING (target)");
    if (!sc.empty()) {
      auto s = Pipe(*source, sc, "rollback: SETSLOT STABLE (source)");
      if (!s.ok()) log->warn("{} rollback on the source: {}", tag, s.error().message);
    }
    if (!stable.empty()) {
      log->info("{} rolled back {} untouched slot(s) to STABLE (first {})", tag, stable.size(),
                stable.front());
    }
    return keep;
  }

  // Moves one window of kMove slots.
  Status MoveWindow(std::vector<Work> window) {
    const std::string& dst = spec.target.cluster_node_id;
    // a. IMPORTING on the target (not for slots it already owns).
    Cmds ic;
    std::vector<uint32_t> islots;
    for (const auto& w : window) {
      if (w.target_owns) continue;
      ic.push_back({"CLUSTER", "SETSLOT", std::to_string(w.slot), "IMPORTING", source_id});
      islots.push_back(w.slot);
    }
    if (!ic.empty()) {
      auto r = Pipe(*target, ic, "SETSLOT IMPORTING (target)");
      if (!r.ok()) return r.error();
      for (size_t i = 0; i < ic.size(); ++i) {
        if (!(*r)[i].ok()) {
          Error e = MakeError(Errc::kFailedPrecondition,
                              "SETSLOT " + std::to_string(islots[i]) + " IMPORTING on the target: " +
                                  (*r)[i].error().message);
          RollBack(window);
          return e;
        }
      }
    }
    // b. MIGRATING + count on the source.
    Cmds mc;
    for (const auto& w : window) {
      mc.push_back({"CLUSTER", "SETSLOT", std::to_string(w.slot), "MIGRATING", dst});
      mc.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(w.slot)});
    }
    auto m = Pipe(*source, mc, "SETSLOT MIGRATING (source)");
    if (!m.ok()) {
      RollBack(window);
      return m.error();
    }
    std::vector<uint32_t> empty;
    std::vector<Work> pending;
    for (size_t i = 0; i < window.size(); ++i) {
      if (!(*m)[2 * i].ok() || !(*m)[2 * i + 1].ok()) {
        const Error& e = (*m)[2 * i].ok() ? (*m)[2 * i + 1].error() : (*m)[2 * i].error();
        Error out = MakeError(Errc::kFailedPrecondition,
                              "SETSLOT " + std::to_string(window[i].slot) +
                                  " MIGRATING on the source: " + e.message);
        RollBack(window);
        return out;
      }
      window[i].keys_left = static_cast<uint64_t>(std::max<long long>((*m)[2 * i + 1]->integer(), 0));
      if (window[i].keys_left == 0) {
        empty.push_back(window[i].slot);
      } else {
        pending.push_back(window[i]);
      }
    }
    // c+d. Empty slots are ready at once; the others go through rounds of MIGRATE.
    if (!pending.empty()) {
      prog.current_slot = pending.front().slot;
      prog.current_slot_keys_left = pending.front().keys_left;
    }
    Status s = RunRounds(pending, std::move(empty));
    if (s.ok()) return {};
    if (Cancelled() && !draining) return Cancel(pending);
    std::vector<Work> left = RollBack(pending);
    log->error("{} stopped: {} ({} slot(s) of the window left open)", tag, s.error().message,
               left.size());
    return s;
  }

  // After a cancel: roll back untouched slots, drain the touched ones for cancel_drain_ms.
  Status Cancel(std::vector<Work>& pending) {
    log->info("{} cancelled; closing {} open slot(s) of the current window", tag, pending.size());
    std::vector<Work> left = RollBack(pending);
    draining = true;
    drain_deadline = Clock::now() + milliseconds(spec.cancel_drain_ms);
    if (auto s = RunRounds(left, {}); !s.ok()) {
      log->warn("{} drain after cancel: {}", tag, s.error().message);
    }
    if (!left.empty()) {
      log->warn("{} {} partly moved slot(s) left open (first {}); the next call finishes them",
                tag, left.size(), left.front().slot);
    }
    draining = false;
    return CancelError();
  }

  // ----- the whole call --------------------------------------------------------------------

  Status Run() {
    if (auto s = ValidateMoveSpec(spec); !s.ok()) return s;
    auto t0 = Clock::now();
    std::vector<uint32_t> slots = ExpandSlots(NormalizeSlotRanges(spec.slots));
    prog.slots_total = static_cast<uint32_t>(slots.size());

    source = std::make_unique<Peer>("source", "", ConnOpts(spec.source_host, spec.source_port),
                                    spec.auth_password);
    target = std::make_unique<Peer>("target", spec.target.cluster_node_id,
                                    ConnOpts(spec.target.ip, spec.target.port), spec.auth_password);
    for (const auto& o : spec.other_primaries) {
      if (o.cluster_node_id == spec.target.cluster_node_id) continue;
      others.push_back(std::make_unique<Peer>("primary", o.cluster_node_id,
                                              ConnOpts(o.ip, o.port), spec.auth_password));
    }

    // Views and the node timeout.
    auto sv = ReadNodes(*source);
    if (!sv.ok()) return sv.error();
    auto tv = ReadNodes(*target);
    if (!tv.ok()) return tv.error();
    const ClusterNodeEntry* me = FindMyself(*sv);
    if (!me) return MakeError(Errc::kFailedPrecondition, "the source's CLUSTER NODES has no myself");
    source_id = me->id;
    source->id = source_id;
    std::erase_if(others, [&](const auto& o) { return o->id == source_id; });
    tag = "[" + spec.move_id + "/" + std::to_string(spec.attempt) + " " + spec.source_node_id +
          "(" + Short(source_id) + ")->" + Short(spec.target.cluster_node_id) + "]";
    uint32_t node_timeout_ms = 0;
    if (auto c = Pipe(*source, {{"CONFIG", "GET", "cluster-node-timeout"}}, "CONFIG GET");
        c.ok() && (*c)[0].ok()) {
      node_timeout_ms = static_cast<uint32_t>(std::strtoul((*c)[0]->at(1).str().c_str(), nullptr, 10));
    }
    migrate_timeout_ms = spec.migrate_timeout_ms;
    big_key_timeout_ms = migrate_timeout_ms;
    if (node_timeout_ms > 0) {
      migrate_timeout_ms = std::min(migrate_timeout_ms, std::max<uint32_t>(node_timeout_ms / 2, 100));
      big_key_timeout_ms = std::min(migrate_timeout_ms, std::max<uint32_t>(node_timeout_ms / 4, 100));
    }

    auto plan = ClassifySlots(*sv, *tv, spec.target.cluster_node_id, slots);
    if (!plan.ok()) return plan.error();
    std::vector<uint32_t> move, finish_on_target, clear_source_mark;
    std::vector<bool> target_owns;
    std::string conflicts;
    size_t nconflicts = 0, resumed = 0;
    for (const auto& p : *plan) {
      switch (p.action) {
        case SlotAction::kDone:
          prog.slots_done++;
          prog.completed.push_back({p.slot, p.slot});
          if (p.source_marked) clear_source_mark.push_back(p.slot);
          break;
        case SlotAction::kMove:
          move.push_back(p.slot);
          target_owns.push_back(p.target_owns);
          if (p.target_owns) target_owned.insert(p.slot);
          if (p.resumed) ++resumed;
          break;
        case SlotAction::kFinishOnTarget:
          finish_on_target.push_back(p.slot);
          break;
        case SlotAction::kConflict:
          if (nconflicts++ < 5) conflicts += (conflicts.empty() ? "" : "; ") +
                                             std::string("slot ") + std::to_string(p.slot) + ": " + p.reason;
          break;
      }
    }
    if (nconflicts > 0) {
      return MakeError(Errc::kFailedPrecondition,
                       std::to_string(nconflicts) + " slot(s) cannot be moved from " +
                           spec.source_node_id + ": " + conflicts + (nconflicts > 5 ? "; ..." : "") +
                           ". Nothing was changed");
    }
    bool source_master = me->is_master();
    if ((!move.empty() || !finish_on_target.empty()) && !source_master) {
      return MakeError(Errc::kFailedPrecondition,
                       "the source " + spec.source_node_id + " is not a primary (failover?)");
    }
    const ClusterNodeEntry* tme = FindMyself(*tv);
    if (!move.empty() && !tme->is_master()) {
      return MakeError(Errc::kFailedPrecondition, "the target is not a primary");
    }
    if (!move.empty() && !FindNodeById(*tv, source_id)) {
      return MakeError(Errc::kFailedPrecondition,
                       "the target does not know the source " + source_id + " yet (MEET first)");
    }
    if (!move.empty() && !FindNodeById(*sv, spec.target.cluster_node_id)) {
      return MakeError(Errc::kFailedPrecondition,
                       "the source does not know the target yet (MEET first)");
    }
    log->info("{} start: {} slot(s): {} to move ({} resumed), {} already on the target, {} to "
              "finish on the target; migrate timeout {} ms (big keys {} ms)", tag, slots.size(),
              move.size(), resumed, prog.slots_done, finish_on_target.size(), migrate_timeout_ms,
              big_key_timeout_ms);

    // Slots the source already gave up: the target must claim them at once.
    if (!finish_on_target.empty()) {
      Cmds cmds;
      for (uint32_t s : finish_on_target) {
        cmds.push_back({"CLUSTER", "SETSLOT", std::to_string(s), "NODE", spec.target.cluster_node_id});
      }
      auto r = Pipe(*target, cmds, "SETSLOT NODE (target)");
      if (!r.ok()) return r.error();
      for (size_t i = 0; i < cmds.size(); ++i) {
        if (!(*r)[i].ok()) return (*r)[i].error();
      }
      NodeOnOthersSend(finish_on_target);
      for (uint32_t s : finish_on_target) prog.completed.push_back({s, s});
      prog.slots_done += static_cast<uint32_t>(finish_on_target.size());
    }
    if (!clear_source_mark.empty()) {
      Cmds cmds;
      for (uint32_t s : clear_source_mark) {
        cmds.push_back({"CLUSTER", "SETSLOT", std::to_string(s), "NODE", spec.target.cluster_node_id});
      }
      auto r = Pipe(*source, cmds, "SETSLOT NODE (source, stale mark)");
      if (!r.ok()) log->warn("{} clearing stale marks on the source: {}", tag, r.error().message);
    }

    // Count keys (progress weights and windows).
    std::vector<uint64_t> counts(move.size(), 0);
    if (!move.empty()) {
      Cmds cmds;
      for (uint32_t s : move) cmds.push_back({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(s)});
      auto r = Pipe(*source, cmds, "COUNTKEYSINSLOT");
      if (!r.ok()) return r.error();
      for (size_t i = 0; i < move.size(); ++i) {
        if (!(*r)[i].ok()) return (*r)[i].error();
        counts[i] = static_cast<uint64_t>(std::max<long long>((*r)[i]->integer(), 0));
        prog.keys_total += counts[i];
      }
    }
    Emit();
    if (Cancelled()) return CancelError();
    source_profile0 = ReadProfile(*source);
    target_profile0 = ReadProfile(*target);

    const auto windows = PlanWindows(counts, spec.max_window_slots, spec.max_window_keys);
    for (const auto& w : windows) {
      if (Cancelled()) return CancelError();
      in_last_window = &w == &windows.back();
      std::vector<Work> window;
      for (size_t i = w.begin; i < w.end; ++i) {
        window.push_back(Work{move[i], counts[i], target_owns[i], false});
      }
      prog.current_slot = window.front().slot;
      prog.current_slot_keys_left = window.front().keys_left;
      if (auto s = MoveWindow(std::move(window)); !s.ok()) {
        prog.last_error = s.error().message;
        Emit();
        return s;
      }
    }

    for (auto& o : others) DrainOther(*o);
    prog.done = true;
    prog.current_slot_keys_left = 0;
    Emit();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::string source_prof = ProfileDelta(source_profile0, ReadProfile(*source));
    std::string target_prof = ProfileDelta(target_profile0, ReadProfile(*target));
    log->info("{} done: {} slot(s), {} key(s), ~{} bytes in {:.3f} s ({:.0f} keys/s), {} retries; "
              "completion batches: {} quiet, {} with epoch bump/broadcast; "
              "time by step: {}; source redis: {}; target redis: {}", tag, prog.slots_done,
              prog.keys_moved, prog.bytes_moved, secs,
              secs > 0 ? static_cast<double>(prog.keys_moved) / secs : 0.0, prog.retries,
              quiet_batches, bump_batches, StepTimes(), source_prof, target_prof);
    return {};
  }
};

// ---------------------------------------------------------------------------------------------

SlotMover::SlotMover(MoveSpec spec, ProgressSink sink, CancelCheck cancelled)
    : impl_(std::make_unique<Impl>(std::move(spec), std::move(sink), std::move(cancelled))) {}
SlotMover::~SlotMover() = default;
Status SlotMover::Run() { return impl_->Run(); }
const MoveProgress& SlotMover::progress() const { return impl_->prog; }

Status ValidateMoveSpec(const MoveSpec& s) {
  auto bad = [](std::string m) { return MakeError(Errc::kInvalidArgument, "MoveSlots: " + m); };
  if (s.slots.empty()) return bad("no slots given");
  for (const auto& r : s.slots) {
    if (r.start > r.end || r.end >= kNumSlots) {
      return bad("bad slot range " + std::to_string(r.start) + "-" + std::to_string(r.end));
    }
  }
  if (s.target.cluster_node_id.size() != 40) {
    return bad("target cluster_node_id '" + s.target.cluster_node_id + "' is not a 40-char node id");
  }
  if (NormalizeIp(s.target.ip).empty()) return bad("target ip '" + s.target.ip + "' is not an IP");
  if (s.target.port == 0 || s.target.port > 65535) return bad("target port out of range");
  for (const auto& o : s.other_primaries) {
    if (o.cluster_node_id.empty() || NormalizeIp(o.ip).empty() || o.port == 0 || o.port > 65535) {
      return bad("other primary '" + o.cluster_node_id + "' at " + o.ip + ":" +
                 std::to_string(o.port) + " is not a valid peer");
    }
  }
  if (s.source_port == 0 || s.source_port > 65535) return bad("source port out of range");
  if (s.batch.max_batch_keys == 0 || s.batch.max_batch_bytes == 0) return bad("zero batch limits");
  if (s.migrate_timeout_ms == 0) return bad("zero migrate timeout");
  return {};
}

// ---------------------------------------------------------------------------------------------

Result<std::shared_ptr<MoveRegistry::Ticket>> MoveRegistry::Begin(const std::string& source,
                                                                  const std::string& move_id,
                                                                  uint64_t attempt,
                                                                  uint32_t wait_ms) {
  std::unique_lock lk(mu_);
  auto deadline = Clock::now() + milliseconds(wait_ms);
  while (true) {
    auto it = active_.find(source);
    if (it == active_.end()) break;
    const auto& cur = it->second;
    if (cur->move_id != move_id) {
      return MakeError(Errc::kUnavailable, "source " + source + " is busy with move " +
                                               cur->move_id + "; one move per source at a time");
    }
    if (attempt < cur->attempt) {
      return MakeError(Errc::kFailedPrecondition,
                       "stale attempt " + std::to_string(attempt) + " of move " + move_id +
                           ": attempt " + std::to_string(cur->attempt) + " is running");
    }
    cur->stop = true;  // superseded: stops between batches
    if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && active_.count(source)) {
      return MakeError(Errc::kUnavailable, "attempt " + std::to_string(cur->attempt) + " of move " +
                                               move_id + " is still stopping; retry");
    }
  }
  auto t = std::make_shared<Ticket>();
  t->source_node_id = source;
  t->move_id = move_id;
  t->attempt = attempt;
  active_[source] = t;
  return t;
}

void MoveRegistry::End(const std::shared_ptr<Ticket>& t) {
  {
    std::lock_guard lk(mu_);
    auto it = active_.find(t->source_node_id);
    if (it != active_.end() && it->second == t) active_.erase(it);
  }
  cv_.notify_all();
}

}  // namespace cf::agent
