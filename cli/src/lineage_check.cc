// CheckLineage (lineage.h): every link re-derived from the entry it cites, as proven included
// under a head the trusted ledger key signed. The entries come from the proofs, never from the
// chain itself, so a chain that names the wrong checkpoint, a dataset its step did not read, or
// an entry that is not in the ledger fails here.
#include <algorithm>

#include "lineage.h"
#include "plume/data/royalty.h"
#include "plume/data/terms.h"
#include "plume/ledger/lineage.h"

namespace plume::cli {
namespace {

using ledger::EntryType;

std::string At(uint64_t index) { return "entry #" + std::to_string(index); }

class Checker {
 public:
  Checker(const ProofSource& proofs, const PublicKey& trusted, LineageCheck& out)
      : proofs_(proofs), trusted_(trusted), out_(out) {}

  // The entry at `index` as proven; nullptr (with a problem) when it cannot be.
  const ledger::Entry* Proven(uint64_t index) {
    auto it = proven_.find(index);
    if (it != proven_.end()) return it->second ? &it->second->logged.entry : nullptr;
    std::optional<ledger::InclusionBundle> b = proofs_(index);
    if (!b) {
      Problem(At(index) + ": the ledger gives no inclusion proof");
    } else if (b->logged.index != index || !ledger::CheckInclusion(*b, trusted_)) {
      Problem(At(index) + ": inclusion proof does not verify against a head signed by " +
              ToHex(trusted_).substr(0, 16) + "..");
      b.reset();
    } else {
      ++out_.proofs;
    }
    auto& slot = proven_[index];
    slot = std::move(b);
    return slot ? &slot->logged.entry : nullptr;
  }

  void Step(const StepLink& s, const std::string& what) {
    const ledger::Entry* e = Proven(s.entry);
    if (e == nullptr) return;
    ++out_.links;
    const bool step_type = e->type == EntryType::kSettle || e->type == EntryType::kTaskReceipt ||
                           e->type == EntryType::kSlash;
    if (!step_type || !e->receipt) {
      Problem(what + ": " + At(s.entry) + " is not a receipt");
      return;
    }
    const ledger::TaskReceipt& r = *e->receipt;
    if (e->job != s.job || r.task_id != s.task || r.agent != s.agent ||
        r.input_hashes != s.inputs || r.output_hash != s.output ||
        (e->type == EntryType::kSettle) != s.settled ||
        (e->type == EntryType::kSlash) != s.slashed) {
      Problem(what + ": the chain's step differs from the receipt in " + At(s.entry));
      return;
    }
    std::map<std::string, uint64_t> claimed;
    if (e->type == EntryType::kSettle && !e->body.empty()) {
      if (auto claims = data::DecodeClaims(e->body)) {
        for (const data::RoyaltyClaim& c : *claims) claimed[c.dataset] = c.tokens;
      }
    }
    for (const DatasetLink& d : s.datasets) {
      Dataset(d, s, claimed, what);
      claimed.erase(d.dataset);
    }
    for (const auto& [dataset, tokens] : claimed) {
      Problem(what + ": the settle in " + At(s.entry) + " pays a royalty for dataset " + dataset +
              ", which the chain does not list");
    }
  }

  void Dataset(const DatasetLink& d, const StepLink& s,
               const std::map<std::string, uint64_t>& claimed, const std::string& what) {
    const std::string where = what + ", dataset " + d.dataset;
    const ledger::Entry* e = Proven(d.entry);
    if (e == nullptr) return;
    ++out_.links;
    auto terms = e->type == EntryType::kDatasetPublish ? data::DecodeTerms(e->body)
                                                       : Result<data::Terms>(Fail("not a publish"));
    if (!terms || data::DatasetId(*terms) != d.dataset || terms->owner != d.owner ||
        terms->blob_hash != d.blob) {
      Problem(where + ": " + At(d.entry) + " does not publish it with that owner and blob");
      return;
    }
    if (std::find(s.inputs.begin() + (s.inputs.empty() ? 0 : 1), s.inputs.end(), d.blob) ==
        s.inputs.end()) {
      Problem(where + ": its blob is not among the data the receipt in " + At(s.entry) +
              " read");
      return;
    }
    auto it = claimed.find(d.dataset);
    if (d.tokens != (it == claimed.end() ? 0 : it->second)) {
      Problem(where + ": " + std::to_string(d.tokens) + " tokens, but the settle in " +
              At(s.entry) + " claims " + (it == claimed.end() ? "none" : std::to_string(it->second)));
    }
  }

  void Model(const ModelLink& m) {
    if (m.rounds.empty()) {
      Problem("model " + ToHex(m.checkpoint) + ": no round made it");
      return;
    }
    if (m.rounds.front().params_out != m.checkpoint) {
      Problem("model " + ToHex(m.checkpoint) + ": the chain's last round made " +
              ToHex(m.rounds.front().params_out) + ", another checkpoint");
    }
    for (size_t i = 0; i < m.rounds.size(); ++i) {
      const RoundLink& r = m.rounds[i];
      const uint32_t want = m.rounds.front().round - static_cast<uint32_t>(i);
      if (r.round != want) Problem("job " + m.job + ": round " + std::to_string(want) + " missing");
      if (i + 1 < m.rounds.size() && r.params_in != m.rounds[i + 1].params_out) {
        Problem("job " + m.job + " round " + std::to_string(r.round) +
                " did not start from the previous round's output");
      }
      Round(m.job, r);
    }
    if (m.rounds.back().round != 0) Problem("job " + m.job + ": the chain stops before round 0");
  }

  void Round(const std::string& job, const RoundLink& r) {
    const std::string what = "job " + job + " round " + std::to_string(r.round);
    const ledger::Entry* e = Proven(r.entry);
    if (e == nullptr) return;
    ++out_.links;
    auto f = e->type == EntryType::kCheckpoint
                 ? ledger::DecodeCheckpoint(e->body)
                 : Result<ledger::CheckpointFact>(Fail("not a checkpoint"));
    if (!f || e->job != job || f->round != r.round || f->final != r.final ||
        f->params_in != r.params_in || f->params_out != r.params_out) {
      Problem(what + ": " + At(r.entry) + " is not this round's checkpoint");
      return;
    }
    if (r.workers.size() != f->deltas.size()) {
      Problem(what + ": the checkpoint averaged " + std::to_string(f->deltas.size()) +
              " deltas; the chain shows " + std::to_string(r.workers.size()) + " workers");
    }
    for (size_t k = 0; k < r.workers.size(); ++k) {
      const StepLink& w = r.workers[k];
      const std::string who = what + " worker " + std::to_string(k);
      // A run proven faulty after its round averaged it, with nothing staked to slash: its
      // receipt is recorded as the scheduler's "receipt:<run>" (a task_receipt).
      const ledger::Entry* we = Proven(w.entry);
      const bool recorded = we != nullptr && we->type == EntryType::kTaskReceipt &&
                            we->id.starts_with("receipt:");
      if (w.job != job || w.inputs.empty() || w.inputs[0] != r.params_in ||
          !(w.settled || w.slashed || recorded) ||
          k >= f->deltas.size() || w.output != f->deltas[k]) {
        Problem(who + ": its settled receipt is not a delta of this round");
      }
      Step(w, who);
    }
  }

  void Problem(std::string p) { out_.problems.push_back(std::move(p)); }

 private:
  const ProofSource& proofs_;
  const PublicKey& trusted_;
  LineageCheck& out_;
  std::map<uint64_t, std::optional<ledger::InclusionBundle>> proven_;
};

}  // namespace

LineageCheck CheckLineage(const Lineage& lineage, const ProofSource& proofs,
                          const PublicKey& trusted) {
  LineageCheck out;
  for (const std::string& gap : lineage.gaps) out.problems.push_back(gap);
  Checker check(proofs, trusted, out);
  for (size_t i = 0; i < lineage.outputs.size(); ++i) {
    const StepLink& s = lineage.outputs[i];
    const std::string what = "output step " + std::to_string(i);
    if (lineage.blob && s.output != *lineage.blob) {
      check.Problem(what + ": produced " + ToHex(s.output) + ", not the blob asked about");
    }
    if (!lineage.job.empty() && s.job != lineage.job) {
      check.Problem(what + ": belongs to job " + s.job + ", not " + lineage.job);
    }
    // Every output of the job starts from the one model the chain names.
    if (lineage.model && (s.inputs.empty() || s.inputs[0] != lineage.model->checkpoint)) {
      check.Problem(what + ": did not read the model " + ToHex(lineage.model->checkpoint));
    }
    if (s.slashed) check.Problem(what + ": a slashed run is not an output");
    check.Step(s, what);
  }
  if (lineage.model) check.Model(*lineage.model);
  if (!lineage.model && !lineage.model_external && lineage.gaps.empty()) {
    check.Problem("the chain names no model and does not say the model came from outside");
  }
  return out;
}

}  // namespace plume::cli
