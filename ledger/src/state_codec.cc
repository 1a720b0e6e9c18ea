// Serialisation of State for snapshots: counts first, then the items; every count is bounded
// by the bytes left, so a damaged snapshot cannot make us allocate without limit.
// Order: minted, entry count, balances, holds, settled tasks, ids, tranches (by unbond
// account), slashed tasks (the last two since snapshot version 3), datasets and governance
// proposals (version 4, which also gave holds their royalties).
#include "plume/ledger/limits.h"
#include "plume/ledger/state.h"
#include "plume/protocol/codec.h"

namespace plume::ledger {
namespace {
constexpr size_t kStringMax = 256;
}

void State::EncodeTo(std::vector<uint8_t>& out) const {
  protocol::codec::PutU64(out, static_cast<uint64_t>(minted_.value()));
  protocol::codec::PutU64(out, entry_count_);
  protocol::codec::PutU64(out, balances_.size());
  for (const auto& [account, balance] : balances_) {
    protocol::codec::PutString(out, account);
    protocol::codec::PutU64(out, static_cast<uint64_t>(balance.value()));
  }
  protocol::codec::PutU64(out, holds_.size());
  for (const auto& [job, h] : holds_) {
    protocol::codec::PutString(out, job);
    protocol::codec::PutString(out, h.team);
    for (MicroPlume m : {h.held, h.paid, h.fees, h.royalties, h.released}) {
      protocol::codec::PutU64(out, static_cast<uint64_t>(m.value()));
    }
    protocol::codec::PutU8(out, h.closed ? 1 : 0);
  }
  protocol::codec::PutU64(out, settled_.size());
  for (const std::string& key : settled_) protocol::codec::PutString(out, key);
  protocol::codec::PutU64(out, ids_.size());
  for (const auto& [id, rec] : ids_) {
    protocol::codec::PutString(out, id);
    protocol::codec::PutU64(out, rec.index);
    protocol::codec::PutRaw(out, rec.body_hash);
  }
  protocol::codec::PutU64(out, tranches_.size());
  for (const auto& [account, list] : tranches_) {
    protocol::codec::PutString(out, account);
    protocol::codec::PutU64(out, list.size());
    for (const Tranche& t : list) {
      protocol::codec::PutString(out, t.entry_id);
      protocol::codec::PutU64(out, static_cast<uint64_t>(t.amount.value()));
      protocol::codec::PutU64(out, t.release_at_ms);
    }
  }
  protocol::codec::PutU64(out, slashed_.size());
  for (const std::string& key : slashed_) protocol::codec::PutString(out, key);
  protocol::codec::PutU64(out, proposals_.size());
  for (const auto& [id, p] : proposals_) {
    protocol::codec::PutString(out, id);
    protocol::codec::PutString(out, p.proposer);
    protocol::codec::PutU64(out, static_cast<uint64_t>(p.deposit.value()));
    for (uint64_t v : {p.index, p.opened_at_ms, p.voting_end_ms, p.timelock_ms}) {
      protocol::codec::PutU64(out, v);
    }
    protocol::codec::PutU8(out, static_cast<uint8_t>(p.kind));
    protocol::codec::PutString(out, p.grant_to);
    protocol::codec::PutU64(out, static_cast<uint64_t>(p.grant_amount.value()));
    protocol::codec::PutU8(out, p.outcome ? static_cast<uint8_t>(*p.outcome) : 0);
    protocol::codec::PutU8(out, p.executed ? 1 : 0);
  }
  protocol::codec::PutU64(out, datasets_.size());
  for (const auto& [id, d] : datasets_) {
    protocol::codec::PutString(out, id);
    protocol::codec::PutBytes(out, data::EncodeTerms(d.terms));
    protocol::codec::PutU8(out, d.revoked ? 1 : 0);
    protocol::codec::PutU64(out, d.published_index);
    protocol::codec::PutU64(out, d.accesses);
  }
}

Result<State> State::Decode(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  State s;
  s.balances_.clear();
  const auto count = [&](size_t item_bytes_min) {
    const uint64_t n = in.U64();
    if (n > bytes.size() / item_bytes_min) in.Fail();
    return in.ok() ? n : 0;
  };
  const auto money = [&] { return MicroPlume(static_cast<int64_t>(in.U64())); };
  s.minted_ = money();
  s.entry_count_ = in.U64();
  for (uint64_t i = 0, n = count(12); i < n && in.ok(); ++i) {
    std::string account = in.String(kStringMax);
    s.balances_[std::move(account)] = money();
  }
  for (uint64_t i = 0, n = count(49); i < n && in.ok(); ++i) {
    std::string job = in.String(kStringMax);
    HoldInfo h;
    h.team = in.String(kStringMax);
    h.held = money();
    h.paid = money();
    h.fees = money();
    h.royalties = money();
    h.released = money();
    h.closed = in.U8() == 1;
    s.holds_[std::move(job)] = std::move(h);
  }
  for (uint64_t i = 0, n = count(4); i < n && in.ok(); ++i)
    s.settled_.insert(in.String(kStringMax));
  for (uint64_t i = 0, n = count(44); i < n && in.ok(); ++i) {
    std::string id = in.String(kEntryIdBytesMax);
    IdRecord rec;
    rec.index = in.U64();
    rec.body_hash = in.Raw<32>();
    s.ids_[std::move(id)] = rec;
  }
  for (uint64_t i = 0, n = count(12); i < n && in.ok(); ++i) {
    std::string account = in.String(kStringMax);
    std::vector<Tranche>& list = s.tranches_[std::move(account)];
    for (uint64_t k = 0, m = count(20); k < m && in.ok(); ++k) {
      Tranche t;
      t.entry_id = in.String(kEntryIdBytesMax);
      t.amount = money();
      t.release_at_ms = in.U64();
      list.push_back(std::move(t));
    }
  }
  for (uint64_t i = 0, n = count(4); i < n && in.ok(); ++i)
    s.slashed_.insert(in.String(kStringMax));
  for (uint64_t i = 0, n = count(60); i < n && in.ok(); ++i) {
    std::string id = in.String(kProposalIdBytesMax);
    ProposalInfo p;
    p.proposer = in.String(kStringMax);
    p.deposit = money();
    p.index = in.U64();
    p.opened_at_ms = in.U64();
    p.voting_end_ms = in.U64();
    p.timelock_ms = in.U64();
    const uint8_t kind = in.U8();
    if (kind < 1 || kind > 2) in.Fail();
    p.kind = static_cast<ProposalKind>(kind);
    p.grant_to = in.String(kStringMax);
    p.grant_amount = money();
    const uint8_t outcome = in.U8();
    if (outcome > static_cast<uint8_t>(OutcomeResult::kVetoed)) in.Fail();
    if (outcome != 0) p.outcome = static_cast<OutcomeResult>(outcome);
    p.executed = in.U8() == 1;
    s.proposals_[std::move(id)] = std::move(p);
  }
  for (uint64_t i = 0, n = count(25); i < n && in.ok(); ++i) {
    std::string id = in.String(kStringMax);
    auto terms = data::DecodeTerms(in.Bytes(kBodyBytesMax));
    if (!terms) in.Fail();
    DatasetRecord d{terms ? std::move(*terms) : data::Terms{}, in.U8() == 1, in.U64(), in.U64()};
    ++s.published_by_[ToHex(d.terms.owner)];
    s.datasets_.emplace(std::move(id), std::move(d));
  }
  if (!in.done()) return Fail("snapshot state is malformed");
  if (!s.balances_.contains(std::string(kTreasury)) ||
      !s.balances_.contains(std::string(kOperator))) {
    return Fail("snapshot state lacks the treasury or operator account");
  }
  return s;
}

}  // namespace plume::ledger
