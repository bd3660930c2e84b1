// Progress arithmetic of a reshard: pure functions over the persisted slot moves, a sliding
// rate window, and the board through which the running reconciler shares its live rate with
// GET /cachefleet/operations.
//
// The formula (ProgressPercentage, weighted by keys, not only by whole slots):
//
//   work(move)  = keys_moved + W * slots_done                    W = kSlotWeightKeys
//   total(move) = max(keys_expected, keys_moved) + W * slots_planned
//   computed    = 100 * Σ work / Σ total          (100 exactly when every move is done, where
//                                                  a done move's total is its actual keys)
//   shown       = max(shown before, min(computed, 99.9 unless every move is done))
//
// keys_expected is the mover's keys_total once a move has started and, before that, the
// estimate made at plan time from the source's observed keys per slot, so the denominator is
// close to its final value from the start. It can still grow when the mover's real count is
// larger than the estimate; `shown` therefore never goes down (the store keeps the maximum),
// it only pauses until the moved keys catch up. W makes empty slots count: moving an empty slot
// costs about as much as a few keys (pipelined SETSLOTs), so a reshard of empty slots still
// climbs smoothly.
//
// Example: two moves, 1000 slots each, estimate 10 000 keys each, W = 8. Total = 2 * (10 000 +
// 8 000) = 36 000. After the first move has done 500 slots and 5 000 keys: work = 5 000 + 4 000
// = 9 000 -> 25.0 %. If its mover then reports keys_total 12 000: total 38 000 -> computed
// 23.7 %, shown stays 25.0 % until the work reaches 25 % of the new total.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "orchestrator/reshard/reshard_types.h"

namespace cf::orchestrator {

inline constexpr double kSlotWeightKeys = 8.0;
inline constexpr double kProgressCapBeforeDone = 99.9;

// Sums over the moves of one operation.
struct ReshardFigures {
  uint32_t slots_planned = 0;
  uint32_t slots_done = 0;
  uint64_t keys_moved = 0;
  uint64_t keys_total = 0;  // Σ max(keys_expected, keys_moved)
  uint64_t bytes_moved = 0;
  int moves = 0;
  int moves_done = 0;
  bool all_done() const { return moves_done == moves; }
};

ReshardFigures SumMoves(const std::vector<SlotMoveRecord>& moves);
// Work units (keys + W * slots) done and in total.
double WorkDone(const ReshardFigures& f);
double WorkTotal(const ReshardFigures& f);
// The percentage the figures give now (0..100; 100 only when every move is done).
double ComputeProgress(const ReshardFigures& f);
// The percentage to show given what was shown before (never lower; ≤ 99.9 until all done).
double ShownProgress(double previous, const ReshardFigures& f);
// Seconds left at `units_per_second`; nullopt when the rate is 0 (unknown).
std::optional<double> EtaSeconds(const ReshardFigures& f, double units_per_second);
// Percent x1000, rounded down (what the store keeps).
int64_t ToMilli(double percent);

// Rates over the last `window_ms` from cumulative samples (time, keys moved, work units).
// Not thread-safe; the reconciler owns one per operation.
class RateWindow {
 public:
  explicit RateWindow(int64_t window_ms = 5000) : window_ms_(window_ms) {}
  void Add(int64_t now_ms, double keys, double units);
  double KeysPerSecond() const;
  double UnitsPerSecond() const;

 private:
  struct Sample {
    int64_t ms;
    double keys;
    double units;
  };
  int64_t window_ms_;
  std::deque<Sample> samples_;
};

// What the running reconciler knows and the store does not: the current rate. Thread-safe.
class ReshardLiveBoard {
 public:
  struct Live {
    double keys_per_second = 0;
    std::optional<double> eta_seconds;
    int64_t updated_ms = 0;
  };
  void Publish(int64_t op_id, const Live& live);
  void Remove(int64_t op_id);
  std::optional<Live> Get(int64_t op_id) const;

 private:
  mutable std::mutex mu_;
  std::map<int64_t, Live> live_;  // guarded by mu_
};

}  // namespace cf::orchestrator
