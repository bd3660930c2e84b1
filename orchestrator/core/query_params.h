// Small pure helpers shared by the settings actions (DescribeEvents, engine versions, parameter
// groups, cache clusters, tags): unknown-parameter rejection, MaxRecords, opaque markers; and
// the request rules several features check: the Validated result, engine version resolution.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator::settings {

template <class T>
using Checked = std::variant<T, api::ApiError>;

// Parameter names an action knows: true = a list (dotted keys allowed), false = a scalar.
using KnownParams = std::map<std::string, bool>;

// InvalidParameterValue naming every unknown key (or a scalar sent with a dotted suffix).
std::optional<api::ApiError> RejectUnknown(const api::QueryParams& params,
                                           const KnownParams& known);

// MaxRecords: absent -> def; not an integer or outside [lo, hi] -> InvalidParameterValue.
Checked<int> ParseMaxRecords(const api::QueryParams& params, int lo = 20, int hi = 100,
                             int def = 100);

// Opaque markers: "<prefix>" + hex(payload). Decode returns nullopt for anything else.
std::string EncodeMarker(const std::string& prefix, const std::string& payload);
std::optional<std::string> DecodeMarker(const std::string& prefix, const std::string& marker);

// Optional boolean parameter (true/false), InvalidParameterValue otherwise.
Checked<std::optional<bool>> ParseBool(const api::QueryParams& params, const std::string& name);

std::string Lower(std::string s);

inline constexpr int kMaxTags = 50;
// Tags.Tag.N.{Key,Value} (or TagKeys-free lists given by the caller): at most kMaxTags
// (TagQuotaPerResourceExceeded), keys 1-128, values <= 256, no "aws:" prefix, no duplicate
// keys (InvalidParameterValue). nullopt list = absent.
Checked<std::vector<Tag>> CheckTagList(const api::QueryParams& params, const std::string& param);

}  // namespace cf::orchestrator::settings

namespace cf::orchestrator {

// What a validator returns: the typed request, or the exact ElastiCache fault.
template <class T>
using Validated = settings::Checked<T>;

// Engine versions (CreateReplicationGroup, ModifyReplicationGroup EngineVersion).
// "7", "7.0", "7.0.15" -> the highest available version it matches; nullopt when none does.
std::optional<std::string> ResolveEngineVersion(const std::string& requested,
                                                const std::vector<std::string>& available);
// Highest version of `available` (numeric, component-wise); "" when empty.
std::string HighestVersion(const std::vector<std::string>& available);

}  // namespace cf::orchestrator
