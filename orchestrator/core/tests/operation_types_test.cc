#include "orchestrator/core/operation_types.h"

#include <gtest/gtest.h>

#include <vector>

namespace cf::orchestrator {
namespace {

const std::vector<OpState> kAll = {
    OpState::kPending,         OpState::kLaunchNodes, OpState::kAssignSlots,  OpState::kMeet,
    OpState::kAwaitMembership, OpState::kReplicate,   OpState::kAwaitHealthy, OpState::kRollingBack,
    OpState::kStopNodes,       OpState::kSucceeded,   OpState::kFailed};

// Walks `path` and checks every step is legal and NextState agrees.
void ExpectHappyPath(OpKind kind, Topology t, const std::vector<OpState>& path) {
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    EXPECT_TRUE(IsValidTransition(kind, t, path[i], path[i + 1]))
        << OpStateName(path[i]) << " -> " << OpStateName(path[i + 1]);
    EXPECT_EQ(NextState(kind, t, path[i]), path[i + 1]) << OpStateName(path[i]);
  }
}

TEST(OperationStates, CreateClusterModeEnabledHappyPath) {
  ExpectHappyPath(OpKind::kCreateGroup, Topology::kClusterModeEnabled,
                  {OpState::kPending, OpState::kLaunchNodes, OpState::kAssignSlots, OpState::kMeet,
                   OpState::kAwaitMembership, OpState::kReplicate, OpState::kAwaitHealthy,
                   OpState::kSucceeded});
}

TEST(OperationStates, CreateClusterModeDisabledHappyPath) {
  ExpectHappyPath(OpKind::kCreateGroup, Topology::kClusterModeDisabled,
                  {OpState::kPending, OpState::kLaunchNodes, OpState::kReplicate,
                   OpState::kAwaitHealthy, OpState::kSucceeded});
}

TEST(OperationStates, DeleteHappyPath) {
  for (Topology t : {Topology::kClusterModeDisabled, Topology::kClusterModeEnabled})
    ExpectHappyPath(OpKind::kDeleteGroup, t,
                    {OpState::kPending, OpState::kStopNodes, OpState::kSucceeded});
}

TEST(OperationStates, CmdSkipsClusterSteps) {
  const auto t = Topology::kClusterModeDisabled;
  EXPECT_FALSE(
      IsValidTransition(OpKind::kCreateGroup, t, OpState::kLaunchNodes, OpState::kAssignSlots));
  EXPECT_FALSE(IsValidTransition(OpKind::kCreateGroup, t, OpState::kAssignSlots, OpState::kMeet));
  EXPECT_FALSE(
      IsValidTransition(OpKind::kCreateGroup, t, OpState::kMeet, OpState::kAwaitMembership));
}

TEST(OperationStates, IllegalSkipsAreRejected) {
  const auto k = OpKind::kCreateGroup;
  const auto t = Topology::kClusterModeEnabled;
  EXPECT_FALSE(IsValidTransition(k, t, OpState::kPending, OpState::kAssignSlots));
  EXPECT_FALSE(IsValidTransition(k, t, OpState::kLaunchNodes, OpState::kReplicate));
  EXPECT_FALSE(IsValidTransition(k, t, OpState::kMeet, OpState::kReplicate));
  EXPECT_FALSE(IsValidTransition(k, t, OpState::kPending, OpState::kSucceeded));
  EXPECT_FALSE(IsValidTransition(k, t, OpState::kAwaitHealthy, OpState::kFailed));
  EXPECT_FALSE(IsValidTransition(k, t, OpState::kLaunchNodes, OpState::kStopNodes));
  EXPECT_FALSE(IsValidTransition(OpKind::kDeleteGroup, t, OpState::kPending, OpState::kSucceeded));
  EXPECT_FALSE(
      IsValidTransition(OpKind::kDeleteGroup, t, OpState::kStopNodes, OpState::kRollingBack));
  EXPECT_FALSE(IsValidTransition(OpKind::kDeleteGroup, t, OpState::kStopNodes, OpState::kFailed));
  auto st = CheckTransition(k, t, OpState::kPending, OpState::kMeet);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(st.error().message.find("pending -> meet"), std::string::npos);
}

TEST(OperationStates, RollbackFromEveryNonTerminalCreateState) {
  for (Topology t : {Topology::kClusterModeDisabled, Topology::kClusterModeEnabled}) {
    for (OpState s : kAll) {
      if (s == OpState::kStopNodes) continue;  // a delete state
      const bool want = !IsTerminal(s) && s != OpState::kRollingBack;
      EXPECT_EQ(IsValidTransition(OpKind::kCreateGroup, t, s, OpState::kRollingBack), want)
          << OpStateName(s);
    }
    EXPECT_TRUE(
        IsValidTransition(OpKind::kCreateGroup, t, OpState::kRollingBack, OpState::kFailed));
    EXPECT_FALSE(
        IsValidTransition(OpKind::kCreateGroup, t, OpState::kRollingBack, OpState::kSucceeded));
    EXPECT_FALSE(
        IsValidTransition(OpKind::kCreateGroup, t, OpState::kRollingBack, OpState::kLaunchNodes));
  }
}

TEST(OperationStates, TerminalStatesAreNeverLeft) {
  for (OpKind k : {OpKind::kCreateGroup, OpKind::kDeleteGroup})
    for (Topology t : {Topology::kClusterModeDisabled, Topology::kClusterModeEnabled})
      for (OpState from : {OpState::kSucceeded, OpState::kFailed})
        for (OpState to : kAll) EXPECT_FALSE(IsValidTransition(k, t, from, to));
}

TEST(OperationStates, NoSelfTransitions) {
  for (OpState s : kAll)
    EXPECT_FALSE(IsValidTransition(OpKind::kCreateGroup, Topology::kClusterModeEnabled, s, s));
}

TEST(OperationStates, NamesRoundTrip) {
  for (OpState s : kAll) EXPECT_EQ(ParseOpState(OpStateName(s)), s);
  EXPECT_EQ(ParseOpKind("create-group"), OpKind::kCreateGroup);
  EXPECT_EQ(ParseOpKind("delete-group"), OpKind::kDeleteGroup);
  EXPECT_FALSE(ParseOpState("bogus").has_value());
}

TEST(OperationStates, ModifyNodeTypePaths) {
  const auto k = OpKind::kModifyNodeType;
  for (Topology t : {Topology::kClusterModeDisabled, Topology::kClusterModeEnabled}) {
    ExpectHappyPath(k, t, {OpState::kPending, OpState::kResizeNodes, OpState::kSucceeded});
    ExpectHappyPath(k, t, {OpState::kRollingBack, OpState::kFailed});
    // The old type comes back: from pending (data that no longer fits: nothing was sent) and
    // from either forward state through rolling-back.
    EXPECT_TRUE(IsValidTransition(k, t, OpState::kPending, OpState::kFailed));
    EXPECT_TRUE(IsValidTransition(k, t, OpState::kPending, OpState::kRollingBack));
    EXPECT_TRUE(IsValidTransition(k, t, OpState::kResizeNodes, OpState::kRollingBack));
    EXPECT_FALSE(IsValidTransition(k, t, OpState::kResizeNodes, OpState::kFailed));
    EXPECT_FALSE(IsValidTransition(k, t, OpState::kPending, OpState::kSucceeded));
    EXPECT_FALSE(IsValidTransition(k, t, OpState::kRollingBack, OpState::kSucceeded));
    EXPECT_FALSE(IsValidTransition(k, t, OpState::kRollingBack, OpState::kResizeNodes));
    for (OpState from : {OpState::kSucceeded, OpState::kFailed})
      for (OpState to : kAll) EXPECT_FALSE(IsValidTransition(k, t, from, to));
  }
  EXPECT_EQ(ParseOpKind("modify-node-type"), k);
  EXPECT_STREQ(OpKindName(k), "modify-node-type");
  EXPECT_EQ(ParseOpState("resize-nodes"), OpState::kResizeNodes);
}

}  // namespace
}  // namespace cf::orchestrator
