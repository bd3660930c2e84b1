#include "orchestrator/api/api_types.h"

#include <charconv>
#include <exception>
#include <string_view>

#include "common/log.h"

namespace cf::api {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// "1".."999999" without a leading zero -> the index; anything else -> 0.
long ParseIndex(std::string_view s) {
  if (s.empty() || s.size() > 6 || s[0] == '0') return 0;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

ApiError ListError(const std::string& param, const std::string& item, const std::string& why) {
  return InvalidParameterValue("Invalid list parameter " + param + " (expected " + param + "." +
                               item + ".N): " + why);
}

// Shared by the scalar and struct list readers. Visits every key under "param." and groups it
// by index; `scalar` selects which shape is legal after "param.item.N".
template <class Element, class AddFn>
std::variant<std::optional<std::vector<Element>>, ApiError> ReadList(
    const std::map<std::string, std::string>& values, const std::string& param,
    const std::string& item, bool scalar, AddFn add) {
  const std::string prefix = param + ".";
  const std::string item_prefix = prefix + item + ".";
  const auto bare = values.find(param);
  std::map<long, Element> elements;
  bool any_child = false;
  for (auto it = values.lower_bound(prefix); it != values.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, prefix.size(), prefix) != 0) break;
    any_child = true;
    if (key.compare(0, item_prefix.size(), item_prefix) != 0) {
      return ListError(param, item, "unexpected parameter " + key + ".");
    }
    const std::string_view rest = std::string_view(key).substr(item_prefix.size());
    const size_t dot = rest.find('.');
    const long index = ParseIndex(rest.substr(0, dot));
    if (index == 0) {
      return ListError(param, item,
                       "bad member index in " + key + "; members are numbered from 1.");
    }
    if (scalar && dot != std::string_view::npos) {
      return ListError(param, item, key + " is not a list member.");
    }
    if (!scalar && (dot == std::string_view::npos || dot + 1 == rest.size())) {
      return ListError(param, item, key + " must name a field of the member.");
    }
    add(elements[index],
        dot == std::string_view::npos ? std::string() : std::string(rest.substr(dot + 1)),
        it->second);
  }
  if (bare != values.end()) {
    if (!bare->second.empty())
      return ListError(param, item, "a bare " + param + "= must be empty.");
    if (any_child) return ListError(param, item, "both " + param + "= and members were sent.");
    return std::optional<std::vector<Element>>(std::vector<Element>{});
  }
  if (!any_child) return std::optional<std::vector<Element>>();
  if (elements.rbegin()->first != static_cast<long>(elements.size())) {
    return ListError(param, item, "members must be numbered 1, 2, 3, ... without gaps.");
  }
  std::vector<Element> out;
  out.reserve(elements.size());
  for (auto& [index, element] : elements) out.push_back(std::move(element));
  return std::optional<std::vector<Element>>(std::move(out));
}

}  // namespace

ApiError InvalidParameterValue(std::string message) {
  return ApiError{400, "InvalidParameterValue", std::move(message)};
}

ApiError InvalidParameterCombination(std::string message) {
  return ApiError{400, "InvalidParameterCombination", std::move(message)};
}

ApiError MissingParameter(const std::string& name) {
  return ApiError{400, "MissingParameter", "The request must contain the parameter " + name};
}

ApiError InternalFailure(std::string message) {
  return ApiError{500, "InternalFailure", std::move(message)};
}

ApiError InvalidQueryParameter(std::string message) {
  return ApiError{400, "InvalidQueryParameter", std::move(message)};
}

ApiError InvalidAction(const std::string& action) {
  return ApiError{400, "InvalidAction",
                  "The action " + action + " is not valid for this web service."};
}

ApiError MissingAction() {
  return ApiError{400, "MissingAction", "The request must contain the parameter Action."};
}

std::optional<std::string> QueryParams::Get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

QueryParams::BoolOr QueryParams::GetBool(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<bool>();
  if (EqualsIgnoreCase(it->second, "true")) return std::optional<bool>(true);
  if (EqualsIgnoreCase(it->second, "false")) return std::optional<bool>(false);
  return InvalidParameterValue("The parameter " + key + " must be a boolean (true or false).");
}

QueryParams::IntOr QueryParams::GetInt(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<int64_t>();
  const std::string& s = it->second;
  const size_t digits_at = !s.empty() && s[0] == '-' ? 1 : 0;
  bool ok = s.size() > digits_at;
  for (size_t i = digits_at; ok && i < s.size(); ++i) ok = s[i] >= '0' && s[i] <= '9';
  int64_t v = 0;
  if (ok) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = ec == std::errc() && end == s.data() + s.size();
  }
  if (!ok) return InvalidParameterValue("The parameter " + key + " must be an integer.");
  return std::optional<int64_t>(v);
}

QueryParams::ListOr QueryParams::GetListChecked(const std::string& param,
                                                const std::string& item) const {
  return ReadList<std::string>(
      values_, param, item, /*scalar=*/true,
      [](std::string& el, const std::string&, const std::string& v) { el = v; });
}

QueryParams::StructListOr QueryParams::GetStructListChecked(const std::string& param,
                                                            const std::string& item) const {
  return ReadList<QueryParams>(values_, param, item, /*scalar=*/false,
                               [](QueryParams& el, const std::string& field, const std::string& v) {
                                 el.values_.emplace(field, v);
                               });
}

std::optional<std::vector<std::string>> QueryParams::GetList(const std::string& param,
                                                             const std::string& item) const {
  auto r = GetListChecked(param, item);
  if (auto* list = std::get_if<0>(&r)) return std::move(*list);
  return std::nullopt;
}

std::optional<std::vector<QueryParams>> QueryParams::GetStructList(const std::string& param,
                                                                   const std::string& item) const {
  auto r = GetStructListChecked(param, item);
  if (auto* list = std::get_if<0>(&r)) return std::move(*list);
  return std::nullopt;
}

std::optional<ApiError> Dispatcher::Dispatch(const ApiRequest& req, pugi::xml_node result) const {
  if (req.action.empty()) return MissingAction();
  auto it = handlers_.find(req.action);
  if (it == handlers_.end()) return InvalidAction(req.action);
  try {
    return it->second(req, result);
  } catch (const std::exception& e) {
    Logger("api")->error("[{}] handler threw: {} (request {})", req.action, e.what(),
                         req.request_id);
  } catch (...) {
    Logger("api")->error("[{}] handler threw a non-std exception (request {})", req.action,
                         req.request_id);
  }
  return InternalFailure("An internal error occurred while processing " + req.action + ".");
}

}  // namespace cf::api
