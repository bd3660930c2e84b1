// SlotMover: moves hash slots from a local primary (the SOURCE) to another primary (the
// TARGET) with the standard IMPORTING / MIGRATING / MIGRATE / SETSLOT NODE sequence
// (reference/redis-cluster-ops.md §5), pipelined so that neither empty nor small slots cost
// round trips each. One SlotMover serves one MoveSlots call; it runs on the agent hosting the
// source, owns its own connections (one to the source, one to the target, one per other
// primary) for the whole call, and never holds the NodeSupervisor's per-node op lock (a move
// can last minutes; admin RPCs on the same node must not wait for it).
//
// Lifecycle of one call
// ---------------------
//   1. Prepare: connect (AUTH when a password is given); CONFIG GET cluster-node-timeout on the
//      source (caps the MIGRATE timeouts); CLUSTER NODES of source and target; ClassifySlots
//      (slot_move_plan.h):
//        kDone            already on the target              -> reported done at once
//        kFinishOnTarget  source gave it up, target imports  -> NODE target, then others
//        kMove            the standard sequence (also resumes slots left open, §5.3)
//        kConflict        third owner / open towards a third node -> FAILED_PRECONDITION,
//                         nothing is touched
//   2. Count: COUNTKEYSINSLOT of every kMove slot in one pipeline (keys_total, windows).
//   3. Windows (PlanWindows: <= max_window_slots slots and <= max_window_keys keys, which
//      bounds how long a slot stays open):
//        a. target: SETSLOT S IMPORTING <src>  for every slot of the window    (1 pipeline)
//        b. source: SETSLOT S MIGRATING <dst> + COUNTKEYSINSLOT S              (1 pipeline)
//           From here no new key can appear in S on the source (a missing key is ASKed to
//           the target), so a count of 0, or a GETKEYSINSLOT returning fewer keys than
//           asked, is final.
//        c. rounds while slots have keys: one EVAL on the source runs GETKEYSINSLOT for as
//           many slots as the batch size covers and MEMORY USAGE of every key (two pipelines
//           if the server refuses the script); PlanFlights cuts the keys into flights
//           (pipelined MIGRATEs, one per slot, within the batch budget: max_batch_keys,
//           max_batch_bytes, and target_batch_ms learned from observed MIGRATE times; with
//           whole_slot_flights, the default, the time budget is applied at slot boundaries
//           only, so a slot is one MIGRATE unless it exceeds max_batch_keys/bytes); a key
//           over max_batch_bytes goes alone with the short timeout.
//        d. slots with all keys on the target (empty ones at once) are completed in batches
//           (1024 slots, 250 ms, or the end of the window): NODE on the target first, then
//           the source and the other primaries in parallel (the others' replies are read
//           later: best effort). On the target only the first and the last importing slot of
//           a batch get the plain NODE (epoch bump before any other claim; its PONG carries
//           the whole batch); the slots between get STABLE + NODE, which skips the PONG that
//           Redis broadcasts per imported slot and that costs every node two scans of all
//           16384 slots (what makes redis-cli need ~1 ms per empty slot). With
//           quiet_complete (default) and the target's config epoch already above the
//           source's (its CLUSTER NODES, read per batch), every slot gets STABLE + NODE: no
//           epoch bump and no PONG, which would make every node rewrite and fsync nodes.conf
//           per batch; only the call's last batch ends with a plain NODE (one PONG).
//      Progress: after every completed batch, and at most every progress_interval_ms during
//      long rounds.
//   4. A last progress message with done=true.
//
// Failure handling
// ----------------
//   * Connection errors and timeouts on idempotent pipelines (SETSLOT, COUNT, GETKEYS, MEMORY
//     USAGE): retried with backoff (retry_backoff_initial_ms doubling to _max_ms, at most
//     max_retries times per step); every retry increments `retries` and sets `last_error`,
//     and a progress message carries them. A refused AUTH is not retried.
//   * MIGRATE IOERR / no reply: the slot stays open; ROLE on the target (still a master?),
//     backoff, the same flight again. Keys that reached the target before the error then give
//     BUSYKEY.
//   * BUSYKEY: DUMP + PTTL of the command's keys on both sides (ASKING on the target). Equal
//     DUMP bytes, or equal DEBUG DIGEST-VALUE when DEBUG is allowed (hash tables may DUMP in a
//     different order): the command is resent with REPLACE (the source's copy and TTL win; a
//     TTL difference is noted in last_error). Any other difference: stop with
//     FAILED_PRECONDITION naming the keys; nothing is overwritten.
//   * Target replies LOADING / CLUSTERDOWN / MASTERDOWN / TRYAGAIN / BUSY -> UNAVAILABLE;
//     READONLY (target became a replica), OOM, NOAUTH, anything else -> FAILED_PRECONDITION;
//     MOVED/ASK from the target (it lost its IMPORTING mark) -> IMPORTING again and retry.
//     The failing slot stays open for the orchestrator to retry (the call is idempotent).
//   * MIGRATE still blocks the source for a big key's serialization, which no timeout bounds;
//     a key that cannot be moved within the timeout fails the call after max_retries (never
//     half-moved: the source keeps it until the target acknowledged it).
//   * On any stop (error or cancel), slots of the current window into which nothing has been
//     migrated are rolled back: target STABLE (+ COUNTKEYSINSLOT in the same pipeline), then
//     source STABLE where the target holds no key. Slots the target holds keys for (we moved
//     some, or clients created keys there through ASK) stay open: on cancel they are drained
//     for up to cancel_drain_ms; otherwise the next call finishes them.
//   * If the source refuses NODE because it still holds keys (cannot happen while MIGRATING,
//     checked anyway), the slot, now owned by the target, goes back to the MIGRATE rounds.
//
// Cancel: `cancelled()` is polled between flights and pipelines (client gone, deadline, a newer
// attempt superseding this one, agent shutdown). The point of no return for a slot is the
// target's SETSLOT NODE: after it the slot is finished (source and others) even when cancelled.
//
// Threading: a SlotMover is used by one thread (the gRPC handler's). MoveRegistry is
// thread-safe and keeps two calls from moving slots of the same source at once.
//
// Worked example: slots 0-2 from A (src) to B (dst), C another primary; slot 0 empty, slot 1
// has 150 keys of 100 B, slot 2 is already owned by B.
//   Prepare: slot 2 -> kDone (progress: slots_done 1, completed [2-2]); 0,1 -> kMove.
//   Count: slot 0 -> 0 keys, slot 1 -> 150; keys_total 150. One window {0,1}.
//   B: SETSLOT 0 IMPORTING A, SETSLOT 1 IMPORTING A
//   A: SETSLOT 0 MIGRATING B, COUNTKEYSINSLOT 0, SETSLOT 1 MIGRATING B, COUNTKEYSINSLOT 1
//   round 1, A: EVAL fetch 1 100 -> 100 keys, ~180 B each;
//            A: MIGRATE <B> "" 0 2000 KEYS k1..k100 (2 ms: 5 ms allow ~250 keys next)
//   round 2, A: EVAL fetch 1 51 -> 50 keys (fewer than asked: slot 1 is now empty);
//            A: MIGRATE <B> "" 0 2000 KEYS k101..k150
//   complete {0,1}: B: SETSLOT 0 NODE B, SETSLOT 1 NODE B (first/last: plain NODE);
//            A and C: SETSLOT 0 NODE B, SETSLOT 1 NODE B
//   progress: slots_done 3, keys_moved 150, completed [0-1]; then done=true.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <vector>

#include "agent/slots/slot_move_plan.h"
#include "common/result.h"
#include "common/slot_range.h"

namespace cf::agent {

// Defaults used when the request leaves a setting at 0.
inline constexpr uint32_t kDefaultMigrateTimeoutMs = 2000;  // per MIGRATE I/O step
// 1000 keys: redis-cli's largest pipeline and where MIGRATE throughput flattens (§5: 38 k
// keys/s at 1000 vs 22 k at 10). 4 MiB: the source serializes a batch on its main thread, and
// ~4 MiB takes a few ms at memory speed, far below any node timeout, while still holding 1000
// keys of up to 4 KiB, so small and medium values run at the key cap.
inline constexpr uint32_t kDefaultMaxBatchKeys = 1000;
inline constexpr uint64_t kDefaultMaxBatchBytes = 4ull << 20;
// 1 ms: a MIGRATE blocks the source's main thread, so every client of the source waits for
// the flight in flight. Keys/s is the same for batches of 100 and 1000 keys (Redis reads
// MIGRATE's per-key replies one byte per read(2), so the per-key cost dominates), and flights
// end at slot boundaries (MoveSpec::whole_slot_flights): a budget smaller than a slot's keys
// no longer splits the slot, it only keeps flights to one slot (one MIGRATE per round trip,
// with clients served between two). Measured end to end (bench/README.md, 2026-12-02,
// interleaved runs at 04:25-04:29): 1 ms whole-slot flights with quiet completion batches move
// as many keys/s as 5 ms split flights (39-49 k against 41-45 k) and cut the redis-py client's
// p99 during the move by 20-60 %. The budget is learned from observed MIGRATE times
// (BatchSizer).
inline constexpr uint32_t kDefaultMaxBatchMs = 1;
// Share of wall time a move may keep its source busy (BatchLimits::busy_percent); 100 = no
// pacing. Pacing at 50 % halves keys/s and halves the client's p99 again (README), which would
// put a 3 -> 4 scale-out below redis-cli's speed: off by default, CACHEFLEET_MOVER_BUSY_PERCENT
// on the agent turns it on.
inline constexpr uint32_t kDefaultBusyPercent = 100;

struct MovePeer {
  std::string cluster_node_id;
  std::string ip;
  uint32_t port = 0;
};

// Everything one MoveSlots call needs (the RPC layer fills it from MoveSlotsRequest).
struct MoveSpec {
  std::string move_id;
  uint64_t attempt = 0;
  std::string source_node_id;   // cache cluster id (logs)
  std::string source_host;      // how the agent reaches the local source node
  uint32_t source_port = 0;
  MovePeer target;
  SlotRanges slots;
  std::vector<MovePeer> other_primaries;
  std::string auth_password;    // AUTH on our connections and in MIGRATE; "" = none

  uint32_t migrate_timeout_ms = kDefaultMigrateTimeoutMs;
  BatchLimits batch;            // max_batch_keys / max_batch_bytes from the request
  uint32_t max_window_slots = 1024;
  uint64_t max_window_keys = 8192;   // ~0.2 s of MIGRATE: bounds how long a slot stays open
  // Slots whose keys are all on the target are completed (NODE everywhere) together once this
  // long has passed since the first of them was ready (or 1024 are ready, or nothing else is
  // left). Until then clients reach their keys through -ASK.
  uint32_t complete_delay_ms = 250;
  // Flights end at slot boundaries (BatchLimits::flight_keys): a slot is split into several
  // MIGRATEs only when it exceeds max_batch_keys / max_batch_bytes, never by the time budget.
  bool whole_slot_flights = true;
  // Completion batches without an epoch bump when the target's epoch is already above the
  // source's (SlotCompleter::Complete, slot_completion.h): no nodes.conf fsync on every node per batch.
  bool quiet_complete = true;
  uint32_t connect_timeout_ms = 500;
  uint32_t command_timeout_ms = 5000;   // SETSLOT / COUNT / GETKEYS / MEMORY USAGE pipelines
  uint32_t migrate_reply_timeout_ms = 30000;  // waiting for one MIGRATE's reply
  uint32_t max_retries = 6;               // per step
  uint32_t retry_backoff_initial_ms = 100;
  uint32_t retry_backoff_max_ms = 2000;
  uint32_t progress_interval_ms = 250;    // progress during a long slot
  uint32_t cancel_drain_ms = 2000;        // finishing partly moved slots after a cancel
  bool size_keys = true;                  // MEMORY USAGE of every fetched key (see .cc)
  bool fetch_script = true;               // GETKEYSINSLOT + MEMORY USAGE in one EVAL
};

// Mirrors cachefleet.v1.MoveSlotsProgress.
struct MoveProgress {
  uint32_t slots_done = 0;
  uint32_t slots_total = 0;
  uint64_t keys_total = 0;      // keys counted in the slots still to move at the start
  uint64_t keys_moved = 0;
  // Sum of MEMORY USAGE of the keys in successful MIGRATEs: the in-memory size, an estimate of
  // the serialized bytes (MIGRATE does not report them). 0 when size_keys is off.
  uint64_t bytes_moved = 0;
  SlotRanges completed;         // completed since the previous message
  uint32_t current_slot = 0;
  uint64_t current_slot_keys_left = 0;
  bool done = false;
  std::string last_error;
  uint32_t retries = 0;
};

// Returns false when the message could not be delivered (the mover then stops as cancelled).
using ProgressSink = std::function<bool(const MoveProgress&)>;
using CancelCheck = std::function<bool()>;

class SlotMover {
 public:
  SlotMover(MoveSpec spec, ProgressSink sink, CancelCheck cancelled);
  ~SlotMover();
  SlotMover(const SlotMover&) = delete;
  SlotMover& operator=(const SlotMover&) = delete;

  // Moves every slot of the spec, streaming progress. OK after the done=true message.
  // kInvalidArgument (bad spec), kFailedPrecondition (conflicting ownership, target not a
  // master / wrong id, BUSYKEY with different values, target OOM/READONLY), kUnavailable
  // (a node unreachable after retries, LOADING, CLUSTERDOWN; also "move cancelled" once
  // `cancelled()` turned true: the RPC layer reports that as CANCELLED/ABORTED), kTimeout.
  Status Run();

  const MoveProgress& progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks a spec before any connection is made (ranges, ids, addresses, limits).
Status ValidateMoveSpec(const MoveSpec& spec);

// One running move per source node. Begin() for a source that is busy:
//   same move_id, attempt >= the running one's: the running call is told to stop and Begin
//     waits (up to wait_ms) for it to end, then takes over (an orchestrator retry supersedes
//     a call whose client went away);
//   same move_id, older attempt: kFailedPrecondition (stale attempt);
//   another move_id: kUnavailable (parallel moves from one source are refused; §5.3).
class MoveRegistry {
 public:
  struct Ticket {
    std::string source_node_id;
    std::string move_id;
    uint64_t attempt = 0;
    std::atomic<bool> stop{false};
  };
  Result<std::shared_ptr<Ticket>> Begin(const std::string& source_node_id,
                                        const std::string& move_id, uint64_t attempt,
                                        uint32_t wait_ms);
  void End(const std::shared_ptr<Ticket>& t);

 private:
  std::mutex mu_;  // guards active_
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Ticket>> active_;  // source node id -> running move
};

}  // namespace cf::agent
