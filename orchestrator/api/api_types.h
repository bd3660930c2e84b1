// The boundary between the HTTP front door (api/) and the action handlers (the rest of the
// orchestrator). Light header: no Beast, no Asio, only pugixml's small header.
//
// Flow: the front door reads an HTTP request, decodes the form, verifies SigV4, and calls
// Dispatcher::Dispatch with an ApiRequest. The handler fills the <{Action}Result> element or
// returns an ApiError; the front door wraps either in the ElastiCache envelope, adds the
// RequestId to the body and the x-amzn-RequestId header, and writes the response.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <pugixml.hpp>

namespace cf::api {

// A fault as ElastiCache sends it: HTTP status, wire code (e.g. "ReplicationGroupNotFoundFault")
// and message. Type is "Sender" for 4xx, "Receiver" for 5xx.
struct ApiError {
  int http_status = 400;
  std::string code;
  std::string message;
};

// Common constructors for the faults every action uses.
ApiError InvalidParameterValue(std::string message);
ApiError InvalidParameterCombination(std::string message);
ApiError MissingParameter(const std::string& name);  // "The request must contain the parameter X"
ApiError InternalFailure(std::string message);
// Added by the front door (same shape as above).
ApiError InvalidQueryParameter(std::string message);  // 400: malformed form encoding / key
ApiError InvalidAction(const std::string& action);    // 400: "The action X is not valid ..."
ApiError MissingAction();                             // 400

// The decoded form of an AWS Query request. Keys are kept exactly as sent
// (e.g. "NodeGroupConfiguration.NodeGroupConfiguration.1.Slots").
class QueryParams {
 public:
  QueryParams() = default;
  explicit QueryParams(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  bool Has(const std::string& key) const { return values_.count(key) != 0; }
  std::optional<std::string> Get(const std::string& key) const;
  // Strict typed accessors: absent -> nullopt; present but malformed -> ApiError
  // (InvalidParameterValue naming the parameter). Booleans accept only "true"/"false"
  // (case-insensitive); integers only optional '-' and digits, within int64.
  using BoolOr = std::variant<std::optional<bool>, ApiError>;
  using IntOr = std::variant<std::optional<int64_t>, ApiError>;
  BoolOr GetBool(const std::string& key) const;
  IntOr GetInt(const std::string& key) const;

  // A list of scalars sent as Param.Item.1, Param.Item.2, ... (n from 1, contiguous), or a
  // bare "Param=" for an empty list. nullopt when the parameter is absent altogether.
  // Example: GetList("PreferredCacheClusterAZs", "AvailabilityZone").
  std::optional<std::vector<std::string>> GetList(const std::string& param,
                                                  const std::string& item) const;
  // A list of structs sent as Param.Item.N.Field...; each element is the sub-form with the
  // "Param.Item.N." prefix stripped. nullopt when absent; empty vector for a bare "Param=".
  // Example: GetStructList("Tags", "Tag") -> [{Key:..., Value:...}, ...].
  std::optional<std::vector<QueryParams>> GetStructList(const std::string& param,
                                                        const std::string& item) const;

  // Checked variants of the two list readers (prefer these). They return InvalidParameterValue
  // for a malformed list instead of reading it as absent: an index of 0, a leading zero or a gap
  // (indices must be 1..n), a bare "Param=" with a non-empty value, a bare "Param=" mixed with
  // "Param.Item.N" keys, a key under "Param." whose item name is not `item` (e.g. ".member.1"
  // where ".AvailabilityZone.1" is expected), "Param.Item.N.X" for a scalar list, or
  // "Param.Item.N" without a field for a struct list. The unchecked GetList/GetStructList
  // return nullopt in those cases. (For requests that came through ApiServer, index gaps and
  // zero indices were already rejected for every key, so only the item-name and shape cases
  // reach handlers.)
  // Example: auto azs = params.GetListChecked("PreferredCacheClusterAZs", "AvailabilityZone");
  //          if (auto* e = std::get_if<ApiError>(&azs)) return *e;
  using ListOr = std::variant<std::optional<std::vector<std::string>>, ApiError>;
  using StructListOr = std::variant<std::optional<std::vector<QueryParams>>, ApiError>;
  ListOr GetListChecked(const std::string& param, const std::string& item) const;
  StructListOr GetStructListChecked(const std::string& param, const std::string& item) const;

  // Every key (for rejecting parameters an action does not know).
  const std::map<std::string, std::string>& all() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

struct ApiRequest {
  std::string action;         // value of Action=
  std::string version;        // value of Version=
  QueryParams params;         // every pair except Action and Version
  std::string region;         // from the SigV4 credential scope
  std::string access_key_id;  // who signed it
  std::string request_id;     // UUID the front door generated; also in the response
};

// Fills `result` (the <{Action}Result> element, already in the document) or returns an error.
// If the handler leaves `result` empty, the front door removes it (operations with no output
// shape return only ResponseMetadata).
using ActionHandler = std::function<std::optional<ApiError>(const ApiRequest&, pugi::xml_node result)>;

class Dispatcher {
 public:
  void Register(const std::string& action, ActionHandler handler) { handlers_[action] = std::move(handler); }
  // Unknown action -> InvalidAction (400); empty action -> MissingAction (400); a handler that
  // throws -> InternalFailure (500), logged.
  std::optional<ApiError> Dispatch(const ApiRequest& req, pugi::xml_node result) const;
  bool Knows(const std::string& action) const { return handlers_.count(action) != 0; }

 private:
  std::map<std::string, ActionHandler> handlers_;
};

}  // namespace cf::api
