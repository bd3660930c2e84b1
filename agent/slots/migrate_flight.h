// FlightRunner: the flight step of a move (phase kMigrateRounds) — one flight of pipelined
// MIGRATEs from the source to the target, with its failure handling: IOERR / no reply (ROLE
// on the target, backoff, the same flight again), BUSYKEY (DUMP / DEBUG DIGEST-VALUE on both
// sides, REPLACE only for identical values), MOVED/ASK from a target that lost its IMPORTING
// mark, and the fatal replies (READONLY, OOM, ...). See slot_mover.h ("Failure handling").
// Internal to slots/.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/slots/move_session.h"

namespace cf::agent {

class FlightRunner {
 public:
  explicit FlightRunner(MoveSession& session) : s_(session) {}

  // Runs one flight. Marks slots of `window` touched, counts keys and bytes in the session's
  // progress. `covered` (slot -> keys) counts the keys of commands that returned OK or NOKEY.
  Status Run(Flight& f, std::vector<MoveWork>& window, std::map<uint32_t, uint64_t>* covered);

 private:
  Cmd MigrateArgv(const MigrateCommand& c, uint32_t timeout_ms) const;
  // Is the target still there and a master? kFailedPrecondition when it is a replica now;
  // OK when it answers as a master or does not answer (the caller keeps retrying).
  Status CheckTarget();
  // BUSYKEY: compares the command's keys on both sides. True when keys present on both sides
  // exist and all have the same value (resend with REPLACE); false when none is on both sides
  // any more (resend as is); kFailedPrecondition naming the keys when a value differs or the
  // target's copy cannot be read.
  Result<bool> ResolveBusyKeys(const MigrateCommand& c);
  // DEBUG DIGEST-VALUE on both sides (order-independent for hashes and sets, unlike DUMP).
  // False when DEBUG is not allowed or the digests differ.
  bool DigestsEqual(const std::string& key);
  // Decides what a MIGRATE error reply means. Returns an error to stop; otherwise sets
  // `retry_reason` (retry the command) or leaves it empty after arranging a REPLACE resend.
  Status ClassifyMigrateError(MigrateCommand& c, const std::string& text,
                              std::string* retry_reason, bool* backoff);
  // A command of the flight succeeded (OK or NOKEY): count it.
  void Covered(const MigrateCommand& c, bool moved, std::vector<MoveWork>& window,
               std::map<uint32_t, uint64_t>* covered);

  MoveSession& s_;
};

}  // namespace cf::agent
