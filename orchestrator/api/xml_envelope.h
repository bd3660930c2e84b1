// The ElastiCache response envelopes (elasticache-api.md §2). Pure functions over pugixml.
//
// Success:
//   <{Action}Response xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
//     <{Action}Result>...</{Action}Result>          (omitted when the handler left it empty)
//     <ResponseMetadata><RequestId>uuid</RequestId></ResponseMetadata>
//   </{Action}Response>
// Error:
//   <ErrorResponse xmlns="...">
//     <Error><Type>Sender|Receiver</Type><Code>..</Code><Message>..</Message></Error>
//     <RequestId>uuid</RequestId>
//   </ErrorResponse>
#pragma once

#include <pugixml.hpp>
#include <string>

#include "orchestrator/api/api_types.h"

namespace cf::api {

inline constexpr char kElastiCacheXmlns[] = "http://elasticache.amazonaws.com/doc/2015-02-02/";

// Creates <{Action}Response xmlns=...><{Action}Result/></...> in the (empty) `doc` and returns
// the Result element for the handler to fill.
pugi::xml_node StartSuccessEnvelope(pugi::xml_document& doc, const std::string& action);
// Drops `result` if it is empty, appends ResponseMetadata/RequestId and serialises `doc`.
std::string FinishSuccessEnvelope(pugi::xml_document& doc, pugi::xml_node result,
                                  const std::string& request_id);
// The error document. Type is Receiver for http_status >= 500, else Sender. The message is
// passed through SanitizeXmlText.
std::string ErrorEnvelope(const ApiError& error, const std::string& request_id);
// Compact serialisation (no indentation), with an XML declaration.
std::string SerializeXml(const pugi::xml_document& doc);

}  // namespace cf::api
