// The phases of one MoveSlots call (SlotMover), as a named state enum. The mover records its
// phase in MoveSession::SetPhase, which checks every step against IsValidMovePhaseTransition
// (an unexpected one is logged as a bug; the move goes on) and logs it at debug level.
//
//   kPrepare ──> kCountKeys ──> kImporting ──> kMigrating ──> kMigrateRounds <──> kCompleting
//     │             │              ^   (a)          (b)         (c: fetch,        (d: NODE
//     │             │              │                             flights)         everywhere)
//     │             │              └──────────── next window ─────────────────────────┘
//     │             └──> kDone (nothing to move)       last window, all completed ──> kDone
//     │
//   a stop in a window ──> kRollingBack (untouched slots back to STABLE)
//                              ├──> kFailed (error: partly moved slots stay open)
//                              └──> kDraining (cancel: partly moved slots finished for up to
//                                   cancel_drain_ms through kMigrateRounds / kCompleting)
//                                   ──> kCancelled
//   any phase that is not terminal ──> kFailed | kCancelled
//
// Terminal: kDone, kFailed, kCancelled. The point of no return of a slot is its target NODE in
// kCompleting (or in kPrepare for slots the source already gave up).
#pragma once

#include <cstdint>

namespace cf::agent {

enum class MovePhase : uint8_t {
  kPrepare,        // connections, views, node timeout, classification, slots to finish
  kCountKeys,      // COUNTKEYSINSLOT of every slot to move
  kImporting,      // (a) SETSLOT IMPORTING on the target for the window
  kMigrating,      // (b) SETSLOT MIGRATING + count on the source
  kMigrateRounds,  // (c) fetch keys, MIGRATE flights (FlightRunner)
  kCompleting,     // (d) SETSLOT NODE: target, then source and others (SlotCompleter)
  kRollingBack,    // after a stop: untouched slots of the window back to STABLE
  kDraining,       // after a cancel: finishing partly moved slots (cancel_drain_ms)
  kDone,
  kFailed,
  kCancelled,
};

const char* MovePhaseName(MovePhase p);
bool IsTerminal(MovePhase p);
// The diagram above; `from == to` is valid for the phases that repeat (rounds, completions).
bool IsValidMovePhaseTransition(MovePhase from, MovePhase to);

}  // namespace cf::agent
