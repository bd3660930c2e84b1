#include "orchestrator/core/orchestrator_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "orchestrator/core/maintenance_window.h"

namespace cf::orchestrator {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Error ConfigError(const std::string& msg) { return MakeError(Errc::kInvalidArgument, msg); }

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(Errc::kIo, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_absolute() || base_dir.empty()) return path.lexically_normal().string();
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// Reads an integer setting within [lo, hi]; absent keeps `out`.
Status ReadInt(const YAML::Node& parent, const char* key, int64_t lo, int64_t hi, int64_t& out,
               const std::string& prefix) {
  YAML::Node n = parent[key];
  if (!n) return {};
  int64_t v = 0;
  try {
    v = n.as<int64_t>();
  } catch (const YAML::Exception&) {
    return ConfigError(prefix + key + ": expected an integer");
  }
  if (v < lo || v > hi)
    return ConfigError(prefix + key + ": " + std::to_string(v) + " is outside " +
                       std::to_string(lo) + ".." + std::to_string(hi));
  out = v;
  return {};
}

Status ReadInt32(const YAML::Node& parent, const char* key, int64_t lo, int64_t hi, int& out,
                 const std::string& prefix) {
  int64_t v = out;
  if (auto st = ReadInt(parent, key, lo, hi, v, prefix); !st) return st;
  out = static_cast<int>(v);
  return {};
}

Status ReadString(const YAML::Node& parent, const char* key, std::string& out,
                  const std::string& prefix) {
  YAML::Node n = parent[key];
  if (!n) return {};
  if (!n.IsScalar()) return ConfigError(prefix + key + ": expected a string");
  out = n.as<std::string>();
  return {};
}

}  // namespace

Result<HostPort> ParseHostPort(const std::string& text, const std::string& what) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return ConfigError(what + ": expected host:port, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string port_text = text.substr(colon + 1);
  uint32_t port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size() ||
      port > 65535)
    return ConfigError(what + ": bad port in '" + text + "'");
  return HostPort{host, static_cast<uint16_t>(port)};
}

const NodeType* NodeTypeCatalogue::Find(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

const ParameterGroup* ParameterGroupCatalogue::Find(const std::string& name) const {
  std::string lname = Lower(name);
  for (const auto& g : groups_)
    if (Lower(g.name) == lname) return &g;
  return nullptr;
}

const ParameterGroup* ParameterGroupCatalogue::DefaultFor(const std::string& family,
                                                          bool cluster_enabled) const {
  std::string want = "default." + family + (cluster_enabled ? ".cluster.on" : "");
  if (auto* g = Find(want)) return g;
  for (const auto& g : groups_)
    if (g.family == family && g.cluster_enabled == cluster_enabled &&
        g.name.rfind("default.", 0) == 0)
      return &g;
  return nullptr;
}

Result<NodeTypeCatalogue> ParseNodeTypes(const std::string& yaml_text) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) return ConfigError("node types: expected a map");
    YAML::Node types = root["node_types"];
    if (!types || !types.IsMap() || types.size() == 0)
      return ConfigError("node types: 'node_types' must be a non-empty map");
    std::map<std::string, NodeType> out;
    for (const auto& kv : types) {
      std::string name = kv.first.as<std::string>();
      YAML::Node gib = kv.second["memory_gib"];
      if (!gib) return ConfigError("node types: " + name + ": memory_gib missing");
      double g = gib.as<double>();
      if (!(g > 0) || g > 4096) return ConfigError("node types: " + name + ": bad memory_gib");
      out[name] = NodeType{name, static_cast<uint64_t>(std::llround(g * 1024.0 * 1024.0 * 1024.0))};
    }
    std::string def = root["default"] ? root["default"].as<std::string>() : out.begin()->first;
    if (!out.count(def)) return ConfigError("node types: default '" + def + "' is not listed");
    return NodeTypeCatalogue(def, std::move(out));
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("node types: ") + e.what());
  }
}

Result<ParameterGroupCatalogue> ParseParameterGroups(const std::string& yaml_text) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    YAML::Node groups = root["parameter_groups"];
    if (!groups || !groups.IsSequence() || groups.size() == 0)
      return ConfigError("parameter groups: 'parameter_groups' must be a non-empty list");
    std::vector<ParameterGroup> out;
    for (const auto& g : groups) {
      ParameterGroup pg;
      if (!g["name"] || !g["family"])
        return ConfigError("parameter groups: every entry needs name and family");
      pg.name = g["name"].as<std::string>();
      pg.family = g["family"].as<std::string>();
      pg.description = g["description"] ? g["description"].as<std::string>() : "";
      pg.cluster_enabled = g["cluster_enabled"] ? g["cluster_enabled"].as<bool>() : false;
      for (const auto& prev : out)
        if (Lower(prev.name) == Lower(pg.name))
          return ConfigError("parameter groups: duplicate name " + pg.name);
      out.push_back(std::move(pg));
    }
    return ParameterGroupCatalogue(std::move(out));
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("parameter groups: ") + e.what());
  }
}

namespace {

// Every top-level key must be known.
Status RejectUnknownTopKeys(const YAML::Node& root) {
  static const char* kKnownTop[] = {"api",
                                    "region",
                                    "account_id",
                                    "credentials",
                                    "fleet",
                                    "store",
                                    "node_types",
                                    "parameter_groups",
                                    "cluster_node_timeout_ms",
                                    "log_level",
                                    "limits",
                                    "operations",
                                    "failover",
                                    "maintenance"};
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (std::find_if(std::begin(kKnownTop), std::end(kKnownTop),
                     [&](const char* k) { return key == k; }) == std::end(kKnownTop))
      return ConfigError("config: unknown key '" + key + "'");
  }
  return {};
}

// api: listen, threads, max_clock_skew_s.
Status ParseApi(const YAML::Node& api, OrchestratorConfig& cfg) {
  std::string listen;
  if (auto st = ReadString(api, "listen", listen, "api."); !st) return st.error();
  if (!listen.empty()) {
    auto hp = ParseHostPort(listen, "api.listen");
    if (!hp) return hp.error();
    cfg.api_listen = *hp;
  }
  if (auto st = ReadInt32(api, "threads", 1, 64, cfg.api_threads, "api."); !st)
    return st.error();
  if (auto st = ReadInt32(api, "max_clock_skew_s", 1, 86400, cfg.max_clock_skew_s, "api."); !st)
    return st.error();
  return {};
}

// region, account_id (12 digits) and the SigV4 credentials.
Status ParseIdentity(const YAML::Node& root, OrchestratorConfig& cfg) {
  if (auto st = ReadString(root, "region", cfg.region, ""); !st) return st.error();
  if (auto st = ReadString(root, "account_id", cfg.account_id, ""); !st) return st.error();
  if (cfg.region.empty()) return ConfigError("region must not be empty");
  if (cfg.account_id.size() != 12 ||
      !std::all_of(cfg.account_id.begin(), cfg.account_id.end(),
                   [](unsigned char c) { return std::isdigit(c); }))
    return ConfigError("account_id must be 12 digits");

  if (YAML::Node creds = root["credentials"]) {
    if (!creds.IsSequence()) return ConfigError("credentials: expected a list");
    for (const auto& c : creds) {
      if (!c["access_key_id"] || !c["secret_access_key"])
        return ConfigError("credentials: each entry needs access_key_id and secret_access_key");
      cfg.credentials[c["access_key_id"].as<std::string>()] =
          c["secret_access_key"].as<std::string>();
    }
  }
  return {};
}

// fleet: listen, heartbeat_interval_ms, host_down_after_ms (> the heartbeat interval).
Status ParseFleet(const YAML::Node& fleet, OrchestratorConfig& cfg) {
  std::string listen;
  if (auto st = ReadString(fleet, "listen", listen, "fleet."); !st) return st.error();
  if (!listen.empty()) {
    auto hp = ParseHostPort(listen, "fleet.listen");
    if (!hp) return hp.error();
    cfg.fleet_listen = *hp;
  }
  if (auto st = ReadInt(fleet, "heartbeat_interval_ms", 10, 600000, cfg.heartbeat_interval_ms,
                        "fleet.");
      !st)
    return st.error();
  if (auto st =
          ReadInt(fleet, "host_down_after_ms", 50, 3600000, cfg.host_down_after_ms, "fleet.");
      !st)
    return st.error();
  if (cfg.host_down_after_ms <= cfg.heartbeat_interval_ms)
    return ConfigError("fleet.host_down_after_ms must exceed fleet.heartbeat_interval_ms");
  return {};
}

// store.path (required) and the node type and parameter group catalogues (files beside the
// config unless absolute).
Status ParseStoreAndCatalogues(const YAML::Node& root, const std::string& base_dir,
                                OrchestratorConfig& cfg) {
  if (YAML::Node store = root["store"]) {
    if (auto st = ReadString(store, "path", cfg.store_path, "store."); !st) return st.error();
  }
  if (cfg.store_path.empty()) return ConfigError("store.path is required");
  cfg.store_path = Resolve(base_dir, cfg.store_path);

  std::string node_types_path = "node_types.yaml";
  std::string param_groups_path = "parameter_groups.yaml";
  if (auto st = ReadString(root, "node_types", node_types_path, ""); !st) return st.error();
  if (auto st = ReadString(root, "parameter_groups", param_groups_path, ""); !st)
    return st.error();
  auto nt_text = ReadFile(Resolve(base_dir, node_types_path));
  if (!nt_text) return ConfigError("node_types: " + nt_text.error().message);
  auto nt = ParseNodeTypes(*nt_text);
  if (!nt) return nt.error();
  cfg.node_types = std::move(*nt);
  auto pg_text = ReadFile(Resolve(base_dir, param_groups_path));
  if (!pg_text) return ConfigError("parameter_groups: " + pg_text.error().message);
  auto pg = ParseParameterGroups(*pg_text);
  if (!pg) return pg.error();
  cfg.parameter_groups = std::move(*pg);
  return {};
}

// cluster_node_timeout_ms and log_level.
Status ParseGeneral(const YAML::Node& root, OrchestratorConfig& cfg) {
  if (auto st =
          ReadInt(root, "cluster_node_timeout_ms", 100, 600000, cfg.cluster_node_timeout_ms, "");
      !st)
    return st.error();
  if (auto st = ReadString(root, "log_level", cfg.log_level, ""); !st) return st.error();
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::find_if(std::begin(kLevels), std::end(kLevels),
                   [&](const char* l) { return cfg.log_level == l; }) == std::end(kLevels))
    return ConfigError("log_level: unknown level '" + cfg.log_level + "'");
  return {};
}

// limits: max_node_groups, max_nodes_per_group.
Status ParseLimits(const YAML::Node& limits, OrchestratorConfig& cfg) {
  const std::string p = "limits.";
  if (auto st = ReadInt32(limits, "max_node_groups", 1, 500, cfg.limits.max_node_groups, p);
      !st)
    return st.error();
  if (auto st =
          ReadInt32(limits, "max_nodes_per_group", 1, 5000, cfg.limits.max_nodes_per_group, p);
      !st)
    return st.error();
  return {};
}

// operations: thread counts and every timeout/interval (ms, up to a day).
Status ParseOperations(const YAML::Node& ops, OrchestratorConfig& cfg) {
  const std::string p = "operations.";
  auto& o = cfg.operations;
  Status st;
  if (!(st = ReadInt32(ops, "worker_threads", 1, 256, o.worker_threads, p))) return st.error();
  if (!(st = ReadInt32(ops, "rpc_threads", 1, 1024, o.rpc_threads, p))) return st.error();
  struct {
    const char* key;
    int64_t* field;
    int64_t lo;
  } ms[] = {{"create_timeout_ms", &o.create_timeout_ms, 100},
            {"agent_rpc_timeout_ms", &o.agent_rpc_timeout_ms, 10},
            {"launch_timeout_ms", &o.launch_timeout_ms, 10},
            {"node_ready_timeout_ms", &o.node_ready_timeout_ms, 10},
            {"poll_interval_ms", &o.poll_interval_ms, 1},
            {"step_wait_timeout_ms", &o.step_wait_timeout_ms, 10},
            {"retry_initial_backoff_ms", &o.retry_initial_backoff_ms, 1},
            {"retry_max_backoff_ms", &o.retry_max_backoff_ms, 1},
            {"rollback_timeout_ms", &o.rollback_timeout_ms, 10},
            {"node_type_timeout_ms", &o.node_type_timeout_ms, 10},
            {"stop_grace_ms", &o.stop_grace_ms, 0},
            {"port_block_ms", &o.port_block_ms, 0},
            {"stuck_operation_warn_ms", &o.stuck_operation_warn_ms, 100},
            {"move_deadline_ms", &o.move_deadline_ms, 1000},
            {"move_stall_timeout_ms", &o.move_stall_timeout_ms, 100},
            {"move_progress_write_ms", &o.move_progress_write_ms, 1},
            {"progress_log_interval_ms", &o.progress_log_interval_ms, 1},
            {"move_error_event_interval_ms", &o.move_error_event_interval_ms, 0},
            {"removed_node_grace_ms", &o.removed_node_grace_ms, 0}};
  for (auto& m : ms)
    if (!(st = ReadInt(ops, m.key, m.lo, int64_t{24} * 3600 * 1000, *m.field, p)))
      return st.error();
  if (o.retry_max_backoff_ms < o.retry_initial_backoff_ms)
    return ConfigError("operations.retry_max_backoff_ms must be >= retry_initial_backoff_ms");
  return {};
}

// failover: the TestFailover rate limit and the failover timeouts (ms, up to 30 days).
Status ParseFailover(const YAML::Node& fo, OrchestratorConfig& cfg) {
  const std::string p = "failover.";
  auto& f = cfg.failover;
  Status st;
  if (!(st = ReadInt32(fo, "test_failover_max_per_window", 0, 100000,
                       f.test_failover_max_per_window, p)))
    return st.error();
  struct {
    const char* key;
    int64_t* field;
    int64_t lo;
  } ms[] = {{"test_failover_window_ms", &f.test_failover_window_ms, 1},
            {"host_down_after_ms", &f.host_down_after_ms, 50},
            {"monitor_interval_ms", &f.monitor_interval_ms, 5},
            {"failover_timeout_ms", &f.failover_timeout_ms, 100},
            {"force_timeout_ms", &f.force_timeout_ms, 10},
            {"kill_timeout_ms", &f.kill_timeout_ms, 100},
            {"restart_ready_timeout_ms", &f.restart_ready_timeout_ms, 100},
            {"operation_timeout_ms", &f.operation_timeout_ms, 1000},
            {"hold_max_ms", &f.hold_max_ms, 0}};
  for (auto& m : ms)
    if (!(st = ReadInt(fo, m.key, m.lo, int64_t{30} * 24 * 3600 * 1000, *m.field, p)))
      return st.error();
  return {};
}

// maintenance: the maintenance clock (clock_speed, clock_start) and the scheduler tick.
Status ParseMaintenance(const YAML::Node& mt, OrchestratorConfig& cfg) {
  const std::string p = "maintenance.";
  auto& m = cfg.maintenance;
  for (const auto& kv : mt) {
    const std::string key = kv.first.as<std::string>();
    if (key != "clock_speed" && key != "clock_start" && key != "tick_ms")
      return ConfigError("config: unknown key '" + p + key + "'");
  }
  if (YAML::Node n = mt["clock_speed"]) {
    double v = 0;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      return ConfigError(p + "clock_speed: expected a number");
    }
    if (!(v > 0) || v > 1e6 || !std::isfinite(v))
      return ConfigError(p + "clock_speed: must be > 0 and <= 1000000");
    m.clock_speed = v;
  }
  std::string start;
  if (auto st = ReadString(mt, "clock_start", start, p); !st) return st.error();
  if (!start.empty()) {
    auto ms = ParseUtcTimestamp(start);
    if (!ms)
      return ConfigError(p + "clock_start: expected a UTC time like 2026-12-06T22:58:00Z, got '" +
                         start + "'");
    m.clock_start_ms = *ms;
  }
  if (auto st = ReadInt(mt, "tick_ms", 10, 60000, m.tick_ms, p); !st) return st.error();
  return {};
}

}  // namespace

Result<OrchestratorConfig> ParseOrchestratorConfig(const std::string& yaml_text,
                                                   const std::string& base_dir) {
  OrchestratorConfig cfg;
  cfg.config_dir = base_dir;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) return ConfigError("config: expected a YAML map");
    Status st;
    if (!(st = RejectUnknownTopKeys(root))) return st.error();
    if (YAML::Node api = root["api"])
      if (!(st = ParseApi(api, cfg))) return st.error();
    if (!(st = ParseIdentity(root, cfg))) return st.error();
    if (YAML::Node fleet = root["fleet"])
      if (!(st = ParseFleet(fleet, cfg))) return st.error();
    if (!(st = ParseStoreAndCatalogues(root, base_dir, cfg))) return st.error();
    if (!(st = ParseGeneral(root, cfg))) return st.error();
    if (YAML::Node limits = root["limits"])
      if (!(st = ParseLimits(limits, cfg))) return st.error();
    if (YAML::Node ops = root["operations"])
      if (!(st = ParseOperations(ops, cfg))) return st.error();
    if (YAML::Node fo = root["failover"])
      if (!(st = ParseFailover(fo, cfg))) return st.error();
    if (YAML::Node mt = root["maintenance"])
      if (!(st = ParseMaintenance(mt, cfg))) return st.error();
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("config: ") + e.what());
  }
  return cfg;
}

Result<OrchestratorConfig> LoadOrchestratorConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  return ParseOrchestratorConfig(*text, dir);
}

}  // namespace cf::orchestrator
