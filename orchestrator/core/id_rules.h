// Identifier rules of the ElastiCache API and the opaque pagination marker. Pure functions.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace cf::orchestrator {

inline constexpr size_t kMaxReplicationGroupIdLength = 40;

// Checks a ReplicationGroupId (1-40 letters/digits/hyphens, first a letter, no "--", no trailing
// "-") and returns it in lowercase. The error message is the one ElastiCache uses:
// "The parameter ReplicationGroupId is not a valid identifier. ..."
Result<std::string> NormalizeReplicationGroupId(const std::string& raw,
                                                const std::string& param = "ReplicationGroupId");

// NodeGroupId: 1-4 digits, returned zero-padded to 4 ("1" -> "0001").
Result<std::string> NormalizeNodeGroupId(const std::string& raw);

// Member cluster (= node) ids: "<group>-001" (CMD), "<group>-0001-001" (CME).
std::string CmdMemberId(const std::string& group_id, int member_index);
std::string CmeMemberId(const std::string& group_id, const std::string& node_group_id,
                        int member_index);
std::string FormatNodeGroupId(int n);  // 1 -> "0001"

// DescribeReplicationGroups marker: opaque to clients; encodes the last id returned.
std::string EncodeDescribeMarker(const std::string& last_group_id);
// nullopt when the marker was not produced by EncodeDescribeMarker.
std::optional<std::string> DecodeDescribeMarker(const std::string& marker);

}  // namespace cf::orchestrator
