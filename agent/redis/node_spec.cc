#include "agent/redis/node_spec.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace cf::agent {
namespace {

// Directives the agent renders itself; a parameter group must not override them.
const std::set<std::string, std::less<>> kReservedDirectives = {
    "port",          "bind",         "dir",
    "daemonize",     "logfile",      "pidfile",
    "include",       "unixsocket",   "cluster-enabled",
    "cluster-config-file",           "cluster-announce-ip",
    "cluster-announce-port",         "cluster-announce-bus-port",
    "cluster-port",  "supervised",   "tls-port",
    "replicaof",     "slaveof",      // the agent renders the role (RestartNode, Failover)
};

// Quotes a value for redis.conf (sdssplitargs rules) when it needs it.
std::string ConfQuote(std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\\' || c < 0x21 || c == 0x7f) {
      plain = false;
    }
  }
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t i = s.find(sep, pos);
    out.push_back(s.substr(pos, i == std::string_view::npos ? std::string_view::npos : i - pos));
    if (i == std::string_view::npos) break;
    pos = i + 1;
  }
  return out;
}

}  // namespace

bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status ValidateNodeSpec(const NodeSpec& spec) {
  if (!IsValidNodeId(spec.node_id)) {
    return MakeError(Errc::kInvalidArgument,
                     "node_id '" + spec.node_id + "' must be 1-128 chars of [A-Za-z0-9._-]");
  }
  if (spec.node_id[0] == '_') {
    return MakeError(Errc::kInvalidArgument,
                     "node_id '" + spec.node_id + "': ids starting with '_' are reserved for the agent");
  }
  if (spec.port == 0 || spec.port > kMaxNodePort) {
    return MakeError(Errc::kInvalidArgument, "port " + std::to_string(spec.port) +
                                                 " must be 1.." + std::to_string(kMaxNodePort) +
                                                 " (bus port = port + 10000)");
  }
  for (const auto& [k, v] : spec.config) {
    if (k.empty()) return MakeError(Errc::kInvalidArgument, "empty config directive name");
    for (char c : k) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return MakeError(Errc::kInvalidArgument,
                         "config directive '" + k + "' must be lower-case [a-z0-9-]");
      }
    }
    if (v.find_first_of("\r\n") != std::string::npos) {
      return MakeError(Errc::kInvalidArgument, "config value of '" + k + "' contains a newline");
    }
    if (kReservedDirectives.count(k)) {
      return MakeError(Errc::kInvalidArgument,
                       "config directive '" + k + "' is managed by the agent");
    }
  }
  return {};
}

std::string RenderRedisConf(const NodeSpec& spec, const std::string& node_dir,
                            const std::string& advertised_address,
                            const ReplicaOfTarget& replica_of) {
  std::ostringstream o;
  o << "# Rendered by cachefleet-agent for node " << spec.node_id
    << (spec.group_id.empty() ? "" : " (group " + spec.group_id + ")")
    << ". Re-rendered on every start; do not edit.\n";
  o << "port " << spec.port << "\n";
  o << "bind " << advertised_address << "\n";
  o << "protected-mode no\n";
  o << "dir " << ConfQuote(node_dir) << "\n";
  o << "daemonize no\n";
  o << "logfile redis.log\n";  // relative to dir: survives a rename of the directory
  o << "appendonly no\n";
  o << "save \"\"\n";
  o << "repl-diskless-sync yes\n";
  o << "repl-diskless-sync-delay 0\n";
  o << "enable-debug-command local\n";
  o << "maxmemory-policy volatile-lru\n";
  if (spec.maxmemory_bytes > 0) o << "maxmemory " << spec.maxmemory_bytes << "\n";
  if (spec.cluster_enabled) {
    uint32_t timeout =
        spec.cluster_node_timeout_ms ? spec.cluster_node_timeout_ms : kDefaultClusterNodeTimeoutMs;
    o << "cluster-enabled yes\n";
    o << "cluster-config-file nodes.conf\n";
    o << "cluster-node-timeout " << timeout << "\n";
    o << "cluster-announce-ip " << advertised_address << "\n";
    o << "cluster-allow-replica-migration no\n";
    o << "cluster-require-full-coverage yes\n";
  } else if (!replica_of.empty()) {
    o << "replicaof " << replica_of.host << " " << replica_of.port << "\n";
  }
  if (!spec.config.empty()) {
    o << "# parameter group\n";
    for (const auto& [k, v] : spec.config) o << k << " " << v << "\n";
  }
  return o.str();
}

std::string WarmNodeId(uint32_t port) { return "_warm-" + std::to_string(port); }

bool IsWarmNodeId(std::string_view id) {
  constexpr std::string_view kPrefix = "_warm-";
  if (id.size() <= kPrefix.size() || id.substr(0, kPrefix.size()) != kPrefix) return false;
  return id.substr(kPrefix.size()).find_first_not_of("0123456789") == std::string_view::npos;
}

Result<std::vector<std::pair<std::string, std::string>>> RuntimeConfigSettings(
    const NodeSpec& spec) {
  // Directives whose redis.conf value is several words and whose CONFIG SET value is the same
  // words separated by spaces.
  static const std::set<std::string, std::less<>> kMultiWord = {
      "save", "client-output-buffer-limit", "oom-score-adj-values",
      "latency-tracking-info-percentiles"};
  std::map<std::string, std::string> m;
  m["maxmemory"] = std::to_string(spec.maxmemory_bytes);
  m["maxmemory-policy"] = "volatile-lru";
  if (spec.cluster_enabled) {
    m["cluster-node-timeout"] = std::to_string(
        spec.cluster_node_timeout_ms ? spec.cluster_node_timeout_ms : kDefaultClusterNodeTimeoutMs);
  }
  for (const auto& [k, v] : spec.config) {
    if (v == "\"\"" || v == "''") {
      m[k] = "";
      continue;
    }
    if (v.empty() || v.find_first_of("\"'\\") != std::string::npos) {
      return MakeError(Errc::kFailedPrecondition,
                       "config '" + k + "' value needs redis.conf parsing; cold start required");
    }
    std::string words;
    bool multi = false;
    for (std::string_view w : Split(v, ' ')) {
      for (std::string_view t : Split(w, '\t')) {
        if (t.empty()) continue;
        if (!words.empty()) {
          words += ' ';
          multi = true;
        }
        words += t;
      }
    }
    if (words.empty() || (multi && !kMultiWord.count(k))) {
      return MakeError(Errc::kFailedPrecondition,
                       "config '" + k + "' value is not one word; cold start required");
    }
    m[k] = words;
  }
  return std::vector<std::pair<std::string, std::string>>(m.begin(), m.end());
}

std::string NodeRecordToJson(const NodeRecord& rec) {
  nlohmann::json spec = {
      {"node_id", rec.spec.node_id},
      {"group_id", rec.spec.group_id},
      {"port", rec.spec.port},
      {"cluster_enabled", rec.spec.cluster_enabled},
      {"maxmemory_bytes", rec.spec.maxmemory_bytes},
      {"engine_version", rec.spec.engine_version},
      {"config", rec.spec.config},
      {"cluster_node_timeout_ms", rec.spec.cluster_node_timeout_ms},
      {"hold_on_exit", rec.spec.hold_on_exit},
      {"hold_max_ms", rec.spec.hold_max_ms},
  };
  nlohmann::json j = {
      {"version", 1},
      {"spec", spec},
      {"pid", rec.pid},
      {"restarts", rec.restarts},
      {"stopped", rec.stopped},
      {"held", rec.held},
      {"killed", rec.killed},
      {"exited_at_ms", rec.exited_at_ms},
      {"replica_of_host", rec.replica_of.host},
      {"replica_of_port", rec.replica_of.port},
  };
  return j.dump(2) + "\n";
}

Result<NodeRecord> NodeRecordFromJson(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    NodeRecord rec;
    const auto& s = j.at("spec");
    rec.spec.node_id = s.at("node_id").get<std::string>();
    rec.spec.group_id = s.value("group_id", "");
    rec.spec.port = s.at("port").get<uint32_t>();
    rec.spec.cluster_enabled = s.value("cluster_enabled", false);
    rec.spec.maxmemory_bytes = s.value("maxmemory_bytes", uint64_t{0});
    rec.spec.engine_version = s.value("engine_version", "");
    rec.spec.config = s.value("config", std::map<std::string, std::string>{});
    rec.spec.cluster_node_timeout_ms = s.value("cluster_node_timeout_ms", uint32_t{0});
    rec.pid = j.value("pid", int64_t{0});
    rec.restarts = j.value("restarts", uint32_t{0});
    rec.stopped = j.value("stopped", false);
    rec.spec.hold_on_exit = s.value("hold_on_exit", false);
    rec.spec.hold_max_ms = s.value("hold_max_ms", uint32_t{0});
    rec.held = j.value("held", false);
    rec.killed = j.value("killed", false);
    rec.exited_at_ms = j.value("exited_at_ms", int64_t{0});
    rec.replica_of.host = j.value("replica_of_host", "");
    rec.replica_of.port = j.value("replica_of_port", uint32_t{0});
    return rec;
  } catch (const std::exception& e) {
    return MakeError(Errc::kInvalidArgument, std::string("bad node.json: ") + e.what());
  }
}

Result<std::string> ParseRedisServerVersion(std::string_view out) {
  size_t p = out.find("v=");
  if (p == std::string_view::npos) {
    return MakeError(Errc::kInvalidArgument,
                     "no 'v=' in redis-server --version output: " + std::string(out.substr(0, 200)));
  }
  size_t e = out.find_first_of(" \t\r\n", p);
  std::string v(out.substr(p + 2, e == std::string_view::npos ? std::string_view::npos : e - p - 2));
  if (v.empty() || !(v[0] >= '0' && v[0] <= '9')) {
    return MakeError(Errc::kInvalidArgument, "bad redis-server version '" + v + "'");
  }
  return v;
}

bool EngineVersionMatches(std::string_view installed, std::string_view requested) {
  if (requested.empty()) return true;
  auto have = Split(installed, '.');
  auto want = Split(requested, '.');
  if (want.size() > have.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].empty() || want[i] != have[i]) return false;
  }
  return true;
}

Status WriteFileAtomic(const std::string& path, std::string_view content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError(Errc::kIo, "open " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return MakeError(Errc::kIo, "write " + tmp + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return MakeError(Errc::kIo, "fsync " + tmp + ": " + std::strerror(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return MakeError(Errc::kIo, "rename " + tmp + ": " + std::strerror(errno));
  }
  return {};
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(Errc::kNotFound, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace cf::agent
