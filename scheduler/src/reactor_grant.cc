// Reactor: data-key grants (docs/data-owners.md "Key release"). A training task on an encrypted
// dataset, and every audit or referee run of it (they read the same data), goes to its agent
// with a grant the scheduler signs for its ledger: this dataset, this job, this task and
// attempt, this agent, until the task's deadline (at most data/limits.h kGrantLifetimeMsMax).
// Only that agent's TaskAssign carries it; the owner's key service checks it before releasing
// the key, and nothing else here ever sees the key or the plaintext.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "plume/data/grant.h"
#include "plume/data/limits.h"
#include "reactor_impl.h"

namespace plume::scheduler {

bool Reactor::Impl::FillDataGrant(wire::TaskAssign::Builder t, const Job& job,
                                  const SendTaskAssign& a, uint64_t deadline_ms) {
  if (job.spec.dataset.empty()) return true;
  const std::optional<DatasetView> d =
      opt.dataset_of ? opt.dataset_of(job.spec.dataset) : std::nullopt;
  if (!d) {
    spdlog::error("job={} task={}: dataset {} is not in the ledger any more", a.job, a.task,
                  job.spec.dataset);
    return false;
  }
  if (!d->terms.encrypted) return true;
  const auto agent = PublicKeyFromHex(a.node);
  if (!agent || !opt.ledger_id) {
    spdlog::error("job={} task={}: no grant can be made ({})", a.job, a.task,
                  !agent ? "agent key unreadable" : "no ledger id");
    return false;
  }
  data::Grant g;
  g.dataset = job.spec.dataset;
  g.job = a.job;
  g.task = std::to_string(a.wire_id);  // the ledger receipt's task id
  g.attempt = a.attempt;
  g.agent = *agent;
  g.issued_unix_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  g.expires_unix_ms =
      g.issued_unix_ms + std::clamp<uint64_t>(deadline_ms, 1, data::kGrantLifetimeMsMax);
  g.scheduler_signature = data::SignGrant(g, *opt.ledger_id, identity);
  auto k = t.initDataKey();
  k.setGrant(AsData(data::EncodeGrant(g)));
  k.setKeyService(d->terms.key_service);
  k.setOwner(AsData(d->terms.owner));
  spdlog::info("job={} task={} attempt={} dataset={}: data-key grant {} to {} until {}", a.job,
               a.task, a.attempt, g.dataset, data::GrantKey(g), a.node.substr(0, 16),
               g.expires_unix_ms);
  return true;
}

}  // namespace plume::scheduler
