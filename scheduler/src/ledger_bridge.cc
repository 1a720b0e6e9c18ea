// The scheduler's side of the ledger (see ledger_bridge.h).
#include "plume/scheduler/ledger_bridge.h"

#include "ledger_bridge_paths.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <system_error>

#include "plume/ledger/data_entries.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/query.h"
#include "plume/protocol/file_util.h"
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
  bridge->FindUnbonding();
  // The history index, here rather than at the first history query: that query would read the
  // whole log on the reactor thread, and any key may ask.
  if (auto st = bridge->IndexHistory(); !st) {
    return Fail("ledger " + dir.string() + ": indexing its history: " + st.error().message);
  }
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

LedgerBridge::LedgerBridge(Identity identity)
    : identity_(std::move(identity)), now_unix_ms_([] {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
      }) {}

LedgerBridge::~LedgerBridge() {
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
}

Result<DrainResult> LedgerBridge::DrainInbox() {
  auto drained = scheduler::DrainInbox(dir_, *ledger_, identity_);
  if (drained && (drained->applied > 0 || drained->refused > 0)) {
    spdlog::info("ledger inbox: {} applied, {} refused", drained->applied, drained->refused);
  }
  if (drained && !drained->stake_agents.empty()) {
    std::lock_guard lock(stake_mu_);
    stake_changed_.insert(drained->stake_agents.begin(), drained->stake_agents.end());
    unbonding_agents_.insert(drained->stake_agents.begin(), drained->stake_agents.end());
  }
  return drained;
}

void LedgerBridge::NoteStakeChange(const ledger::Entry& entry) {
  std::lock_guard lock(stake_mu_);
  for (const std::string* account : {&entry.from, &entry.to}) {
    if (std::string agent = StakeAgentOf(*account); !agent.empty()) {
      stake_changed_.insert(agent);
      unbonding_agents_.insert(agent);  // WithdrawMatured drops it again if it has no tranches
    }
  }
}

std::vector<std::string> LedgerBridge::TakeStakeChanges() {
  std::lock_guard lock(stake_mu_);
  std::vector<std::string> out(stake_changed_.begin(), stake_changed_.end());
  stake_changed_.clear();
  return out;
}

LedgerBridge::Stake LedgerBridge::StakeOf(const PublicKey& agent) const {
  const std::string hex = ToHex(agent);
  Stake s;
  s.staked = ledger_->Balance("stake:" + hex).value_or(ledger::MicroPlume(0)).value();
  s.unbonding = ledger_->Balance("unbond:" + hex).value_or(ledger::MicroPlume(0)).value();
  return s;
}

Status LedgerBridge::OpenIfNeeded(const std::string& account) {
  const bool ownable = account.starts_with("team:") || account.starts_with("provider:");
  if (!ownable || ledger_->Balance(account) || !ledger::AccountNameProblem(account).empty()) {
    return {};
  }
  ledger::Entry open = ledger::MakeOpenAccount(OpenAccountId(account), account);
  open.signatures.push_back(ledger::SignEntry(open, ledger_->keys().ledger_id, identity_));
  // kAccountExists: the inbox thread opened it meanwhile, which is as good.
  auto opened = ledger_->Append(std::span<const ledger::Entry>(&open, 1));
  if (!opened) return tl::unexpected(opened.error());
  return {};
}

namespace {
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
  // The submit is acknowledged once the turn commits: the signature must be on disk by then, or a
  // power cut would leave an acknowledged job whose hold is refused as unsigned.
  if (auto st = CreateDirsDurably(dir_ / "holds"); !st) return st;
  return WriteFileDurably(SigPath(dir_, job), std::span<const uint8_t>(signature));
}

Status LedgerBridge::CheckHeldBefore(const LedgerOp& op, const std::string& team) const {
  const auto hold = ledger_->Hold(op.job);
  if (!hold) return Fail("the ledger has " + op.id + " but no hold for the job");
  if (hold->closed) {
    return Fail("the ledger's escrow hold for " + op.job + " was closed before (" +
                std::to_string(hold->paid.value()) + " micro-PLUME paid, " +
                std::to_string(hold->released.value()) + " released); a job cannot run on a " +
                "closed hold: submit it again with a new client job key");
  }
  if (hold->team != team || hold->held.value() != op.amount_micro_plume) {
    return Fail("the ledger's escrow hold for " + op.job + " is " +
                std::to_string(hold->held.value()) + " micro-PLUME from another account or of " +
                "another amount than this job's " + std::to_string(op.amount_micro_plume));
  }
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
  if (code == ledger::Code::kIdExists) {
    // The hold was appended before: a re-sent request after a restart, or a resubmit over a
    // ledger that outlived the database. Only an open hold of this amount is the job's escrow.
    if (auto st = CheckHeldBefore(op, team); !st) {
      refusal = st.error().message;
      spdlog::warn("job={} entry={} refused: {}", op.job, op.id, refusal);
      return false;
    }
  }
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

Result<bool> LedgerBridge::KeepSettle(const SettleReceipt& s) {
  ledger::TaskReceipt r;
  r.job_id = s.job;
  r.task_id = std::to_string(s.task_wire_id);
  r.attempt = s.attempt;
  for (const std::string& h : s.input_hashes) {
    Hash256 hash{};
    if (!CopyBytes(h, hash)) {
      spdlog::warn("job={} task={}: an input hash is not 32 bytes; the task is not paid", s.job,
                   s.task);
      return false;
    }
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
    spdlog::warn("job={} task={}: output hash or agent key has the wrong size; the task is not "
                 "paid", s.job, s.task);
    return false;
  }
  if (!CopyBytes(s.agent_signature, r.agent_signature)) {
    spdlog::warn("job={} task={}: the agent signed no ledger receipt; the task is not paid",
                 s.job, s.task);
    return false;
  }
  // The FLOPs are the scheduler's: a receipt the agent signed with another number (or any other
  // field) does not verify and is not paid.
  if (!ledger::VerifyAgentSignature(r, ledger_->keys().ledger_id)) {
    spdlog::warn("job={} task={}: the agent's ledger receipt signature does not verify over the "
                 "scheduler's facts (FLOPs {}, inputs, output); the task is not paid",
                 s.job, s.task, s.flops);
    return false;
  }
  if (const std::string why = ledger::ReceiptShapeProblem(r); !why.empty()) {
    spdlog::warn("job={} task={}: ledger receipt refused ({}); the task is not paid", s.job,
                 s.task, why);
    return false;
  }
  r.scheduler_signature = ledger::Countersign(r, ledger_->keys().ledger_id, identity_);
  std::vector<ledger::RoyaltyPart> royalties;
  if (!s.royalty_dataset.empty()) {
    // The terms as the ledger has them (they never change): the ledger recomputes the same leg.
    const auto dataset = ledger_->Dataset(s.royalty_dataset);
    auto part = dataset ? ledger::MakeRoyaltyPart(dataset->terms, s.royalty_tokens) : std::nullopt;
    if (part) {
      royalties.push_back(std::move(*part));
    } else {
      spdlog::warn("job={} task={}: no royalty for dataset {} ({} tokens): {}", s.job, s.task,
                   s.royalty_dataset, s.royalty_tokens,
                   dataset ? "it rounds to 0" : "not in the ledger");
    }
  }
  ledger::Entry settle = ledger::MakeRoyaltySettle("settle:" + s.task, r, royalties);
  settle.signatures.push_back(ledger::SignEntry(settle, ledger_->keys().ledger_id, identity_));
  const std::vector<uint8_t> bytes = ledger::Encode(settle);
  // The result is acknowledged (and the agent forgets it) once the turn commits, so the only
  // copy of what pays the provider must be durable before the result is recorded.
  if (auto st = CreateDirsDurably(dir_ / "settles"); !st) return tl::unexpected(st.error());
  if (auto st = WriteFileDurably(SettlePath(dir_, s.task), bytes); !st) {
    return tl::unexpected(st.error());
  }
  spdlog::info("job={} task={} receipt={} entry={}: receipt verified and countersigned", s.job,
               s.task, ledger::ReceiptKey(r), settle.id);
  return true;
}

Result<bool> LedgerBridge::Settle(const LedgerOp& op, std::string& refusal) {
  const std::filesystem::path path = SettlePath(dir_, op.task);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return SettleWithoutFile(op, refusal);
  auto bytes = ReadFileBytes(path);
  if (!bytes) return tl::unexpected(bytes.error());  // unreadable now: retried, not dropped
  auto settle = ledger::Decode(*bytes);
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
    // Removed only once applied; a crash before the outbox forgets the request leaves either the
    // file (re-appended: kIdExists) or the ledger entry (SettleWithoutFile finds it).
    std::filesystem::remove(path, ec);
    return true;
  }
  refusal = "settle refused: " + std::string(ledger::CodeName(code));
  return false;
}

Result<bool> LedgerBridge::SettleWithoutFile(const LedgerOp& op, std::string& refusal) {
  // The file goes only after the ledger applied the settle. Without it, the ledger alone can say
  // whether the provider was paid: a lost file must not pass for a payment.
  if (ledger_->IndexOf(op.id)) {
    spdlog::info("job={} task={} entry={}: already in the ledger", op.job, op.task, op.id);
    return true;
  }
  refusal = "the kept settle entry " + SettlePath(dir_, op.task).string() +
            " is missing and the ledger has no " + op.id +
            ": the provider is NOT paid (was the data directory restored or damaged?)";
  spdlog::error("job={} task={} entry={}: {}", op.job, op.task, op.id, refusal);
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
    case LedgerOpKind::kSlash:
      return Slash(op, refusal);
    case LedgerOpKind::kCheckpoint:
      return Checkpoint(op, refusal);
    case LedgerOpKind::kVerdict:
      return Verdict(op, refusal);
    case LedgerOpKind::kReceipt:
      return Receipt(op, refusal);
  }
  refusal = "unknown ledger request";
  return false;
}

}  // namespace plume::scheduler
