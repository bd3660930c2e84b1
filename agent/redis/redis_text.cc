#include "agent/redis/redis_text.h"

#include <algorithm>
#include <charconv>

namespace cf::agent {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\r')) s.remove_prefix(1);
  return s;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    line = Trim(line);
    if (!line.empty()) out.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t i = s.find(sep, pos);
    if (i == std::string_view::npos) {
      out.push_back(s.substr(pos));
      break;
    }
    out.push_back(s.substr(pos, i - pos));
    pos = i + 1;
  }
  return out;
}

std::vector<std::string_view> SplitWords(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

template <class T>
bool ParseNum(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

Error Malformed(std::string_view line, std::string_view why) {
  return MakeError(Errc::kInternal,
                   "malformed CLUSTER NODES line (" + std::string(why) + "): " + std::string(line));
}

}  // namespace

InfoMap ParseInfo(std::string_view text) {
  InfoMap out;
  for (auto line : SplitLines(text)) {
    if (line.front() == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  return out;
}

std::string InfoString(const InfoMap& info, std::string_view key) {
  auto it = info.find(key);
  return it == info.end() ? std::string() : it->second;
}

int64_t InfoInt(const InfoMap& info, std::string_view key, int64_t fallback) {
  auto it = info.find(key);
  if (it == info.end()) return fallback;
  int64_t v = 0;
  return ParseNum(std::string_view(it->second), &v) ? v : fallback;
}

uint64_t InfoTotalKeys(const InfoMap& info) {
  uint64_t total = 0;
  for (const auto& [k, v] : info) {
    if (k.size() < 3 || k.compare(0, 2, "db") != 0) continue;
    uint32_t dbn = 0;
    if (!ParseNum(std::string_view(k).substr(2), &dbn)) continue;
    for (auto field : SplitOn(v, ',')) {
      if (field.substr(0, 5) == "keys=") {
        uint64_t n = 0;
        if (ParseNum(field.substr(5), &n)) total += n;
      }
    }
  }
  return total;
}

bool ClusterNodeEntry::HasFlag(std::string_view flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

bool ClusterNodeEntry::unhealthy() const {
  return HasFlag("fail") || HasFlag("fail?") || HasFlag("handshake") || HasFlag("noaddr");
}

Result<std::vector<ClusterNodeEntry>> ParseClusterNodes(std::string_view text) {
  std::vector<ClusterNodeEntry> out;
  for (auto line : SplitLines(text)) {
    auto w = SplitWords(line);
    if (w.size() < 8) return Malformed(line, "fewer than 8 fields");
    ClusterNodeEntry e;
    e.id = std::string(w[0]);

    // ip:port@cport[,hostname]; the ip may itself contain ':' (IPv6), so split at the last ':'
    // before '@'.
    std::string_view addr = w[1];
    size_t comma = addr.find(',');
    if (comma != std::string_view::npos) {
      e.hostname = std::string(addr.substr(comma + 1));
      addr = addr.substr(0, comma);
    }
    size_t at = addr.find('@');
    std::string_view hostport = addr.substr(0, at);
    if (at != std::string_view::npos && !ParseNum(addr.substr(at + 1), &e.bus_port)) {
      return Malformed(line, "bad bus port");
    }
    size_t colon = hostport.rfind(':');
    if (colon == std::string_view::npos) return Malformed(line, "address without port");
    e.ip = std::string(hostport.substr(0, colon));
    if (!ParseNum(hostport.substr(colon + 1), &e.port)) return Malformed(line, "bad port");

    for (auto f : SplitOn(w[2], ',')) {
      if (!f.empty() && f != "noflags") e.flags.emplace_back(f);
    }
    if (w[3] != "-") e.master_id = std::string(w[3]);
    if (!ParseNum(w[4], &e.ping_sent) || !ParseNum(w[5], &e.pong_recv) ||
        !ParseNum(w[6], &e.config_epoch)) {
      return Malformed(line, "bad ping/pong/epoch");
    }
    e.link_connected = (w[7] == "connected");

    SlotRanges slots;
    for (size_t i = 8; i < w.size(); ++i) {
      std::string_view tok = w[i];
      if (tok.front() == '[') {
        e.open_slots.emplace_back(tok);
        continue;
      }
      auto r = ParseSlotRange(tok);
      if (!r.ok()) return Malformed(line, "bad slot token '" + std::string(tok) + "'");
      slots.push_back(*r);
    }
    e.slots = NormalizeSlotRanges(std::move(slots));
    out.push_back(std::move(e));
  }
  return out;
}

const ClusterNodeEntry* FindMyself(const std::vector<ClusterNodeEntry>& nodes) {
  for (const auto& n : nodes) {
    if (n.myself()) return &n;
  }
  return nullptr;
}

const ClusterNodeEntry* FindNodeById(const std::vector<ClusterNodeEntry>& nodes,
                                     std::string_view id) {
  for (const auto& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

std::string ClusterConfigSignature(const std::vector<ClusterNodeEntry>& nodes) {
  std::vector<std::string> parts;
  for (const auto& n : nodes) {
    if (n.slots.empty()) continue;
    parts.push_back(n.id + ":" + FormatSlotRanges(n.slots));
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '|';
    out += p;
  }
  return out;
}

}  // namespace cf::agent
