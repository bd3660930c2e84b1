#include "orchestrator/reshard/reshard_progress.h"

#include <algorithm>
#include <cmath>

namespace cf::orchestrator {

ReshardFigures SumMoves(const std::vector<SlotMoveRecord>& moves) {
  ReshardFigures f;
  for (const auto& m : moves) {
    const bool done = m.status == SlotMoveStatus::kDone;
    f.moves++;
    f.moves_done += done ? 1 : 0;
    f.slots_planned += m.slots_planned();
    // A done move has moved every slot, whatever the last persisted message said.
    f.slots_done += done ? m.slots_planned() : std::min(m.slots_moved(), m.slots_planned());
    f.keys_moved += m.keys_moved;
    f.keys_total += done ? m.keys_moved : std::max(m.keys_expected(), m.keys_moved);
    f.bytes_moved += m.bytes_moved;
  }
  return f;
}

double WorkDone(const ReshardFigures& f) {
  return static_cast<double>(f.keys_moved) + kSlotWeightKeys * f.slots_done;
}

double WorkTotal(const ReshardFigures& f) {
  return static_cast<double>(f.keys_total) + kSlotWeightKeys * f.slots_planned;
}

double ComputeProgress(const ReshardFigures& f) {
  if (f.all_done()) return 100.0;
  const double total = WorkTotal(f);
  if (total <= 0) return 0.0;
  return std::clamp(100.0 * WorkDone(f) / total, 0.0, 100.0);
}

double ShownProgress(double previous, const ReshardFigures& f) {
  double p = ComputeProgress(f);
  if (!f.all_done()) p = std::min(p, kProgressCapBeforeDone);
  return std::max(previous, p);
}

std::optional<double> EtaSeconds(const ReshardFigures& f, double units_per_second) {
  if (f.all_done()) return 0.0;
  if (units_per_second <= 0) return std::nullopt;
  return std::max(0.0, WorkTotal(f) - WorkDone(f)) / units_per_second;
}

int64_t ToMilli(double percent) {
  return static_cast<int64_t>(std::floor(std::clamp(percent, 0.0, 100.0) * 1000.0 + 1e-6));
}

void RateWindow::Add(int64_t now_ms, double keys, double units) {
  samples_.push_back({now_ms, keys, units});
  // Keep one sample older than the window as the baseline.
  while (samples_.size() > 2 && samples_[1].ms <= now_ms - window_ms_) samples_.pop_front();
}

double RateWindow::KeysPerSecond() const {
  if (samples_.size() < 2) return 0;
  const auto& a = samples_.front();
  const auto& b = samples_.back();
  if (b.ms <= a.ms) return 0;
  return std::max(0.0, (b.keys - a.keys) * 1000.0 / static_cast<double>(b.ms - a.ms));
}

double RateWindow::UnitsPerSecond() const {
  if (samples_.size() < 2) return 0;
  const auto& a = samples_.front();
  const auto& b = samples_.back();
  if (b.ms <= a.ms) return 0;
  return std::max(0.0, (b.units - a.units) * 1000.0 / static_cast<double>(b.ms - a.ms));
}

void ReshardLiveBoard::Publish(int64_t op_id, const Live& live) {
  std::lock_guard lk(mu_);
  live_[op_id] = live;
}

void ReshardLiveBoard::Remove(int64_t op_id) {
  std::lock_guard lk(mu_);
  live_.erase(op_id);
}

std::optional<ReshardLiveBoard::Live> ReshardLiveBoard::Get(int64_t op_id) const {
  std::lock_guard lk(mu_);
  auto it = live_.find(op_id);
  if (it == live_.end()) return std::nullopt;
  return it->second;
}

}  // namespace cf::orchestrator
