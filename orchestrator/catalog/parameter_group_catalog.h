// The parameter catalogue of configs/parameter_groups.yaml: each engine family's parameters
// (type, allowed values, default, modifiable, change type) and the built-in groups' overrides.
// Pure after loading; value checks for ModifyCacheParameterGroup.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace cf::orchestrator {

struct ParameterDef {
  std::string name;
  std::string data_type;  // "string" / "integer"
  std::string allowed;    // "yes,no", "a,b,c", "1-10", "0-", "" (free text)
  std::string default_value;
  std::string description;
  bool modifiable = true;
  bool requires_reboot = false;  // ChangeType requires-reboot (static)
};

struct FamilyDef {
  std::string family;  // "redis7"
  std::string engine;  // "redis"
  std::string description;
  std::string minimum_engine_version;
  std::vector<ParameterDef> parameters;  // ordered by name
  const ParameterDef* Find(const std::string& name) const;
};

class ParameterCatalog {
 public:
  ParameterCatalog() = default;
  const FamilyDef* Family(const std::string& family) const;
  const std::map<std::string, FamilyDef>& families() const { return families_; }
  // Overrides (Source system) of a built-in group, by lowercase name; empty when none.
  std::map<std::string, std::string> BuiltinOverrides(const std::string& group_name) const;
  // The family a redis version belongs to ("7.0.15" -> "redis7"), "" when none.
  std::string FamilyForVersion(const std::string& engine, const std::string& version) const;

  std::map<std::string, FamilyDef> families_;
  std::map<std::string, std::map<std::string, std::string>> overrides_;
};

// Parses the `families` map and the groups' `overrides` of parameter_groups.yaml.
Result<ParameterCatalog> ParseParameterCatalog(const std::string& yaml_text);
Result<ParameterCatalog> LoadParameterCatalog(const std::string& path);
// The catalogue of the parameter_groups file an orchestrator config file names (default
// parameter_groups.yaml, relative to the config file's directory).
Result<ParameterCatalog> LoadParameterCatalogForConfig(const std::string& config_path);

// "" when `value` fits the parameter's type and allowed values, else the reason.
std::string CheckParameterValue(const ParameterDef& def, const std::string& value);

}  // namespace cf::orchestrator
