#include "orchestrator/core/operation_types.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
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

// ---- the operation table ---------------------------------------------------------------------

TEST(OperationTable, OneRowPerKindAndEveryPathEndsTerminal) {
  const auto& table = OperationTable();
  ASSERT_EQ(table.size(), static_cast<size_t>(OpKind::kModifyNodeType) + 1);
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table[i].kind, static_cast<OpKind>(i));
    EXPECT_EQ(&PathsOf(table[i].kind), &table[i]);
    ASSERT_FALSE(table[i].variants.empty()) << OpKindName(table[i].kind);
    for (const auto& v : table[i].variants) {
      ASSERT_GE(v.states.size(), 2u) << OpKindName(table[i].kind) << " " << v.name;
      EXPECT_TRUE(IsTerminal(v.states.back())) << OpKindName(table[i].kind) << " " << v.name;
    }
  }
}

TEST(OperationTable, TransitionsAreTheTablesEdges) {
  // A path of the topology walked state by state is legal.
  for (const auto& k : OperationTable())
    for (Topology t : {Topology::kClusterModeDisabled, Topology::kClusterModeEnabled})
      for (const auto& v : k.variants) {
        if (v.topology && *v.topology != t) continue;
        const bool legal = !k.cluster_mode_only || t == Topology::kClusterModeEnabled;
        for (size_t i = 0; i + 1 < v.states.size(); ++i)
          EXPECT_EQ(IsValidTransition(k.kind, t, v.states[i], v.states[i + 1]), legal)
              << OpKindName(k.kind) << " " << OpStateName(v.states[i]);
      }
  // Reshards are cluster mode enabled only; NextState still names the successor.
  EXPECT_FALSE(IsValidTransition(OpKind::kReshardScaleIn, Topology::kClusterModeDisabled,
                                 OpState::kPending, OpState::kPlanMoves));
  EXPECT_EQ(NextState(OpKind::kReshardScaleIn, Topology::kClusterModeDisabled, OpState::kPending),
            OpState::kPlanMoves);
  // Off every path of the topology: no successor.
  EXPECT_EQ(NextState(OpKind::kDeleteGroup, Topology::kClusterModeEnabled, OpState::kMeet),
            OpState::kMeet);
  EXPECT_EQ(NextState(OpKind::kCreateGroup, Topology::kClusterModeDisabled, OpState::kMeet),
            OpState::kMeet);
  // Side exits: failover fails only before the promotion.
  EXPECT_TRUE(IsValidTransition(OpKind::kFailover, Topology::kClusterModeEnabled,
                                OpState::kKillPrimary, OpState::kFailed));
  EXPECT_FALSE(IsValidTransition(OpKind::kFailover, Topology::kClusterModeEnabled,
                                 OpState::kRepointReplicas, OpState::kFailed));
}

// docs/orchestrator.md's state diagrams are the table's (CF_WRITE_DOCS=1 rewrites them).
TEST(OperationTable, DocsMatchTheTable) {
  const std::string path = std::string(CF_SOURCE_DIR) + "/docs/orchestrator.md";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  const std::string begin = "<!-- operation-table:begin";
  const std::string end = "<!-- operation-table:end -->";
  const size_t b = doc.find(begin);
  ASSERT_NE(b, std::string::npos) << "no " << begin << " marker in " << path;
  const size_t body = doc.find('\n', b) + 1;
  const size_t e = doc.find(end, body);
  ASSERT_NE(e, std::string::npos) << "no " << end << " marker in " << path;
  const std::string want = OperationTableMarkdown();
  if (const char* w = std::getenv("CF_WRITE_DOCS"); w && std::string(w) == "1") {
    doc.replace(body, e - body, want);
    std::ofstream(path) << doc;
    return;
  }
  EXPECT_EQ(doc.substr(body, e - body), want)
      << "docs/orchestrator.md's operation table differs from orchestrator/core/"
         "operation_types.cc; run this test with CF_WRITE_DOCS=1 to rewrite it";
}

}  // namespace
}  // namespace cf::orchestrator
