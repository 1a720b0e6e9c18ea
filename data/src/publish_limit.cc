// The publish bound (publish_limit.h).
#include "plume/data/publish_limit.h"

namespace plume::data {

std::string PublishRefusal(const PublishLimits& limits, const Publisher& publisher) {
  if (limits.datasets_per_key_max > 0 &&
      publisher.datasets_published >= limits.datasets_per_key_max) {
    return "this key has published " + std::to_string(publisher.datasets_published) +
           " datasets, the most this scheduler allows one key (--data-publishes-per-key-max " +
           std::to_string(limits.datasets_per_key_max) +
           "; revoked ones count): ask the operator to raise it";
  }
  if (publisher.balance_micro_plume < limits.min_balance_micro_plume) {
    return "publishing needs at least " + std::to_string(limits.min_balance_micro_plume) +
           " micro-PLUME in the owner's team account (--data-publish-min-balance-micro-plume); "
           "it holds " +
           std::to_string(publisher.balance_micro_plume);
  }
  return {};
}

}  // namespace plume::data
