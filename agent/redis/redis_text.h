// Pure parsers for the text Redis returns: INFO and CLUSTER NODES. No I/O, unit-tested with
// literal samples (agent/tests/redis_text_test.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/slot_range.h"

namespace cf::agent {

// INFO: "key:value" lines; "# Section" headers and blank lines are skipped. Keys are unique
// across the sections Redis prints, so one flat map is enough.
using InfoMap = std::map<std::string, std::string, std::less<>>;

InfoMap ParseInfo(std::string_view text);
std::string InfoString(const InfoMap& info, std::string_view key);
// Numeric fields; `fallback` when absent or malformed.
int64_t InfoInt(const InfoMap& info, std::string_view key, int64_t fallback = 0);
// Sum of keys=N over every "dbN:keys=..,expires=..,avg_ttl=.." line.
uint64_t InfoTotalKeys(const InfoMap& info);

// One line of CLUSTER NODES:
// <id> <ip:port@cport[,hostname]> <flags> <master|-> <ping-sent> <pong-recv> <epoch> <link> <slot>...
struct ClusterNodeEntry {
  std::string id;
  std::string ip;         // "" when unknown (noaddr, fresh node without announce-ip)
  uint32_t port = 0;
  uint32_t bus_port = 0;
  std::string hostname;   // optional ",hostname" suffix
  std::vector<std::string> flags;
  std::string master_id;  // "" when "-"
  uint64_t ping_sent = 0;
  uint64_t pong_recv = 0;
  uint64_t config_epoch = 0;
  bool link_connected = false;
  SlotRanges slots;                     // owned slots, sorted and merged; brackets skipped
  std::vector<std::string> open_slots;  // bracketed tokens verbatim: "[5->-id]", "[5-<-id]"

  bool HasFlag(std::string_view flag) const;
  bool myself() const { return HasFlag("myself"); }
  bool is_master() const { return HasFlag("master"); }
  bool is_replica() const { return HasFlag("slave"); }
  // fail, fail?, handshake or noaddr.
  bool unhealthy() const;
};

// Parses the whole CLUSTER NODES reply. A malformed line is an error (kInternal) naming it.
Result<std::vector<ClusterNodeEntry>> ParseClusterNodes(std::string_view text);
// The entry flagged "myself", or nullptr.
const ClusterNodeEntry* FindMyself(const std::vector<ClusterNodeEntry>& nodes);
const ClusterNodeEntry* FindNodeById(const std::vector<ClusterNodeEntry>& nodes,
                                     std::string_view id);
// The config-agreement signature of redis-cluster-ops.md §2: for every slot-owning node
// "id:ranges", sorted and joined with '|'. Equal on every node when the cluster agrees.
std::string ClusterConfigSignature(const std::vector<ClusterNodeEntry>& nodes);

}  // namespace cf::agent
