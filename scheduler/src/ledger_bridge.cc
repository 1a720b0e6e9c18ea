// The scheduler's side of the ledger (see ledger_bridge.h).
#include "plume/scheduler/ledger_bridge.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <system_error>

#include "plume/ledger/entry.h"
#include "plume/ledger/query.h"
#include "plume/protocol/hash.h"

namespace plume::scheduler {

Result<std::unique_ptr<LedgerBridge>> LedgerBridge::Open(const std::filesystem::path& dir,
                                                         const Identity& scheduler,
                                                         const PublicKey& operator_key,
                                                         std::chrono::milliseconds inbox_poll) {
  auto ledger = ledger::Ledger::Open(dir, scheduler, operator_key);
  if (!ledger) return Fail("ledger " + dir.string() + ": " + ledger.error().message);
  std::unique_ptr<LedgerBridge> bridge(new LedgerBridge(scheduler));
  bridge->dir_ = dir;
  bridge->ledger_ = std::move(*ledger);
  if (inbox_poll.count() > 0) {
    LedgerBridge* b = bridge.get();
    bridge->poller_ = std::thread([b, inbox_poll] {
      while (!b->stop_.load()) {
        if (auto d = b->DrainInbox(); !d) spdlog::warn("ledger inbox: {}", d.error().message);
        std::this_thread::sleep_for(inbox_poll);
      }
    });
  }
  return bridge;
}

LedgerBridge::~LedgerBridge() {
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
}

Result<DrainResult> LedgerBridge::DrainInbox() {
  auto drained = scheduler::DrainInbox(dir_, *ledger_, identity_);
  if (drained && (drained->applied > 0 || drained->refused > 0)) {
    spdlog::info("ledger inbox: {} applied, {} refused", drained->applied, drained->refused);
  }
  return drained;
}

namespace {
std::filesystem::path SigPath(const std::filesystem::path& dir, const std::string& job) {
  return dir / "holds" / (job + ".sig");
}
}  // namespace

std::string JobIdFor(const std::string& owner_hex, const std::string& client_job_key) {
  return "job-" + ToHex(Blake2b256(owner_hex + "/" + client_job_key)).substr(0, 16);
}

ledger::Entry EscrowHoldEntry(const std::string& job, const PublicKey& team,
                              int64_t amount_micro_plume) {
  return ledger::MakeEscrowHold("hold:" + job, ledger::TeamAccount(team), job,
                                ledger::MicroPlume(amount_micro_plume));
}

Status LedgerBridge::RememberHoldSignature(const std::string& job, const Signature& signature) {
  // Job ids are "job-" + hex (reactor), so they are safe as file names; refuse anything else.
  if (job.empty() || job.find_first_of("/\\.") != std::string::npos) {
    return Fail("job id '" + job + "' is not a file name");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "holds", ec);
  if (ec) return Fail("cannot create " + (dir_ / "holds").string() + ": " + ec.message());
  const std::filesystem::path path = SigPath(dir_, job);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(signature.data()), signature.size());
    if (!out.flush()) return Fail("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Fail("cannot rename " + tmp.string() + ": " + ec.message());
  return {};
}

Result<bool> LedgerBridge::Hold(const LedgerOp& op, std::string& refusal) {
  auto key = PublicKeyFromHex(op.owner);
  if (!key) {
    refusal = "job owner " + op.owner + " is not a key id";
    return false;
  }
  const std::string team = ledger::TeamAccount(*key);
  ledger::Entry hold = EscrowHoldEntry(op.job, *key, op.amount_micro_plume);
  std::ifstream in(SigPath(dir_, op.job), std::ios::binary);
  Signature sig{};
  if (!in.read(reinterpret_cast<char*>(sig.data()), sig.size())) {
    refusal = "the submit carried no escrow hold signature (use a plume CLI that signs one)";
    return false;
  }
  hold.signatures.push_back(ledger::Endorsement{*key, sig});
  auto answers = ledger_->Append(std::span<const ledger::Entry>(&hold, 1));
  if (!answers) return tl::unexpected(answers.error());
  const ledger::Code code = answers->front().code;
  if (code == ledger::Code::kOk || code == ledger::Code::kIdExists) {
    spdlog::info("job={} entry={} escrow hold of {} micro-PLUME from {} (#{})", op.job, op.id,
                 op.amount_micro_plume, team.substr(0, 21), answers->front().index);
    return true;
  }
  const int64_t have = ledger_->Balance(team).value_or(ledger::MicroPlume(0)).value();
  if (code == ledger::Code::kInsufficientBalance || code == ledger::Code::kUnknownAccount) {
    refusal = "insufficient balance: " + team.substr(0, 21) + ".. has " + std::to_string(have) +
              " micro-PLUME, the job's escrow needs " + std::to_string(op.amount_micro_plume) +
              " (ask the operator: plume ledger mint --to " + team + ")";
  } else if (code == ledger::Code::kBadSignature) {
    refusal = "the escrow hold signature does not match this job's hold (job id or amount)";
  } else {
    refusal = "escrow hold refused: " + std::string(ledger::CodeName(code));
  }
  spdlog::warn("job={} entry={} refused: {}", op.job, op.id, refusal);
  return false;
}

Result<bool> LedgerBridge::Release(const LedgerOp& op, std::string& refusal) {
  auto key = PublicKeyFromHex(op.owner);
  if (!key) {
    refusal = "job owner " + op.owner + " is not a key id";
    return false;
  }
  ledger::Entry release = ledger::MakeRelease(op.id, op.job, ledger::TeamAccount(*key));
  release.signatures.push_back(ledger::SignEntry(release, identity_));
  auto answers = ledger_->Append(std::span<const ledger::Entry>(&release, 1));
  if (!answers) return tl::unexpected(answers.error());
  const ledger::Code code = answers->front().code;
  // A job whose hold was refused has nothing to release; a closed hold was released before.
  if (code == ledger::Code::kOk || code == ledger::Code::kIdExists ||
      code == ledger::Code::kUnknownHold || code == ledger::Code::kHoldClosed) {
    if (code == ledger::Code::kOk) {
      spdlog::info("job={} entry={} escrow released (#{})", op.job, op.id, answers->front().index);
    }
    std::error_code ec;
    std::filesystem::remove(SigPath(dir_, op.job), ec);
    return true;
  }
  refusal = "release refused: " + std::string(ledger::CodeName(code));
  return false;
}

Result<bool> LedgerBridge::Apply(const LedgerOp& op, std::string& refusal) {
  // A mint queued just before a submit must count for that submit's hold.
  if (auto drained = DrainInbox(); !drained) return tl::unexpected(drained.error());
  switch (op.kind) {
    case LedgerOpKind::kHold:
      return Hold(op, refusal);
    case LedgerOpKind::kSettle:
      spdlog::debug("job={} task={} entry={} not settled in the ledger (no ledger-form receipt)",
                    op.job, op.task, op.id);
      return true;
    case LedgerOpKind::kRelease:
      return Release(op, refusal);
  }
  refusal = "unknown ledger request";
  return false;
}

}  // namespace plume::scheduler
