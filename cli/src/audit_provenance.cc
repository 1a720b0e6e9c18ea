// The pure provenance checks of `plume audit` (contracts in audit_provenance.h). Each returns
// one CheckResult whose problems name the round, ledger entry and hash at fault, so a failed
// audit says where to look.
#include "audit_provenance.h"

#include <map>
#include <set>

namespace plume::cli {
namespace {

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16) + ".."; }

std::string At(const ReceiptFacts& r) {
  return "entry #" + std::to_string(r.entry_index) + " (task " + r.task_id + ")";
}

CheckResult Finish(CheckResult c, const std::string& ok_summary) {
  if (!c.problems.empty()) {
    c.status = CheckStatus::kProblem;
    c.summary = std::to_string(c.problems.size()) + " problem(s): " + c.problems.front();
  } else {
    c.status = CheckStatus::kOk;
    c.summary = ok_summary;
  }
  return c;
}

CheckResult NotChecked(const std::string& name, const std::string& why) {
  return CheckResult{name, CheckStatus::kNotChecked, why, {}};
}

// A settled receipt of round `r` must have started from the round's parameters.
std::vector<std::string> CheckDeltasOfRound(
    const RoundFacts& r, const std::multimap<Hash256, const ReceiptFacts*>& by_output) {
  std::vector<std::string> problems;
  const std::string at = "round " + std::to_string(r.round);
  if (r.deltas.empty()) problems.push_back(at + ": the outer step averaged no deltas");
  if (r.deltas.size() != r.weights.size()) {
    problems.push_back(at + ": " + std::to_string(r.deltas.size()) + " deltas but " +
                       std::to_string(r.weights.size()) + " weights");
  }
  for (size_t w = 0; w < r.deltas.size(); ++w) {
    const auto [first, last] = by_output.equal_range(r.deltas[w]);
    if (first == last) {
      problems.push_back(at + ": delta " + std::to_string(w) + " (" + Short(r.deltas[w]) +
                         ") is the output of no settled receipt in the ledger");
      continue;
    }
    bool from_round = false;
    for (auto it = first; it != last; ++it) {
      from_round |= !it->second->inputs.empty() && it->second->inputs[0] == r.params_in;
    }
    if (!from_round) {
      problems.push_back(at + ": the receipt for delta " + std::to_string(w) + " (" +
                         At(*first->second) + ") did not start from the round's parameters " +
                         Short(r.params_in));
    }
  }
  return problems;
}

// What the --spec file fixes about the rounds (SpecFacts); each fact is compared when known.
std::vector<std::string> CheckAgainstSpec(const JobRecord& job, const SpecFacts& spec) {
  std::vector<std::string> problems;
  if (spec.initial_params && job.rounds.front().params_in != *spec.initial_params) {
    problems.push_back("round 0 starts from " + Short(job.rounds.front().params_in) +
                       ", not from the spec's seeded initialisation " +
                       Short(*spec.initial_params));
  }
  for (const RoundFacts& r : job.rounds) {
    const std::string at = "round " + std::to_string(r.round);
    // The scheduler's values come from parsing the same text, so they are equal, not close.
    if ((spec.outer_lr && r.outer_lr != *spec.outer_lr) ||
        (spec.outer_momentum && r.outer_momentum != *spec.outer_momentum)) {
      problems.push_back(at + ": outer step with lr " + std::to_string(r.outer_lr) +
                         " and momentum " + std::to_string(r.outer_momentum) + ", not the spec's");
    }
    if (spec.workers && r.deltas.size() > *spec.workers) {
      problems.push_back(at + ": " + std::to_string(r.deltas.size()) + " deltas, the spec has " +
                         std::to_string(*spec.workers) + " workers");
    }
  }
  if (spec.rounds && job.succeeded && job.rounds.size() != *spec.rounds) {
    problems.push_back("rounds: the job finished after " + std::to_string(job.rounds.size()) +
                       " round(s), the spec asks for " + std::to_string(*spec.rounds));
  }
  return problems;
}

}  // namespace

std::string StatusName(CheckStatus s) {
  switch (s) {
    case CheckStatus::kOk:
      return "ok";
    case CheckStatus::kProblem:
      return "PROBLEM";
    case CheckStatus::kNotChecked:
      return "not checked";
    case CheckStatus::kNotApplicable:
      return "n/a";
  }
  return "?";
}

CheckResult CheckSpec(const JobRecord& job, const std::optional<Hash256>& spec_file_hash) {
  CheckResult c{"spec", CheckStatus::kOk, "", {}};
  if (!job.spec_hash) {
    c.problems.push_back("spec hash: the scheduler's record of the job has none");
    return Finish(std::move(c), "");
  }
  if (!spec_file_hash) {
    return NotChecked("spec", "spec hash " + ToHex(*job.spec_hash) +
                                  " not compared with a file (agents do not list it in "
                                  "receipts): give --spec FILE to check it");
  }
  if (*spec_file_hash != *job.spec_hash) {
    c.problems.push_back("spec hash: the --spec file hashes to " + ToHex(*spec_file_hash) +
                         ", the job was submitted with spec hash " + ToHex(*job.spec_hash));
  }
  return Finish(std::move(c),
                "the --spec file hashes to the job's spec hash " + ToHex(*job.spec_hash));
}

CheckResult CheckDataInputs(const JobRecord& job, const std::vector<ReceiptFacts>& receipts) {
  CheckResult c{"data", CheckStatus::kOk, "", {}};
  std::set<Hash256> data;
  std::string names;
  for (const auto& [name, hash] : job.data_blobs) {
    data.insert(hash);
    names += (names.empty() ? "" : ", ") + name + " " + Short(hash);
  }
  // Train receipts list the round's parameters first; infer receipts list only the checkpoint.
  const size_t first_data = job.train ? 1 : 0;
  for (const ReceiptFacts& r : receipts) {
    if (r.inputs.size() <= first_data) {
      c.problems.push_back(At(r) + ": lists " + std::to_string(r.inputs.size()) +
                           " input(s), no data input");
      continue;
    }
    for (size_t i = first_data; i < r.inputs.size(); ++i) {
      if (!data.count(r.inputs[i])) {
        c.problems.push_back(At(r) + ": data input " + Short(r.inputs[i]) +
                             " is not one of the job's data blobs");
      }
    }
  }
  return Finish(std::move(c), std::to_string(receipts.size()) +
                                  " receipt(s) read only the job's data blobs (" + names + ")");
}

CheckResult CheckRounds(const JobRecord& job, const std::vector<ReceiptFacts>& receipts,
                        const SpecFacts& spec) {
  if (!job.train) return {"rounds", CheckStatus::kNotApplicable, "an infer job has no rounds", {}};
  CheckResult c{"rounds", CheckStatus::kOk, "", {}};
  if (job.rounds.empty()) {
    if (job.succeeded) c.problems.push_back("rounds: the job succeeded with no finished round");
    return Finish(std::move(c), "no round has finished yet");
  }
  std::multimap<Hash256, const ReceiptFacts*> by_output;
  for (const ReceiptFacts& r : receipts) {
    if (r.settled) by_output.emplace(r.output, &r);
  }
  std::set<Hash256> starts;
  for (size_t i = 0; i < job.rounds.size(); ++i) {
    const RoundFacts& r = job.rounds[i];
    starts.insert(r.params_in);
    if (r.round != i) {
      c.problems.push_back("round " + std::to_string(r.round) + " is listed where round " +
                           std::to_string(i) + " belongs");
    }
    if (i > 0 && r.params_in != job.rounds[i - 1].params_out) {
      c.problems.push_back("round " + std::to_string(r.round) + " starts from " +
                           Short(r.params_in) + ", but round " + std::to_string(r.round - 1) +
                           " produced " + Short(job.rounds[i - 1].params_out));
    }
    for (std::string& p : CheckDeltasOfRound(r, by_output)) c.problems.push_back(std::move(p));
  }
  for (std::string& p : CheckAgainstSpec(job, spec)) c.problems.push_back(std::move(p));
  // A job still running (or failed mid-round) may have paid receipts of the round after the
  // last finished one, which started from that round's output.
  if (!job.succeeded) starts.insert(job.rounds.back().params_out);
  for (const ReceiptFacts& r : receipts) {
    if (!r.settled || r.inputs.empty() || starts.count(r.inputs[0])) continue;
    c.problems.push_back(At(r) + ": started from parameters " + Short(r.inputs[0]) +
                         ", which no round of the job started from");
  }
  std::string summary = std::to_string(job.rounds.size()) + " round(s) chain " +
                        Short(job.rounds.front().params_in) + " -> " +
                        Short(job.rounds.back().params_out) +
                        "; every delta is a settled receipt's output from its round's parameters";
  summary += spec.initial_params ? "; round 0 starts from the spec's seeded initialisation"
                                 : " (round 0's start not compared with a seeded initialisation: "
                                   "give --spec with the job's train spec)";
  return Finish(std::move(c), summary);
}

CheckResult CheckOutputs(const JobRecord& job, const std::vector<ReceiptFacts>& receipts) {
  if (!job.succeeded) {
    return NotChecked("output", "the job is " + job.state + ": it has no final output");
  }
  CheckResult c{"output", CheckStatus::kOk, "", {}};
  if (job.train) {
    if (job.output_shards.size() != 1 || job.rounds.empty()) {
      c.problems.push_back("final output: expected one model and at least one round, got " +
                           std::to_string(job.output_shards.size()) + " output(s) and " +
                           std::to_string(job.rounds.size()) + " round(s)");
    } else if (job.output_shards[0] != job.rounds.back().params_out) {
      c.problems.push_back("final output: the model " + Short(job.output_shards[0]) +
                           " is not the last round's checkpoint " +
                           Short(job.rounds.back().params_out));
    }
    return Finish(std::move(c), "the final model is the last round's checkpoint");
  }
  std::set<Hash256> settled_outputs;
  for (const ReceiptFacts& r : receipts) {
    if (r.settled) settled_outputs.insert(r.output);
  }
  if (job.output_shards.empty()) c.problems.push_back("final output: the job has no output shard");
  for (size_t i = 0; i < job.output_shards.size(); ++i) {
    if (!settled_outputs.count(job.output_shards[i])) {
      c.problems.push_back("output shard " + std::to_string(i) + " (" +
                           Short(job.output_shards[i]) +
                           ") is the output of no settled receipt in the ledger");
    }
  }
  return Finish(std::move(c), "each of the " + std::to_string(job.output_shards.size()) +
                                  " output shard(s) is a settled receipt's output");
}

}  // namespace plume::cli
