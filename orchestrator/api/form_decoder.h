// Decoding of application/x-www-form-urlencoded bodies (AWS Query protocol). Pure functions.
//
// Rules (elasticache-api.md §1):
//  * pairs separated by '&'; empty segments are skipped; a segment without '=' is a key with an
//    empty value (so "Tags" and "Tags=" both mean an empty list);
//  * '+' is a space, %XX a byte; the decoded bytes must be UTF-8;
//  * malformed %-escape, empty key, duplicate key, or a key that is not XML-safe text
//    -> 400 InvalidQueryParameter;
//  * a value with a control character (U+0000..U+001F, U+007F), U+FFFE/U+FFFF or invalid UTF-8
//    -> 400 InvalidParameterValue (XML 1.0 could not carry it back to the client).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "orchestrator/api/api_types.h"

namespace cf::api {

using FormOr = std::variant<std::map<std::string, std::string>, ApiError>;

// Decodes a whole form body. Keys are returned exactly as sent (after decoding).
FormOr DecodeForm(std::string_view body);

// Decodes one form component ('+' -> space when plus_is_space, %XX -> byte). nullopt on a
// malformed escape ('%' not followed by two hex digits).
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);

// Checks the list numbering of every key: each all-digit segment of a key (the N in
// "Param.Item.N" or "Param.Item.N.Field") is a list index that must be 1..n without gaps or
// leading zeros, per list prefix. Also rejects empty key segments ("a..b", "a."). Returns
// InvalidParameterValue (numbering) or InvalidQueryParameter (segments); nullopt when fine.
std::optional<ApiError> ValidateListIndices(const std::map<std::string, std::string>& form);

}  // namespace cf::api
