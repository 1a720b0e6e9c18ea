// Constructors of data-owner entries (see data_entries.h).
#include "plume/ledger/data_entries.h"

namespace plume::ledger {
namespace {
Entry Bodied(EntryType type, std::string id, std::vector<uint8_t> body) {
  Entry e;
  e.type = type;
  e.id = std::move(id);
  e.body = std::move(body);
  return e;
}
}  // namespace

Entry MakeDatasetPublish(const data::Terms& terms) {
  return Bodied(EntryType::kDatasetPublish, "dataset:" + data::DatasetId(terms),
                data::EncodeTerms(terms));
}

Entry MakeDatasetRevoke(const data::Revocation& revocation) {
  return Bodied(EntryType::kDatasetRevoke, "revoke:" + revocation.dataset,
                data::EncodeRevocation(revocation));
}

Entry MakeDataAccess(const data::AccessRecord& record) {
  return Bodied(EntryType::kDataAccess, "access:" + data::GrantKey(record.grant),
                data::EncodeAccessRecord(record));
}

std::string DescribeDataEntry(const Entry& e) {
  switch (e.type) {
    case EntryType::kDatasetPublish: {
      auto t = data::DecodeTerms(e.body);
      if (!t) return {};
      return " dataset=" + data::DatasetId(*t) + " owner=" + ToHex(t->owner) + " name=" + t->name +
             (t->encrypted ? " encrypted" : " clear") +
             " royalty=" + std::to_string(t->royalty_micro_plume_per_mtoken) + "uPLUME/Mtoken";
    }
    case EntryType::kDatasetRevoke: {
      auto r = data::DecodeRevocation(e.body);
      return r ? " dataset=" + r->dataset : std::string();
    }
    case EntryType::kDataAccess: {
      auto r = data::DecodeAccessRecord(e.body);
      if (!r) return {};
      return " dataset=" + r->grant.dataset + " job=" + r->grant.job + " task=" + r->grant.task +
             " agent=" + ToHex(r->grant.agent) +
             " released_ms=" + std::to_string(r->released_unix_ms);
    }
    case EntryType::kSettle: {
      if (e.body.empty()) return {};
      auto claims = data::DecodeClaims(e.body);
      if (!claims) return {};
      std::string out = " royalties:";
      for (const data::RoyaltyClaim& c : *claims) {
        out += " " + c.dataset + "x" + std::to_string(c.tokens) + "tokens";
      }
      return out;
    }
    default:
      return {};
  }
}

std::string RoyaltyAccount(const PublicKey& owner) { return TeamAccount(owner); }

std::string DataOwnerAccount(const Entry& e) {
  switch (e.type) {
    case EntryType::kDatasetPublish:
      if (auto t = data::DecodeTerms(e.body)) return RoyaltyAccount(t->owner);
      return {};
    case EntryType::kDatasetRevoke:
      if (auto r = data::DecodeRevocation(e.body)) return RoyaltyAccount(r->owner);
      return {};
    case EntryType::kDataAccess:
      if (auto r = data::DecodeAccessRecord(e.body)) return RoyaltyAccount(r->owner);
      return {};
    default:
      return {};
  }
}

bool IsPublicEntry(const Entry& e) {
  return e.type == EntryType::kDatasetPublish || e.type == EntryType::kDatasetRevoke;
}

std::optional<RoyaltyPart> MakeRoyaltyPart(const data::Terms& terms, uint64_t tokens) {
  const auto royalty = data::RoyaltyFor(tokens, terms.royalty_micro_plume_per_mtoken);
  if (!royalty || *royalty <= 0) return std::nullopt;
  return RoyaltyPart{data::RoyaltyClaim{data::DatasetId(terms), tokens},
                     Leg{LegKind::kRoyalty, RoyaltyAccount(terms.owner), MicroPlume(*royalty)}};
}

Entry MakeRoyaltySettle(std::string id, TaskReceipt receipt,
                        const std::vector<RoyaltyPart>& parts) {
  Entry e = MakeSettle(std::move(id), std::move(receipt));
  std::vector<data::RoyaltyClaim> claims;
  for (const RoyaltyPart& p : parts) {
    claims.push_back(p.claim);
    e.legs.push_back(p.leg);
  }
  if (!claims.empty()) e.body = data::EncodeClaims(claims);
  return e;
}

}  // namespace plume::ledger
