#include "orchestrator/api/xml_envelope.h"

#include <sstream>

#include "orchestrator/api/xml_util.h"

namespace cf::api {

pugi::xml_node StartSuccessEnvelope(pugi::xml_document& doc, const std::string& action) {
  auto root = doc.append_child((action + "Response").c_str());
  root.append_attribute("xmlns") = kElastiCacheXmlns;
  return root.append_child((action + "Result").c_str());
}

std::string FinishSuccessEnvelope(pugi::xml_document& doc, pugi::xml_node result,
                                  const std::string& request_id) {
  auto root = result.parent();
  if (!result.first_child() && !result.first_attribute()) root.remove_child(result);
  AppendText(root.append_child("ResponseMetadata"), "RequestId", request_id);
  return SerializeXml(doc);
}

std::string ErrorEnvelope(const ApiError& error, const std::string& request_id) {
  pugi::xml_document doc;
  auto root = doc.append_child("ErrorResponse");
  root.append_attribute("xmlns") = kElastiCacheXmlns;
  auto err = root.append_child("Error");
  AppendText(err, "Type", error.http_status >= 500 ? "Receiver" : "Sender");
  AppendText(err, "Code", SanitizeXmlText(error.code));
  AppendText(err, "Message", SanitizeXmlText(error.message));
  AppendText(root, "RequestId", request_id);
  return SerializeXml(doc);
}

std::string SerializeXml(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
  return out.str();
}

}  // namespace cf::api
