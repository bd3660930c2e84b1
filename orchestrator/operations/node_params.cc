#include "orchestrator/operations/node_params.h"

namespace cf::orchestrator {

std::map<std::string, std::string> DynamicConfig(const std::map<std::string, std::string>& values,
                                                 const ParameterCatalog& catalog,
                                                 const std::string& family) {
  std::map<std::string, std::string> out;
  const FamilyDef* fam = catalog.Family(family);
  if (!fam) return out;
  for (const auto& [k, v] : values) {
    const ParameterDef* d = fam->Find(k);
    if (!d || d->requires_reboot || k == "cluster-enabled") continue;
    out[k] = v.empty() ? "\"\"" : v;
  }
  return out;
}

std::map<std::string, std::string> StaticConfig(const std::map<std::string, std::string>& values,
                                                const ParameterCatalog& catalog,
                                                const std::string& family) {
  std::map<std::string, std::string> out;
  const FamilyDef* fam = catalog.Family(family);
  if (!fam) return out;
  for (const auto& [k, v] : values) {
    const ParameterDef* d = fam->Find(k);
    if (!d || !d->requires_reboot || k == "cluster-enabled") continue;
    out[k] = v.empty() ? "\"\"" : v;
  }
  return out;
}

void AddParameterConfig(const std::map<std::string, std::string>& values,
                        const ParameterCatalog& catalog, const std::string& family,
                        pb::ReconfigureNodeRequest& req) {
  auto& config = *req.mutable_spec()->mutable_config();
  for (const auto& [k, v] : DynamicConfig(values, catalog, family)) config[k] = v;
  for (const auto& [k, v] : StaticConfig(values, catalog, family)) config[k] = v;
  if (const FamilyDef* fam = catalog.Family(family))
    for (const auto& p : fam->parameters)
      if (p.requires_reboot && p.name != "cluster-enabled") req.add_static_keys(p.name);
}

}  // namespace cf::orchestrator
