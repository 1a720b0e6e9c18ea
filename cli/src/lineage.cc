// BuildLineage (lineage.h): the chain found by walking the ledger's entries backwards.
#include "lineage.h"

#include <algorithm>
#include <set>

#include "plume/data/royalty.h"
#include "plume/data/terms.h"
#include "plume/ledger/lineage.h"

namespace plume::cli {
namespace {

using ledger::EntryType;
using ledger::LoggedEntry;

bool IsStepEntry(const ledger::Entry& e) {
  return (e.type == EntryType::kSettle || e.type == EntryType::kTaskReceipt ||
          e.type == EntryType::kSlash) &&
         e.receipt.has_value();
}

// What the walk looks things up by; built once from the entries.
class Finder {
 public:
  explicit Finder(const EntryIndex& entries) : entries_(entries) {
    for (const auto& [index, l] : entries) {
      const ledger::Entry& e = l.entry;
      if (IsStepEntry(e)) by_output_[e.receipt->output_hash].push_back(index);
      if (e.type == EntryType::kCheckpoint) {
        if (auto f = ledger::DecodeCheckpoint(e.body)) {
          by_params_out_.emplace(f->params_out, index);  // the first producer of these bytes
          by_round_[{e.job, f->round}] = index;
          if (f->final) final_of_[e.job] = index;
        }
      }
      if (e.type == EntryType::kDatasetPublish) {
        if (auto t = data::DecodeTerms(e.body)) by_blob_[t->blob_hash].push_back(index);
      }
    }
  }

  std::vector<uint64_t> Producers(const Hash256& output) const {
    auto it = by_output_.find(output);
    return it == by_output_.end() ? std::vector<uint64_t>{} : it->second;
  }
  std::optional<uint64_t> CheckpointMaking(const Hash256& params) const {
    auto it = by_params_out_.find(params);
    if (it == by_params_out_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<uint64_t> CheckpointOf(const std::string& job, uint32_t round) const {
    auto it = by_round_.find({job, round});
    if (it == by_round_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<uint64_t> FinalOf(const std::string& job) const {
    auto it = final_of_.find(job);
    if (it == final_of_.end()) return std::nullopt;
    return it->second;
  }
  bool HasCheckpoints(const std::string& job) const {
    auto it = by_round_.lower_bound({job, 0});
    return it != by_round_.end() && it->first.first == job;
  }
  const LoggedEntry& At(uint64_t index) const { return entries_.at(index); }

  StepLink Step(uint64_t index) const {
    const ledger::Entry& e = At(index).entry;
    const ledger::TaskReceipt& r = *e.receipt;
    StepLink s{e.job, r.task_id, r.agent, r.input_hashes, r.output_hash,
               e.type == EntryType::kSettle, e.type == EntryType::kSlash, index, {}, {}};
    std::map<std::string, uint64_t> claimed;
    if (e.type == EntryType::kSettle && !e.body.empty()) {
      if (auto claims = data::DecodeClaims(e.body)) {
        for (const data::RoyaltyClaim& c : *claims) claimed[c.dataset] = c.tokens;
      }
    }
    // Input 0 is the model or the round's parameters; the rest is data (or tokenizer files).
    for (size_t i = 1; i < r.input_hashes.size(); ++i) {
      auto it = by_blob_.find(r.input_hashes[i]);
      if (it == by_blob_.end()) {
        s.other_data.push_back(r.input_hashes[i]);
        continue;
      }
      for (uint64_t p : it->second) {
        auto t = data::DecodeTerms(At(p).entry.body);
        const std::string id = data::DatasetId(*t);
        const uint64_t tokens = claimed.contains(id) ? claimed.at(id) : 0;
        s.datasets.push_back(DatasetLink{id, t->name, t->owner, t->blob_hash, tokens, p});
      }
    }
    return s;
  }

  // The step of `job` that started from `params` and returned `delta`: its settle if there is
  // one (an audit's re-run of the same task has its own settle; the first is the worker's),
  // else the slash of a run proven faulty after its round used it, else the receipt the
  // scheduler recorded for such a run when nothing was staked to slash ("receipt:<run>").
  std::optional<uint64_t> WorkerStep(const std::string& job, const Hash256& params,
                                     const Hash256& delta) const {
    std::optional<uint64_t> slashed, recorded;
    for (uint64_t i : Producers(delta)) {
      const ledger::Entry& e = At(i).entry;
      if (e.job != job || e.receipt->input_hashes.empty() ||
          e.receipt->input_hashes[0] != params) {
        continue;
      }
      if (e.type == EntryType::kSettle) return i;
      if (e.type == EntryType::kSlash && !slashed) slashed = i;
      if (e.type == EntryType::kTaskReceipt && e.id.starts_with("receipt:") && !recorded) {
        recorded = i;
      }
    }
    return slashed ? slashed : recorded;
  }

 private:
  const EntryIndex& entries_;
  std::map<Hash256, std::vector<uint64_t>> by_output_;
  std::map<Hash256, uint64_t> by_params_out_;
  std::map<std::pair<std::string, uint32_t>, uint64_t> by_round_;
  std::map<std::string, uint64_t> final_of_;
  std::map<Hash256, std::vector<uint64_t>> by_blob_;
};

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16) + ".."; }

// Rounds `from` down to 0 of the job whose checkpoint entry `at` made `checkpoint`.
ModelLink BuildModel(const Finder& find, uint64_t at, std::vector<std::string>& gaps) {
  const ledger::Entry& top = find.At(at).entry;
  ModelLink m;
  m.job = top.job;
  m.checkpoint = ledger::DecodeCheckpoint(top.body)->params_out;
  std::optional<uint64_t> index = at;
  uint32_t round = ledger::DecodeCheckpoint(top.body)->round;
  while (true) {
    if (!index) {
      gaps.push_back("job " + m.job + " round " + std::to_string(round) +
                     ": no checkpoint entry in the ledger");
      return m;
    }
    const auto fact = ledger::DecodeCheckpoint(find.At(*index).entry.body);
    RoundLink r{fact->round, fact->final, fact->params_in, fact->params_out, *index, {}};
    for (const Hash256& delta : fact->deltas) {
      auto step = find.WorkerStep(m.job, fact->params_in, delta);
      if (!step) {
        gaps.push_back("job " + m.job + " round " + std::to_string(round) + ": delta " +
                       Short(delta) + " has no settled, slashed or recorded receipt of the job "
                       "(not settled yet)");
        continue;
      }
      r.workers.push_back(find.Step(*step));
    }
    m.rounds.push_back(std::move(r));
    if (round == 0) return m;
    index = find.CheckpointOf(m.job, --round);
  }
}

// The model an inference (or worker) step started from, when a job of this ledger made it.
void AddModel(const Finder& find, const Hash256& model, Lineage& out) {
  auto at = find.CheckpointMaking(model);
  if (!at) {
    out.model_external = true;
    return;
  }
  out.model = BuildModel(find, *at, out.gaps);
}

void FromJob(const Finder& find, const EntryIndex& entries, Lineage& out) {
  out.job = out.target;
  if (find.HasCheckpoints(out.job)) {
    auto final = find.FinalOf(out.job);
    if (!final) {
      out.gaps.push_back("job " + out.job + " has no final checkpoint entry (still training?)");
      return;
    }
    out.model = BuildModel(find, *final, out.gaps);
    return;
  }
  for (const auto& [index, l] : entries) {
    if (l.entry.job == out.job && l.entry.type == EntryType::kSettle && l.entry.receipt) {
      out.outputs.push_back(find.Step(index));
    }
  }
  if (out.outputs.empty()) {
    out.gaps.push_back("job " + out.job + " has no settled task in the ledger");
    return;
  }
  if (!out.outputs[0].inputs.empty()) AddModel(find, out.outputs[0].inputs[0], out);
}

}  // namespace

bool IsLineageEntry(const ledger::Entry& e) {
  return IsStepEntry(e) || e.type == EntryType::kCheckpoint ||
         e.type == EntryType::kDatasetPublish;
}

std::vector<uint64_t> Lineage::CitedEntries() const {
  std::set<uint64_t> cited;
  auto step = [&](const StepLink& s) {
    cited.insert(s.entry);
    for (const DatasetLink& d : s.datasets) cited.insert(d.entry);
  };
  for (const StepLink& s : outputs) step(s);
  if (model) {
    for (const RoundLink& r : model->rounds) {
      cited.insert(r.entry);
      for (const StepLink& s : r.workers) step(s);
    }
  }
  return {cited.begin(), cited.end()};
}

Lineage BuildLineage(const std::string& target, const EntryIndex& entries) {
  const Finder find(entries);
  Lineage out;
  out.target = target;
  auto hash = target.size() == 64 ? HashFromHex(target) : Result<Hash256>(Fail("not a hash"));
  if (!hash) {
    FromJob(find, entries, out);
    return out;
  }
  out.blob = *hash;
  if (auto at = find.CheckpointMaking(*hash)) {  // a model a training round made
    out.job = find.At(*at).entry.job;
    out.model = BuildModel(find, *at, out.gaps);
    return out;
  }
  for (uint64_t i : find.Producers(*hash)) {
    if (find.At(i).entry.type != EntryType::kSlash) out.outputs.push_back(find.Step(i));
  }
  if (out.outputs.empty()) {
    out.gaps.push_back("no entry of this ledger produced blob " + target +
                       " (no receipt names it as its output, no checkpoint entry as its model)");
    return out;
  }
  out.job = out.outputs[0].job;
  if (!out.outputs[0].inputs.empty()) AddModel(find, out.outputs[0].inputs[0], out);
  return out;
}

}  // namespace plume::cli
