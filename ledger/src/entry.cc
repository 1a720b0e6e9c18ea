// Entry constructors, canonical encoding and account names (see entry.h).
#include "plume/ledger/entry.h"

#include <cctype>

#include "plume/ledger/gov.h"
#include "plume/ledger/limits.h"
#include "plume/protocol/codec.h"
#include "plume/protocol/hash.h"
#include "receipt_codec.h"

namespace plume::ledger {
namespace {
// v3: entries gained at_ms, legs and memo; v4: a typed body. All under the signature.
constexpr std::string_view kEntryDomain = "plume-ledger-entry-v4";
constexpr std::string_view kTeamPrefix = "team:";
constexpr std::string_view kProviderPrefix = "provider:";
constexpr std::string_view kStakePrefix = "stake:";
constexpr std::string_view kUnbondPrefix = "unbond:";
constexpr std::string_view kEscrowPrefix = "escrow:";
constexpr uint8_t kLegKindLast = static_cast<uint8_t>(LegKind::kRoyalty);

// Everything but the signatures, in struct order.
void PutBody(const Entry& e, std::vector<uint8_t>& out) {
  protocol::codec::PutU8(out, static_cast<uint8_t>(e.type));
  protocol::codec::PutString(out, e.id);
  protocol::codec::PutString(out, e.from);
  protocol::codec::PutString(out, e.to);
  protocol::codec::PutU64(out, static_cast<uint64_t>(e.amount.value()));
  protocol::codec::PutString(out, e.job);
  protocol::codec::PutU8(out, e.receipt ? 1 : 0);
  if (e.receipt) PutReceipt(*e.receipt, out);
  protocol::codec::PutU64(out, e.at_ms);
  protocol::codec::PutU32(out, static_cast<uint32_t>(e.legs.size()));
  for (const Leg& leg : e.legs) {
    protocol::codec::PutU8(out, static_cast<uint8_t>(leg.kind));
    protocol::codec::PutString(out, leg.account);
    protocol::codec::PutU64(out, static_cast<uint64_t>(leg.amount.value()));
  }
  protocol::codec::PutString(out, e.memo);
  protocol::codec::PutBytes(out, e.body);
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsPrintableId(std::string_view s) {
  for (char c : s) {
    if (!std::isprint(static_cast<unsigned char>(c))) return false;
  }
  return true;
}
Entry Shaped(EntryType type, std::string id, std::string from, std::string to, MicroPlume amount,
             std::string job) {
  Entry e;
  e.type = type;
  e.id = std::move(id);
  e.from = std::move(from);
  e.to = std::move(to);
  e.amount = amount;
  e.job = std::move(job);
  return e;
}
}  // namespace

std::string_view EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kOpenAccount:
      return "open_account";
    case EntryType::kMint:
      return "mint";
    case EntryType::kTransfer:
      return "transfer";
    case EntryType::kEscrowHold:
      return "escrow_hold";
    case EntryType::kSettle:
      return "settle";
    case EntryType::kRelease:
      return "release";
    case EntryType::kStake:
      return "stake";
    case EntryType::kUnstake:
      return "unstake";
    case EntryType::kSlash:
      return "slash";
    case EntryType::kTaskReceipt:
      return "task_receipt";
    case EntryType::kWithdraw:
      return "withdraw";
    case EntryType::kGovProposal:
      return "gov_proposal";
    case EntryType::kGovVote:
      return "gov_vote";
    case EntryType::kGovOutcome:
      return "gov_outcome";
    case EntryType::kGovExecution:
      return "gov_execution";
    case EntryType::kDatasetPublish:
      return "dataset_publish";
    case EntryType::kDatasetRevoke:
      return "dataset_revoke";
    case EntryType::kDataAccess:
      return "data_access";
    case EntryType::kCheckpoint:
      return "checkpoint";
    case EntryType::kVerdict:
      return "verdict";
  }
  return "unknown";
}

bool IsKnownEntryType(uint8_t type) {
  return (type >= 1 && type <= static_cast<uint8_t>(EntryType::kWithdraw)) ||
         (type >= static_cast<uint8_t>(EntryType::kDatasetPublish) &&
          type <= static_cast<uint8_t>(EntryType::kCheckpoint)) ||
         (type >= static_cast<uint8_t>(EntryType::kGovProposal) &&
          type <= static_cast<uint8_t>(EntryType::kGovExecution)) ||
         type == static_cast<uint8_t>(EntryType::kVerdict);
}

std::string_view LegKindName(LegKind kind) {
  switch (kind) {
    case LegKind::kTreasury:
      return "treasury";
    case LegKind::kCompensation:
      return "compensation";
    case LegKind::kClawback:
      return "clawback";
    case LegKind::kFinder:
      return "finder";
    case LegKind::kRoyalty:
      return "royalty";
  }
  return "unknown";
}

Entry MakeOpenAccount(std::string id, std::string account) {
  return Shaped(EntryType::kOpenAccount, std::move(id), "", std::move(account), MicroPlume(0), "");
}
Entry MakeMint(std::string id, std::string to, MicroPlume amount) {
  return Shaped(EntryType::kMint, std::move(id), std::string(kOperator), std::move(to), amount, "");
}
Entry MakeTransfer(std::string id, std::string from, std::string to, MicroPlume amount) {
  return Shaped(EntryType::kTransfer, std::move(id), std::move(from), std::move(to), amount, "");
}
Entry MakeEscrowHold(std::string id, std::string team, std::string job, MicroPlume amount) {
  std::string escrow = EscrowAccount(job);
  return Shaped(EntryType::kEscrowHold, std::move(id), std::move(team), std::move(escrow), amount,
                std::move(job));
}
Entry MakeSettle(std::string id, TaskReceipt receipt) {
  Entry e = Shaped(EntryType::kSettle, std::move(id), EscrowAccount(receipt.job_id),
                   ProviderAccount(receipt.agent), MicroPlume(0), receipt.job_id);
  e.receipt = std::move(receipt);
  return e;
}
Entry MakeRelease(std::string id, std::string job, std::string team) {
  std::string escrow = EscrowAccount(job);
  return Shaped(EntryType::kRelease, std::move(id), std::move(escrow), std::move(team),
                MicroPlume(0), std::move(job));
}
Entry MakeStake(std::string id, const PublicKey& agent, MicroPlume amount) {
  return Shaped(EntryType::kStake, std::move(id), ProviderAccount(agent), StakeAccount(agent),
                amount, "");
}
Entry MakeUnstake(std::string id, const PublicKey& agent, MicroPlume amount,
                  uint64_t release_at_ms) {
  Entry e = Shaped(EntryType::kUnstake, std::move(id), StakeAccount(agent), UnbondAccount(agent),
                   amount, "");
  e.at_ms = release_at_ms;
  return e;
}
Entry MakeWithdraw(std::string id, const PublicKey& agent, MicroPlume amount, uint64_t now_ms) {
  Entry e = Shaped(EntryType::kWithdraw, std::move(id), UnbondAccount(agent),
                   ProviderAccount(agent), amount, "");
  e.at_ms = now_ms;
  return e;
}
Entry MakeSlash(std::string id, TaskReceipt faulty, MicroPlume amount, std::vector<Leg> legs,
                std::string memo) {
  // No `to`: the legs name every credited account.
  Entry e = Shaped(EntryType::kSlash, std::move(id), StakeAccount(faulty.agent), "", amount,
                   faulty.job_id);
  e.receipt = std::move(faulty);
  e.legs = std::move(legs);
  e.memo = std::move(memo);
  return e;
}
Entry MakeTaskReceipt(std::string id, TaskReceipt receipt) {
  Entry e = Shaped(EntryType::kTaskReceipt, std::move(id), "", "", MicroPlume(0), receipt.job_id);
  e.receipt = std::move(receipt);
  return e;
}

std::vector<uint8_t> SigningBytes(const Entry& e, const LedgerId& ledger) {
  std::vector<uint8_t> out;
  out.reserve(224);
  protocol::codec::PutString(out, kEntryDomain);
  protocol::codec::PutRaw(out, ledger);
  PutBody(e, out);
  return out;
}

std::vector<uint8_t> BodyBytes(const Entry& e) {
  std::vector<uint8_t> out;
  out.reserve(192);
  PutBody(e, out);
  return out;
}

Endorsement SignEntry(const Entry& e, const LedgerId& ledger, const Identity& signer) {
  return Endorsement{signer.public_key(), signer.Sign(SigningBytes(e, ledger))};
}

void AppendEncoded(const Entry& e, std::vector<uint8_t>& out) {
  PutBody(e, out);
  protocol::codec::PutU32(out, static_cast<uint32_t>(e.signatures.size()));
  for (const Endorsement& s : e.signatures) {
    protocol::codec::PutRaw(out, s.signer);
    protocol::codec::PutRaw(out, s.signature);
  }
}

std::vector<uint8_t> Encode(const Entry& e) {
  std::vector<uint8_t> out;
  out.reserve(256);
  AppendEncoded(e, out);
  return out;
}

Result<Entry> Decode(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  Entry e;
  const uint8_t type = in.U8();
  if (!IsKnownEntryType(type)) {
    return Fail("entry has unknown type " + std::to_string(type));
  }
  e.type = static_cast<EntryType>(type);
  e.id = in.String(kEntryIdBytesMax);
  e.from = in.String(kAccountBytesMax);
  e.to = in.String(kAccountBytesMax);
  e.amount = MicroPlume(static_cast<int64_t>(in.U64()));
  e.job = in.String(kJobIdBytesMax);
  const uint8_t has_receipt = in.U8();
  if (has_receipt > 1) in.Fail();
  if (has_receipt == 1) e.receipt = ReadReceipt(in);
  e.at_ms = in.U64();
  const uint32_t legs = in.U32();
  if (legs > kSlashLegsMax) in.Fail();
  for (uint32_t i = 0; in.ok() && i < legs; ++i) {
    Leg leg;
    const uint8_t kind = in.U8();
    if (kind > kLegKindLast) in.Fail();
    leg.kind = static_cast<LegKind>(kind);
    leg.account = in.String(kAccountBytesMax);
    leg.amount = MicroPlume(static_cast<int64_t>(in.U64()));
    e.legs.push_back(std::move(leg));
  }
  e.memo = in.String(kMemoBytesMax);
  // Refused here rather than only by Authorize: a decoded entry is printed and put in JSON.
  if (!IsValidUtf8(e.memo)) in.Fail();
  e.body = in.Bytes(kBodyBytesMax);
  const uint32_t sigs = in.U32();
  if (sigs > kEntrySignaturesMax) in.Fail();
  for (uint32_t i = 0; in.ok() && i < sigs; ++i) {
    Endorsement s;
    s.signer = in.Raw<32>();
    s.signature = in.Raw<64>();
    e.signatures.push_back(s);
  }
  if (!in.done()) return Fail("entry bytes are malformed or have trailing bytes");
  return e;
}

std::string TeamAccount(const PublicKey& client) {
  return std::string(kTeamPrefix) + ToHex(client);
}
std::string ProviderAccount(const PublicKey& agent) {
  return std::string(kProviderPrefix) + ToHex(agent);
}
std::string StakeAccount(const PublicKey& agent) {
  return std::string(kStakePrefix) + ToHex(agent);
}
std::string UnbondAccount(const PublicKey& agent) {
  return std::string(kUnbondPrefix) + ToHex(agent);
}
std::string EscrowAccount(std::string_view job) {
  return std::string(kEscrowPrefix) + std::string(job);
}

std::optional<PublicKey> AccountKey(std::string_view account) {
  std::string_view hex;
  for (std::string_view prefix : {kTeamPrefix, kProviderPrefix, kStakePrefix, kUnbondPrefix}) {
    if (account.starts_with(prefix)) hex = account.substr(prefix.size());
  }
  if (hex.size() != 64 || !IsLowerHex(hex)) return std::nullopt;
  auto key = PublicKeyFromHex(hex);
  if (!key) return std::nullopt;
  return *key;
}

std::string AccountNameProblem(std::string_view account) {
  if (account == kTreasury || account == kOperator || account == kBurned) return {};
  if (account.starts_with("deposit:")) {
    if (!ProposalIdProblem(account.substr(8)).empty()) {
      return "deposit account needs a proposal id (1..40 bytes of a-z, 0-9, '.', '_', '-')";
    }
    return {};
  }
  if (account.starts_with(kEscrowPrefix)) {
    const std::string_view job = account.substr(kEscrowPrefix.size());
    if (job.empty() || job.size() > kJobIdBytesMax || !IsPrintableId(job)) {
      return "escrow account needs a printable job id of 1..64 bytes";
    }
    return {};
  }
  if (AccountKey(account)) return {};
  return "account '" + std::string(account.substr(0, 100)) +
         "' is not team:<hex key>, provider:<hex key>, stake:<hex key>, unbond:<hex key>, "
         "escrow:<job>, deposit:<proposal>, treasury, burned or operator";
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
    const unsigned char b = byte(i);
    size_t extra = 0;
    uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xe0) == 0xc0) {
      extra = 1;
      cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      extra = 2;
      cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      extra = 3;
      cp = b & 0x07;
    } else {
      return false;  // a continuation byte first, or 0xf8..0xff
    }
    if (text.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((byte(i + k) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    constexpr uint32_t kShortestFor[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kShortestFor[extra]) return false;      // overlong: two spellings of one text
    if (cp > 0x10ffff) return false;                 // past Unicode
    if (cp >= 0xd800 && cp <= 0xdfff) return false;  // UTF-16 surrogates
    i += extra + 1;
  }
  return true;
}

}  // namespace plume::ledger
