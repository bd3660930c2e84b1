#include "orchestrator/api/form_decoder.h"

#include <set>
#include <vector>

#include "orchestrator/api/xml_util.h"

namespace cf::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;  // needs two more characters
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

FormOr DecodeForm(std::string_view body) {
  std::map<std::string, std::string> form;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view raw_key = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto key = PercentDecode(raw_key, true);
    if (!key) {
      return InvalidQueryParameter("Malformed percent-encoding in parameter name '" +
                                   SanitizeXmlText(raw_key) + "'.");
    }
    if (key->empty()) return InvalidQueryParameter("Empty parameter name in the request body.");
    if (!IsXmlSafeText(*key)) {
      return InvalidQueryParameter("Invalid characters in parameter name '" +
                                   SanitizeXmlText(*key) + "'.");
    }
    auto value = PercentDecode(raw_value, true);
    if (!value) {
      return InvalidQueryParameter("Malformed percent-encoding in the value of parameter " + *key +
                                   ".");
    }
    if (!IsXmlSafeText(*value)) {
      return InvalidParameterValue("The value of parameter " + *key +
                                   " contains control characters or invalid UTF-8.");
    }
    if (!form.emplace(std::move(*key), std::move(*value)).second) {
      return InvalidQueryParameter("The parameter " + SanitizeXmlText(raw_key) +
                                   " appears more than once.");
    }
  }
  return form;
}

std::optional<ApiError> ValidateListIndices(const std::map<std::string, std::string>& form) {
  std::map<std::string, std::set<long>> indices;  // list prefix -> indices seen
  for (const auto& [key, value] : form) {
    std::vector<std::string_view> segs;
    std::string_view k = key;
    size_t start = 0;
    for (;;) {
      const size_t dot = k.find('.', start);
      segs.push_back(k.substr(start, dot == std::string_view::npos ? k.npos : dot - start));
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    for (size_t i = 0; i < segs.size(); ++i) {
      if (segs[i].empty()) {
        return InvalidQueryParameter("Malformed parameter name '" + key + "'.");
      }
      if (i == 0 || !AllDigits(segs[i])) continue;
      const std::string prefix(k.substr(0, static_cast<size_t>(segs[i].data() - k.data()) - 1));
      if (segs[i][0] == '0' || segs[i].size() > 6) {
        return InvalidParameterValue("Invalid list index in parameter " + key +
                                     ": list members are numbered from 1.");
      }
      indices[prefix].insert(std::stol(std::string(segs[i])));
    }
  }
  for (const auto& [prefix, set] : indices) {
    // A set of n distinct positive integers equals {1..n} iff its maximum is n.
    if (*set.rbegin() != static_cast<long>(set.size())) {
      return InvalidParameterValue("The members of list " + prefix +
                                   " must be numbered 1, 2, 3, ... without gaps.");
    }
  }
  return std::nullopt;
}

}  // namespace cf::api
