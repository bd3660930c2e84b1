#include "agent/slots/move_phase.h"

namespace cf::agent {

const char* MovePhaseName(MovePhase p) {
  switch (p) {
    case MovePhase::kPrepare: return "prepare";
    case MovePhase::kCountKeys: return "count-keys";
    case MovePhase::kImporting: return "importing";
    case MovePhase::kMigrating: return "migrating";
    case MovePhase::kMigrateRounds: return "migrate-rounds";
    case MovePhase::kCompleting: return "completing";
    case MovePhase::kRollingBack: return "rolling-back";
    case MovePhase::kDraining: return "draining";
    case MovePhase::kDone: return "done";
    case MovePhase::kFailed: return "failed";
    case MovePhase::kCancelled: return "cancelled";
  }
  return "?";
}

bool IsTerminal(MovePhase p) {
  return p == MovePhase::kDone || p == MovePhase::kFailed || p == MovePhase::kCancelled;
}

bool IsValidMovePhaseTransition(MovePhase from, MovePhase to) {
  using P = MovePhase;
  if (IsTerminal(from)) return false;
  if (to == P::kFailed || to == P::kCancelled) return true;
  switch (from) {
    case P::kPrepare: return to == P::kCountKeys;
    case P::kCountKeys: return to == P::kImporting || to == P::kDone;
    case P::kImporting: return to == P::kMigrating || to == P::kRollingBack;
    case P::kMigrating:
      return to == P::kMigrateRounds || to == P::kCompleting || to == P::kRollingBack;
    case P::kMigrateRounds:
      return to == P::kMigrateRounds || to == P::kCompleting || to == P::kRollingBack;
    case P::kCompleting:
      return to == P::kMigrateRounds || to == P::kCompleting || to == P::kImporting ||
             to == P::kDone || to == P::kRollingBack;
    case P::kRollingBack: return to == P::kDraining;
    case P::kDraining: return to == P::kMigrateRounds || to == P::kCompleting;
    case P::kDone:
    case P::kFailed:
    case P::kCancelled: return false;
  }
  return false;
}

}  // namespace cf::agent
