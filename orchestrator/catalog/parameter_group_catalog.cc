#include "orchestrator/catalog/parameter_group_catalog.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <cctype>
#include <fstream>
#include <sstream>

namespace cf::orchestrator {
namespace {

Error CatalogError(const std::string& m) {
  return MakeError(Errc::kInvalidArgument, "parameter catalogue: " + m);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ParseInt(const std::string& s, long long& out) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  out = std::stoll(s);
  return true;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

const ParameterDef* FamilyDef::Find(const std::string& name) const {
  for (const auto& p : parameters)
    if (p.name == name) return &p;
  return nullptr;
}

const FamilyDef* ParameterCatalog::Family(const std::string& family) const {
  auto it = families_.find(family);
  return it == families_.end() ? nullptr : &it->second;
}

std::map<std::string, std::string> ParameterCatalog::BuiltinOverrides(
    const std::string& group_name) const {
  auto it = overrides_.find(Lower(group_name));
  return it == overrides_.end() ? std::map<std::string, std::string>{} : it->second;
}

std::string ParameterCatalog::FamilyForVersion(const std::string& engine,
                                               const std::string& version) const {
  const std::string major = version.substr(0, version.find('.'));
  const std::string want = engine + major;
  return families_.count(want) ? want : "";
}

Result<ParameterCatalog> ParseParameterCatalog(const std::string& yaml_text) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    ParameterCatalog cat;
    YAML::Node fams = root["families"];
    if (!fams || !fams.IsMap() || fams.size() == 0)
      return CatalogError("'families' must be a non-empty map");
    for (const auto& kv : fams) {
      FamilyDef f;
      f.family = kv.first.as<std::string>();
      f.engine = kv.second["engine"] ? kv.second["engine"].as<std::string>() : "redis";
      f.description = kv.second["description"] ? kv.second["description"].as<std::string>() : "";
      f.minimum_engine_version = kv.second["minimum_engine_version"]
                                     ? kv.second["minimum_engine_version"].as<std::string>()
                                     : "";
      YAML::Node params = kv.second["parameters"];
      if (!params || !params.IsSequence())
        return CatalogError(f.family + ": 'parameters' must be a list");
      for (const auto& p : params) {
        ParameterDef d;
        if (!p["name"] || !p["type"] || !p["default"])
          return CatalogError(f.family + ": every parameter needs name, type and default");
        d.name = p["name"].as<std::string>();
        d.data_type = p["type"].as<std::string>();
        if (d.data_type != "string" && d.data_type != "integer")
          return CatalogError(d.name + ": type must be string or integer");
        d.allowed = p["allowed"] ? p["allowed"].as<std::string>() : "";
        d.default_value = p["default"].as<std::string>();
        d.description = p["description"] ? p["description"].as<std::string>() : "";
        d.modifiable = p["modifiable"] ? p["modifiable"].as<bool>() : true;
        std::string change = p["change"] ? p["change"].as<std::string>() : "immediate";
        if (change != "immediate" && change != "requires-reboot")
          return CatalogError(d.name + ": change must be immediate or requires-reboot");
        d.requires_reboot = change == "requires-reboot";
        if (f.Find(d.name)) return CatalogError(f.family + ": duplicate parameter " + d.name);
        if (auto why = CheckParameterValue(d, d.default_value); !why.empty() && d.modifiable)
          return CatalogError(d.name + ": default: " + why);
        f.parameters.push_back(std::move(d));
      }
      std::sort(f.parameters.begin(), f.parameters.end(),
                [](const ParameterDef& a, const ParameterDef& b) { return a.name < b.name; });
      cat.families_[f.family] = std::move(f);
    }
    if (YAML::Node groups = root["parameter_groups"]; groups && groups.IsSequence()) {
      for (const auto& g : groups) {
        if (!g["name"] || !g["family"]) continue;
        const std::string name = Lower(g["name"].as<std::string>());
        const std::string family = g["family"].as<std::string>();
        const FamilyDef* f = cat.Family(family);
        if (!f) return CatalogError(name + ": unknown family " + family);
        auto& ov = cat.overrides_[name];
        if (YAML::Node o = g["overrides"]; o && o.IsMap()) {
          for (const auto& kv : o) {
            std::string k = kv.first.as<std::string>();
            if (!f->Find(k)) return CatalogError(name + ": override of unknown parameter " + k);
            ov[k] = kv.second.as<std::string>();
          }
        }
      }
    }
    return cat;
  } catch (const YAML::Exception& e) {
    return CatalogError(e.what());
  }
}

Result<ParameterCatalog> LoadParameterCatalog(const std::string& path) {
  std::ifstream in(path);
  if (!in) return CatalogError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseParameterCatalog(ss.str());
}

Result<ParameterCatalog> LoadParameterCatalogForConfig(const std::string& config_path) {
  try {
    YAML::Node root = YAML::LoadFile(config_path);
    std::string file = root["parameter_groups"] ? root["parameter_groups"].as<std::string>()
                                                : "parameter_groups.yaml";
    std::filesystem::path p(file);
    if (p.is_relative()) p = std::filesystem::path(config_path).parent_path() / p;
    return LoadParameterCatalog(p.string());
  } catch (const YAML::Exception& e) {
    return CatalogError(e.what());
  }
}

std::string CheckParameterValue(const ParameterDef& def, const std::string& value) {
  if (value.size() > 1024) return "the value is too long";
  for (unsigned char c : value)
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\'' || c == '\\')
      return "the value may contain only printable ASCII characters without spaces or quotes";
  if (def.data_type == "integer") {
    long long v = 0;
    if (!ParseInt(value, v)) return "the value must be an integer";
    // Ranges: "lo-hi", "lo-", "-1-"; a single number means exactly that value.
    const std::string& a = def.allowed;
    if (a.empty()) return "";
    size_t dash = a.find('-', a[0] == '-' ? 1 : 0);
    long long lo = 0, hi = 0;
    if (dash == std::string::npos) {
      if (ParseInt(a, lo) && v != lo) return "the allowed value is " + a;
      return "";
    }
    if (!ParseInt(a.substr(0, dash), lo)) return "";
    if (v < lo) return "the allowed values are " + a;
    if (dash + 1 < a.size() && ParseInt(a.substr(dash + 1), hi) && v > hi)
      return "the allowed values are " + a;
    return "";
  }
  if (def.allowed.empty()) {
    if (def.name == "notify-keyspace-events") {
      for (char c : value)
        if (std::string("KEg$lshzxetmdAn").find(c) == std::string::npos)
          return "the allowed characters are K, E, g, $, l, s, h, z, x, e, t, m, d, A and n";
    }
    return "";
  }
  for (const auto& v : SplitComma(def.allowed))
    if (v == value) return "";
  return "the allowed values are " + def.allowed;
}

}  // namespace cf::orchestrator
