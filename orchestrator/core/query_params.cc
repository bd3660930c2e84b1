#include "orchestrator/core/query_params.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace cf::orchestrator::settings {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<api::ApiError> RejectUnknown(const api::QueryParams& params,
                                           const KnownParams& known) {
  std::string list;
  int n = 0;
  for (const auto& [key, value] : params.all()) {
    auto dot = key.find('.');
    auto it = known.find(key.substr(0, dot));
    if (it == known.end() || (!it->second && dot != std::string::npos)) {
      list += (list.empty() ? "" : ", ") + key;
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return api::InvalidParameterValue("Unknown parameter" + std::string(n > 1 ? "s" : "") + ": " +
                                    list + ".");
}

Checked<int> ParseMaxRecords(const api::QueryParams& params, int lo, int hi, int def) {
  auto v = params.GetInt("MaxRecords");
  if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
  auto max = std::get<std::optional<int64_t>>(v);
  if (!max) return def;
  if (*max < lo || *max > hi)
    return api::InvalidParameterValue("The parameter MaxRecords must be between " +
                                      std::to_string(lo) + " and " + std::to_string(hi) + ".");
  return static_cast<int>(*max);
}

std::string EncodeMarker(const std::string& prefix, const std::string& payload) {
  static const char* hex = "0123456789abcdef";
  std::string out = prefix;
  for (unsigned char c : payload) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

std::optional<std::string> DecodeMarker(const std::string& prefix, const std::string& marker) {
  if (marker.size() <= prefix.size() || marker.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  const std::string h = marker.substr(prefix.size());
  if (h.size() % 2 != 0) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < h.size(); i += 2) {
    int a = val(h[i]), b = val(h[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out.push_back(static_cast<char>(a * 16 + b));
  }
  return out;
}

Checked<std::optional<bool>> ParseBool(const api::QueryParams& params, const std::string& name) {
  auto v = params.GetBool(name);
  if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
  return std::get<std::optional<bool>>(v);
}

Checked<std::vector<Tag>> CheckTagList(const api::QueryParams& params, const std::string& param) {
  auto raw = params.GetStructListChecked(param, "Tag");
  if (auto* e = std::get_if<api::ApiError>(&raw)) return *e;
  const auto& list = std::get<std::optional<std::vector<api::QueryParams>>>(raw);
  std::vector<Tag> out;
  if (!list) return out;
  if (list->size() > static_cast<size_t>(kMaxTags))
    return api::ApiError{400, "TagQuotaPerResourceExceeded",
                         "Too many tags: " + std::to_string(list->size()) + " given, at most " +
                             std::to_string(kMaxTags) + " are allowed per resource."};
  std::set<std::string> seen;
  for (const auto& t : *list) {
    for (const auto& [field, v] : t.all())
      if (field != "Key" && field != "Value")
        return api::InvalidParameterValue("Unknown tag field " + field + ".");
    auto key = t.Get("Key");
    if (!key || key->empty() || key->size() > 128)
      return api::InvalidParameterValue("Tag keys must be 1 to 128 characters long.");
    std::string value = t.Get("Value").value_or("");
    if (value.size() > 256)
      return api::InvalidParameterValue("Tag values must be at most 256 characters long (key " +
                                        *key + ").");
    if (Lower(key->substr(0, 4)) == "aws:")
      return api::InvalidParameterValue("Tag keys must not start with the reserved prefix aws: (" +
                                        *key + ").");
    if (!seen.insert(*key).second)
      return api::InvalidParameterValue("Duplicate tag key " + *key + ".");
    out.push_back(Tag{*key, value});
  }
  return out;
}

}  // namespace cf::orchestrator::settings

namespace cf::orchestrator {
namespace {

// Numeric, component-wise version comparison ("7.0.15" > "7.0.9").
std::vector<long> VersionParts(const std::string& v) {
  std::vector<long> out;
  long cur = 0;
  bool any = false;
  for (char c : v) {
    if (c == '.') {
      out.push_back(any ? cur : -1);
      cur = 0;
      any = false;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      cur = cur * 10 + (c - '0');
      any = true;
    } else {
      return {};
    }
  }
  out.push_back(any ? cur : -1);
  for (long p : out)
    if (p < 0) return {};
  return out;
}

}  // namespace

std::string HighestVersion(const std::vector<std::string>& available) {
  std::string best;
  std::vector<long> best_parts;
  for (const auto& v : available) {
    auto p = VersionParts(v);
    if (p.empty()) continue;
    if (best.empty() || p > best_parts) {
      best = v;
      best_parts = p;
    }
  }
  return best;
}

std::optional<std::string> ResolveEngineVersion(const std::string& requested,
                                                const std::vector<std::string>& available) {
  auto want = VersionParts(requested);
  if (want.empty() || want.size() > 3) return std::nullopt;
  std::vector<std::string> matches;
  for (const auto& v : available) {
    auto have = VersionParts(v);
    if (have.size() < want.size()) continue;
    if (std::equal(want.begin(), want.end(), have.begin())) matches.push_back(v);
  }
  if (matches.empty()) return std::nullopt;
  return HighestVersion(matches);
}

}  // namespace cf::orchestrator
