// Lineage from a ledger directory (lineage_ledger.h): the chain, its check and its report.
#include "lineage_ledger.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

namespace plume::cli {
namespace {

using nlohmann::json;

json Hexes(const std::vector<Hash256>& hs) {
  json a = json::array();
  for (const Hash256& h : hs) a.push_back(ToHex(h));
  return a;
}

json StepJson(const StepLink& s) {
  json datasets = json::array();
  for (const DatasetLink& d : s.datasets) {
    datasets.push_back({{"dataset", d.dataset},
                        {"name", d.name},
                        {"owner", ToHex(d.owner)},
                        {"blob", ToHex(d.blob)},
                        {"tokens", d.tokens},
                        {"entry", d.entry}});
  }
  return {{"job", s.job},           {"task", s.task},
          {"provider", ToHex(s.agent)}, {"inputs", Hexes(s.inputs)},
          {"output", ToHex(s.output)},  {"settled", s.settled},
          {"slashed", s.slashed},
          {"entry", s.entry},           {"datasets", datasets},
          {"other_data", Hexes(s.other_data)}};
}

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16) + ".."; }

void PrintStep(const StepLink& s, const std::string& indent) {
  std::cout << indent << "task " << s.task << " of " << s.job << " by provider "
            << Short(s.agent)
            << (s.slashed ? " (PROVEN FAULTY, slashed" : s.settled ? " (settled" : " (recorded")
            << ", entry #"
            << s.entry << "): output " << Short(s.output) << "\n";
  for (const DatasetLink& d : s.datasets) {
    std::cout << indent << "  read dataset " << d.dataset << " \"" << d.name << "\" of owner "
              << ToHex(d.owner) << " (published in entry #" << d.entry << ")";
    if (d.tokens > 0) std::cout << ", " << d.tokens << " tokens paid for";
    std::cout << "\n";
  }
  for (const Hash256& h : s.other_data) {
    std::cout << indent << "  read " << Short(h) << " (no dataset publishes it)\n";
  }
}

}  // namespace

Result<LineageReport> TraceLineage(const ledger::Ledger& ledger, const std::string& target,
                                   const PublicKey& trusted) {
  EntryIndex entries;
  auto st = ledger.ForEachEntry(0, [&](const ledger::LoggedEntry& l) {
    if (IsLineageEntry(l.entry)) entries.emplace(l.index, l);
    return true;
  });
  if (!st) return tl::unexpected(st.error());
  LineageReport r;
  r.trusted = trusted;
  r.tree_size = ledger.Head().tree_size;
  r.lineage = BuildLineage(target, entries);
  r.check = CheckLineage(
      r.lineage,
      [&ledger](uint64_t index) -> std::optional<ledger::InclusionBundle> {
        auto b = ledger.ProveInclusion(index);
        if (!b) return std::nullopt;
        return std::move(*b);
      },
      trusted);
  return r;
}

std::string LineageSummary(const LineageReport& r) {
  const Lineage& l = r.lineage;
  std::string out = std::to_string(r.check.links) + " links, " + std::to_string(r.check.proofs) +
                    " entries proven";
  if (l.model) {
    std::set<std::string> datasets;
    size_t faulty = 0;
    for (const RoundLink& round : l.model->rounds) {
      for (const StepLink& w : round.workers) {
        faulty += w.slashed;
        for (const DatasetLink& d : w.datasets) datasets.insert(d.dataset);
      }
    }
    if (faulty > 0) {
      out += "; " + std::to_string(faulty) + " delta(s) of runs proven faulty are in the model";
    }
    out += "; model " + Short(l.model->checkpoint) + " from job " + l.model->job + " (" +
           std::to_string(l.model->rounds.size()) + " rounds, " +
           std::to_string(datasets.size()) + " datasets)";
  } else if (l.model_external) {
    out += "; the model was not made by a job of this ledger (uploaded)";
  }
  return out;
}

void PrintLineageJson(const LineageReport& r) {
  const Lineage& l = r.lineage;
  json outputs = json::array();
  for (const StepLink& s : l.outputs) outputs.push_back(StepJson(s));
  json j{{"target", l.target},
         {"job", l.job},
         {"verified", r.check.ok()},
         {"problems", r.check.problems},
         {"links", r.check.links},
         {"proofs", r.check.proofs},
         {"ledger_key", ToHex(r.trusted)},
         {"tree_size", r.tree_size},
         {"entries", l.CitedEntries()},
         {"outputs", outputs},
         {"model_external", l.model_external}};
  if (l.model) {
    json rounds = json::array();
    for (const RoundLink& round : l.model->rounds) {
      json workers = json::array();
      for (const StepLink& w : round.workers) workers.push_back(StepJson(w));
      rounds.push_back({{"round", round.round},
                        {"final", round.final},
                        {"params_in", ToHex(round.params_in)},
                        {"params_out", ToHex(round.params_out)},
                        {"entry", round.entry},
                        {"workers", workers}});
    }
    j["model"] = {{"checkpoint", ToHex(l.model->checkpoint)},
                  {"job", l.model->job},
                  {"rounds", rounds}};
  }
  std::cout << j.dump() << "\n";
}

void PrintLineageText(const LineageReport& r) {
  const Lineage& l = r.lineage;
  std::cout << "lineage of " << l.target << (l.job.empty() ? "" : " (job " + l.job + ")")
            << "\n";
  for (const StepLink& s : l.outputs) PrintStep(s, "  ");
  if (l.model) {
    std::cout << "  model " << ToHex(l.model->checkpoint) << " made by training job "
              << l.model->job << "\n";
    for (const RoundLink& round : l.model->rounds) {
      std::cout << "    round " << round.round << (round.final ? " (final)" : "") << ": "
                << Short(round.params_in) << " -> " << Short(round.params_out)
                << ", checkpoint entry #" << round.entry << ", " << round.workers.size()
                << " workers\n";
      for (const StepLink& w : round.workers) PrintStep(w, "      ");
    }
    if (!l.model->rounds.empty() && l.model->rounds.back().round == 0) {
      std::cout << "    round 0 started from " << ToHex(l.model->rounds.back().params_in)
                << " (the spec's seeded initialisation: `plume audit --spec` checks it)\n";
    }
  } else if (l.model_external) {
    std::cout << "  the model " << (l.outputs.empty() || l.outputs[0].inputs.empty()
                                        ? std::string("?")
                                        : ToHex(l.outputs[0].inputs[0]))
              << " was not made by a job of this ledger (uploaded by its team)\n";
  }
  std::cout << "  every entry proven against a head of " << r.tree_size
            << " entries signed by " << ToHex(r.trusted) << ": " << r.check.proofs << " of "
            << l.CitedEntries().size() << "\n";
  for (const std::string& p : r.check.problems) std::cout << "  PROBLEM: " << p << "\n";
  std::cout << (r.check.ok() ? "VERIFIED" : "NOT VERIFIED") << ": " << LineageSummary(r) << "\n";
}

}  // namespace plume::cli
