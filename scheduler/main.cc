// plume-scheduler: flags -> identity, state directory, reactor -> run until SIGTERM/SIGINT.
// Everything else lives in the libraries (scheduler/include/plume/scheduler/reactor.h).
#include <csignal>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "plume/protocol/file_util.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/metrics.h"
#include "plume/scheduler/metrics_ledger.h"
#include "plume/scheduler/ledger_bridge.h"
#include "plume/scheduler/reactor.h"
#include "gov_main.h"
#include "ledger_main.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

// The secret seed of the replay-audit draws (verify/audit.h ShouldAudit): 32 random bytes, made
// once per data dir and kept beside the database (0600), so that a restart draws as before. The
// operator reveals it after the fact (--print-audit-seed) and anyone can then recompute which
// results were audited and check that none was singled out or spared.
plume::Result<plume::verify::Digest> LoadOrCreateAuditSeed(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "audit_seed";
  plume::verify::Digest seed{};
  if (std::ifstream in(path); in) {
    std::string hex;
    in >> hex;
    size_t bin_len = 0;
    if (hex.size() != 2 * seed.size() ||
        sodium_hex2bin(seed.data(), seed.size(), hex.data(), hex.size(), nullptr, &bin_len,
                       nullptr) != 0 ||
        bin_len != seed.size()) {
      return plume::Fail(path.string() + " does not hold 64 hex digits: restore it from a backup "
                         "(a new seed would change every later audit draw)");
    }
    return seed;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  randombytes_buf(seed.data(), seed.size());
  char hex[2 * 32 + 1];
  sodium_bin2hex(hex, sizeof hex, seed.data(), seed.size());
  // Synced before it is used: a seed lost to a power cut would leave an empty file the next start
  // refuses (the power-cut test found exactly that).
  const std::string tmp = path.string() + ".tmp";
  const std::string text = std::string(hex) + "\n";
  if (auto st = plume::WriteFileSynced(
          tmp, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
      !st) {
    return tl::unexpected(st.error());
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return plume::Fail("cannot create " + path.string() + ": " + ec.message());
  if (auto st = plume::SyncDir(dir); !st) return tl::unexpected(st.error());
  return seed;
}

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

constexpr const char* kVersion = "0.1.0";
// Unstaked stake stays slashable this long: an audit may wait 30 min for a peer and a referee
// as long again (limits.h kAuditWaitMsDefault), so two hours covers a fault proven late.
constexpr int64_t kUnbondingMsDefault = 2 * 3'600'000;
constexpr int64_t kWindowMsMax = 365LL * 24 * 3'600'000;  // a year: no overflow downstream

// A metrics server that cannot bind is logged and left out rather than stopping the scheduler:
// the network works without it, and the operator sees the scrape fail (PlumeSchedulerDown).
std::unique_ptr<plume::scheduler::MetricsServer> ServeMetrics(
    const plume::scheduler::SchedulerMetrics& metrics, const std::string& address, int port,
    const std::string& port_file) {
  if (port < 0) return nullptr;
  auto server = plume::scheduler::MetricsServer::Start(address, port, metrics.registry());
  if (!server) {
    spdlog::error("metrics not served: {}", server.error().message);
    return nullptr;
  }
  spdlog::info("metrics on http://{}:{}/metrics", address, (*server)->port());
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << (*server)->port() << "\n";
    std::filesystem::rename(port_file + ".tmp", port_file);  // readers never see half a file
  }
  return std::move(*server);
}

// Reactor::Run, with the metrics brought up to date between turns on the reactor's thread
// (the core is not thread-safe; the metrics are). Every 250 ms: Observe walks all tasks.
plume::Status RunWithMetrics(plume::scheduler::Reactor& reactor,
                             plume::scheduler::SchedulerMetrics& metrics,
                             const std::function<void()>& also) {
  using Clock = std::chrono::steady_clock;
  auto next = Clock::now();
  while (!g_stop.load()) {
    // A signal that sets g_stop also interrupts the socket wait: that is a stop, not a failure.
    if (auto st = reactor.RunOnce(std::chrono::milliseconds(50)); !st) {
      return g_stop.load() ? plume::Status{} : st;
    }
    if (Clock::now() < next) continue;
    next = Clock::now() + std::chrono::milliseconds(250);
    metrics.Observe(reactor.core().state(), reactor.core().state().now_ms);
    const auto stats = reactor.stats();
    metrics.ObserveTransport(stats.transport, stats.blob_bytes_in, stats.blob_bytes_out);
    metrics.ObserveScreens(stats.results_screened, stats.results_refused);
    also();
  }
  return {};
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
  app.add_option("--sync", sync,
                 "database sync: full (fsync per turn) or normal (refused with --operator-id: "
                 "a power cut could lose acknowledged, ledger-paid results)")
      ->check(CLI::IsMember({"full", "normal"}))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--lease-ms", lease_ms, "agent lease in milliseconds")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--upload-quota-bytes", options.upload_quota_bytes_per_day,
                 "blob bytes one key may upload per 24 h (0: no limit); agents' task results "
                 "are not counted");
  int64_t retention_s = options.retention.finished_job_ms / 1000;
  int64_t unused_retention_s = options.retention.unused_blob_ms / 1000;
  int64_t retention_sweep_s = options.retention_sweep_ms / 1000;
  app.add_option("--blob-retention-s", retention_s,
                 "keep a finished job's blobs this long (default 30 days)")
      ->check(CLI::Range(int64_t{0}, int64_t{100} * 365 * 86'400));
  app.add_option("--unused-blob-retention-s", unused_retention_s,
                 "keep a blob no job uses this long after it was stored (default 7 days)")
      ->check(CLI::Range(int64_t{0}, int64_t{100} * 365 * 86'400));
  app.add_option("--retention-sweep-s", retention_sweep_s,
                 "how often retention deletes blobs (0: never; default 600)")
      ->check(CLI::Range(int64_t{0}, int64_t{86'400}));
  app.add_option("--endpoint-file", endpoint_file, "write the bound endpoint here (port 0)");
  std::string metrics_address = "0.0.0.0", metrics_port_file;
  // The last --metrics-port wins, so a wrapper (or a test harness) can override a default.
  app.add_option("--metrics-port", metrics_port,
                 "Prometheus /metrics port (0: pick a free one; -1: do not serve metrics)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--metrics-address", metrics_address, "address the metrics server binds");
  app.add_option("--metrics-port-file", metrics_port_file, "write the bound metrics port here");
  std::string operator_id;
  app.add_option("--operator-id", operator_id,
                 "operator public key (hex): enables the ledger in <data-dir>/ledger");
  std::string ledger_key_path;
  app.add_option("--ledger-key", ledger_key_path,
                 "key file of the ledger key (signs heads, countersigns, settles, releases; "
                 "created 0600 if missing); default: --key, as ledgers made before this flag");
  app.add_option("--fee-bps", options.core.fee_bps,
                 "network fee on each task settle, in basis points (500 = 5%), to the treasury")
      ->check(CLI::Range(0, 10'000));
  bool print_audit_seed = false;
  app.add_flag("--print-audit-seed", print_audit_seed,
               "print the audit seed of --data-dir (hex) and exit: reveal it only for audits "
               "already settled (docs/verification.md)");
  bool no_audits = false;
  app.add_flag("--no-audits", no_audits,
               "no replay audits: every result is settled when committed, never re-run (one "
               "trusted operator's fleet, or tests of other things)");
  app.add_option("--audit-trust-after", options.core.audit.trust_after,
                 "audit every result of a provider until this many consecutive valid results")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  app.add_option("--audit-p-min-ppm", options.core.audit.p_min_ppm,
                 "floor of the audit probability, parts per million (50000 = 5%)")
      ->check(CLI::Range(0, 1'000'000));
  // Stake and payment after verification (docs/payments.md; defaults in limits.h). The last of
  // each flag counts, so a wrapper or a test harness can override a default it passed.
  plume::scheduler::Config& core = options.core;
  int64_t unbonding_ms = kUnbondingMsDefault;
  const auto take_last = CLI::MultiOptionPolicy::TakeLast;
  app.add_option("--challenge-window-ms", core.challenge_window_ms,
                 "an unaudited result is paid this long after it finished (0: at once)")
      ->check(CLI::Range(int64_t{0}, kWindowMsMax))
      ->multi_option_policy(take_last);
  app.add_option("--unbonding-ms", unbonding_ms,
                 "unstaked stake stays slashable this long before it returns to the provider "
                 "(at least --challenge-window-ms)")
      ->check(CLI::Range(int64_t{0}, kWindowMsMax))
      ->multi_option_policy(take_last);
  app.add_option("--min-stake-per-device", core.min_stake_per_device_micro_plume,
                 "free stake (micro-PLUME) a provider needs per device to be placed (0: none, a "
                 "private network)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000'000'000}))
      ->multi_option_policy(take_last);
  app.add_option("--slash-bps", core.slash_bps,
                 "share of a provider's slashable stake a proven fault takes at least (1000 = 10%)")
      ->check(CLI::Range(0, 10'000))
      ->multi_option_policy(take_last);
  app.add_option("--finder-fee-bps", core.finder_fee_bps,
                 "share of a slash paid to the referee's (else the auditor's) provider account")
      ->check(CLI::Range(0, 10'000))
      ->multi_option_policy(take_last);
  app.add_option("--verification-reserve-bps", core.verification_reserve_bps,
                 "each job also holds this share of its maximum cost to pay its audit and "
                 "referee runs (20000: all of them, always; less caps its audits)")
      ->check(CLI::Range(0u, plume::scheduler::kVerificationReserveBpsMax))
      ->multi_option_policy(take_last);
  app.add_option("--min-reputation-ppm", core.min_reputation_ppm,
                 "providers below this reputation are not placed (new ones start at 500000)")
      ->check(CLI::Range(0, 1'000'000))
      ->multi_option_policy(take_last);
  app.add_option("--floor-flops-per-s", core.floor_flops_per_s,
                 "the slowest speed admitted: a task's deadline is its FLOPs / this x the "
                 "deadline factor, whatever the agent claims (0: the maximum deadline)")
      ->multi_option_policy(take_last);
  app.add_option("--task-deadline-min-ms", core.task_deadline_min_ms,
                 "no task's deadline is shorter than this, however few its FLOPs (default 30 "
                 "minutes: a slow fetch of the inputs counts against the deadline too)")
      ->check(CLI::Range(int64_t{1'000}, core.task_deadline_max_ms))
      ->multi_option_policy(take_last);
  plume::data::PublishLimits publish_limits;
  app.add_option("--data-publishes-per-key-max", publish_limits.datasets_per_key_max,
                 "datasets one key may publish on the ledger, revoked ones included (0: no "
                 "limit); docs/data-owners.md")
      ->multi_option_policy(take_last);
  app.add_option("--data-publish-min-balance-micro-plume", publish_limits.min_balance_micro_plume,
                 "what a data owner's team account must hold to publish (0: nothing)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000'000'000}))
      ->multi_option_policy(take_last);
  plume::scheduler::GovFlags gov_flags;
  plume::scheduler::AddGovFlags(app, gov_flags);
  bool test_network = false;
  app.add_flag("--test-network", test_network,
               "a private test network: with --operator-id, allows flag values outside the "
               "governance bounds (a challenge window of 0, say), which otherwise refuse to start");
  CLI11_PARSE(app, argc, argv);
  options.retention.finished_job_ms = retention_s * 1000;
  options.retention.unused_blob_ms = unused_retention_s * 1000;
  options.retention_sweep_ms = retention_sweep_s * 1000;
  plume::gov::Params gov_initial;
  if (auto why = plume::scheduler::InitialGovParams(core, gov_flags, unbonding_ms,
                                                    !operator_id.empty(), test_network, gov_initial);
      !why.empty()) {
    std::cerr << "plume-scheduler: " << why << "\n";
    return 2;
  }
  if (unbonding_ms < core.challenge_window_ms) {
    std::cerr << "plume-scheduler: --unbonding-ms " << unbonding_ms
              << " is shorter than --challenge-window-ms " << core.challenge_window_ms
              << ": stake could leave before a fault in its last results is proven; give at "
                 "least the window\n";
    return 2;
  }
  if (sync == "normal" && !operator_id.empty()) {
    std::cerr << "plume-scheduler: --sync normal is refused with --operator-id: a power cut "
                 "could lose acknowledged results whose settles the ledger kept; use --sync "
                 "full\n";
    return 2;
  }

  auto audit_seed = LoadOrCreateAuditSeed(data_dir);
  if (!audit_seed) {
    std::cerr << "plume-scheduler: " << audit_seed.error().message << "\n";
    return 2;
  }
  if (print_audit_seed) {
    char hex[2 * 32 + 1];
    sodium_bin2hex(hex, sizeof hex, audit_seed->data(), audit_seed->size());
    std::cout << hex << "\n";
    return 0;
  }
  options.core.audit_seed = *audit_seed;
  options.core.audits = !no_audits;

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
  std::unique_ptr<plume::scheduler::LedgerBridge> bridge;
  std::unique_ptr<plume::scheduler::GovDriver> gov;  // outlives the reactor (declared before)
  if (!operator_id.empty()) {
    auto op_key = plume::PublicKeyFromHex(operator_id);
    if (!op_key) {
      std::cerr << "plume-scheduler: --operator-id must be 64 hex digits\n";
      return 2;
    }
    // A ledger key of its own keeps the key that moves money out of the transport key file,
    // which every connection's handshake uses; the default stays the transport key so ledgers
    // created before --ledger-key open unchanged.
    auto ledger_key = ledger_key_path.empty() ? plume::Result<plume::Identity>(*identity)
                                              : plume::Identity::LoadOrCreate(ledger_key_path);
    if (!ledger_key) {
      std::cerr << "plume-scheduler: --ledger-key: " << ledger_key.error().message << "\n";
      return 2;
    }
    auto opened = plume::scheduler::LedgerBridge::Open(std::filesystem::path(data_dir) / "ledger",
                                                       *ledger_key, *op_key);
    if (!opened) {
      std::cerr << "plume-scheduler: " << opened.error().message << "\n";
      return 1;
    }
    bridge = std::move(*opened);
    bridge->set_unbonding_ms(unbonding_ms);
    bridge->set_publish_limits(publish_limits);
    auto wired = plume::scheduler::WireGovernance(*bridge, *ledger_key, gov_initial, options);
    if (!wired) {
      std::cerr << "plume-scheduler: governance: " << wired.error().message << "\n";
      return 1;
    }
    gov = std::move(*wired);
    plume::scheduler::BindLedgerHooks(*bridge, *op_key, options);
  }
  options.sync = sync == "full" ? plume::scheduler::Sync::kFull : plume::scheduler::Sync::kNormal;
  options.core.lease_ms = lease_ms;
  plume::scheduler::SchedulerMetrics metrics({kVersion, identity->Id()});
  if (bridge) metrics.AttachLedger(plume::scheduler::LedgerViewOf(bridge->ledger()));
  options.on_commit = [&metrics](std::chrono::duration<double> d) { metrics.ObserveCommit(d); };
  // Only a real ledger is instrumented: a wrapped empty hook would look like a ledger to the
  // reactor (which refuses --sync normal with one).
  if (options.ledger) options.ledger = metrics.Instrument(std::move(options.ledger));
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
  auto server = ServeMetrics(metrics, metrics_address, metrics_port, metrics_port_file);
  plume::scheduler::GovMetrics gov_metrics(*metrics.registry());
  const auto observe_gov = [&] {
    if (gov) gov_metrics.Observe(plume::scheduler::GovSampleOf(*gov));
  };
  if (auto st = RunWithMetrics(**reactor, metrics, observe_gov); !st) {
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
