// The blob retention rule of retention.h.
#include "plume/scheduler/retention.h"

#include <algorithm>
#include <string_view>

namespace plume::scheduler {
namespace {

// Saturating: a retention of years must not wrap a time near INT64_MAX.
int64_t Until(int64_t at_ms, int64_t keep_ms) {
  return at_ms > INT64_MAX - keep_ms ? INT64_MAX : at_ms + keep_ms;
}

}  // namespace

std::unordered_set<BlobHash> BlobsInUse(const State& s, int64_t now_ms,
                                        const RetentionPolicy& policy,
                                        const std::map<BlobHash, JobId>& derived) {
  // Which jobs keep their blobs: running ones, finished ones within the window, and any job
  // with a task still open (an audit of a finished job) or a verdict decided within it.
  std::unordered_set<JobId> kept;
  for (const auto& [id, j] : s.jobs) {
    if (!IsTerminal(j.state) || now_ms < Until(j.finished_at_ms, policy.finished_job_ms)) {
      kept.insert(id);
    }
  }
  for (const auto& [id, t] : s.tasks) {
    if (!IsTerminal(t.state)) kept.insert(t.job);
  }
  for (const auto& [id, v] : s.verdicts) {
    if (now_ms < Until(v.decided_at_ms, policy.finished_job_ms)) kept.insert(v.job);
  }

  std::unordered_set<BlobHash> used;
  auto use = [&used](const BlobHash& b) {
    if (!b.empty()) used.insert(b);
  };
  for (const JobId& id : kept) {
    auto it = s.jobs.find(id);
    if (it == s.jobs.end()) continue;
    const Job& j = it->second;
    for (const BlobHash& b : j.spec.data_blobs) use(b);
    use(j.spec.infer.checkpoint_blob);
    use(j.spec.initial_params_blob);
    use(j.params_blob);
    for (const BlobHash& b : j.outputs) use(b);
  }
  for (const auto& [key, r] : s.rounds) {
    if (!kept.contains(r.job)) continue;
    use(r.params_in);
    use(r.params_out);
  }
  for (const auto& [id, t] : s.tasks) {
    if (!kept.contains(t.job)) continue;
    use(t.input_params_blob);
    use(t.output_blob);
    use(t.start_state_blob);
  }
  for (const auto& [id, v] : s.verdicts) {
    if (!kept.contains(v.job)) continue;
    use(v.original_output);
    use(v.audit_output);
    use(v.referee_output);
    use(v.evidence_blob);  // what `plume audit` recomputes a dispute/1 verdict from
  }
  for (const auto& [blob, job] : derived) {
    if (kept.contains(job)) use(blob);
  }
  return used;
}

std::vector<BlobHash> BlobsToDelete(std::span<const StoredBlob> stored,
                                    const std::unordered_set<BlobHash>& in_use,
                                    int64_t now_unix_ms, const RetentionPolicy& policy,
                                    size_t max) {
  std::vector<const StoredBlob*> old;
  for (const StoredBlob& b : stored) {
    if (in_use.contains(b.hash)) continue;
    if (now_unix_ms < Until(b.stored_at_ms, policy.unused_blob_ms)) continue;
    old.push_back(&b);
  }
  std::sort(old.begin(), old.end(), [](const StoredBlob* a, const StoredBlob* b) {
    return a->stored_at_ms != b->stored_at_ms ? a->stored_at_ms < b->stored_at_ms
                                              : a->hash < b->hash;
  });
  if (old.size() > max) old.resize(max);
  std::vector<BlobHash> out;
  out.reserve(old.size());
  for (const StoredBlob* b : old) out.push_back(b->hash);
  return out;
}

std::vector<std::string> MomentumToDelete(const State& s, std::span<const std::string> names) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    std::string_view stem = name;
    if (stem.ends_with(".hf")) stem.remove_suffix(3);
    const size_t dot = stem.rfind(".r");
    if (dot == std::string_view::npos || dot == 0 || dot + 2 >= stem.size()) continue;
    const std::string_view digits = stem.substr(dot + 2);
    if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(),
                                          [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const uint32_t round = static_cast<uint32_t>(std::stoul(std::string(digits)));
    auto j = s.jobs.find(JobId(stem.substr(0, dot)));
    if (j == s.jobs.end() || IsTerminal(j->second.state) || round + 1 < j->second.round) {
      out.push_back(name);
    }
  }
  return out;
}

}  // namespace plume::scheduler
