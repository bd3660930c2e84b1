// The reshard state machines as tables of paths (STYLE.md #15): the happy path of each
// direction, and every other transition rejected (illegal skips, cross-direction steps,
// rollbacks, leaving a terminal state).
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "orchestrator/core/operation_types.h"

namespace cf::orchestrator {
namespace {

const std::vector<OpState> kAll = {
    OpState::kPending,         OpState::kLaunchNodes, OpState::kAssignSlots,  OpState::kMeet,
    OpState::kAwaitMembership, OpState::kReplicate,   OpState::kAwaitHealthy, OpState::kRollingBack,
    OpState::kStopNodes,       OpState::kPlanMoves,   OpState::kMoveSlots,    OpState::kForgetNodes,
    OpState::kSucceeded,       OpState::kFailed};

const std::vector<OpState> kScaleOut = {
    OpState::kPending,         OpState::kLaunchNodes,  OpState::kMeet,
    OpState::kAwaitMembership, OpState::kReplicate,    OpState::kPlanMoves,
    OpState::kMoveSlots,       OpState::kAwaitHealthy, OpState::kSucceeded};

const std::vector<OpState> kScaleIn = {
    OpState::kPending,     OpState::kPlanMoves, OpState::kMoveSlots, OpState::kAwaitHealthy,
    OpState::kForgetNodes, OpState::kStopNodes, OpState::kSucceeded};

void ExpectExactly(OpKind kind, const std::vector<OpState>& path) {
  const auto t = Topology::kClusterModeEnabled;
  std::set<std::pair<OpState, OpState>> legal;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    legal.insert({path[i], path[i + 1]});
    EXPECT_EQ(NextState(kind, t, path[i]), path[i + 1]) << OpStateName(path[i]);
  }
  for (OpState from : kAll)
    for (OpState to : kAll) {
      EXPECT_EQ(IsValidTransition(kind, t, from, to), legal.count({from, to}) == 1)
          << OpKindName(kind) << ": " << OpStateName(from) << " -> " << OpStateName(to);
      // Reshards exist only for cluster mode enabled groups.
      EXPECT_FALSE(IsValidTransition(kind, Topology::kClusterModeDisabled, from, to));
    }
}

TEST(ReshardStates, ScaleOutIsExactlyItsPath) {
  ExpectExactly(OpKind::kReshardScaleOut, kScaleOut);
}

TEST(ReshardStates, ScaleInIsExactlyItsPath) { ExpectExactly(OpKind::kReshardScaleIn, kScaleIn); }

TEST(ReshardStates, TerminalStatesStay) {
  for (OpKind k : {OpKind::kReshardScaleOut, OpKind::kReshardScaleIn}) {
    EXPECT_EQ(NextState(k, Topology::kClusterModeEnabled, OpState::kSucceeded),
              OpState::kSucceeded);
    auto st =
        CheckTransition(k, Topology::kClusterModeEnabled, OpState::kSucceeded, OpState::kPending);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  }
}

TEST(ReshardStates, NamesRoundTrip) {
  for (OpKind k : {OpKind::kCreateGroup, OpKind::kDeleteGroup, OpKind::kReshardScaleOut,
                   OpKind::kReshardScaleIn})
    EXPECT_EQ(ParseOpKind(OpKindName(k)), k);
  for (OpState s : kAll) EXPECT_EQ(ParseOpState(OpStateName(s)), s);
  EXPECT_TRUE(IsReshard(OpKind::kReshardScaleIn));
  EXPECT_FALSE(IsReshard(OpKind::kCreateGroup));
}

}  // namespace
}  // namespace cf::orchestrator
