// CrashAt: the "crash before commit" wrapper the operation tests resume from.
#pragma once

#include <atomic>

#include "orchestrator/operations/operation_runner.h"

namespace cf::orchestrator::testing {

// Wraps a handler and "crashes" the `nth` time a step runs in state `at` (the first by default;
// a later one for a state that takes several steps, such as restart-nodes): it performs that
// step's actions but its commit is lost (the step runs on a copy with a foreign attempt, so the
// compare-and-set fails), and then fails every call until the runner is stopped.
class CrashAt final : public OperationHandler {
 public:
  CrashAt(OperationHandler& inner, OpState at, int nth = 1) : inner_(inner), at_(at), nth_(nth) {}
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override {
    if (crashed_) return MakeError(Errc::kUnavailable, "crashed");
    if (op.state == at_ && ++seen_ == nth_) {
      OperationRecord copy = op;
      copy.attempt = -1;
      (void)inner_.Step(copy, stop);
      crashed_ = true;
      return MakeError(Errc::kUnavailable, "crashed before commit");
    }
    return inner_.Step(op, stop);
  }
  Status OnDeadline(OperationRecord& op) override { return inner_.OnDeadline(op); }
  bool crashed() const { return crashed_; }

 private:
  OperationHandler& inner_;
  OpState at_;
  int nth_;
  int seen_ = 0;
  std::atomic<bool> crashed_{false};
};

}  // namespace cf::orchestrator::testing
