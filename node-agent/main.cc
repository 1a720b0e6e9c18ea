// plume-agent: flags -> identity -> device checks -> Agent::Run. SIGTERM/SIGINT drain the
// agent (finish or hand back the running task, deliver results) and exit 0.
//   plume-agent --scheduler tcp://HOST:PORT --scheduler-id HEX [--key PATH] [--name NAME]
//               [--cache-dir DIR] [--cache-bytes-max N] [--price N] [--threads N]
//               [--owner-attestation FILE]
//   plume-agent selftest
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "plume/agent/agent.h"
#include "plume/agent/devices.h"
#include "plume/agent/metrics.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/owner.h"
#include "plume/kernels/omp_env.h"

namespace {

plume::agent::Agent* g_agent = nullptr;

void OnSignal(int) {
  if (g_agent != nullptr) g_agent->RequestDrain();
}

std::string HomeDir() {
  const char* h = std::getenv("HOME");
  return h ? h : ".";
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "agent";
  return buf;
}

int RunSelftest(int threads) {
  bool any = false;
  for (const auto& c : plume::agent::CheckDevices(threads)) {
    std::cout << (c.offer.selftest_passed ? "PASS " : "FAIL ") << c.offer.name << ": "
              << c.details << "\n";
    any = any || c.offer.selftest_passed;
  }
  return any ? 0 : 1;
}

struct MetricsFlags {
  int port = 9091;  // -1: not served
  std::string address = "0.0.0.0";
  std::string port_file;
};

// A metrics server that cannot bind is logged and left out: the agent's work does not depend
// on it (two agents on one host with the default port, for instance).
std::unique_ptr<plume::agent::AgentMetricsServer> ServeMetrics(
    const MetricsFlags& flags, std::shared_ptr<plume::agent::AgentMetrics> metrics) {
  if (flags.port < 0) return nullptr;
  auto server = plume::agent::AgentMetricsServer::Start(flags.address, flags.port, metrics);
  if (!server) {
    spdlog::error("metrics not served: {}", server.error().message);
    return nullptr;
  }
  spdlog::info("metrics on http://{}:{}/metrics", flags.address, (*server)->port());
  if (!flags.port_file.empty()) {
    std::ofstream(flags.port_file + ".tmp") << (*server)->port() << "\n";
    std::error_code ec;  // readers never see half a file
    std::filesystem::rename(flags.port_file + ".tmp", flags.port_file, ec);
  }
  return std::move(*server);
}

int RunAgent(plume::agent::AgentOptions options, const std::string& key_path,
             const std::string& scheduler_id_hex, const std::string& attestation_path,
             const MetricsFlags& metrics_flags) {
  auto server = plume::PublicKeyFromHex(scheduler_id_hex);
  if (!server) {
    spdlog::error("--scheduler-id: {} (pass the scheduler's 64-hex-character id)",
                  server.error().message);
    return 2;
  }
  options.scheduler_id = *server;
  auto identity = plume::Identity::LoadOrCreate(key_path);
  if (!identity) {
    spdlog::error("{}", identity.error().message);
    return 2;
  }
  spdlog::info("agent id {} (key {})", identity->Id(), key_path);
  if (!attestation_path.empty()) {
    auto a = plume::ReadOwnerAttestationFor(attestation_path, identity->public_key(), *server);
    if (!a) {
      spdlog::error("--owner-attestation: {}", a.error().message);
      return 2;
    }
    spdlog::info("operated by owner {}", plume::ToHex(a->owner));
    options.owner_attestation = *a;
  }
  const auto checks = plume::agent::CheckDevices(options.threads);
  for (const auto& c : checks) {
    if (c.offer.selftest_passed) {
      spdlog::info("selftest PASS {}: {}", c.offer.name, c.details);
    } else {
      spdlog::warn("selftest FAIL {}: {} (not offered)", c.offer.name, c.details);
    }
  }
  options.devices = plume::agent::PassedDevices(checks);
  options.kernel_build = plume::agent::KernelBuild(options.devices);
  spdlog::info("kernel class {}", options.kernel_build);
  plume::agent::AgentMetricsInfo info{"0.1.0", identity->Id(), scheduler_id_hex,
                                      options.price_micro_plume_per_pflop, {}};
  for (const auto& c : checks) info.devices.push_back(c.offer);
  options.metrics = std::make_shared<plume::agent::AgentMetrics>(info);
  auto metrics_server = ServeMetrics(metrics_flags, options.metrics);
  auto agent = plume::agent::Agent::Create(std::move(options), std::move(*identity));
  if (!agent) {
    spdlog::error("{}", agent.error().message);
    return 1;
  }
  g_agent = agent->get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  auto s = (*agent)->Run();
  g_agent = nullptr;
  if (!s) {
    spdlog::error("{}", s.error().message);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  plume::kernels::ReexecWithPassiveOmpWait(argv);  // before any thread starts
  CLI::App app{"plume-agent: offers this machine's GPUs (or CPU) to a Plume scheduler"};
  plume::agent::AgentOptions options;
  std::string key_path = HomeDir() + "/.config/plume/agent.key";
  std::string scheduler_id;
  std::string attestation_path;
  std::string cache_dir = HomeDir() + "/.cache/plume-agent";
  MetricsFlags metrics;
  options.name = HostName();
  app.add_option("--scheduler", options.scheduler_endpoint, "scheduler endpoint, tcp://HOST:PORT");
  app.add_option("--scheduler-id", scheduler_id, "the scheduler's id (hex ed25519 public key)");
  app.add_option("--key", key_path, "this agent's key file (created with mode 0600 if missing)");
  app.add_option("--name", options.name, "name shown in `plume nodes`");
  app.add_option("--owner-attestation", attestation_path,
                 "the owner's signed word that it operates this agent (`plume owner attest`); "
                 "without it the agent is its own owner");
  app.add_option("--cache-dir", cache_dir, "blob cache and undelivered results");
  app.add_option("--cache-bytes-max", options.cache_bytes_max, "blob cache size cap in bytes");
  // The scheduler refuses a price of 0 or less (a free bid would win every placement), so the
  // default is a price, the same the deployment examples use.
  options.price_micro_plume_per_pflop = 1000;
  app.add_option("--price", options.price_micro_plume_per_pflop,
                 "price in micro-PLUME per PFLOP, > 0 (the last one given counts)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--threads", options.threads, "CPU backend threads (0: all cores)");
  // The last --metrics-port wins, so a wrapper (or a test harness) can override a default.
  app.add_option("--metrics-port", metrics.port,
                 "Prometheus /metrics port (0: pick a free one; -1: do not serve metrics)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--metrics-address", metrics.address, "address the metrics server binds");
  app.add_option("--metrics-port-file", metrics.port_file, "write the bound metrics port here");
  auto* selftest = app.add_subcommand("selftest", "check the kernels on every device and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    if (selftest->parsed()) return RunSelftest(options.threads);
    if (options.scheduler_endpoint.empty() || scheduler_id.empty()) {
      std::cerr << "plume-agent: --scheduler and --scheduler-id are required (see --help)\n";
      return 2;
    }
    options.cache_dir = cache_dir;
    return RunAgent(std::move(options), key_path, scheduler_id, attestation_path, metrics);
  } catch (const std::exception& e) {
    // Last resort: library code returns errors as values; this only catches bugs.
    spdlog::critical("unexpected error: {}", e.what());
    return 1;
  }
}
