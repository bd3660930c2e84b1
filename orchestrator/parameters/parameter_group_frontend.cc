#include "orchestrator/parameters/parameter_group_frontend.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/log.h"
#include "orchestrator/api/xml_util.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/parameters/parameter_group_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;
using api::InvalidParameterCombination;
using api::InvalidParameterValue;
using settings::Lower;

ApiError AlreadyExists(const std::string& name) {
  return {400, "CacheParameterGroupAlreadyExists",
          "Cache Parameter Group " + name + " already exists."};
}
ApiError InvalidState(const std::string& message) {
  return {400, "InvalidCacheParameterGroupState", message};
}
ApiError QuotaExceeded(const std::string& message) {
  return {400, "CacheParameterGroupQuotaExceeded", message};
}

// Every family name ElastiCache knows (for validating the CacheParameterGroupFamily filter).
const std::set<std::string>& AwsFamilies() {
  static const std::set<std::string> k = {
      "memcached1.4", "memcached1.5", "memcached1.6", "redis2.6", "redis2.8", "redis3.2",
      "redis4.0",     "redis5.0",     "redis6.x",     "redis7",   "valkey7",  "valkey8"};
  return k;
}

std::vector<long> VersionKey(const std::string& v) {
  std::vector<long> out;
  long cur = 0;
  for (char c : v) {
    if (c == '.') {
      out.push_back(cur);
      cur = 0;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      cur = cur * 10 + (c - '0');
    }
  }
  out.push_back(cur);
  return out;
}

// "7", "7.0", "7.0.15" match 7.0.15 (whole components).
bool VersionMatches(const std::string& requested, const std::string& version) {
  if (requested == version) return true;
  return version.size() > requested.size() &&
         version.compare(0, requested.size(), requested) == 0 && version[requested.size()] == '.';
}

template <class T>
bool Take(settings::Checked<T>&& v, T& out, std::optional<ApiError>& err) {
  if (auto* e = std::get_if<ApiError>(&v)) {
    err = *e;
    return false;
  }
  out = std::move(std::get<T>(v));
  return true;
}

#define PG_TAKE(expr, out)                                  \
  do {                                                      \
    std::optional<ApiError> take_err_;                      \
    if (!Take((expr), (out), take_err_)) return *take_err_; \
  } while (0)

#define PG_CHECK(expr)                                \
  do {                                                \
    if (auto check_err_ = (expr)) return *check_err_; \
  } while (0)

void RenderParameter(pugi::xml_node list, const ParameterDef& d, const std::string& value,
                     const std::string& source, const std::string& min_version) {
  pugi::xml_node p = list.append_child("Parameter");
  api::AppendText(p, "ParameterName", d.name);
  api::AppendText(p, "ParameterValue", value);
  api::AppendText(p, "Description", d.description);
  api::AppendText(p, "Source", source);
  api::AppendText(p, "DataType", d.data_type);
  api::AppendText(p, "AllowedValues", d.allowed);
  api::AppendBool(p, "IsModifiable", d.modifiable);
  api::AppendText(p, "MinimumEngineVersion", min_version);
  api::AppendText(p, "ChangeType", d.requires_reboot ? "requires-reboot" : "immediate");
}

// Marker + the page of parameters (ordered by name) after the marker's name.
std::optional<ApiError> RenderParameters(pugi::xml_node parent, const FamilyDef& fam,
                                         const std::map<std::string, std::string>& values,
                                         const std::map<std::string, std::string>& sources,
                                         const std::string& source_filter, const std::string& after,
                                         int max_records) {
  std::vector<const ParameterDef*> page;
  bool more = false;
  for (const auto& d : fam.parameters) {
    if (!after.empty() && d.name <= after) continue;
    auto src = sources.count(d.name) ? sources.at(d.name) : "engine-default";
    if (!source_filter.empty() && src != source_filter) continue;
    if (static_cast<int>(page.size()) == max_records) {
      more = true;
      break;
    }
    page.push_back(&d);
  }
  if (more) api::AppendText(parent, "Marker", settings::EncodeMarker("cfq1.", page.back()->name));
  pugi::xml_node list = parent.append_child("Parameters");
  for (const auto* d : page) {
    auto v = values.count(d->name) ? values.at(d->name) : d->default_value;
    auto src = sources.count(d->name) ? sources.at(d->name) : "engine-default";
    RenderParameter(list, *d, v, src, fam.minimum_engine_version);
  }
  parent.append_child("CacheNodeTypeSpecificParameters");
  return std::nullopt;
}

settings::Checked<std::string> ParseMarker(const api::QueryParams& params, const char* prefix) {
  auto m = params.Get("Marker");
  if (!m || m->empty()) return std::string();
  auto d = settings::DecodeMarker(prefix, *m);
  if (!d) return InvalidParameterValue("Invalid Marker: " + api::SanitizeXmlText(*m) + ".");
  return *d;
}

}  // namespace

EffectiveParameterGroup EffectiveBuiltin(const ParameterGroup& g, const ParameterCatalog& cat) {
  EffectiveParameterGroup e;
  e.name = g.name;
  e.family = g.family;
  e.description = g.description;
  e.builtin = true;
  e.cluster_enabled = g.cluster_enabled;
  if (const FamilyDef* f = cat.Family(g.family))
    for (const auto& d : f->parameters) {
      e.values[d.name] = d.default_value;
      e.sources[d.name] = "engine-default";
    }
  for (const auto& [k, v] : cat.BuiltinOverrides(g.name)) {
    e.values[k] = v;
    e.sources[k] = "system";
  }
  return e;
}

EffectiveParameterGroup EffectiveUser(const UserParameterGroup& g, const ParameterCatalog& cat) {
  EffectiveParameterGroup e;
  e.name = g.name;
  e.family = g.family;
  e.description = g.description;
  if (const FamilyDef* f = cat.Family(g.family))
    for (const auto& d : f->parameters) {
      e.values[d.name] = d.default_value;
      e.sources[d.name] = "engine-default";
    }
  for (const auto& [k, v] : g.values) {
    e.values[k] = v;
    e.sources[k] = "user";
  }
  e.cluster_enabled = e.values.count("cluster-enabled") && e.values["cluster-enabled"] == "yes";
  return e;
}

settings::Checked<std::string> NormalizeParameterGroupName(const std::string& raw) {
  const std::string msg =
      "The parameter CacheParameterGroupName is not a valid identifier. Identifiers must begin "
      "with a letter; must contain only ASCII letters, digits, and hyphens; and must not end "
      "with a hyphen or contain two consecutive hyphens.";
  if (raw.empty() || raw.size() > 255 || !std::isalpha(static_cast<unsigned char>(raw[0])) ||
      raw.back() == '-' || raw.find("--") != std::string::npos)
    return InvalidParameterValue(msg);
  for (unsigned char c : raw)
    if (!std::isalnum(c) && c != '-') return InvalidParameterValue(msg);
  return Lower(raw);
}

std::string ParameterGroupArn(const OrchestratorConfig& cfg, const std::string& name) {
  return "arn:aws:elasticache:" + cfg.region + ":" + cfg.account_id + ":parametergroup:" + name;
}

ParameterGroupFrontend::ParameterGroupFrontend(Store& store, const OrchestratorConfig& config,
                                               const ParameterCatalog& catalog,
                                               std::function<void()> poke)
    : store_(store), config_(config), catalog_(catalog), poke_(std::move(poke)) {}

void ParameterGroupFrontend::Register(api::Dispatcher& d) {
#define PG_REGISTER(Action) \
  d.Register(#Action, [this](const api::ApiRequest& r, pugi::xml_node n) { return Action(r, n); })
  PG_REGISTER(DescribeCacheEngineVersions);
  PG_REGISTER(DescribeCacheParameterGroups);
  PG_REGISTER(DescribeCacheParameters);
  PG_REGISTER(DescribeEngineDefaultParameters);
  PG_REGISTER(CreateCacheParameterGroup);
  PG_REGISTER(ModifyCacheParameterGroup);
  PG_REGISTER(ResetCacheParameterGroup);
  PG_REGISTER(DeleteCacheParameterGroup);
#undef PG_REGISTER
}

std::vector<ParameterGroup> ParameterGroupFrontend::UserGroupsForValidation(
    Store& store, const ParameterCatalog& catalog) {
  std::vector<ParameterGroup> out;
  auto list = ParameterGroupStoreOf(store).ListParameterGroups();
  if (!list) return out;
  for (const auto& g : *list) {
    auto e = EffectiveUser(g, catalog);
    out.push_back(ParameterGroup{e.name, e.family, e.description, e.cluster_enabled});
  }
  return out;
}

Result<std::optional<EffectiveParameterGroup>> ParameterGroupFrontend::Resolve(
    const std::string& name) {
  if (const ParameterGroup* b = config_.parameter_groups.Find(name))
    return std::optional<EffectiveParameterGroup>(EffectiveBuiltin(*b, catalog_));
  auto g = store_.GetParameterGroup(Lower(name));
  if (!g) return g.error();
  if (!*g) return std::optional<EffectiveParameterGroup>{};
  return std::optional<EffectiveParameterGroup>(EffectiveUser(**g, catalog_));
}

// ---------------------------------------------------------------------------------------------

std::optional<ApiError> ParameterGroupFrontend::DescribeCacheEngineVersions(
    const api::ApiRequest& req, pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(req.params, {{"Engine", false},
                                                {"EngineVersion", false},
                                                {"CacheParameterGroupFamily", false},
                                                {"DefaultOnly", false},
                                                {"MaxRecords", false},
                                                {"Marker", false}}));
  std::string engine = Lower(req.params.Get("Engine").value_or(""));
  std::string version = req.params.Get("EngineVersion").value_or("");
  std::string family = req.params.Get("CacheParameterGroupFamily").value_or("");
  if (!family.empty() && !AwsFamilies().count(family))
    return InvalidParameterValue(
        "Invalid value for CacheParameterGroupFamily: " + api::SanitizeXmlText(family) + ".");
  std::optional<bool> default_only;
  PG_TAKE(settings::ParseBool(req.params, "DefaultOnly"), default_only);
  int max_records = 100;
  PG_TAKE(settings::ParseMaxRecords(req.params), max_records);
  std::string after;
  PG_TAKE(ParseMarker(req.params, "cfv1."), after);

  auto hosts = store_.ListHosts();
  if (!hosts) return faults::StoreFailure(hosts.error());
  std::set<std::string> versions;
  for (const auto& h : *hosts)
    for (const auto& v : h.redis_versions) versions.insert(v);
  std::vector<std::string> sorted(versions.begin(), versions.end());
  std::sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
    return VersionKey(a) < VersionKey(b);
  });
  struct Item {
    std::string version, family;
  };
  std::vector<Item> items;
  for (const auto& v : sorted) {
    std::string fam = catalog_.FamilyForVersion("redis", v);
    if (fam.empty()) fam = "redis" + v.substr(0, v.find('.'));
    if (!engine.empty() && engine != "redis") continue;
    if (!version.empty() && !VersionMatches(version, v)) continue;
    if (!family.empty() && family != fam) continue;
    items.push_back(Item{v, fam});
  }
  if (default_only.value_or(false) && !items.empty()) items = {items.back()};
  std::vector<Item> page;
  bool more = false;
  bool past = after.empty();
  for (const auto& it : items) {
    if (!past) {
      past = it.version == after;
      continue;
    }
    if (static_cast<int>(page.size()) == max_records) {
      more = true;
      break;
    }
    page.push_back(it);
  }
  if (more) api::AppendText(result, "Marker", settings::EncodeMarker("cfv1.", page.back().version));
  pugi::xml_node list = result.append_child("CacheEngineVersions");
  for (const auto& it : page) {
    pugi::xml_node v = list.append_child("CacheEngineVersion");
    api::AppendText(v, "Engine", "redis");
    api::AppendText(v, "EngineVersion", it.version);
    api::AppendText(v, "CacheParameterGroupFamily", it.family);
    api::AppendText(v, "CacheEngineDescription", "Redis");
    api::AppendText(v, "CacheEngineVersionDescription", "redis version " + it.version);
  }
  return std::nullopt;
}

std::optional<ApiError> ParameterGroupFrontend::DescribeCacheParameterGroups(
    const api::ApiRequest& req, pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(
      req.params, {{"CacheParameterGroupName", false}, {"MaxRecords", false}, {"Marker", false}}));
  int max_records = 100;
  PG_TAKE(settings::ParseMaxRecords(req.params), max_records);
  std::string after;
  PG_TAKE(ParseMarker(req.params, "cfp1."), after);
  std::vector<EffectiveParameterGroup> groups;
  if (auto name = req.params.Get("CacheParameterGroupName")) {
    auto g = Resolve(*name);
    if (!g) return faults::StoreFailure(g.error());
    if (!*g) return faults::CacheParameterGroupNotFound(api::SanitizeXmlText(*name));
    groups.push_back(std::move(**g));
  } else {
    for (const auto& b : config_.parameter_groups.all())
      groups.push_back(EffectiveBuiltin(b, catalog_));
    auto users = ParameterGroupStoreOf(store_).ListParameterGroups();
    if (!users) return faults::StoreFailure(users.error());
    for (const auto& u : *users) groups.push_back(EffectiveUser(u, catalog_));
    std::sort(groups.begin(), groups.end(),
              [](const auto& a, const auto& b) { return Lower(a.name) < Lower(b.name); });
  }
  std::vector<const EffectiveParameterGroup*> page;
  bool more = false;
  for (const auto& g : groups) {
    if (!after.empty() && Lower(g.name) <= after) continue;
    if (static_cast<int>(page.size()) == max_records) {
      more = true;
      break;
    }
    page.push_back(&g);
  }
  if (more)
    api::AppendText(result, "Marker", settings::EncodeMarker("cfp1.", Lower(page.back()->name)));
  pugi::xml_node list = result.append_child("CacheParameterGroups");
  for (const auto* g : page) {
    pugi::xml_node n = list.append_child("CacheParameterGroup");
    api::AppendText(n, "CacheParameterGroupName", g->name);
    api::AppendText(n, "CacheParameterGroupFamily", g->family);
    api::AppendText(n, "Description", g->description);
    api::AppendBool(n, "IsGlobal", false);
    api::AppendText(n, "ARN", ParameterGroupArn(config_, g->name));
  }
  return std::nullopt;
}

std::optional<ApiError> ParameterGroupFrontend::DescribeCacheParameters(const api::ApiRequest& req,
                                                                        pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(req.params, {{"CacheParameterGroupName", false},
                                                {"Source", false},
                                                {"MaxRecords", false},
                                                {"Marker", false}}));
  auto name = req.params.Get("CacheParameterGroupName");
  if (!name) return api::MissingParameter("CacheParameterGroupName");
  std::string source = req.params.Get("Source").value_or("");
  if (!source.empty() && source != "user" && source != "system" && source != "engine-default")
    return InvalidParameterValue("Invalid value for Source: " + api::SanitizeXmlText(source) +
                                 ". Valid values: user, system, engine-default.");
  int max_records = 100;
  PG_TAKE(settings::ParseMaxRecords(req.params), max_records);
  std::string after;
  PG_TAKE(ParseMarker(req.params, "cfq1."), after);
  auto g = Resolve(*name);
  if (!g) return faults::StoreFailure(g.error());
  if (!*g) return faults::CacheParameterGroupNotFound(api::SanitizeXmlText(*name));
  const FamilyDef* fam = catalog_.Family((*g)->family);
  if (!fam) return api::InternalFailure("No parameter catalogue for family " + (*g)->family);
  return RenderParameters(result, *fam, (*g)->values, (*g)->sources, source, after, max_records);
}

std::optional<ApiError> ParameterGroupFrontend::DescribeEngineDefaultParameters(
    const api::ApiRequest& req, pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(
      req.params,
      {{"CacheParameterGroupFamily", false}, {"MaxRecords", false}, {"Marker", false}}));
  auto family = req.params.Get("CacheParameterGroupFamily");
  if (!family) return api::MissingParameter("CacheParameterGroupFamily");
  int max_records = 100;
  PG_TAKE(settings::ParseMaxRecords(req.params), max_records);
  std::string after;
  PG_TAKE(ParseMarker(req.params, "cfq1."), after);
  const FamilyDef* fam = catalog_.Family(*family);
  if (!fam)
    return InvalidParameterValue("CacheParameterGroupFamily " + api::SanitizeXmlText(*family) +
                                 " is not supported by cachefleet (supported: " +
                                 [&] {
                                   std::string s;
                                   for (const auto& [k, v] : catalog_.families())
                                     s += (s.empty() ? "" : ", ") + k;
                                   return s;
                                 }() +
                                 ").");
  pugi::xml_node ed = result.append_child("EngineDefaults");
  api::AppendText(ed, "CacheParameterGroupFamily", fam->family);
  return RenderParameters(ed, *fam, {}, {}, "", after, max_records);
}

std::optional<ApiError> ParameterGroupFrontend::CreateCacheParameterGroup(
    const api::ApiRequest& req, pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(req.params, {{"CacheParameterGroupName", false},
                                                {"CacheParameterGroupFamily", false},
                                                {"Description", false},
                                                {"Tags", true}}));
  auto raw_name = req.params.Get("CacheParameterGroupName");
  if (!raw_name) return api::MissingParameter("CacheParameterGroupName");
  auto family = req.params.Get("CacheParameterGroupFamily");
  if (!family) return api::MissingParameter("CacheParameterGroupFamily");
  auto description = req.params.Get("Description");
  if (!description) return api::MissingParameter("Description");
  std::string name;
  PG_TAKE(NormalizeParameterGroupName(*raw_name), name);
  if (description->size() > 255)
    return InvalidParameterValue("The parameter Description must be at most 255 characters.");
  if (!api::IsXmlSafeText(*description))
    return InvalidParameterValue("The parameter Description contains invalid characters.");
  const FamilyDef* fam = catalog_.Family(*family);
  if (!fam) {
    if (AwsFamilies().count(*family))
      return InvalidParameterValue("CacheParameterGroupFamily " + *family +
                                   " is not supported by cachefleet yet.");
    return InvalidParameterValue(
        "Invalid value for CacheParameterGroupFamily: " + api::SanitizeXmlText(*family) + ".");
  }
  std::vector<Tag> tags;
  PG_TAKE(settings::CheckTagList(req.params, "Tags"), tags);
  if (config_.parameter_groups.Find(name)) return AlreadyExists(name);

  UserParameterGroup g;
  g.name = name;
  g.family = fam->family;
  g.description = *description;
  g.create_time_ms = NowMs();
  auto st = ParameterGroupStoreOf(store_).CreateParameterGroup(
      g, tags, kMaxParameterGroups, "Cache parameter group " + name + " created");
  if (!st) {
    if (st.error().code == Errc::kAlreadyExists) return AlreadyExists(name);
    if (st.error().code == Errc::kResourceExhausted) return QuotaExceeded(st.error().message);
    return faults::StoreFailure(st.error());
  }
  pugi::xml_node n = result.append_child("CacheParameterGroup");
  api::AppendText(n, "CacheParameterGroupName", g.name);
  api::AppendText(n, "CacheParameterGroupFamily", g.family);
  api::AppendText(n, "Description", g.description);
  api::AppendBool(n, "IsGlobal", false);
  api::AppendText(n, "ARN", ParameterGroupArn(config_, g.name));
  Logger("api")->info("[pg {}] created (family {})", g.name, g.family);
  return std::nullopt;
}

std::optional<ApiError> ParameterGroupFrontend::ApplyChange(
    const EffectiveParameterGroup& g, std::map<std::string, std::string> set,
    std::map<std::string, std::string> reset, const std::string& event) {
  const FamilyDef* fam = catalog_.Family(g.family);
  auto users = ParameterGroupStoreOf(store_).GroupsUsingParameterGroup(Lower(g.name));
  if (!users) return faults::StoreFailure(users.error());
  bool reboot = false;
  auto changes = [&](const std::string& k, const std::string& v) {
    auto it = g.values.find(k);
    return it == g.values.end() || it->second != v;
  };
  for (const auto* m : {&set, &reset})
    for (const auto& [k, v] : *m) {
      const ParameterDef* d = fam ? fam->Find(k) : nullptr;
      if (!d || !changes(k, v)) continue;
      if (k == "cluster-enabled" && !users->empty())
        return InvalidState("The parameter cluster-enabled of cache parameter group " + g.name +
                            " cannot be changed while replication group " + users->front() +
                            " uses it.");
      if (d->requires_reboot) reboot = true;
    }
  ParameterGroupChange c;
  c.name = Lower(g.name);
  c.set = std::move(set);
  c.reset = std::move(reset);
  c.requires_reboot = reboot && !users->empty();
  c.event_message = event;
  auto st = ParameterGroupStoreOf(store_).ChangeParameterGroup(c);
  if (!st) {
    if (st.error().code == Errc::kNotFound) return faults::CacheParameterGroupNotFound(g.name);
    return faults::StoreFailure(st.error());
  }
  Logger("api")->info("[pg {}] {} ({} replication group(s) use it{})", g.name, event, users->size(),
                      c.requires_reboot ? "; static change: pending-reboot" : "");
  if (poke_) poke_();
  return std::nullopt;
}

std::optional<ApiError> ParameterGroupFrontend::ModifyCacheParameterGroup(
    const api::ApiRequest& req, pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(
      req.params, {{"CacheParameterGroupName", false}, {"ParameterNameValues", true}}));
  auto name = req.params.Get("CacheParameterGroupName");
  if (!name) return api::MissingParameter("CacheParameterGroupName");
  auto raw = req.params.GetStructListChecked("ParameterNameValues", "ParameterNameValue");
  if (auto* e = std::get_if<ApiError>(&raw)) return *e;
  const auto& list = std::get<std::optional<std::vector<api::QueryParams>>>(raw);
  if (!list) return api::MissingParameter("ParameterNameValues");
  if (list->empty() || list->size() > 20)
    return InvalidParameterValue("ParameterNameValues must have 1 to 20 entries.");
  auto g = Resolve(*name);
  if (!g) return faults::StoreFailure(g.error());
  if (!*g) return faults::CacheParameterGroupNotFound(api::SanitizeXmlText(*name));
  if ((*g)->builtin)
    return InvalidParameterValue("Default parameter group " + (*g)->name +
                                 " cannot be modified; create a parameter group and modify it.");
  const FamilyDef* fam = catalog_.Family((*g)->family);
  std::map<std::string, std::string> set;
  std::string summary;
  for (const auto& e : *list) {
    for (const auto& [field, v] : e.all())
      if (field != "ParameterName" && field != "ParameterValue")
        return InvalidParameterValue("Unknown ParameterNameValue field " + field + ".");
    auto pname = e.Get("ParameterName");
    if (!pname || pname->empty())
      return InvalidParameterValue("Every ParameterNameValue needs a ParameterName.");
    auto pvalue = e.Get("ParameterValue");
    if (!pvalue)
      return InvalidParameterValue("Parameter " + api::SanitizeXmlText(*pname) +
                                   " needs a ParameterValue.");
    const ParameterDef* d = fam ? fam->Find(*pname) : nullptr;
    if (!d)
      return InvalidParameterValue("Parameter " + api::SanitizeXmlText(*pname) +
                                   " does not exist in family " + (*g)->family + ".");
    if (!d->modifiable)
      return InvalidParameterValue("Parameter " + d->name + " is not modifiable.");
    if (auto why = CheckParameterValue(*d, *pvalue); !why.empty())
      return InvalidParameterValue("Invalid value for parameter " + d->name + ": " +
                                   api::SanitizeXmlText(*pvalue) + " (" + why + ").");
    if (set.count(d->name))
      return InvalidParameterCombination("Parameter " + d->name + " is listed twice.");
    set[d->name] = *pvalue;
    summary += (summary.empty() ? "" : ", ") + d->name + "=" + *pvalue;
  }
  PG_CHECK(ApplyChange(**g, std::move(set), {},
                       "Cache parameter group " + (*g)->name + " modified: " + summary));
  api::AppendText(result, "CacheParameterGroupName", (*g)->name);
  return std::nullopt;
}

std::optional<ApiError> ParameterGroupFrontend::ResetCacheParameterGroup(const api::ApiRequest& req,
                                                                         pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(req.params, {{"CacheParameterGroupName", false},
                                                {"ResetAllParameters", false},
                                                {"ParameterNameValues", true}}));
  auto name = req.params.Get("CacheParameterGroupName");
  if (!name) return api::MissingParameter("CacheParameterGroupName");
  std::optional<bool> all;
  PG_TAKE(settings::ParseBool(req.params, "ResetAllParameters"), all);
  auto raw = req.params.GetStructListChecked("ParameterNameValues", "ParameterNameValue");
  if (auto* e = std::get_if<ApiError>(&raw)) return *e;
  const auto& list = std::get<std::optional<std::vector<api::QueryParams>>>(raw);
  const bool has_list = list && !list->empty();
  if (all.value_or(false) && has_list)
    return InvalidParameterCombination(
        "ResetAllParameters=true cannot be combined with ParameterNameValues.");
  if (!all.value_or(false) && !has_list)
    return InvalidParameterValue(
        "Either ResetAllParameters=true or ParameterNameValues must be given.");
  if (has_list && list->size() > 20)
    return InvalidParameterValue("ParameterNameValues must have 1 to 20 entries.");
  auto g = Resolve(*name);
  if (!g) return faults::StoreFailure(g.error());
  if (!*g) return faults::CacheParameterGroupNotFound(api::SanitizeXmlText(*name));
  if ((*g)->builtin)
    return InvalidParameterValue("Default parameter group " + (*g)->name + " cannot be reset.");
  const FamilyDef* fam = catalog_.Family((*g)->family);
  if (!fam) return api::InternalFailure("No parameter catalogue for family " + (*g)->family);
  std::map<std::string, std::string> reset;
  std::string summary;
  if (all.value_or(false)) {
    for (const auto& [k, src] : (*g)->sources)
      if (src == "user")
        if (const ParameterDef* d = fam->Find(k)) reset[k] = d->default_value;
    summary = "all parameters";
  } else {
    for (const auto& e : *list) {
      for (const auto& [field, v] : e.all())
        if (field != "ParameterName" && field != "ParameterValue")
          return InvalidParameterValue("Unknown ParameterNameValue field " + field + ".");
      auto pname = e.Get("ParameterName");
      if (!pname || pname->empty())
        return InvalidParameterValue("Every ParameterNameValue needs a ParameterName.");
      const ParameterDef* d = fam->Find(*pname);
      if (!d)
        return InvalidParameterValue("Parameter " + api::SanitizeXmlText(*pname) +
                                     " does not exist in family " + fam->family + ".");
      if (!d->modifiable)
        return InvalidParameterValue("Parameter " + d->name + " is not modifiable.");
      reset[d->name] = d->default_value;
      summary += (summary.empty() ? "" : ", ") + d->name;
    }
  }
  PG_CHECK(ApplyChange(**g, {}, std::move(reset),
                       "Cache parameter group " + (*g)->name + " reset: " + summary));
  api::AppendText(result, "CacheParameterGroupName", (*g)->name);
  return std::nullopt;
}

std::optional<ApiError> ParameterGroupFrontend::DeleteCacheParameterGroup(
    const api::ApiRequest& req, pugi::xml_node result) {
  PG_CHECK(settings::RejectUnknown(req.params, {{"CacheParameterGroupName", false}}));
  auto name = req.params.Get("CacheParameterGroupName");
  if (!name) return api::MissingParameter("CacheParameterGroupName");
  if (config_.parameter_groups.Find(*name))
    return InvalidState("Default parameter group " + Lower(*name) + " cannot be deleted.");
  auto st = ParameterGroupStoreOf(store_).DeleteParameterGroup(
      Lower(*name), "Cache parameter group " + Lower(*name) + " deleted");
  if (!st) {
    if (st.error().code == Errc::kNotFound)
      return faults::CacheParameterGroupNotFound(api::SanitizeXmlText(*name));
    if (st.error().code == Errc::kFailedPrecondition) return InvalidState(st.error().message);
    return faults::StoreFailure(st.error());
  }
  Logger("api")->info("[pg {}] deleted", Lower(*name));
  return std::nullopt;
}

}  // namespace cf::orchestrator
