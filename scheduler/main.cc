// plume-scheduler: flags -> identity, state directory, reactor -> run until SIGTERM/SIGINT.
// Everything else lives in the libraries (scheduler/include/plume/scheduler/reactor.h).
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/reactor.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

plume::Result<std::vector<plume::PublicKey>> ReadAllowList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return plume::Fail("cannot read allow-list " + path);
  std::vector<plume::PublicKey> keys;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto raw = plume::FromHex(line.substr(0, 64));
    if (!raw || raw->size() != 32) {
      return plume::Fail("allow-list " + path + ": '" + line + "' is not a 64-hex-digit agent id");
    }
    plume::PublicKey k{};
    std::copy(raw->begin(), raw->end(), k.begin());
    keys.push_back(k);
  }
  return keys;
}

int Main(int argc, char** argv) {
  CLI::App app{"plume-scheduler: places jobs of the Plume network on its agents"};
  plume::scheduler::ReactorOptions options;
  options.endpoint = "tcp://0.0.0.0:7070";
  std::string data_dir = "plume-scheduler-data", key_path, allow_list, sync = "full";
  std::string endpoint_file;
  int metrics_port = 9090;
  int64_t lease_ms = options.core.lease_ms;
  app.add_option("--listen", options.endpoint, "protocol endpoint (ROUTER, CURVE server)");
  app.add_option("--data-dir", data_dir, "SQLite state, blobs and DiLoCo momentum");
  app.add_option("--key", key_path, "the scheduler's key file (created with mode 0600 if missing)")
      ->required();
  app.add_option("--allow-list", allow_list, "file with one agent id (hex) per line");
  app.add_option("--sync", sync, "database sync: full (fsync per turn) or normal")
      ->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--lease-ms", lease_ms, "agent lease in milliseconds");
  app.add_option("--endpoint-file", endpoint_file, "write the bound endpoint here (port 0)");
  app.add_option("--metrics-port", metrics_port, "Prometheus metrics port (not served yet)");
  CLI11_PARSE(app, argc, argv);

  auto identity = plume::Identity::LoadOrCreate(key_path);
  if (!identity) {
    std::cerr << "plume-scheduler: " << identity.error().message << "\n";
    return 2;
  }
  if (!allow_list.empty()) {
    auto keys = ReadAllowList(allow_list);
    if (!keys) {
      std::cerr << "plume-scheduler: " << keys.error().message << "\n";
      return 2;
    }
    options.agent_allow_list = std::move(*keys);
  }
  options.state_dir = data_dir;
  options.sync = sync == "full" ? plume::scheduler::Sync::kFull : plume::scheduler::Sync::kNormal;
  options.core.lease_ms = lease_ms;
  auto reactor = plume::scheduler::Reactor::Start(*identity, std::move(options));
  if (!reactor) {
    std::cerr << "plume-scheduler: " << reactor.error().message << "\n";
    return 1;
  }
  std::printf("scheduler id %s\nlistening on %s\n", identity->Id().c_str(),
              (*reactor)->endpoint().c_str());
  std::fflush(stdout);
  if (!endpoint_file.empty()) {
    std::ofstream(endpoint_file) << (*reactor)->endpoint() << "\n";
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  if (auto st = (*reactor)->Run(g_stop); !st) {
    std::cerr << "plume-scheduler: " << st.error().message << "\n";
    return 1;
  }
  spdlog::info("plume-scheduler stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {  // last resort: libraries return errors as values
    std::cerr << "plume-scheduler: internal error: " << e.what() << "\n";
    return 70;
  }
}
