// The scheduler's side of the ledger (see ledger_bridge.h).
#include "plume/scheduler/ledger_bridge.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <iterator>
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
// Task ids hold '/' (core ids): name the file by the id's hash.
std::filesystem::path SettlePath(const std::filesystem::path& dir, const std::string& task) {
  return dir / "settles" / (ToHex(Blake2b256(task)).substr(0, 32) + ".entry");
}

template <typename T>
bool CopyBytes(const std::string& from, T& to) {
  if (from.size() != to.size()) return false;
  std::copy(from.begin(), from.end(), reinterpret_cast<char*>(to.data()));
  return true;
}

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
  release.signatures.push_back(ledger::SignEntry(release, ledger_->keys().ledger_id, identity_));
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

Status LedgerBridge::KeepSettle(const SettleReceipt& s) {
  ledger::TaskReceipt r;
  r.job_id = s.job;
  r.task_id = std::to_string(s.task_wire_id);
  r.attempt = s.attempt;
  for (const std::string& h : s.input_hashes) {
    Hash256 hash{};
    if (!CopyBytes(h, hash)) return Fail("task " + s.task + ": an input hash is not 32 bytes");
    r.input_hashes.push_back(hash);
  }
  r.flops = s.flops;
  r.device = s.device;
  r.kernel_build = s.kernel_build;
  r.start_unix_ms = s.start_unix_ms;
  r.end_unix_ms = s.end_unix_ms;
  r.price_micro_plume_per_pflop =
      static_cast<uint64_t>(std::max<int64_t>(0, s.price_micro_plume_per_pflop));
  r.fee_bps = s.fee_bps;
  if (!CopyBytes(s.output_hash, r.output_hash) || !CopyBytes(s.agent, r.agent)) {
    return Fail("task " + s.task + ": output hash or agent key has the wrong size");
  }
  if (!CopyBytes(s.agent_signature, r.agent_signature)) {
    spdlog::warn("job={} task={}: the agent signed no ledger receipt; the task is not paid",
                 s.job, s.task);
    return {};
  }
  // The FLOPs are the scheduler's: a receipt the agent signed with another number (or any other
  // field) does not verify and is not paid.
  if (!ledger::VerifyAgentSignature(r, ledger_->keys().ledger_id)) {
    spdlog::warn("job={} task={}: the agent's ledger receipt signature does not verify over the "
                 "scheduler's facts (FLOPs {}, inputs, output); the task is not paid",
                 s.job, s.task, s.flops);
    return {};
  }
  if (const std::string why = ledger::ReceiptShapeProblem(r); !why.empty()) {
    spdlog::warn("job={} task={}: ledger receipt refused ({}); the task is not paid", s.job,
                 s.task, why);
    return {};
  }
  r.scheduler_signature = ledger::Countersign(r, ledger_->keys().ledger_id, identity_);
  ledger::Entry settle = ledger::MakeSettle("settle:" + s.task, r);
  settle.signatures.push_back(ledger::SignEntry(settle, ledger_->keys().ledger_id, identity_));
  const std::vector<uint8_t> bytes = ledger::Encode(settle);
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "settles", ec);
  if (ec) return Fail("cannot create " + (dir_ / "settles").string() + ": " + ec.message());
  const std::filesystem::path path = SettlePath(dir_, s.task);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return Fail("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Fail("cannot rename " + tmp.string() + ": " + ec.message());
  spdlog::info("job={} task={} receipt={} entry={}: receipt verified and countersigned", s.job,
               s.task, ledger::ReceiptKey(r), settle.id);
  return {};
}

Result<bool> LedgerBridge::Settle(const LedgerOp& op, std::string& refusal) {
  const std::filesystem::path path = SettlePath(dir_, op.task);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    spdlog::info("job={} task={} entry={}: no verified ledger receipt kept; nothing paid", op.job,
                 op.task, op.id);
    return true;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  auto settle = ledger::Decode(bytes);
  if (!settle || !settle->receipt || settle->id != op.id) {
    refusal = "kept settle " + path.string() + " is unreadable or for another request";
    return false;
  }
  // The core's record decides: the kept receipt must be for the attempt it accepted, with the
  // FLOPs it computed.
  if (settle->receipt->attempt != op.attempt || settle->receipt->flops != op.flops) {
    refusal = "kept receipt (attempt " + std::to_string(settle->receipt->attempt) + ", FLOPs " +
              std::to_string(settle->receipt->flops) + ") differs from the accepted result " +
              "(attempt " + std::to_string(op.attempt) + ", FLOPs " + std::to_string(op.flops) +
              ")";
    return false;
  }
  // A provider's first payment opens its account (ledger key, like the inbox's opens for mints).
  std::vector<ledger::Entry> entries;
  const std::string provider = ledger::ProviderAccount(settle->receipt->agent);
  if (!ledger_->Balance(provider)) {
    entries.push_back(ledger::MakeOpenAccount(OpenAccountId(provider), provider));
    entries.back().signatures.push_back(
        ledger::SignEntry(entries.back(), ledger_->keys().ledger_id, identity_));
  }
  entries.push_back(*settle);
  auto answers = ledger_->Append(entries);
  if (!answers) return tl::unexpected(answers.error());
  answers->erase(answers->begin(), answers->end() - 1);  // the settle's answer
  const ledger::Code code = answers->front().code;
  // Applied before (a re-sent settle after a restart): the same entry, paid once.
  if (code == ledger::Code::kOk || code == ledger::Code::kIdExists ||
      code == ledger::Code::kDuplicateReceipt) {
    if (code == ledger::Code::kOk) {
      spdlog::info("job={} task={} entry={} settled: {} FLOPs at {} micro-PLUME/PFLOP (#{})",
                   op.job, op.task, op.id, settle->receipt->flops,
                   settle->receipt->price_micro_plume_per_pflop, answers->front().index);
    }
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return true;
  }
  refusal = "settle refused: " + std::string(ledger::CodeName(code));
  return false;
}

Result<bool> LedgerBridge::Apply(const LedgerOp& op, std::string& refusal) {
  // A mint queued just before a submit must count for that submit's hold.
  if (auto drained = DrainInbox(); !drained) return tl::unexpected(drained.error());
  switch (op.kind) {
    case LedgerOpKind::kHold:
      return Hold(op, refusal);
    case LedgerOpKind::kSettle:
      return Settle(op, refusal);
    case LedgerOpKind::kRelease:
      return Release(op, refusal);
  }
  refusal = "unknown ledger request";
  return false;
}

}  // namespace plume::scheduler
