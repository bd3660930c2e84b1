// The parameter part of a node's spec: which values of a parameter group are sent to a node,
// and how (dynamic ones CONFIG SET, static ones written to the spec for the next restart).
// Pure functions, used by the parameter applier, the node type change and the rolling restart.
#pragma once

#include <map>
#include <string>

#include "cachefleet.pb.h"
#include "orchestrator/catalog/parameter_group_catalog.h"

namespace cf::orchestrator {

namespace pb = ::cachefleet::v1;

// Pure: the config map sent to the agent (dynamic parameters only; empty values quoted).
std::map<std::string, std::string> DynamicConfig(const std::map<std::string, std::string>& values,
                                                 const ParameterCatalog& catalog,
                                                 const std::string& family);
// Pure: the static (requires-reboot) values of `values`, cluster-enabled excluded.
std::map<std::string, std::string> StaticConfig(const std::map<std::string, std::string>& values,
                                                const ParameterCatalog& catalog,
                                                const std::string& family);
// Pure: puts the parameter part of a node's spec into req: dynamic and static values into the
// spec's config, and every static parameter name of the family into static_keys (so the agent
// never CONFIG SETs them with restart=false, and a static value the group dropped leaves the
// spec too).
void AddParameterConfig(const std::map<std::string, std::string>& values,
                        const ParameterCatalog& catalog, const std::string& family,
                        pb::ReconfigureNodeRequest& req);

}  // namespace cf::orchestrator
