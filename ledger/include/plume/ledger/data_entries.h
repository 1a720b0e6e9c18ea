// Ledger entries of data owners (entry.h types 12..14) and settles that pay royalties.
//
//  - dataset_publish: body = the terms (data/terms.h), id "dataset:<dataset id>", signed by the
//    terms' owner. Opens team:<owner> if needed: royalties are paid there.
//  - dataset_revoke: body = a revocation, id "revoke:<dataset id>", signed by the owner. The
//    ledger keeps the terms: settles of jobs that started before still pay royalties.
//  - data_access: body = an access record (data/grant.h), id "access:<grant key>", signed by the
//    owner's key service; the grant inside must carry the ledger key's signature for this
//    ledger. One record per grant (a retry is kIdExists, or kIdConflict if the time differs).
//  - a settle with royalties: legs of kind kRoyalty, one per claim in its body (data/royalty.h),
//    in the same order; leg i pays RoyaltyFor(claim i tokens, the dataset's rate) to
//    team:<owner> and is > 0, and the dataset's blob is one of the receipt's inputs. The escrow
//    pays pay + fee + royalties; the fee is on the provider's pay only.
// Every figure is recomputed by State (so by `plume ledger verify`) from the log alone; the token
// counts are the scheduler's (it signs the settle) and follow from the job's spec (royalty.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plume/data/grant.h"
#include "plume/data/royalty.h"
#include "plume/data/terms.h"
#include "plume/ledger/entry.h"

namespace plume::ledger {

// Constructors; sign with SignEntry by the owner (or the ledger key for the settle).
Entry MakeDatasetPublish(const data::Terms& terms);
Entry MakeDatasetRevoke(const data::Revocation& revocation);
Entry MakeDataAccess(const data::AccessRecord& record);

// One dataset's part of a settle: the claim and the leg it makes for these terms; nullopt when
// the royalty rounds to 0 (no leg, no claim) or does not fit.
struct RoyaltyPart {
  data::RoyaltyClaim claim;
  Leg leg;
};
std::optional<RoyaltyPart> MakeRoyaltyPart(const data::Terms& terms, uint64_t tokens);
// A settle (MakeSettle) that also pays `parts` (at most kJobDatasetsMax).
Entry MakeRoyaltySettle(std::string id, TaskReceipt receipt, const std::vector<RoyaltyPart>& parts);

// " dataset=<id> ..." for a data-owner entry or a settle with royalties, for DescribeEntry;
// empty for any other entry (or a body that does not decode).
std::string DescribeDataEntry(const Entry& e);

// The owner's team account a publish, revoke or access entry belongs to (so that the owner's
// history lists them); empty for other entries.
std::string DataOwnerAccount(const Entry& e);
// Publish and revoke entries are public (anyone may read the terms a dataset is offered under
// and whether it was revoked); access records are the owner's.
bool IsPublicEntry(const Entry& e);

// Royalty accounts are the owner's team account.
std::string RoyaltyAccount(const PublicKey& owner);

}  // namespace plume::ledger
