// Small helpers for building ElastiCache XML with pugixml, plus the timestamp format the
// clients expect. Light header (pugixml only); safe to include from every action handler.
//
// Example (inside an ActionHandler):
//   auto rg = result.append_child("ReplicationGroup");
//   AppendText(rg, "ReplicationGroupId", "my-rg");
//   AppendBool(rg, "ClusterEnabled", false);                        // <ClusterEnabled>false</...>
//   AppendList(rg, "MemberClusters", "ClusterId", {"my-rg-001"});   // wrapper + items
//   AppendTimestamp(rg, "ReplicationGroupCreateTime", 1714566896789);  // 2024-05-01T12:34:56.789Z
#pragma once

#include <cstdint>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace cf::api {

// Each Append* adds <name>value</name> as the last child of `node` and returns the new element.
pugi::xml_node AppendText(pugi::xml_node node, const char* name, std::string_view value);
pugi::xml_node AppendBool(pugi::xml_node node, const char* name, bool value);  // true / false
pugi::xml_node AppendInt(pugi::xml_node node, const char* name, int64_t value);
// Plain decimal, shortest round-trip form, never an exponent: 37.5, 42, 0.001. NaN/inf -> 0.
pugi::xml_node AppendDouble(pugi::xml_node node, const char* name, double value);
// Milliseconds since the Unix epoch, written as 2024-05-01T12:34:56.789Z.
pugi::xml_node AppendTimestamp(pugi::xml_node node, const char* name, int64_t epoch_ms);
// <wrapper><item>v1</item><item>v2</item></wrapper>; an empty vector writes <wrapper/>, which
// every client reads as an empty list. Returns the wrapper.
pugi::xml_node AppendList(pugi::xml_node node, const char* wrapper, const char* item,
                          const std::vector<std::string>& values);

// The double format used by AppendDouble.
std::string FormatDouble(double value);
// ms since the epoch -> "2024-05-01T12:34:56.789Z" (always 3 fraction digits, UTC).
std::string FormatTimestampMs(int64_t epoch_ms);
// ISO-8601 UTC as clients send it: YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z (boto3 sends 6 fraction
// digits, JS 3, some none). Digits past milliseconds are truncated. nullopt if malformed or
// out of range (month 13, Feb 30, hour 24, ...).
std::optional<int64_t> ParseTimestampMs(std::string_view text);

// True if `text` is valid UTF-8 that XML 1.0 can carry back unchanged: no code point below
// U+0020 (tab, CR and LF included, since XML parsers normalise them), no U+007F, no U+FFFE or
// U+FFFF, no surrogates or overlong forms.
bool IsXmlSafeText(std::string_view text);
// Replaces every byte sequence that IsXmlSafeText would reject with '?'. Used for messages
// that echo client input.
std::string SanitizeXmlText(std::string_view text);

}  // namespace cf::api
