// Ledger benchmark (a driver with a table, not Google Benchmark: the numbers only make sense
// side by side). In one run, on the same disk and the same threads:
//   1. bare fsync'd appends: write() of one batch's bytes + fdatasync(), per second;
//   2. bare ed25519 verifications per second (libsodium) on T threads;
//   3. ledger transfers per second through Ledger::Append (signatures checked on T threads,
//      one group commit + fdatasync per batch);
//   4. ledger settles (countersigned task receipts) per second, same setup.
// Ratios: transfers' commits/s against bare appends of the same bytes; receipts' signature
// checks/s (3 per settle: agent, countersignature, entry) against bare verifications/s.
//
// Usage: plume_ledger_bench [--dir DIR] [--threads T] [--batch N] [--transfers N] [--receipts N]
// DIR must be on the disk you want to measure (default: /var/tmp); it is removed after.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "plume/ledger/ledger.h"
#include "plume/ledger/log.h"
#include "plume/ledger/merkle.h"
#include "plume/ledger/state.h"

namespace pl = plume::ledger;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string dir = "/var/tmp/plume-ledger-bench";
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  size_t batch = 8192;
  size_t transfers = 262'144;
  size_t receipts = 32'768;
};

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Runs fn(i) for i in [0, n) on `threads` threads.
template <class Fn>
void Parallel(size_t n, unsigned threads, Fn fn) {
  std::vector<std::thread> pool;
  std::atomic<size_t> next{0};
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

// Appends of `bytes` bytes, each followed by fdatasync, for about `seconds`.
double BareAppendsPerSecond(const std::string& dir, size_t bytes, double seconds) {
  const std::string path = dir + "/bare.log";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 0;
  std::vector<uint8_t> buf(bytes, 0x5a);
  size_t n = 0;
  const auto start = Clock::now();
  while (Seconds(start) < seconds) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) break;
    if (::fdatasync(fd) != 0) break;
    ++n;
  }
  const double rate = n / Seconds(start);
  ::close(fd);
  ::unlink(path.c_str());
  return rate;
}

// ed25519 verifications per second on `threads` threads, messages of `message_bytes`.
double BareVerifiesPerSecond(unsigned threads, size_t message_bytes, double seconds) {
  const plume::Identity id = plume::Identity::Generate();
  std::vector<uint8_t> msg(message_bytes, 7);
  const plume::Signature sig = id.Sign(msg);
  std::atomic<size_t> total{0};
  std::atomic<bool> ok{true};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      size_t n = 0;
      while (Seconds(start) < seconds) {
        for (int i = 0; i < 64; ++i) ok = ok && plume::VerifySignature(id.public_key(), msg, sig);
        n += 64;
      }
      total += n;
    });
  }
  for (auto& t : pool) t.join();
  if (!ok) std::fprintf(stderr, "bare verify failed?\n");
  return total / Seconds(start);
}

struct Run {
  double entries_per_s = 0;
  double commits_per_s = 0;
  double bytes_per_commit = 0;
  size_t ok = 0;
};

Run AppendAll(pl::Ledger& ledger, const std::vector<pl::Entry>& entries, size_t batch,
              const std::string& log_path) {
  const uint64_t bytes_before = std::filesystem::file_size(log_path);
  Run run;
  size_t commits = 0;
  const auto start = Clock::now();
  for (size_t i = 0; i < entries.size(); i += batch) {
    const size_t n = std::min(batch, entries.size() - i);
    auto results = ledger.Append(std::span(entries).subspan(i, n));
    if (!results) {
      std::fprintf(stderr, "append failed: %s\n", results.error().message.c_str());
      std::exit(1);
    }
    for (const auto& r : *results) run.ok += r.code == pl::Code::kOk;
    ++commits;
  }
  const double s = Seconds(start);
  run.entries_per_s = entries.size() / s;
  run.commits_per_s = commits / s;
  run.bytes_per_commit =
      static_cast<double>(std::filesystem::file_size(log_path) - bytes_before) / commits;
  return run;
}

// The ledger's one-thread part without the signature checks, rebuilt from public pieces: rules
// (State::Apply), canonical encoding, leaf hash, framing, and one write + fdatasync per batch.
// This bounds what more verify threads could buy (the signature checks run in parallel).
double SequentialEntriesPerSecond(const std::vector<pl::Entry>& genesis,
                                  const std::vector<pl::Entry>& entries, size_t batch,
                                  const std::string& dir) {
  pl::State state;
  for (const pl::Entry& e : genesis) state.Apply(e, pl::BodyHash(e));
  std::vector<plume::Hash256> body(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) body[i] = pl::BodyHash(entries[i]);
  auto writer = pl::LogWriter::Create(dir + "/seq.log", pl::LogHeader{});
  if (!writer) return 0;
  pl::MerkleTree tree;
  std::vector<uint8_t> buf, payload;
  const auto start = Clock::now();
  for (size_t i = 0; i < entries.size(); i += batch) {
    buf.clear();
    for (size_t j = i; j < std::min(entries.size(), i + batch); ++j) {
      if (state.Apply(entries[j], body[j]).code != pl::Code::kOk) continue;
      payload.clear();
      pl::AppendEncoded(entries[j], payload);
      tree.AddLeafHash(pl::MerkleLeafHash(payload));
      pl::AppendRecord(payload, buf);
    }
    (void)tree.Root();
    if (!(*writer)->WriteAndSync(buf)) return 0;
  }
  return entries.size() / Seconds(start);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--dir")
      a.dir = v;
    else if (k == "--threads")
      a.threads = static_cast<unsigned>(std::stoul(v));
    else if (k == "--batch")
      a.batch = std::stoul(v);
    else if (k == "--transfers")
      a.transfers = std::stoul(v);
    else if (k == "--receipts")
      a.receipts = std::stoul(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  std::filesystem::remove_all(args.dir);
  std::filesystem::create_directories(args.dir);
  const std::string ledger_dir = args.dir + "/ledger";
  const std::string log_path = ledger_dir + "/ledger.log";
  const plume::Identity ledger_key = plume::Identity::Generate();
  const plume::Identity operator_key = plume::Identity::Generate();
  constexpr int kTeams = 64;
  constexpr int kAgents = 16;
  std::vector<plume::Identity> teams, agents;
  for (int i = 0; i < kTeams; ++i) teams.push_back(plume::Identity::Generate());
  for (int i = 0; i < kAgents; ++i) agents.push_back(plume::Identity::Generate());
  pl::LedgerOptions options;
  options.verify_threads = args.threads;
  auto opened = pl::Ledger::Open(ledger_dir, ledger_key, operator_key.public_key(), options);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  pl::Ledger& ledger = **opened;
  const pl::LedgerId ledger_id = ledger.keys().ledger_id;
  const auto sign = [&ledger_id](pl::Entry e, const plume::Identity& who) {
    e.signatures.push_back(pl::SignEntry(e, ledger_id, who));
    return e;
  };
  std::vector<pl::Entry> genesis;
  for (int i = 0; i < kTeams; ++i) {
    const std::string team = pl::TeamAccount(teams[i].public_key());
    genesis.push_back(sign(pl::MakeOpenAccount("open-t" + std::to_string(i), team), teams[i]));
    genesis.push_back(sign(
        pl::MakeMint("mint-t" + std::to_string(i), team, pl::MicroPlume(1'000'000'000'000'000)),
        operator_key));
    genesis.push_back(
        sign(pl::MakeEscrowHold("hold-" + std::to_string(i), team, "job-" + std::to_string(i),
                                pl::MicroPlume(100'000'000'000'000)),
             teams[i]));
  }
  for (int i = 0; i < kAgents; ++i) {
    genesis.push_back(sign(pl::MakeOpenAccount("open-p" + std::to_string(i),
                                               pl::ProviderAccount(agents[i].public_key())),
                           ledger_key));
  }
  (void)AppendAll(ledger, genesis, genesis.size(), log_path);

  // Prepared outside the timed part: the clients and agents sign, not the ledger.
  std::vector<pl::Entry> transfers(args.transfers);
  Parallel(args.transfers, args.threads, [&](size_t i) {
    const int from = static_cast<int>(i % kTeams);
    const int to =
        static_cast<int>((i * 7 + 3) % kTeams == static_cast<size_t>(from) ? (from + 1) % kTeams
                                                                           : (i * 7 + 3) % kTeams);
    transfers[i] =
        sign(pl::MakeTransfer("tr-" + std::to_string(i), pl::TeamAccount(teams[from].public_key()),
                              pl::TeamAccount(teams[to].public_key()),
                              pl::MicroPlume(1 + static_cast<int64_t>(i % 1000))),
             teams[from]);
  });
  std::vector<pl::Entry> settles(args.receipts);
  Parallel(args.receipts, args.threads, [&](size_t i) {
    pl::TaskReceipt r;
    r.job_id = "job-" + std::to_string(i % kTeams);
    r.task_id = "task-" + std::to_string(i);
    r.attempt = 1;
    r.input_hashes = {plume::Blake2b256("shard-" + std::to_string(i))};
    r.output_hash = plume::Blake2b256("out-" + std::to_string(i));
    r.flops = 3'000'000'000'000'000ULL;
    r.device = "NVIDIA H100 80GB HBM3";
    r.kernel_build = "plume-kernels bench";
    r.start_unix_ms = 1'700'000'000'000;
    r.end_unix_ms = 1'700'000'100'000;
    const plume::Identity& agent = agents[i % kAgents];
    r.agent = agent.public_key();
    r.agent_signature = pl::SignAsAgent(r, ledger_id, agent);
    r.price_micro_plume_per_pflop = 50'000;
    r.fee_bps = 200;
    r.scheduler_signature = pl::Countersign(r, ledger_id, ledger_key);
    settles[i] = sign(pl::MakeSettle("settle-" + std::to_string(i), std::move(r)), ledger_key);
  });

  const double sequential = SequentialEntriesPerSecond(genesis, transfers, args.batch, args.dir);
  // The machine may be shared, so the bare verify rate is measured right before and after each
  // ledger run and each ratio uses the mean of its two neighbours.
  const size_t transfer_message = pl::SigningBytes(transfers[0], ledger_id).size();
  const double verify_0 = BareVerifiesPerSecond(args.threads, transfer_message, 1.5);
  const Run tr = AppendAll(ledger, transfers, args.batch, log_path);
  const double verify_1 = BareVerifiesPerSecond(args.threads, transfer_message, 1.5);
  const Run rc = AppendAll(ledger, settles, args.batch, log_path);
  const double verify_2 = BareVerifiesPerSecond(args.threads, transfer_message, 1.5);
  const double bare_verify_tr = (verify_0 + verify_1) / 2;
  const double bare_verify_rc = (verify_1 + verify_2) / 2;
  const double bare_append =
      BareAppendsPerSecond(args.dir, static_cast<size_t>(tr.bytes_per_commit), 2.0);
  const double bare_append_small = BareAppendsPerSecond(args.dir, 512, 2.0);
  auto invariants = ledger.CheckInvariants();
  opened->reset();
  std::filesystem::remove_all(args.dir);

  std::printf("ledger bench: dir=%s threads=%u batch=%zu (hardware threads %u)\n", args.dir.c_str(),
              args.threads, args.batch, std::thread::hardware_concurrency());
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| bare fdatasync'd appends of 512 B | %.0f /s |\n", bare_append_small);
  std::printf("| bare fdatasync'd appends of one transfer batch (%.0f B) | %.1f /s |\n",
              tr.bytes_per_commit, bare_append);
  std::printf(
      "| bare ed25519 verify (%zu B messages, %u threads): before, between, after |"
      " %.0f, %.0f, %.0f /s |\n",
      transfer_message, args.threads, verify_0, verify_1, verify_2);
  std::printf("| ledger transfers (fsync on, %zu per commit) | %.0f /s (%zu ok) |\n", args.batch,
              tr.entries_per_s, tr.ok);
  std::printf("| one-thread part of a transfer (rules, encode, hash, write, fsync) | %.0f /s |\n",
              sequential);
  std::printf("| ledger transfer commits vs bare appends of the same bytes | %.2f |\n",
              tr.commits_per_s / bare_append);
  std::printf("| ledger transfers' signature checks vs bare verify | %.2f |\n",
              tr.entries_per_s / bare_verify_tr);
  std::printf("| ledger settles of countersigned receipts (fsync on) | %.0f /s (%zu ok) |\n",
              rc.entries_per_s, rc.ok);
  std::printf("| receipts' signature checks (3 per settle) vs bare verify | %.2f |\n",
              3 * rc.entries_per_s / bare_verify_rc);
  std::printf("| receipts/s vs bare verify/s (1:1) | %.2f |\n", rc.entries_per_s / bare_verify_rc);
  std::printf("| invariants after the run | %s |\n",
              invariants ? "hold" : invariants.error().message.c_str());
  return tr.ok == args.transfers && rc.ok == args.receipts && invariants ? 0 : 1;
}
