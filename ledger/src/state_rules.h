// Pieces of the rules (state.h) shared by state.cc and state_stake.cc (private to the ledger).
#pragma once

#include <string_view>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/state.h"

namespace plume::ledger::rules {

inline bool IsPersonal(std::string_view account, std::string_view prefix) {
  return account.starts_with(prefix) && AccountKey(account).has_value();
}
inline bool IsTeam(std::string_view a) { return IsPersonal(a, "team:"); }
inline bool IsProvider(std::string_view a) { return IsPersonal(a, "provider:"); }
inline bool IsStake(std::string_view a) { return IsPersonal(a, "stake:"); }
inline bool IsUnbond(std::string_view a) { return IsPersonal(a, "unbond:"); }
// Accounts that plain transfers and mints may touch (never stake: or unbond:, whose money only
// the stake rules move).
inline bool IsSpendable(std::string_view a) { return IsTeam(a) || IsProvider(a) || a == kTreasury; }

// Signature checks share one SigningBytes computation per entry.
class Signers {
 public:
  Signers(const Entry& e, const LedgerId& ledger) : entry_(e), ledger_(ledger) {}
  bool Has(const PublicKey& key) {
    for (const Endorsement& s : entry_.signatures) {
      if (s.signer != key) continue;
      if (bytes_.empty()) bytes_ = SigningBytes(entry_, ledger_);
      if (VerifySignature(key, bytes_, s.signature)) return true;
    }
    return false;
  }

 private:
  const Entry& entry_;
  const LedgerId& ledger_;
  std::vector<uint8_t> bytes_;
};

// The entry's receipt is well formed, signed by its agent and countersigned by the ledger key,
// and names the entry's job.
Code AuthorizeReceipt(const Entry& e, const Keys& keys);
// Stake, unstake, withdraw and slash (state_stake.cc); CheckShape has passed.
Code AuthorizeStake(const Entry& e, const Keys& keys, Signers& signers);

inline bool IsDataType(EntryType t) {
  return t == EntryType::kDatasetPublish || t == EntryType::kDatasetRevoke ||
         t == EntryType::kDataAccess;
}
// Field shapes of data-owner entries and of a settle with royalties (state_data.cc); called by
// CheckShape after the fields every type shares.
Code CheckDataShape(const Entry& e);
// Publish, revoke and access: the signer named in the body, and the grant's signature.
Code AuthorizeData(const Entry& e, const Keys& keys, Signers& signers);
// Governance (state_gov.cc): the types, their field shapes (instead of CheckShape's) and who
// signs them.
inline bool IsGov(EntryType t) {
  return t >= EntryType::kGovProposal && t <= EntryType::kGovExecution;
}
Code GovShape(const Entry& e);
Code AuthorizeGov(const Entry& e, const Keys& keys, Signers& signers);

}  // namespace plume::ledger::rules
