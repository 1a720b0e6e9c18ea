// Canonical encodings of the governance bodies and their entry constructors (see gov.h).
#include "plume/ledger/gov.h"
#include "plume/ledger/limits.h"
#include "plume/protocol/codec.h"

namespace plume::ledger {
namespace {

constexpr uint8_t kProposalKindLast = static_cast<uint8_t>(ProposalKind::kGrant);
constexpr uint8_t kVoteOptionLast = static_cast<uint8_t>(VoteOption::kVeto);
constexpr uint8_t kOutcomeResultLast = static_cast<uint8_t>(OutcomeResult::kVetoed);

void PutMoney(std::vector<uint8_t>& out, MicroPlume m) {
  protocol::codec::PutU64(out, static_cast<uint64_t>(m.value()));
}
MicroPlume ReadMoney(protocol::codec::Reader& in) {
  const int64_t v = static_cast<int64_t>(in.U64());
  if (v < 0) in.Fail();  // no body amount is negative: one encoding per meaning
  return MicroPlume(v);
}
uint8_t ReadEnum(protocol::codec::Reader& in, uint8_t last) {
  const uint8_t v = in.U8();
  if (v < 1 || v > last) in.Fail();
  return v;
}
std::string ReadText(protocol::codec::Reader& in, size_t max_bytes) {
  std::string s = in.String(max_bytes);
  if (!IsValidUtf8(s)) in.Fail();
  return s;
}
template <typename T>
Result<T> Done(protocol::codec::Reader& in, T body, std::string_view what) {
  if (!in.done()) return Fail(std::string(what) + " body is malformed or has trailing bytes");
  return body;
}
std::string ReadProposalId(protocol::codec::Reader& in) {
  std::string id = in.String(kProposalIdBytesMax);
  if (!ProposalIdProblem(id).empty()) in.Fail();
  return id;
}

}  // namespace

std::string DepositAccount(std::string_view proposal) {
  return "deposit:" + std::string(proposal);
}

std::string ProposalIdProblem(std::string_view id) {
  if (id.empty() || id.size() > kProposalIdBytesMax) return "a proposal id has 1..40 bytes";
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    if (!ok) return "a proposal id uses only a-z, 0-9, '.', '_' and '-'";
  }
  return {};
}

std::string_view ProposalKindName(ProposalKind k) {
  return k == ProposalKind::kGrant ? "grant" : k == ProposalKind::kParamChange ? "param" : "?";
}
std::string_view VoteOptionName(VoteOption v) {
  switch (v) {
    case VoteOption::kYes:
      return "yes";
    case VoteOption::kNo:
      return "no";
    case VoteOption::kAbstain:
      return "abstain";
    case VoteOption::kVeto:
      return "veto";
  }
  return "?";
}
std::string_view OutcomeResultName(OutcomeResult r) {
  switch (r) {
    case OutcomeResult::kPassed:
      return "passed";
    case OutcomeResult::kNoQuorum:
      return "no_quorum";
    case OutcomeResult::kRejected:
      return "rejected";
    case OutcomeResult::kVetoed:
      return "vetoed";
  }
  return "?";
}

std::vector<uint8_t> EncodeBody(const ProposalBody& b) {
  std::vector<uint8_t> out;
  protocol::codec::PutU8(out, static_cast<uint8_t>(b.kind));
  protocol::codec::PutString(out, b.title);
  protocol::codec::PutString(out, b.param);
  protocol::codec::PutU64(out, static_cast<uint64_t>(b.value));
  protocol::codec::PutString(out, b.grant_to);
  PutMoney(out, b.grant_amount);
  protocol::codec::PutString(out, b.purpose);
  protocol::codec::PutU64(out, b.voting_end_ms);
  protocol::codec::PutU64(out, b.timelock_ms);
  protocol::codec::PutU32(out, b.quorum_ppm);
  protocol::codec::PutU32(out, b.threshold_ppm);
  protocol::codec::PutU32(out, b.veto_ppm);
  return out;
}

Result<ProposalBody> DecodeProposal(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  ProposalBody b;
  b.kind = static_cast<ProposalKind>(ReadEnum(in, kProposalKindLast));
  b.title = ReadText(in, kProposalTitleBytesMax);
  b.param = ReadText(in, kParamNameBytesMax);
  b.value = static_cast<int64_t>(in.U64());
  b.grant_to = in.String(kAccountBytesMax);
  b.grant_amount = ReadMoney(in);
  b.purpose = ReadText(in, kPurposeBytesMax);
  b.voting_end_ms = in.U64();
  b.timelock_ms = in.U64();
  b.quorum_ppm = in.U32();
  b.threshold_ppm = in.U32();
  b.veto_ppm = in.U32();
  return Done(in, std::move(b), "proposal");
}

std::vector<uint8_t> EncodeBody(const VoteBody& b) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, b.proposal);
  protocol::codec::PutU8(out, static_cast<uint8_t>(b.option));
  return out;
}

Result<VoteBody> DecodeVote(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  VoteBody b;
  b.proposal = ReadProposalId(in);
  b.option = static_cast<VoteOption>(ReadEnum(in, kVoteOptionLast));
  return Done(in, std::move(b), "vote");
}

std::vector<uint8_t> EncodeBody(const OutcomeBody& b) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, b.proposal);
  for (MicroPlume m : {b.yes, b.no, b.abstain, b.veto, b.staked}) PutMoney(out, m);
  protocol::codec::PutU32(out, b.voters);
  protocol::codec::PutU8(out, static_cast<uint8_t>(b.result));
  return out;
}

Result<OutcomeBody> DecodeOutcome(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  OutcomeBody b;
  b.proposal = ReadProposalId(in);
  b.yes = ReadMoney(in);
  b.no = ReadMoney(in);
  b.abstain = ReadMoney(in);
  b.veto = ReadMoney(in);
  b.staked = ReadMoney(in);
  b.voters = in.U32();
  b.result = static_cast<OutcomeResult>(ReadEnum(in, kOutcomeResultLast));
  return Done(in, std::move(b), "outcome");
}

std::vector<uint8_t> EncodeBody(const ExecutionBody& b) {
  std::vector<uint8_t> out;
  protocol::codec::PutString(out, b.proposal);
  return out;
}

Result<ExecutionBody> DecodeExecution(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  ExecutionBody b;
  b.proposal = ReadProposalId(in);
  return Done(in, std::move(b), "execution");
}

std::string OutcomeEntryId(std::string_view proposal) {
  return "gov-outcome-" + std::string(proposal);
}
std::string ExecutionEntryId(std::string_view proposal) {
  return "gov-exec-" + std::string(proposal);
}

Entry MakeProposal(std::string proposal_id, std::string proposer_account, MicroPlume deposit,
                   uint64_t opened_at_ms, const ProposalBody& body) {
  Entry e;
  e.type = EntryType::kGovProposal;
  e.to = DepositAccount(proposal_id);
  e.id = std::move(proposal_id);
  e.from = std::move(proposer_account);
  e.amount = deposit;
  e.at_ms = opened_at_ms;
  e.body = EncodeBody(body);
  return e;
}

Entry MakeVote(std::string id, const PublicKey& voter, uint64_t at_ms, const VoteBody& body) {
  Entry e;
  e.type = EntryType::kGovVote;
  e.id = std::move(id);
  e.from = StakeAccount(voter);
  e.at_ms = at_ms;
  e.body = EncodeBody(body);
  return e;
}

Entry MakeOutcome(MicroPlume deposit, std::string refund_to, uint64_t at_ms,
                  const OutcomeBody& body) {
  Entry e;
  e.type = EntryType::kGovOutcome;
  e.id = OutcomeEntryId(body.proposal);
  e.from = DepositAccount(body.proposal);
  e.to = std::move(refund_to);
  e.amount = deposit;
  e.at_ms = at_ms;
  e.body = EncodeBody(body);
  return e;
}

Entry MakeExecution(std::string_view proposal, std::string grant_to, MicroPlume grant_amount,
                    uint64_t at_ms) {
  Entry e;
  e.type = EntryType::kGovExecution;
  e.id = ExecutionEntryId(proposal);
  if (!grant_to.empty()) e.from = std::string(kTreasury);
  e.to = std::move(grant_to);
  e.amount = grant_amount;
  e.at_ms = at_ms;
  e.body = EncodeBody(ExecutionBody{std::string(proposal)});
  return e;
}

}  // namespace plume::ledger
