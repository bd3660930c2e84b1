// cachefleet-agent --config <file.yaml> [--stop-nodes-on-exit]
//
// Prints "cachefleet-agent <host_id> serving on <host:port>" on stdout once the Agent service
// listens. SIGINT/SIGTERM stop it gracefully; redis-server nodes are left running (the next
// agent re-adopts them) unless --stop-nodes-on-exit is given.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "agent/runtime/agent_config.h"
#include "agent/runtime/agent_runtime.h"
#include "common/log.h"

namespace {

void Usage(FILE* f) {
  std::fprintf(f,
               "usage: cachefleet-agent --config <file.yaml> [--stop-nodes-on-exit]\n"
               "  --config FILE          agent configuration (see configs/agent.example.yaml)\n"
               "  --stop-nodes-on-exit   stop every redis-server node on SIGINT/SIGTERM\n"
               "                         (default: leave them running for the next agent)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool stop_nodes = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--stop-nodes-on-exit") {
      stop_nodes = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "cachefleet-agent: unknown argument '%s'\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "cachefleet-agent: --config is required\n");
    Usage(stderr);
    return 2;
  }

  // Block the stop signals in every thread (threads inherit the mask) and take them with
  // sigwait below. Children get a clean mask in ChildSetup. hiredis writes to sockets without
  // MSG_NOSIGNAL, so SIGPIPE must not kill us.
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto config = cf::agent::LoadAgentConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "cachefleet-agent: %s\n", config.error().message.c_str());
    return 1;
  }
  cf::SetLogLevel(config->log_level);
  auto log = cf::Logger("agent");

  auto rt = cf::agent::AgentRuntime::Start(*config);
  if (!rt.ok()) {
    std::fprintf(stderr, "cachefleet-agent: cannot start: %s\n", rt.error().message.c_str());
    return 1;
  }
  std::printf("cachefleet-agent %s serving on %s\n", config->host_id.c_str(),
              (*rt)->endpoint().c_str());
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&stop_set, &sig) != 0) {
  }
  log->info("[{}] {} received; stopping ({})", config->host_id, strsignal(sig),
            stop_nodes ? "stopping nodes" : "leaving nodes running");
  (*rt)->Shutdown(stop_nodes ? cf::agent::ExitPolicy::kStopNodes
                             : cf::agent::ExitPolicy::kLeaveNodesRunning);
  return 0;
}
