// Dispute verdicts recomputed from their evidence blobs (audit_evidence.h).
#include "audit_evidence.h"

#include <algorithm>

#include "plume/ledger/verdict.h"
#include "plume/verify/evidence.h"

namespace plume::cli {
namespace {

constexpr const char* kRoles[] = {"original", "audit", "referee"};

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16) + ".."; }

// The agent of each run's receipt in the ledger, in the verdict's run order (none: not there).
std::vector<std::optional<PublicKey>> AgentsOf(const TaskVerdict* v, size_t runs) {
  std::vector<std::optional<PublicKey>> out(runs);
  if (v == nullptr) return out;
  for (size_t i = 0; i < runs && i < 3; ++i) {
    for (const RunFact& r : v->runs) {
      if (r.role != kRoles[i]) continue;
      auto key = HashFromHex(r.provider);  // a key is 32 bytes, like a hash
      if (key) out[i] = *key;
    }
  }
  return out;
}

EvidenceResult Recompute(const std::string& job, const ledger::VerdictFact& f,
                         const TaskVerdict* ledger_view, const BlobSource& blobs,
                         const std::optional<verify::EvidenceSpec>& spec) {
  EvidenceResult r;
  r.blob = *f.evidence;
  auto bytes = blobs(r.blob);
  if (!bytes) {
    r.problem = "cannot fetch its evidence blob " + Short(r.blob) + ": " + bytes.error().message;
    return r;
  }
  const std::span<const uint8_t> raw(reinterpret_cast<const uint8_t*>(bytes->data()),
                                     bytes->size());
  if (verify::EvidenceHash(raw) != r.blob) {
    r.problem = "the scheduler served bytes that are not the evidence blob " + Short(r.blob);
    return r;
  }
  auto e = verify::DecodeEvidence(raw);
  if (!e) {
    r.problem = "its evidence blob " + Short(r.blob) + " does not decode: " + e.error().message;
    return r;
  }
  const verify::EvidenceRoots roots =
      verify::ReceiptRoots(f, job, *e, AgentsOf(ledger_view, f.runs.size()));
  r.problem = !roots.problem.empty() ? roots.problem
                                     : verify::DisputeEvidenceProblem(f, *e, roots.roots);
  if (r.problem.empty() && spec) r.problem = verify::EvidenceSizeProblem(*e, *spec);
  if (!r.problem.empty()) {
    r.problem = "its evidence blob " + Short(r.blob) + " contradicts it: " + r.problem;
    return r;
  }
  r.recomputed = true;
  const bool train = e->kind == verify::EvidenceKind::kTrain;
  const std::string size = std::to_string(e->size) + (train ? " inner steps" : " prompts");
  r.how = std::string("dispute recomputed from the ledger and the evidence blob ") +
          Short(r.blob) + ": " + (train ? "chains of " : "completion lists of ") +
          std::to_string(e->runs[0].commitments.size()) + " and " +
          std::to_string(e->runs[1].commitments.size()) + " entries, each signed by its run's "
          "receipt; " +
          (e->runs.size() == 3
               ? std::string(train ? "they part at link " : "they first differ at prompt ") +
                     std::to_string(f.dispute_link) + " and the referee's " +
                     std::to_string(e->runs[2].commitments.size()) + " recomputed commitment(s) "
                     "give " + std::string(ledger::VerdictOutcomeName(f.outcome))
               : "a list of the wrong length gives " +
                     std::string(ledger::VerdictOutcomeName(f.outcome)) + " with no referee") +
          (spec ? "; the size, " + size + ", is the spec's"
                : "; the size, " + size + ", is the scheduler's word (--spec checks it)");
  return r;
}

}  // namespace

std::map<std::string, EvidenceResult> CheckEvidence(
    const std::string& job, const std::vector<ledger::LoggedEntry>& job_entries,
    const BlobSource& blobs, const std::optional<verify::EvidenceSpec>& spec) {
  const std::vector<TaskVerdict> verdicts = VerdictsOf(job_entries);
  std::map<std::string, EvidenceResult> out;
  for (const ledger::LoggedEntry& l : job_entries) {
    if (l.entry.type != ledger::EntryType::kVerdict) continue;
    auto f = ledger::DecodeVerdict(l.entry.body);
    if (!f || !f->evidence) continue;
    auto v = std::find_if(verdicts.begin(), verdicts.end(),
                          [&](const TaskVerdict& t) { return t.task == f->task; });
    out[f->task] = Recompute(job, *f, v == verdicts.end() ? nullptr : &*v, blobs, spec);
  }
  return out;
}

CheckResult EvidenceCheckResult(const std::map<std::string, EvidenceResult>& results) {
  CheckResult c;
  c.name = "evidence";
  if (results.empty()) {
    c.status = CheckStatus::kNotApplicable;
    c.summary = "no dispute verdict names an evidence blob";
    return c;
  }
  size_t ok = 0;
  for (const auto& [task, r] : results) {
    if (r.recomputed) {
      ++ok;
    } else {
      c.problems.push_back("task " + task + ": " + r.problem);
    }
  }
  c.status = c.problems.empty() ? CheckStatus::kOk : CheckStatus::kProblem;
  c.summary = std::to_string(ok) + " of " + std::to_string(results.size()) +
              " dispute verdicts recomputed from their evidence blobs";
  return c;
}

void ApplyEvidence(std::vector<TaskVerdict>& verdicts,
                   const std::map<std::string, EvidenceResult>& results) {
  for (TaskVerdict& v : verdicts) {
    auto r = results.find(v.task);
    if (r == results.end()) continue;
    v.evidence_checked = true;
    if (r->second.recomputed) {
      v.recomputed_from_evidence = true;
      v.how = r->second.how;
    } else {
      v.problems.push_back(r->second.problem);
    }
  }
}

}  // namespace plume::cli
