// Test fixture pieces for agent integration tests: free-port probing, a temporary directory,
// the real cachefleet-agent binary as a child process, and polling helpers.
//
// Cleanup contract: AgentProcess's destructor stops the agent (SIGTERM, SIGKILL after 5 s) and
// then SIGKILLs every redis-server whose pid is recorded in the data directory's node.json
// files (checked against /proc/<pid>/cmdline first), so a failing test leaves no process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cachefleet.grpc.pb.h"

namespace cf::agent::testing {

namespace pb = cachefleet::v1;

// True when `port` can be bound on 127.0.0.1 right now.
bool PortBindable(uint16_t port);
// `count` consecutive client ports whose bus ports (+10000) are free too, probed by bind().
// Searched from a random base in 10000..21999 (so bus ports stay below the ephemeral range).
uint16_t FindFreePortBlock(int count);
// A port nothing listens on now (bind to 0, read it, close).
uint16_t PickUnusedPort();

class TempDir {
 public:
  TempDir();
  ~TempDir();  // removes the directory unless Keep() was called
  const std::string& path() const { return path_; }
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

bool ProcessAlive(pid_t pid);  // exists and is not a zombie
std::string ReadFileOrEmpty(const std::string& path);
// Every pid a redis-server process with ":<port>" in its title has (normally 0 or 1).
std::vector<pid_t> RedisPidsOnPort(uint16_t port);

struct AgentOptions {
  std::string host_id = "host-a";
  std::string orchestrator;  // default: an address where nothing listens
  uint16_t port_start = 0;
  uint16_t port_end = 0;
  std::string redis_server = "redis-server";
  uint32_t heartbeat_interval_ms = 200;
  bool stop_nodes_on_exit = true;
  std::string log_level = "info";
  uint32_t warm_pool_cluster_nodes = 0;
};

class AgentProcess {
 public:
  AgentProcess(AgentOptions opts, std::string dir);
  ~AgentProcess();

  void WriteConfig();
  // Starts the binary and waits for its "serving on" line; fails the test on error.
  void Start();
  void Kill9();        // SIGKILL + reap (nodes keep running)
  void Terminate();    // SIGTERM + reap (SIGKILL after 10 s)
  // SIGKILLs redis-servers recorded in node.json files (and not already dead).
  void KillRecordedNodes();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string node_dir(const std::string& id) const { return data_dir() + "/nodes/" + id; }
  std::string config_path() const { return dir_ + "/agent.yaml"; }
  std::string stderr_text() const;
  pb::Agent::Stub& stub() { return *stub_; }
  const AgentOptions& options() const { return opts_; }

 private:
  AgentOptions opts_;
  std::string dir_;
  pid_t pid_ = -1;
  std::string endpoint_;
  std::unique_ptr<pb::Agent::Stub> stub_;
};

// A ClientContext with a deadline.
std::unique_ptr<grpc::ClientContext> Ctx(int timeout_ms = 15000);

// Polls `pred` every `every_ms` until it returns true or `timeout_ms` passes.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms, int every_ms = 20);

pb::NodeSpec MakeSpec(const std::string& id, uint16_t port, bool cluster,
                      uint32_t node_timeout_ms = 5000);

// GetNodeStatus; returns false (and leaves `out` alone) on RPC error.
bool GetStatus(AgentProcess& a, const std::string& id, pb::NodeStatus* out, grpc::Status* st = nullptr);

}  // namespace cf::agent::testing
