// cachefleet-orchestrator --config <file.yaml>
//
// Parses argv and builds the App (app.h: store, fleet server, runner resuming unfinished
// operations, features, loops, API server); prints "cachefleet-orchestrator serving api on
// <host:port> fleet on <host:port>" once both listen; stops on SIGINT/SIGTERM (a second
// signal, or 15 s, forces the exit).
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>
#include "common/log.h"
#include "orchestrator/app.h"
#include "orchestrator/fleet/agent_client.h"

static int Fail(const std::string& what, int code = 1) {
  std::fprintf(stderr, "%s\n", what.c_str());
  return code;
}

int main(int argc, char** argv) {
  using namespace cf::orchestrator;
  std::string path, usage = "usage: cachefleet-orchestrator --config <file.yaml>";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) path = argv[++i];
    else if (a.rfind("--config=", 0) == 0) path = a.substr(9);
    else return Fail(usage, a == "--help" || a == "-h" ? 0 : 2);
  }
  if (path.empty()) return Fail(usage, 2);
  sigset_t stop;  // blocked in every thread; main waits for them with sigwait
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  auto cfg = LoadOrchestratorConfig(path);
  if (!cfg) return Fail("cachefleet-orchestrator: " + cfg.error().message, 2);
  cf::SetLogLevel(cfg->log_level);
  auto catalog = LoadParameterCatalogForConfig(path);
  if (!catalog) return Fail("cachefleet-orchestrator: " + catalog.error().message);
  App app(*cfg, *catalog, MakeGrpcAgentApi());
  if (auto st = app.Open(); !st) return Fail("cachefleet-orchestrator: " + st.error().message);
  if (auto st = app.Start(); !st) return Fail("cachefleet-orchestrator: " + st.error().message);
  std::printf("cachefleet-orchestrator serving api on %s:%u fleet on %s:%u\n",
              cfg->api_listen.host.c_str(), unsigned{app.api_port()},
              cfg->fleet_listen.host.c_str(), unsigned{app.fleet_port()});
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  cf::Logger("main")->info("{} received: stopping (a second signal forces the exit)", strsignal(sig));
  std::thread([stop]() mutable {  // forced stop: a second signal or the deadline
    struct timespec ts{15, 0};
    int s = sigtimedwait(&stop, nullptr, &ts);
    std::fprintf(stderr, "cachefleet-orchestrator: forced exit (%s)\n", s > 0 ? "second signal" : "stop deadline");
    _exit(1);
  }).detach();
  app.Stop();
}
