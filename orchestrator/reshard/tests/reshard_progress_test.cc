// Progress arithmetic of a reshard: 0 -> 100, weighting by keys and slots, monotonic when a
// move's real key count becomes known, rate window, ETA.
#include "orchestrator/reshard/reshard_progress.h"

#include <gtest/gtest.h>

#include <random>

namespace cf::orchestrator {
namespace {

SlotMoveRecord Move(uint32_t first, uint32_t count, uint64_t keys_estimate) {
  SlotMoveRecord m;
  m.move_id = "m" + std::to_string(first);
  m.slots = {SlotRange{first, first + count - 1}};
  m.keys_estimate = keys_estimate;
  return m;
}

TEST(ReshardProgress, StartsAtZeroEndsAtHundred) {
  std::vector<SlotMoveRecord> moves = {Move(0, 100, 1000), Move(100, 100, 1000)};
  EXPECT_DOUBLE_EQ(ComputeProgress(SumMoves(moves)), 0.0);
  for (auto& m : moves) {
    m.status = SlotMoveStatus::kDone;
    m.keys_moved = 900;  // fewer than estimated: done is done
  }
  EXPECT_DOUBLE_EQ(ComputeProgress(SumMoves(moves)), 100.0);
  EXPECT_DOUBLE_EQ(ShownProgress(0, SumMoves(moves)), 100.0);
}

TEST(ReshardProgress, WeightedByKeysAndSlots) {
  // One move: 1000 slots, 10000 keys expected. Half the keys, no slot completed yet.
  std::vector<SlotMoveRecord> moves = {Move(0, 1000, 10000)};
  moves[0].keys_total = 10000;
  moves[0].keys_moved = 5000;
  const double total = 10000 + kSlotWeightKeys * 1000;
  EXPECT_NEAR(ComputeProgress(SumMoves(moves)), 100.0 * 5000 / total, 1e-9);
  // Empty slots count too: a move of empty slots climbs with the slots.
  std::vector<SlotMoveRecord> empty = {Move(0, 1000, 0)};
  empty[0].slots_done = {SlotRange{0, 249}};
  EXPECT_NEAR(ComputeProgress(SumMoves(empty)), 25.0, 1e-9);
}

TEST(ReshardProgress, CappedBelowHundredUntilDone) {
  std::vector<SlotMoveRecord> moves = {Move(0, 10, 100)};
  moves[0].slots_done = moves[0].slots;
  moves[0].keys_moved = 100;
  EXPECT_LE(ShownProgress(0, SumMoves(moves)), kProgressCapBeforeDone);
  moves[0].status = SlotMoveStatus::kDone;
  EXPECT_DOUBLE_EQ(ShownProgress(0, SumMoves(moves)), 100.0);
}

TEST(ReshardProgress, NeverGoesDownWhenTheRealTotalIsLarger) {
  std::vector<SlotMoveRecord> moves = {Move(0, 1000, 10000), Move(1000, 1000, 10000)};
  moves[0].keys_moved = 5000;
  moves[0].slots_done = {SlotRange{0, 499}};
  double shown = ShownProgress(0, SumMoves(moves));
  EXPECT_NEAR(shown, 25.0, 1e-9);
  // The mover now reports 20000 keys for the first move: computed drops, shown does not.
  moves[0].keys_total = 20000;
  EXPECT_LT(ComputeProgress(SumMoves(moves)), shown);
  EXPECT_DOUBLE_EQ(ShownProgress(shown, SumMoves(moves)), shown);
  // A move that moved more keys than expected never makes its share exceed 100 %.
  moves[1].keys_moved = 50000;
  EXPECT_LE(ComputeProgress(SumMoves(moves)), 100.0);
}

TEST(ReshardProgress, MonotonicOverARandomRun) {
  // Simulates a run: moves start one after another, report totals that differ from the
  // estimates, move keys and slots in steps. The shown figure must never decrease and must end
  // at exactly 100.
  std::mt19937 rng(42);
  std::vector<SlotMoveRecord> moves;
  for (int i = 0; i < 5; ++i) moves.push_back(Move(i * 1000, 1000, 2000 + rng() % 4000));
  std::vector<uint64_t> real(moves.size());
  for (auto& r : real) r = rng() % 8000;
  double shown = 0;
  for (size_t i = 0; i < moves.size(); ++i) {
    auto& m = moves[i];
    m.status = SlotMoveStatus::kRunning;
    m.keys_total = static_cast<int64_t>(real[i]);
    for (uint32_t s = 0; s < 1000; s += 50) {
      m.slots_done = {SlotRange{m.slots[0].start, m.slots[0].start + s + 49}};
      m.keys_moved = real[i] * (s + 50) / 1000;
      double next = ShownProgress(shown, SumMoves(moves));
      ASSERT_GE(next, shown);
      ASSERT_LE(next, kProgressCapBeforeDone);
      shown = next;
    }
    m.status = SlotMoveStatus::kDone;
  }
  EXPECT_DOUBLE_EQ(ShownProgress(shown, SumMoves(moves)), 100.0);
}

TEST(ReshardProgress, FiguresOfDoneMoves) {
  std::vector<SlotMoveRecord> moves = {Move(0, 100, 50)};
  moves[0].status = SlotMoveStatus::kDone;
  moves[0].slots_done = {SlotRange{0, 10}};  // stale figure of the last message
  moves[0].keys_moved = 70;
  moves[0].bytes_moved = 7000;
  auto f = SumMoves(moves);
  EXPECT_EQ(f.slots_done, 100u);
  EXPECT_EQ(f.slots_planned, 100u);
  EXPECT_EQ(f.keys_total, 70u);
  EXPECT_EQ(f.bytes_moved, 7000u);
  EXPECT_TRUE(f.all_done());
}

TEST(ReshardProgress, MilliRoundsDown) {
  EXPECT_EQ(ToMilli(42.5), 42500);
  EXPECT_EQ(ToMilli(99.99999), 99999);
  EXPECT_EQ(ToMilli(100), 100000);
  EXPECT_EQ(ToMilli(-3), 0);
}

TEST(ReshardProgress, RateWindowAndEta) {
  RateWindow w(5000);
  EXPECT_EQ(w.KeysPerSecond(), 0);
  w.Add(0, 0, 0);
  w.Add(1000, 10000, 12000);
  EXPECT_DOUBLE_EQ(w.KeysPerSecond(), 10000);
  EXPECT_DOUBLE_EQ(w.UnitsPerSecond(), 12000);
  // Old samples leave the window: the rate follows the recent past.
  w.Add(6000, 10000, 12000);
  w.Add(12000, 10000, 12000);
  EXPECT_DOUBLE_EQ(w.KeysPerSecond(), 0);

  std::vector<SlotMoveRecord> moves = {Move(0, 1000, 10000)};
  moves[0].keys_total = 10000;
  moves[0].keys_moved = 2000;
  auto f = SumMoves(moves);
  const double left = WorkTotal(f) - WorkDone(f);
  ASSERT_TRUE(EtaSeconds(f, 1000).has_value());
  EXPECT_DOUBLE_EQ(*EtaSeconds(f, 1000), left / 1000);
  EXPECT_FALSE(EtaSeconds(f, 0).has_value());
}

TEST(ReshardProgress, LiveBoard) {
  ReshardLiveBoard b;
  EXPECT_FALSE(b.Get(1));
  b.Publish(1, {123.0, 4.5, 1});
  ASSERT_TRUE(b.Get(1));
  EXPECT_DOUBLE_EQ(b.Get(1)->keys_per_second, 123.0);
  b.Remove(1);
  EXPECT_FALSE(b.Get(1));
}

}  // namespace
}  // namespace cf::orchestrator
