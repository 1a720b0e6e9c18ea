// The ledger's rules for data owners (see data_entries.h): dataset publish, revoke and access
// records, and the royalty legs of a settle, which are recomputed here from the dataset's terms
// so that anyone replaying the log gets the same figures.
#include <algorithm>

#include "plume/data/limits.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/state.h"
#include "state_rules.h"

namespace plume::ledger {
namespace rules {
namespace {

// The royalty legs of a settle: one per claim, each a positive payment to a team account.
Code CheckRoyaltyShape(const Entry& e) {
  auto claims = data::DecodeClaims(e.body);
  if (!claims || claims->size() != e.legs.size() || !e.memo.empty()) return Code::kInvalid;
  for (const Leg& leg : e.legs) {
    if (leg.kind != LegKind::kRoyalty || !IsTeam(leg.account) || leg.amount.value() <= 0) {
      return Code::kInvalid;
    }
  }
  return Code::kOk;
}

}  // namespace

Code CheckDataShape(const Entry& e) {
  if (e.type == EntryType::kSettle) return CheckRoyaltyShape(e);
  // CheckShape has already made amount 0, the receipt, job and time absent for these types.
  if (!e.from.empty() || !e.to.empty() || !e.legs.empty() || !e.memo.empty()) {
    return Code::kInvalid;
  }
  // The id is derived from the body, so one dataset has one publish and one revoke, and one
  // grant one access record, whoever sends them and however often.
  switch (e.type) {
    case EntryType::kDatasetPublish: {
      auto terms = data::DecodeTerms(e.body);
      return terms && e.id == "dataset:" + data::DatasetId(*terms) ? Code::kOk : Code::kInvalid;
    }
    case EntryType::kDatasetRevoke: {
      auto r = data::DecodeRevocation(e.body);
      return r && e.id == "revoke:" + r->dataset ? Code::kOk : Code::kInvalid;
    }
    case EntryType::kDataAccess: {
      auto r = data::DecodeAccessRecord(e.body);
      if (!r || e.id != "access:" + data::GrantKey(r->grant)) return Code::kInvalid;
      const data::Grant& g = r->grant;
      // Released within the grant's life (allowing the key service's clock to trail).
      const bool in_life = r->released_unix_ms + data::kClockSkewMsMax >= g.issued_unix_ms &&
                           r->released_unix_ms < g.expires_unix_ms;
      return in_life ? Code::kOk : Code::kInvalid;
    }
    default:
      return Code::kInvalid;
  }
}

Code AuthorizeData(const Entry& e, const Keys& keys, Signers& signers) {
  // CheckDataShape has decoded the body once already; decoding again keeps the two steps apart
  // (the body is at most 16 KiB).
  PublicKey signer{};
  switch (e.type) {
    case EntryType::kDatasetPublish: {
      auto t = data::DecodeTerms(e.body);
      if (!t) return Code::kInvalid;
      signer = t->owner;
      break;
    }
    case EntryType::kDatasetRevoke: {
      auto r = data::DecodeRevocation(e.body);
      if (!r) return Code::kInvalid;
      signer = r->owner;
      break;
    }
    case EntryType::kDataAccess: {
      auto decoded = data::DecodeAccessRecord(e.body);
      if (!decoded) return Code::kInvalid;
      const data::AccessRecord& r = *decoded;
      // The grant is the scheduler's (the ledger key's) word that this agent was assigned the
      // task: without it the owner could record accesses that never happened, with it a key
      // service cannot release for a task nobody assigned and still keep its books straight.
      if (data::CheckGrantSignature(r.grant, keys.ledger_id, keys.ledger) !=
          data::GrantCheck::kOk) {
        return Code::kBadSignature;
      }
      signer = r.owner;
      break;
    }
    default:
      return Code::kInvalid;
  }
  return signers.Has(signer) ? Code::kOk : Code::kBadSignature;
}

}  // namespace rules

// The per-owner publish counts (what a scheduler's publish bound reads) are exactly a recount of
// the datasets: none lost, none counted twice, none made up.
Status State::CheckDataInvariants() const {
  std::unordered_map<std::string, uint64_t> recount;
  for (const auto& [id, d] : datasets_) ++recount[ToHex(d.terms.owner)];
  if (recount != published_by_) {
    return Fail("invariant broken: the publish count per owner differs from the datasets");
  }
  return {};
}

uint64_t State::DatasetsPublishedBy(const PublicKey& owner) const {
  auto it = published_by_.find(ToHex(owner));
  return it == published_by_.end() ? 0 : it->second;
}

std::optional<DatasetRecord> State::Dataset(std::string_view id) const {
  auto it = datasets_.find(std::string(id));
  if (it == datasets_.end()) return std::nullopt;
  return it->second;
}

Code State::ApplyData(const Entry& e) {
  switch (e.type) {
    case EntryType::kDatasetPublish: {
      auto decoded = data::DecodeTerms(e.body);  // Authorize decoded it: this is a backstop
      if (!decoded) return Code::kInvalid;
      data::Terms terms = std::move(*decoded);
      std::string id = data::DatasetId(terms);
      // The id is "dataset:" + this, so a second publish of the same terms is kIdExists before
      // it gets here.
      if (datasets_.contains(id)) return Code::kIdConflict;
      // Royalties are paid to the owner's team account; opening it here means a settle never
      // fails for want of it.
      balances_.try_emplace(RoyaltyAccount(terms.owner), MicroPlume(0));
      ++published_by_[ToHex(terms.owner)];
      datasets_.emplace(std::move(id), DatasetRecord{std::move(terms), false, entry_count_, 0});
      return Code::kOk;
    }
    case EntryType::kDatasetRevoke: {
      const auto decoded = data::DecodeRevocation(e.body);
      if (!decoded) return Code::kInvalid;
      const data::Revocation& r = *decoded;
      auto it = datasets_.find(r.dataset);
      if (it == datasets_.end()) return Code::kUnknownDataset;
      if (it->second.terms.owner != r.owner) return Code::kBadSignature;  // not the owner's
      it->second.revoked = true;
      return Code::kOk;
    }
    case EntryType::kDataAccess: {
      const auto decoded = data::DecodeAccessRecord(e.body);
      if (!decoded) return Code::kInvalid;
      const data::AccessRecord& r = *decoded;
      auto it = datasets_.find(r.grant.dataset);
      if (it == datasets_.end()) return Code::kUnknownDataset;
      if (it->second.terms.owner != r.owner) return Code::kBadSignature;
      // A clear dataset has no key to release, so a record of a release is a false statement.
      if (!it->second.terms.encrypted) return Code::kInvalid;
      // Revoked datasets still release keys: a job that started before finishes on them.
      ++it->second.accesses;
      return Code::kOk;
    }
    default:
      return Code::kInvalid;
  }
}

State::Royalties State::CheckRoyalties(const Entry& e) const {
  Royalties out;
  if (e.legs.empty()) return out;
  const auto claims = data::DecodeClaims(e.body);
  if (!claims || claims->size() != e.legs.size() || !e.receipt) return {Code::kInvalid, {}};
  const std::vector<Hash256>& inputs = e.receipt->input_hashes;
  for (size_t i = 0; i < claims->size(); ++i) {
    auto it = datasets_.find((*claims)[i].dataset);
    if (it == datasets_.end()) return {Code::kUnknownDataset, {}};
    const data::Terms& terms = it->second.terms;
    // Royalties follow the data the provider signed that it read, not only the scheduler's word.
    if (std::find(inputs.begin(), inputs.end(), terms.blob_hash) == inputs.end()) {
      return {Code::kBadRoyalty, {}};
    }
    const auto royalty =
        data::RoyaltyFor((*claims)[i].tokens, terms.royalty_micro_plume_per_mtoken);
    const Leg& leg = e.legs[i];
    if (!royalty || leg.account != RoyaltyAccount(terms.owner) || leg.amount.value() != *royalty) {
      return {Code::kBadRoyalty, {}};
    }
    const auto sum = CheckedAdd(out.total, leg.amount);
    if (!sum) return {Code::kOverflow, {}};
    out.total = *sum;
  }
  return out;
}

}  // namespace plume::ledger
