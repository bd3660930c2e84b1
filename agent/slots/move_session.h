// MoveSession: the state of one MoveSlots call that every step shares — the spec, the peers
// (source, target, other primaries) and their connections, progress and its stream, cancel,
// retries with backoff, pacing, step timings and the phase (move_phase.h). SlotMover drives
// the phases; FlightRunner (migrate_flight.h) and SlotCompleter (slot_completion.h) are the
// flight and completion steps, each working on the session. Internal to slots/; the design of
// a move is in slot_mover.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/redis/redis_conn.h"
#include "agent/redis/redis_text.h"
#include "agent/slots/move_phase.h"
#include "agent/slots/slot_move_plan.h"
#include "agent/slots/slot_mover.h"
#include "common/log.h"
#include "common/result.h"

namespace cf::agent {

using Clock = std::chrono::steady_clock;
using Cmd = std::vector<std::string>;
using Cmds = std::vector<Cmd>;
using Replies = std::vector<Result<RedisReply>>;

inline bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
inline bool Contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }
// Printable form of a key for messages (keys are binary-safe).
std::string Printable(std::string_view k, size_t max_len = 64);
inline std::string Short(std::string_view id) { return std::string(id.substr(0, 8)); }
// The Redis text of an error reply ("redis h:p: <text>" -> "<text>").
std::string RedisText(const Error& e, const std::string& where);

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
  Status Ready();
};

// A slot of the current window.
struct MoveWork {
  uint32_t slot = 0;
  uint64_t keys_left = 0;
  bool target_owns = false;
  bool touched = false;  // keys of it reached the target through us (cannot roll back)
};

// Server-side profile of a node (INFO cpu + commandstats): CPU ms of the process and usec
// per command, read at the start and the end of the call; the differences, logged with the
// step times, tell the node's own work (DUMP/serialisation in MIGRATE, RESTORE on the target,
// the fetch script) apart from round trips and the agent's share of each step's wall time.
struct ServerProfile {
  bool ok = false;
  double cpu_ms = 0;
  std::map<std::string, double> cmd_usec;  // "migrate", "eval", "restore-asking", ...
};

struct MoveSession {
  MoveSession(MoveSpec s, ProgressSink k, CancelCheck c);

  MoveSpec spec;
  ProgressSink sink;
  CancelCheck cancelled;
  std::shared_ptr<spdlog::logger> log = cf::Logger("migration");
  std::string tag;  // "[move/attempt src->dst]"
  MovePhase phase = MovePhase::kPrepare;

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
  bool use_fetch_script = true;  // false once the source refused the fetch script
  bool in_last_window = false;   // the window being moved is the call's last
  Clock::time_point drain_deadline{};
  Clock::time_point last_emit{};
  // Wall time and calls per step ("SETSLOT NODE (target)", "MIGRATE", ...), logged at the end:
  // where a slow move spent its time.
  std::map<std::string, std::pair<double, uint64_t>, std::less<>> step_time;
  ServerProfile source_profile0, target_profile0;

  // Records the phase (checked against IsValidMovePhaseTransition; logged at debug).
  void SetPhase(MovePhase to);

  void AddStepTime(std::string_view step, Clock::time_point t0);
  ServerProfile ReadProfile(Peer& p);
  static std::string ProfileDelta(const ServerProfile& a, const ServerProfile& b);
  std::string StepTimes() const;

  // ----- progress, cancel, retries -----
  bool Cancelled();
  void Emit();
  void MaybeEmit();  // Emit when progress_interval_ms passed since the last message
  void NoteRetry(const std::string& what);
  // Sleeps the backoff of retry number `attempt` (0-based); false when cancelled meanwhile.
  bool Backoff(uint32_t attempt);
  // Pacing (BatchLimits::busy_percent): the source was busy with our work since `busy_from`;
  // stay idle for the matching share so its clients get their turn. Interrupted by a cancel.
  void Pace(Clock::time_point busy_from);
  Error CancelError() const;
  // Runs idempotent `cmds` on `p`, retrying connection failures and timeouts with backoff.
  // The outer Result fails when the node stays unreachable (or we are cancelled); each inner
  // Result is one command's reply or error reply.
  Result<Replies> Pipe(Peer& p, const Cmds& cmds, std::string_view step);

  RedisConnOptions ConnOpts(const std::string& host, uint32_t port) const;
  Result<std::vector<ClusterNodeEntry>> ReadNodes(Peer& p);
};

}  // namespace cf::agent
