// Pure planning code of the slot mover (agent/slot_mover.h): no I/O, unit-tested in
// agent/tests/slot_mover_test.cc.
//
//   * KeyHashSlot: CRC16 of a key (hash tags honoured), the slot a key lives in.
//   * ParseOpenSlotToken / ClassifySlots: what to do with each requested slot, given the
//     source's and the target's CLUSTER NODES (reference/redis-cluster-ops.md §5.3).
//   * PlanWindows: which slots are opened (IMPORTING/MIGRATING) together.
//   * BatchSizer: how many keys to fetch with GETKEYSINSLOT next, from the sizes seen so far.
//   * PlanFlights: how fetched keys (with MEMORY USAGE sizes) are cut into MIGRATE commands
//     and pipelined "flights" that each stay within the batch budget.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/redis/redis_text.h"
#include "common/result.h"
#include "common/slot_range.h"

namespace cf::agent {

// The hash slot of `key` (CRC16-XMODEM mod 16384 of the key, or of the first non-empty {tag}).
uint32_t KeyHashSlot(std::string_view key);

// One bracketed CLUSTER NODES token: "[5->-<id>]" (migrating to id) or "[5-<-<id>]"
// (importing from id).
struct OpenSlotMark {
  enum class Kind { kMigrating, kImporting };
  uint32_t slot = 0;
  Kind kind = Kind::kMigrating;
  std::string peer_id;
  bool operator==(const OpenSlotMark&) const = default;
};
Result<OpenSlotMark> ParseOpenSlotToken(std::string_view token);

// What the mover does with one requested slot (see ClassifySlots for the rules).
enum class SlotAction {
  kDone,            // the target owns it (nothing to move; a stale mark on the source is cleared)
  kMove,            // the standard sequence; also resumes a slot left open by an earlier attempt
  kFinishOnTarget,  // the source already gave it up, the target still imports: NODE on the
                    // target at once, then on every other primary
  kConflict,        // owned by a third node, unowned, or open towards a third node: refused
};
const char* SlotActionName(SlotAction a);

struct SlotPlan {
  uint32_t slot = 0;
  SlotAction action = SlotAction::kMove;
  bool target_owns = false;   // kMove only: the target already claimed it (send no IMPORTING)
  bool resumed = false;       // an open mark from an earlier attempt was found
  bool source_marked = false; // kDone only: the source still has an open mark for it
  std::string reason;         // kConflict: why; otherwise a short note for logs
};

// Classifies `slots` from the source's view (its CLUSTER NODES, "myself" = the source) and the
// target's view (its CLUSTER NODES, "myself" must be `target_id`).
//
//   target owns S (its own view):
//       source still owns S (its view)             -> kMove with target_owns: the step after
//                                                     the target's NODE was lost; any keys
//                                                     left on the source are migrated, then
//                                                     NODE on the source and the others
//       otherwise                                  -> kDone (source_marked when the source
//                                                     keeps a stale open mark)
//   target does not own S:
//       source owns S: migrating to a third node, or target importing from a third node
//                                                  -> kConflict
//                      otherwise                   -> kMove (resumed when marks exist)
//       source says the target owns S, target imports S -> kFinishOnTarget
//       anything else (third owner, no owner, views disagree) -> kConflict
// Errors: kFailedPrecondition when a view has no "myself" entry or the target's myself id is
// not `target_id`; kInternal for a malformed open-slot token.
Result<std::vector<SlotPlan>> ClassifySlots(const std::vector<ClusterNodeEntry>& source_view,
                                            const std::vector<ClusterNodeEntry>& target_view,
                                            std::string_view target_id,
                                            const std::vector<uint32_t>& slots);

// Windows: consecutive runs of `slots` (in order) opened together. A window holds at most
// `max_slots` slots and, unless it has a single slot, at most `max_keys` keys in total
// (`keys[i]` belongs to `slots[i]`). Returns index ranges [begin, end) into `slots`.
struct WindowSpan {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const WindowSpan&) const = default;
};
std::vector<WindowSpan> PlanWindows(const std::vector<uint64_t>& keys, uint32_t max_slots,
                                    uint64_t max_keys);

struct BatchLimits {
  uint32_t max_batch_keys = 1000;            // keys per MIGRATE / per flight
  uint64_t max_batch_bytes = 4ull << 20;     // MEMORY USAGE bytes per MIGRATE / per flight
  // Time budget of one flight (the source's main thread is blocked for it; clients of the
  // source wait that long). 0 = none.
  uint32_t target_batch_ms = 1;
  // Pacing: the share of wall time (percent) the mover may keep the source busy with its
  // fetches and flights; after each one it stays idle for busy * (100 - p) / p, so the
  // source's clients (and, on a small host, the CPUs) get the rest. 0 or >= 100 = no pacing.
  uint32_t busy_percent = 0;
  uint32_t initial_batch_keys = 100;         // first GETKEYSINSLOT size
  uint32_t min_fetch_keys = 10;              // never fetch fewer (a big key still goes alone)
  // Flight budget in keys applied at slot boundaries only (PlanFlights): a slot that does not
  // fit in what is left of the budget starts a new flight instead of being split; a slot is
  // split only at max_batch_keys / max_batch_bytes. 0 = max_batch_keys is the flight budget
  // and slots are split wherever it falls.
  uint32_t flight_keys = 0;
};

// Adapts the batch size (keys fetched per round = keys per flight) so that one batch is about
// one budget: starts at initial_batch_keys, then targets the smaller of
// max_batch_bytes / (average key size) and target_batch_ms / (observed MIGRATE ms per key),
// clamped to [min_fetch_keys, max_batch_keys], growing at most 4x per observation and
// shrinking at once.
class BatchSizer {
 public:
  explicit BatchSizer(BatchLimits limits);
  uint32_t fetch_keys() const { return fetch_; }
  double avg_key_bytes() const { return avg_; }
  double ms_per_key() const { return ms_per_key_; }
  // Sizes (MEMORY USAGE) of keys just fetched; zeros (keys gone) are ignored.
  void Observe(const std::vector<uint64_t>& sizes);
  // One flight of `keys` keys took `ms` (send to last reply). Oversized flights are not
  // representative and should not be reported.
  void ObserveMigrate(uint64_t keys, double ms);

 private:
  void Recompute();
  BatchLimits limits_;
  uint32_t fetch_;
  double avg_ = 0;         // exponentially weighted mean key size; 0 = nothing observed yet
  double ms_per_key_ = 0;  // exponentially weighted MIGRATE cost per key; 0 = unknown
};

// Pacing: how long the mover stays idle after keeping the source busy for `busy_ms`, so that
// it uses at most `busy_percent` of the wall time (0 or >= 100: no pacing, 0 ms).
double PaceIdleMs(double busy_ms, uint32_t busy_percent);

struct SizedKey {
  std::string key;
  uint64_t bytes = 0;  // MEMORY USAGE; 0 = unknown or gone
};
struct SlotKeys {
  uint32_t slot = 0;
  std::vector<SizedKey> keys;
};

// One MIGRATE command: keys of one slot (MIGRATE refuses keys of several slots).
struct MigrateCommand {
  uint32_t slot = 0;
  std::vector<std::string> keys;
  uint64_t bytes = 0;
  bool replace = false;  // set after a BUSYKEY whose values were found identical
};
// MIGRATE commands sent in one pipeline write. The source runs them back to back, so a flight
// (not one command) is what blocks it: a flight stays within max_batch_keys and
// max_batch_bytes, except a flight holding one key larger than max_batch_bytes (`oversized`:
// it runs alone with the short MIGRATE timeout).
struct Flight {
  std::vector<MigrateCommand> commands;
  uint64_t keys = 0;
  uint64_t bytes = 0;
  bool oversized = false;
};
// Packs keys in order: slot by slot, key by key. Empty input gives no flights. With
// limits.flight_keys > 0 a flight ends before a slot whose keys would take it past
// flight_keys (one MIGRATE per slot, one round trip of the source per flight); otherwise
// flights are cut at max_batch_keys / max_batch_bytes, splitting slots.
std::vector<Flight> PlanFlights(const std::vector<SlotKeys>& fetched, const BatchLimits& limits);

}  // namespace cf::agent
