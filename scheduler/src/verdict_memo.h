// An audit's verdict (ledger/verdict.h VerdictFact) as the text the core keeps in the request's
// LedgerOp::memo until the ledger bridge appends it, in both directions, header-only (as
// checkpoint_memo.h, whose hash helpers it uses):
//   "<task> <policy> <outcome 1..4> <link> <recomputed ppm> <run task>:<output>...
//    [evidence=<hash>]"
// (the evidence token is absent from verdicts kept before evidence existed, and parses apart
// from runs: a run's task is a decimal wire id).
// Ids hold no spaces (task ids are "<job>/r<round>/w<worker>", policies "audit/1"), so the
// entry the bridge builds is the same bytes whenever it is built.
#pragma once

#include <optional>
#include <sstream>
#include <string>

#include "checkpoint_memo.h"
#include "plume/ledger/verdict.h"

namespace plume::scheduler {

inline std::string VerdictMemo(const ledger::VerdictFact& f) {
  std::string out = f.task + " " + f.policy + " " +
                    std::to_string(static_cast<int>(f.outcome)) + " " +
                    std::to_string(f.dispute_link) + " " + std::to_string(f.recomputed_ppm);
  for (const ledger::VerdictRun& r : f.runs) out += " " + r.task + ":" + MemoHex(r.output);
  if (f.evidence) out += " evidence=" + MemoHex(*f.evidence);
  return out;
}

// nullopt for any text VerdictMemo would not write (the ledger then checks the body itself).
inline std::optional<ledger::VerdictFact> ParseVerdictMemo(const std::string& memo) {
  std::istringstream in(memo);
  ledger::VerdictFact f;
  std::string outcome, link, ppm;
  if (!(in >> f.task >> f.policy >> outcome >> link >> ppm)) return std::nullopt;
  try {
    const int o = std::stoi(outcome);
    if (o < 1 || o > 4) return std::nullopt;
    f.outcome = static_cast<ledger::VerdictOutcome>(o);
    f.dispute_link = static_cast<int32_t>(std::stol(link));
    f.recomputed_ppm = static_cast<uint32_t>(std::stoul(ppm));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  for (std::string run; in >> run;) {
    if (run.starts_with("evidence=")) {
      auto h = MemoHash(std::string_view(run).substr(9));
      if (!h || f.evidence) return std::nullopt;
      f.evidence = *h;
      continue;
    }
    const size_t colon = run.rfind(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    auto h = MemoHash(std::string_view(run).substr(colon + 1));
    if (!h) return std::nullopt;
    f.runs.push_back(ledger::VerdictRun{run.substr(0, colon), *h});
  }
  return f;
}

}  // namespace plume::scheduler
