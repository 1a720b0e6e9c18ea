// Entries a client signs and the scheduler appends (ledger_bridge.h AppendSubmitted;
// docs/protocol.md "Ledger", "Submit"): the operator's mints, transfers between spendable
// accounts, and a provider's stake and unstake. The scheduler adds nothing but, for an unstake,
// the ledger key's signature over a release time it has checked: every other rule (who must
// sign, balances, ids applied once) is the ledger's own, so a forged or replayed entry is refused
// here exactly as it would be from the inbox.
//
// Order of checks, so that a refusal changes nothing: size and decoding, the type, the unstake's
// release time, ledger::Authorize (shape and signatures), a publish's limit (the operator's, not
// the ledger's: data/publish_limit.h), the debited balance; only then the credited account is
// opened (when new) and the entry appended.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <span>

#include "plume/data/terms.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/limits.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/ledger_bridge.h"
#include "plume/scheduler/ledger_wire.h"

namespace plume::scheduler {
namespace {

using Body = wire::Envelope::Body;

// Data owners' entries (ledger/data_entries.h): signed by the owner, they move no money, so
// there is no debited balance to check or credited account to open here.
bool MovesNothing(ledger::EntryType t) {
  return t == ledger::EntryType::kDatasetPublish || t == ledger::EntryType::kDatasetRevoke ||
         t == ledger::EntryType::kDataAccess;
}

void SetError(Body::Builder reply, wire::ErrorCode code, const std::string& why) {
  auto e = reply.initError();
  e.setCode(code);
  e.setMessage(why);
}

// How a ledger refusal reads to a client: its own fault (bad input) or a state it can change.
wire::ErrorCode ErrorFor(ledger::Code code) {
  switch (code) {
    case ledger::Code::kBadSignature:
    case ledger::Code::kBadReceipt:
      return wire::ErrorCode::UNAUTHORIZED;
    case ledger::Code::kInvalid:
      return wire::ErrorCode::BAD_MESSAGE;
    case ledger::Code::kInsufficientBalance:
      return wire::ErrorCode::INSUFFICIENT_FUNDS;
    case ledger::Code::kUnknownAccount:
    case ledger::Code::kUnknownHold:
      return wire::ErrorCode::NOT_FOUND;
    default:
      return wire::ErrorCode::CONFLICT;
  }
}

bool Submittable(ledger::EntryType t) {
  return t == ledger::EntryType::kMint || t == ledger::EntryType::kTransfer ||
         t == ledger::EntryType::kStake || t == ledger::EntryType::kUnstake || MovesNothing(t);
}

// What the client can do about a refusal, beyond the ledger's code.
std::string Hint(const ledger::Entry& e, ledger::Code code) {
  switch (code) {
    case ledger::Code::kBadSignature:
      if (e.type == ledger::EntryType::kMint) {
        return " (a mint must be signed by the operator key the scheduler was started with, "
               "--operator-id)";
      }
      if (e.type == ledger::EntryType::kTransfer) {
        return " (a transfer must be signed by the key that owns " + e.from.substr(0, 80) + ")";
      }
      return " (stake and unstake must be signed by the provider's own key: --key of the "
             "agent's key file)";
    case ledger::Code::kInsufficientBalance:
      return " (" + e.from.substr(0, 80) + " has less than " + std::to_string(e.amount.value()) +
             " micro-PLUME)";
    case ledger::Code::kUnknownAccount:
      return " (" + e.from.substr(0, 80) + " was never opened or credited)";
    case ledger::Code::kIdConflict:
      return " (this id was used before for another entry: choose another --id)";
    default:
      return "";
  }
}

bool SignedBy(const ledger::Entry& e, const PublicKey& key, const ledger::LedgerId& ledger) {
  const std::vector<uint8_t> bytes = ledger::SigningBytes(e, ledger);
  return std::any_of(e.signatures.begin(), e.signatures.end(), [&](const ledger::Endorsement& s) {
    return s.signer == key && VerifySignature(key, bytes, s.signature);
  });
}

}  // namespace

Result<ledger::ApplyResult> LedgerBridge::AppendSubmitted(ledger::Entry e, std::string& why) {
  using ledger::Code;
  if (!Submittable(e.type)) {
    why = "a " + std::string(ledger::EntryTypeName(e.type)) +
          " entry cannot be submitted: only mint, transfer, stake, unstake and data owners' "
          "dataset_publish, dataset_revoke and data_access travel this way";
    return ledger::ApplyResult{Code::kInvalid};
  }
  // A retry of an applied id is answered by the ledger (kIdExists, or kIdConflict for other
  // contents), whatever the time: nothing new is checked, opened or vouched for then.
  const bool known = ledger_->IndexOf(e.id).has_value();
  if (e.type == ledger::EntryType::kUnstake) {
    // The provider signed the release time; this side only vouches for it (ledger key) when it
    // keeps the stake slashable for the whole unbonding period from now.
    const uint64_t now = NowUnixMs();
    const uint64_t earliest = now + static_cast<uint64_t>(std::max<int64_t>(0, unbonding_ms_));
    const uint64_t latest = earliest + static_cast<uint64_t>(kUnstakeSkewMs);
    if (!known && (e.at_ms < earliest || e.at_ms > latest)) {
      why = "the unstake's release time " + std::to_string(e.at_ms) + " must lie in [" +
            std::to_string(earliest) + ", " + std::to_string(latest) +
            "] (now + the unbonding period of " + std::to_string(unbonding_ms_) +
            " ms, plus at most " + std::to_string(kUnstakeSkewMs) +
            " ms): ask stakeTerms again and sign the time it gives";
      return ledger::ApplyResult{Code::kInvalid};
    }
    // The provider's own signature first: the ledger key vouches only for what k signed.
    const auto agent = ledger::AccountKey(e.from);
    if (!agent || !e.from.starts_with("stake:")) return ledger::ApplyResult{Code::kInvalid};
    if (!SignedBy(e, *agent, ledger_->keys().ledger_id)) {
      why = Hint(e, Code::kBadSignature);
      return ledger::ApplyResult{Code::kBadSignature};
    }
    e.signatures.push_back(ledger::SignEntry(e, ledger_->keys().ledger_id, identity_));
  }
  if (const Code c = ledger::Authorize(e, ledger_->keys()); c != Code::kOk) {
    why = Hint(e, c);
    return ledger::ApplyResult{c};
  }
  if (!known && e.type == ledger::EntryType::kDatasetPublish) {
    if (std::string refusal = PublishRefusal(e); !refusal.empty()) {
      why = ": refused by this scheduler's publish limit: " + refusal;
      return ledger::ApplyResult{Code::kInvalid};
    }
  }
  if (!known && !MovesNothing(e.type)) {
    const auto have = ledger_->Balance(e.from);
    if (e.type != ledger::EntryType::kMint && (!have || *have < e.amount)) {
      const Code c = have ? Code::kInsufficientBalance : Code::kUnknownAccount;
      why = Hint(e, c);
      return ledger::ApplyResult{c};
    }
    if (auto st = OpenIfNeeded(e.to); !st) return tl::unexpected(st.error());
  }
  auto answers = ledger_->Append(std::span<const ledger::Entry>(&e, 1));
  if (!answers) return tl::unexpected(answers.error());
  const ledger::ApplyResult answer = answers->front();
  if (answer.code == Code::kOk) NoteStakeChange(e);
  if (answer.code != Code::kOk && answer.code != Code::kIdExists) why = Hint(e, answer.code);
  return answer;
}

// Read from the ledger as it stands before the entry, so a third party with the operator's two
// flag values recounts the same decision (data/publish_limit.h).
std::string LedgerBridge::PublishRefusal(const ledger::Entry& publish) const {
  auto terms = data::DecodeTerms(publish.body);  // Authorize decoded it: this is a backstop
  if (!terms) return "the terms do not decode";
  const data::Publisher publisher{
      ledger_->DatasetsPublishedBy(terms->owner),
      ledger_->Balance(ledger::RoyaltyAccount(terms->owner)).value_or(ledger::MicroPlume(0)).value()};
  return data::PublishRefusal(publish_limits_, publisher);
}

Result<ledger::ApplyResult> LedgerBridge::AppendMint(const ledger::Entry& mint) {
  if (mint.type != ledger::EntryType::kMint) return ledger::ApplyResult{ledger::Code::kInvalid};
  std::string why;
  return AppendSubmitted(mint, why);
}

void LedgerBridge::AnswerSubmit(capnp::Data::Reader bytes, bool mint_only, Body::Builder reply) {
  const char* message = mint_only ? "LedgerMint" : "LedgerSubmit";
  if (bytes.size() > ledger::kRecordBytesMax) {
    return SetError(reply, wire::ErrorCode::TOO_LARGE,
                    std::string(message) + ".entry is " + std::to_string(bytes.size()) +
                        " bytes; a ledger entry is at most " +
                        std::to_string(ledger::kRecordBytesMax));
  }
  auto entry = ledger::Decode(std::span<const uint8_t>(bytes.begin(), bytes.size()));
  if (!entry) {
    return SetError(reply, wire::ErrorCode::BAD_MESSAGE,
                    std::string(message) + ".entry is not a ledger entry: " +
                        entry.error().message);
  }
  if (mint_only && entry->type != ledger::EntryType::kMint) {
    return SetError(reply, wire::ErrorCode::BAD_MESSAGE,
                    "LedgerMint carries a " + std::string(ledger::EntryTypeName(entry->type)) +
                        " entry; only mints travel this way (send other entries as LedgerSubmit)");
  }
  const std::string type(ledger::EntryTypeName(entry->type));
  std::string why;
  auto applied = AppendSubmitted(*entry, why);
  if (!applied) {
    spdlog::error("entry={} {} not written: {}", entry->id, type, applied.error().message);
    return SetError(reply, wire::ErrorCode::INTERNAL,
                    "the ledger cannot be written now (" + applied.error().message +
                        "); nothing was applied: retry with the same id later");
  }
  const ledger::Code code = applied->code;
  if (code != ledger::Code::kOk && code != ledger::Code::kIdExists) {
    spdlog::warn("entry={} {} refused: {}{}", entry->id, type, ledger::CodeName(code), why);
    return SetError(reply, ErrorFor(code),
                    "the ledger refused " + entry->id.substr(0, 64) + " (" + type +
                        "): " + std::string(ledger::CodeName(code)) + why);
  }
  if (code == ledger::Code::kOk) {
    spdlog::info("entry={} {} of {} micro-PLUME {} -> {} (#{}), over the protocol", entry->id,
                 type, entry->amount.value(), entry->from, entry->to, applied->index);
  }
  auto r = reply.initLedgerReply();
  WriteHead(ledger_->Head(), ledger_->keys().ledger_id, r.initHead());
  auto a = r.initApplied();
  a.setEntryId(entry->id);
  a.setIndex(applied->index);
  a.setRepeated(code == ledger::Code::kIdExists);
}

}  // namespace plume::scheduler
