#include "orchestrator/tags/tags_frontend.h"

#include "common/log.h"
#include "orchestrator/api/xml_util.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/tags/tag_store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

ApiError InvalidArn(const std::string& arn, const std::string& why) {
  return {400, "InvalidARN", "The ARN " + api::SanitizeXmlText(arn) + " is not valid: " + why};
}

ApiError NotFound(const ParsedArn& a) {
  if (a.snapshot) return {404, "SnapshotNotFoundFault", "Snapshot " + a.id + " not found."};
  switch (a.kind) {
    case TagResource::kReplicationGroup:
      return faults::ReplicationGroupNotFound(a.id);
    case TagResource::kCacheCluster:
      return faults::CacheClusterNotFound(a.id);
    case TagResource::kParameterGroup:
    default:
      return faults::CacheParameterGroupNotFound(a.id);
  }
}

void RenderTags(const std::vector<Tag>& tags, pugi::xml_node result) {
  pugi::xml_node list = result.append_child("TagList");
  for (const auto& t : tags) {
    pugi::xml_node n = list.append_child("Tag");
    api::AppendText(n, "Key", t.key);
    api::AppendText(n, "Value", t.value);
  }
}

}  // namespace

settings::Checked<ParsedArn> ParseElastiCacheArn(const std::string& arn,
                                                 const OrchestratorConfig& cfg) {
  // arn:aws:elasticache:<region>:<account>:<type>:<id>
  std::vector<std::string> parts;
  size_t pos = 0;
  for (int i = 0; i < 6; ++i) {
    size_t c = arn.find(':', pos);
    if (c == std::string::npos)
      return InvalidArn(arn, "expected arn:aws:elasticache:<region>:<account>:<type>:<name>.");
    parts.push_back(arn.substr(pos, c - pos));
    pos = c + 1;
  }
  parts.push_back(arn.substr(pos));
  if (parts[0] != "arn" || parts[1] != "aws" || parts[2] != "elasticache")
    return InvalidArn(arn, "expected arn:aws:elasticache:<region>:<account>:<type>:<name>.");
  if (parts[3] != cfg.region) return InvalidArn(arn, "the region must be " + cfg.region + ".");
  if (parts[4] != cfg.account_id)
    return InvalidArn(arn, "the account must be " + cfg.account_id + ".");
  if (parts[6].empty() || parts[6].size() > 255 || !api::IsXmlSafeText(parts[6]))
    return InvalidArn(arn, "the resource name is missing or invalid.");
  ParsedArn out;
  out.id = settings::Lower(parts[6]);
  const std::string& type = parts[5];
  if (type == "replicationgroup") {
    out.kind = TagResource::kReplicationGroup;
  } else if (type == "cluster") {
    out.kind = TagResource::kCacheCluster;
  } else if (type == "parametergroup") {
    out.kind = TagResource::kParameterGroup;
  } else if (type == "snapshot") {
    out.snapshot = true;
  } else {
    return InvalidArn(arn, "resource type " + api::SanitizeXmlText(type) +
                               " is not supported (replicationgroup, cluster, parametergroup).");
  }
  return out;
}

void TagsFrontend::Register(api::Dispatcher& d) {
  d.Register("AddTagsToResource", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return AddTagsToResource(r, n);
  });
  d.Register("ListTagsForResource", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return ListTagsForResource(r, n);
  });
  d.Register("RemoveTagsFromResource", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return RemoveTagsFromResource(r, n);
  });
}

std::optional<ApiError> TagsFrontend::ListTagsForResource(const api::ApiRequest& req,
                                                          pugi::xml_node result) {
  if (auto e = settings::RejectUnknown(req.params, {{"ResourceName", false}})) return *e;
  auto name = req.params.Get("ResourceName");
  if (!name) return api::MissingParameter("ResourceName");
  auto parsed = ParseElastiCacheArn(*name, config_);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ParsedArn a = std::get<ParsedArn>(parsed);
  if (a.snapshot) return NotFound(a);
  const bool builtin =
      a.kind == TagResource::kParameterGroup && config_.parameter_groups.Find(a.id) != nullptr;
  auto tags = TagStoreOf(store_).GetTags(a.kind, a.id, builtin);
  if (!tags) return faults::StoreFailure(tags.error());
  if (!*tags) return NotFound(a);
  RenderTags(**tags, result);
  return std::nullopt;
}

std::optional<ApiError> TagsFrontend::AddTagsToResource(const api::ApiRequest& req,
                                                        pugi::xml_node result) {
  return Change(req, result, true);
}

std::optional<ApiError> TagsFrontend::RemoveTagsFromResource(const api::ApiRequest& req,
                                                             pugi::xml_node result) {
  return Change(req, result, false);
}

std::optional<ApiError> TagsFrontend::Change(const api::ApiRequest& req, pugi::xml_node result,
                                             bool add) {
  if (auto e = settings::RejectUnknown(req.params,
                                       {{"ResourceName", false}, {add ? "Tags" : "TagKeys", true}}))
    return *e;
  auto name = req.params.Get("ResourceName");
  if (!name) return api::MissingParameter("ResourceName");
  std::vector<Tag> tags;
  std::vector<std::string> keys;
  if (add) {
    bool present = false;
    for (const auto& [k, v] : req.params.all())
      if (k == "Tags" || k.rfind("Tags.", 0) == 0) present = true;
    if (!present) return api::MissingParameter("Tags");
    auto t = settings::CheckTagList(req.params, "Tags");
    if (auto* e = std::get_if<ApiError>(&t)) return *e;
    tags = std::get<std::vector<Tag>>(t);
    if (tags.empty()) return api::InvalidParameterValue("Tags must contain at least one tag.");
  } else {
    auto l = req.params.GetListChecked("TagKeys", "member");
    if (auto* e = std::get_if<ApiError>(&l)) return *e;
    const auto& list = std::get<std::optional<std::vector<std::string>>>(l);
    if (!list) return api::MissingParameter("TagKeys");
    if (list->empty()) return api::InvalidParameterValue("TagKeys must contain at least one key.");
    for (const auto& k : *list) {
      if (k.empty() || k.size() > 128)
        return api::InvalidParameterValue("Tag keys must be 1 to 128 characters long.");
      keys.push_back(k);
    }
  }
  auto parsed = ParseElastiCacheArn(*name, config_);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const ParsedArn a = std::get<ParsedArn>(parsed);
  if (a.snapshot) return NotFound(a);
  const bool builtin =
      a.kind == TagResource::kParameterGroup && config_.parameter_groups.Find(a.id) != nullptr;
  auto r = TagStoreOf(store_).ChangeTags(a.kind, a.id, builtin, tags, keys, settings::kMaxTags);
  if (!r) {
    if (r.error().code == Errc::kNotFound) return ApiError{404, "TagNotFound", r.error().message};
    if (r.error().code == Errc::kResourceExhausted)
      return faults::TagQuotaPerResourceExceeded(r.error().message);
    if (r.error().code == Errc::kInvalidArgument)
      return api::InvalidParameterValue(r.error().message);
    return faults::StoreFailure(r.error());
  }
  if (!*r) return NotFound(a);
  RenderTags(**r, result);
  return std::nullopt;
}

}  // namespace cf::orchestrator
