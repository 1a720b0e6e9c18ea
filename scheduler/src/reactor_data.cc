// Reactor: jobs that name published datasets (docs/data-owners.md). A submit or quote carries a
// blob ref "dataset:<id>" with the dataset's blob hash; the dataset's terms, as the ledger has
// them (ReactorOptions::dataset_of), decide whether this team may run this kind of job on it.
// The check reads the terms only, never the blob, so an encrypted dataset's bytes are never
// read here; a revoked dataset takes no new job, while jobs accepted before keep running. An
// encrypted dataset's tasks carry data-key grants to their agents (reactor_grant.cc).
#include "plume/data/terms.h"
#include "reactor_impl.h"

namespace plume::scheduler {

Result<Reactor::Impl::UsedDataset> Reactor::Impl::ResolveDataset(const ClientId& owner, const std::string& ref_name,
                                               const Hash256& ref_hash, bool train) {
  const std::string id = ref_name.substr(kDatasetRefPrefix.size());
  if (!data::IsDatasetId(id)) {
    return Fail("blob ref '" + ref_name + "' does not name a dataset (dataset:<32 hex digits>)");
  }
  const std::optional<DatasetView> d = opt.dataset_of ? opt.dataset_of(id) : std::nullopt;
  if (!d) {
    return Fail("dataset " + id + " is not published on this scheduler's ledger (plume data show " +
                id + ")");
  }
  if (d->revoked) return Fail("dataset " + id + " was revoked by its owner: it takes no new jobs");
  const auto team = PublicKeyFromHex(owner);
  if (!team) return Fail("your key is not an ed25519 key");  // the transport's: cannot happen
  if (!train) return Fail("dataset " + id + ": only training jobs use datasets in this version");
  switch (data::Allows(d->terms, *team, data::JobKind::kTrain)) {
    case data::Refusal::kNone:
      break;
    case data::Refusal::kKindNotAllowed:
      return Fail("dataset " + id + "'s terms do not allow training on it");
    default:
      return Fail("dataset " + id + "'s terms do not allow your team (" + owner.substr(0, 16) +
                  "...): ask its owner to publish terms that name you");
  }
  if (ref_hash != d->terms.blob_hash) {
    return Fail("blob ref " + ref_name + " names another blob than the dataset's terms (" +
                ToHex(d->terms.blob_hash).substr(0, 16) + "...)");
  }
  if (!blobs->Has(d->terms.blob_hash)) {
    return Fail("dataset " + id + "'s blob is not on this scheduler: its owner has not uploaded it");
  }
  if (d->terms.encrypted && !opt.ledger_id) {
    return Fail("dataset " + id + " is encrypted and this scheduler has no ledger id to sign "
                "data-key grants for");
  }
  return UsedDataset{ToHex(d->terms.blob_hash), id, d->terms.royalty_micro_plume_per_mtoken};
}

}  // namespace plume::scheduler
