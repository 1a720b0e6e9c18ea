// Helpers for the ledger tests (see test_util.h).
#include "test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

namespace plume::ledger {
void PrintTo(const Tranche& t, std::ostream* os) {
  *os << "{" << t.entry_id << ", " << t.amount.value() << ", release " << t.release_at_ms << "}";
}
void PrintTo(Code code, std::ostream* os) { *os << CodeName(code); }
}  // namespace plume::ledger

namespace plume::ledger::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                         ? std::filesystem::path("/dev/shm")
                                         : std::filesystem::temp_directory_path();
  path_ =
      base / ("plume-ledger-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Cast::Cast(int team_count, int agent_count) {
  for (int i = 0; i < team_count; ++i) teams.push_back(Identity::Generate());
  for (int i = 0; i < agent_count; ++i) agents.push_back(Identity::Generate());
  id = LedgerIdOf(LogHeader{ledger.public_key(), operator_id.public_key(), nonce});
}

LedgerOptions Cast::options() const {
  LedgerOptions options;
  options.genesis_nonce = nonce;
  return options;
}

Entry Signed(const LedgerId& ledger, Entry e, const Identity& signer) {
  e.signatures.push_back(SignEntry(e, ledger, signer));
  return e;
}

Entry Signed(const LedgerId& ledger, Entry e, const Identity& a, const Identity& b) {
  e.signatures.push_back(SignEntry(e, ledger, a));
  e.signatures.push_back(SignEntry(e, ledger, b));
  return e;
}

TaskReceipt MakeSignedReceipt(const LedgerId& ledger, const std::string& job,
                              const std::string& task, const Identity& agent,
                              const Identity& scheduler, uint64_t flops, uint64_t price,
                              uint32_t fee_bps) {
  TaskReceipt r;
  r.job_id = job;
  r.task_id = task;
  r.attempt = 1;
  r.input_hashes = {Blake2b256("input-a"), Blake2b256("input-b")};
  r.output_hash = Blake2b256("output");
  r.flops = flops;
  r.device = "NVIDIA H100 80GB HBM3";
  r.kernel_build = "plume-kernels test";
  r.start_unix_ms = 1'700'000'000'000;
  r.end_unix_ms = 1'700'000'060'000;
  r.agent = agent.public_key();
  r.agent_signature = SignAsAgent(r, ledger, agent);
  r.price_micro_plume_per_pflop = price;
  r.fee_bps = fee_bps;
  r.scheduler_signature = Countersign(r, ledger, scheduler);
  return r;
}

std::vector<Entry> Genesis(const Cast& cast, MicroPlume each) {
  std::vector<Entry> out;
  for (size_t i = 0; i < cast.teams.size(); ++i) {
    out.push_back(Signed(cast.id, MakeOpenAccount("open-team-" + std::to_string(i), cast.team(i)),
                         cast.teams[i]));
    if (each.value() == 0) continue;  // a mint of nothing is malformed
    out.push_back(Signed(cast.id, MakeMint("mint-team-" + std::to_string(i), cast.team(i), each),
                         cast.operator_id));
  }
  for (size_t i = 0; i < cast.agents.size(); ++i) {
    out.push_back(Signed(cast.id,
                         MakeOpenAccount("open-provider-" + std::to_string(i), cast.provider(i)),
                         cast.ledger));
  }
  return out;
}

std::vector<Code> AppendCodes(Ledger& ledger, const std::vector<Entry>& entries) {
  auto results = ledger.Append(entries);
  EXPECT_TRUE(results.has_value()) << (results ? "" : results.error().message);
  std::vector<Code> codes;
  if (results) {
    for (const ApplyResult& r : *results) codes.push_back(r.code);
  }
  return codes;
}

std::vector<uint8_t> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

}  // namespace plume::ledger::test
