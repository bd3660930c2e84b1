#include "orchestrator/core/id_rules.h"

#include <cctype>
#include <cstdio>

namespace cf::orchestrator {
namespace {

constexpr char kMarkerPrefix[] = "cfm1.";

std::string InvalidIdMessage(const std::string& param) {
  return "The parameter " + param +
         " is not a valid identifier. Identifiers must begin with a letter; must contain only "
         "ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two "
         "consecutive hyphens.";
}

}  // namespace

Result<std::string> NormalizeReplicationGroupId(const std::string& raw, const std::string& param) {
  if (raw.empty()) return MakeError(Errc::kInvalidArgument, InvalidIdMessage(param));
  if (raw.size() > kMaxReplicationGroupIdLength)
    return MakeError(Errc::kInvalidArgument,
                     "The parameter " + param + " must be at most 40 characters long.");
  if (!std::isalpha(static_cast<unsigned char>(raw[0])) || static_cast<unsigned char>(raw[0]) > 127)
    return MakeError(Errc::kInvalidArgument, InvalidIdMessage(param));
  std::string out;
  out.reserve(raw.size());
  char prev = 0;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u > 127 || !(std::isalnum(u) || c == '-'))
      return MakeError(Errc::kInvalidArgument, InvalidIdMessage(param));
    if (c == '-' && prev == '-') return MakeError(Errc::kInvalidArgument, InvalidIdMessage(param));
    out.push_back(static_cast<char>(std::tolower(u)));
    prev = c;
  }
  if (out.back() == '-') return MakeError(Errc::kInvalidArgument, InvalidIdMessage(param));
  return out;
}

Result<std::string> NormalizeNodeGroupId(const std::string& raw) {
  if (raw.empty() || raw.size() > 4)
    return MakeError(Errc::kInvalidArgument,
                     "NodeGroupId '" + raw + "' is invalid: it must be 1 to 4 digits.");
  for (char c : raw)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return MakeError(Errc::kInvalidArgument,
                       "NodeGroupId '" + raw + "' is invalid: it must be 1 to 4 digits.");
  return std::string(4 - raw.size(), '0') + raw;
}

std::string FormatNodeGroupId(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", n);
  return buf;
}

std::string CmdMemberId(const std::string& group_id, int member_index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%03d", member_index);
  return group_id + buf;
}

std::string CmeMemberId(const std::string& group_id, const std::string& node_group_id,
                        int member_index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%03d", member_index);
  return group_id + "-" + node_group_id + buf;
}

std::string EncodeDescribeMarker(const std::string& last_group_id) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = kMarkerPrefix;
  for (unsigned char c : last_group_id) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> DecodeDescribeMarker(const std::string& marker) {
  const size_t plen = sizeof(kMarkerPrefix) - 1;
  if (marker.size() <= plen || marker.compare(0, plen, kMarkerPrefix) != 0) return std::nullopt;
  std::string hex = marker.substr(plen);
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  // Only ids we could have produced: a valid, lowercase replication group id.
  auto norm = NormalizeReplicationGroupId(out);
  if (!norm || *norm != out) return std::nullopt;
  return out;
}

}  // namespace cf::orchestrator
