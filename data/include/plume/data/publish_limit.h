// The operator's bound on dataset publishes (docs/data-owners.md "Limits"). Publishing moves no
// money and keys cost nothing, yet every dataset_publish is a ledger entry that every copy of the
// ledger keeps forever; so a scheduler refuses a publish past this bound before anything is
// written. Pure: the scheduler reads the two figures from its ledger just before the entry, and
// anyone holding the ledger and the operator's two flag values can recount every decision.
#pragma once

#include <cstdint>
#include <string>

#include "plume/data/limits.h"

namespace plume::data {

struct PublishLimits {
  // Datasets one key may publish, revoked ones included (a revoke frees nothing: the entries
  // stay). 0: no limit.
  uint64_t datasets_per_key_max = kDatasetsPerKeyMaxDefault;
  // What the owner's team account must hold when it publishes, so that each of a thousand
  // throw-away keys has to be funded first. 0: none (a private network).
  int64_t min_balance_micro_plume = 0;
};

// The publishing key as the ledger has it before the new entry.
struct Publisher {
  uint64_t datasets_published = 0;  // dataset_publish entries of this owner so far
  int64_t balance_micro_plume = 0;  // of team:<owner>; 0 when the account is not open
};

// Empty when the publish is within the limits, else why not and what the owner can do.
std::string PublishRefusal(const PublishLimits& limits, const Publisher& publisher);

}  // namespace plume::data
