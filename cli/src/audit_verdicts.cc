// Verification verdicts per task from the ledger (audit_verdicts.h).
#include "audit_verdicts.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "plume/ledger/verdict.h"

namespace plume::cli {
namespace {

using ledger::EntryType;
using ledger::LoggedEntry;

constexpr const char* kRoles[] = {"original", "audit", "referee", "export"};

// "<task>/audit" -> ("<task>", "audit"); a plain task id is the original run.
std::pair<std::string, std::string> SplitRun(const std::string& run) {
  for (const char* role : {"audit", "referee", "export"}) {
    const std::string suffix = std::string("/") + role;
    if (run.size() > suffix.size() && run.ends_with(suffix)) {
      return {run.substr(0, run.size() - suffix.size()), role};
    }
  }
  return {run, "original"};
}

// The figures of a slash memo (core_settle.cc Slash): "... p_ppm P pay M [dispute_link L
// recomputed F]". Words it does not know are skipped; a malformed number is left out.
void ReadMemo(const std::string& memo, TaskVerdict& v) {
  std::istringstream in(memo);
  std::string word, value;
  while (in >> word) {
    if (word != "p_ppm" && word != "pay" && word != "dispute_link" && word != "recomputed") continue;
    if (!(in >> value)) return;
    try {
      if (word == "p_ppm") v.audit_rate_ppm = static_cast<uint32_t>(std::stoul(value));
      if (word == "pay") v.pay_micro_plume = std::stoll(value);
      if (word == "dispute_link") v.dispute_link = std::stoi(value);
      if (word == "recomputed") v.recomputed_fraction = std::stod(value);
    } catch (const std::exception&) {
      // not a number: the figure stays unknown
    }
  }
}

void AddSlash(const ledger::Entry& e, TaskVerdict& v) {
  v.slashed += e.amount.value();
  for (const ledger::Leg& leg : e.legs) {
    switch (leg.kind) {
      case ledger::LegKind::kClawback: v.clawback += leg.amount.value(); break;
      case ledger::LegKind::kCompensation: v.compensation += leg.amount.value(); break;
      case ledger::LegKind::kFinder: v.finder += leg.amount.value(); break;
      case ledger::LegKind::kTreasury: v.treasury += leg.amount.value(); break;
      default: break;
    }
  }
  ReadMemo(e.memo, v);
}

const RunFact* Find(const TaskVerdict& v, const std::string& role) {
  for (const RunFact& r : v.runs) {
    if (r.role == role) return &r;
  }
  return nullptr;
}

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16) + ".."; }

// Of the original, audit and referee runs in the ledger, the odd one out when two agree and the
// third differs; nullptr otherwise.
const RunFact* OddOneOut(const RunFact& a, const RunFact& b, const RunFact& c) {
  if (a.output == b.output && b.output != c.output) return &c;
  if (a.output == c.output && a.output != b.output) return &b;
  if (b.output == c.output && a.output != b.output) return &a;
  return nullptr;
}

// A referee that recomputed one segment: the memo says so, or it billed fewer FLOPs than the
// run it judged.
bool DecideSegment(TaskVerdict& v, const RunFact* orig, const RunFact* audit,
                   const RunFact* referee, const RunFact* slashed) {
  const RunFact* whole = orig ? orig : audit;
  const bool fewer = referee && whole && whole->flops > 0 && referee->flops < whole->flops;
  if (!v.dispute_link && !fewer) return false;
  if (fewer) {
    v.segment_share = static_cast<double>(referee->flops) / static_cast<double>(whole->flops);
  }
  v.verdict = "disputed: proven faulty";
  if (slashed) v.faulty = slashed->provider;
  v.how = "decided on part of the task (one segment of a training task, the differing prompts of "
          "an inference shard)";
  if (v.segment_share) {
    v.how += " (the referee billed " + std::to_string(*v.segment_share) +
             " of the task's FLOPs, from the receipts)";
  }
  v.how += "; the commitments that placed it are not in the ledger: which run was faulty "
           "is the scheduler's word";
  if (!slashed) v.how += " (the faulty run was neither paid nor slashed: nothing staked)";
  return true;
}

void Decide(TaskVerdict& v) {
  const RunFact* orig = Find(v, "original");
  const RunFact* audit = Find(v, "audit");
  const RunFact* referee = Find(v, "referee");
  const RunFact* slashed = nullptr;
  for (const RunFact& r : v.runs) {
    if (r.slashed) slashed = &r;
  }
  if (DecideSegment(v, orig, audit, referee, slashed)) return;
  if (orig && audit && referee) {
    const RunFact* odd = OddOneOut(*orig, *audit, *referee);
    v.recomputed = true;
    if (odd == nullptr && orig->output != audit->output && orig->output != referee->output &&
        audit->output != referee->output) {
      v.verdict = "disputed: undecided";
      v.how = "the three runs' outputs all differ: nobody is convicted";
      if (slashed) v.problems.push_back("a run was slashed though no two runs agree");
      return;
    }
    if (odd == nullptr) {
      v.verdict = "disputed: undecided";
      v.how = "the original and its audit agree, yet a referee ran";
      v.problems.push_back("a referee run was paid for a task whose audit matched");
      return;
    }
    v.verdict = "disputed: proven faulty";
    v.faulty = odd->provider;
    v.how = "two runs agree on " + Short(orig == odd ? audit->output : orig->output) + "; the " +
            odd->role + " run's output " + Short(odd->output) + " differs";
    if (slashed && slashed != odd) {
      v.problems.push_back("the slash names the " + slashed->role +
                           " run, but the receipts make the " + odd->role + " run the odd one out");
    }
    if (!slashed) v.how += "; not slashed (nothing staked)";
    return;
  }
  if (slashed) {
    v.verdict = "disputed: proven faulty";
    v.faulty = slashed->provider;
    // The other runs are paid after the verdict (their challenge window, if the escrow still
    // covers them), and a malformed commitment chain is convicted without a referee.
    v.how = "the scheduler's word: " + std::to_string(v.runs.size()) +
            " of the three runs are in the ledger (the others not paid yet, or never: no "
            "escrow left, or no referee needed for a malformed commitment chain)";
    return;
  }
  if (referee && (orig || audit)) {
    const RunFact* other = orig ? orig : audit;
    v.verdict = "disputed: proven faulty";
    if (other->output == referee->output) {
      v.how = "the " + other->role + " and referee runs agree on " + Short(referee->output) +
              "; the " + std::string(orig ? "audit" : "original") +
              " run was neither paid nor slashed: who ran it is the scheduler's word (no stake)";
    } else {
      v.verdict = "disputed: open";
      v.how = "the referee differs from the " + other->role + " run; the third run is not in "
              "the ledger";
    }
    return;
  }
  if (orig && audit) {
    v.recomputed = true;
    v.verdict = orig->output == audit->output ? "audited: matched" : "disputed: open";
    v.how = orig->output == audit->output
                ? "the audit re-run gave the same output " + Short(orig->output)
                : "the audit re-run differs; no referee run in the ledger yet";
    return;
  }
  if (orig) {
    v.verdict = "accepted";
    v.how = "passed the screens and was paid; no audit run in the ledger";
    return;
  }
  v.verdict = "pending";
  v.how = "no run of this task is paid or slashed yet";
}

// The verdict entry's word, checked against the receipts the ledger holds for its runs.
void FromVerdictEntry(TaskVerdict& v, const ledger::VerdictFact& f, uint64_t index) {
  v.verdict_entry = index;
  const std::string at = "verdict entry #" + std::to_string(index) + ": ";
  std::vector<std::optional<Hash256>> outputs;
  std::vector<std::string> missing;
  for (size_t i = 0; i < f.runs.size(); ++i) {
    const RunFact* r = Find(v, kRoles[i]);
    if (r == nullptr) {
      outputs.push_back(std::nullopt);
      missing.push_back(kRoles[i]);
      continue;
    }
    if (r->receipt_task != f.runs[i].task) {
      v.problems.push_back(at + "names task " + f.runs[i].task + " as the " + kRoles[i] +
                           " run, but the ledger's " + kRoles[i] + " receipt is task " +
                           r->receipt_task);
    }
    outputs.push_back(r->output);
  }
  if (std::string p = ledger::VerdictProblem(f, outputs); !p.empty()) v.problems.push_back(at + p);
  const char* faulty_role = f.outcome == ledger::VerdictOutcome::kOriginalFaulty ? "original"
                            : f.outcome == ledger::VerdictOutcome::kAuditorFaulty ? "audit"
                                                                                  : nullptr;
  v.verdict = f.outcome == ledger::VerdictOutcome::kMatched ? "audited: matched"
              : faulty_role != nullptr                     ? "disputed: proven faulty"
                                                           : "disputed: undecided";
  v.faulty.clear();
  for (const RunFact& r : v.runs) {
    const bool convicted = faulty_role != nullptr && r.role == faulty_role;
    if (convicted) v.faulty = r.provider;
    if (r.slashed && !convicted) {
      v.problems.push_back(at + "the " + r.role + " run was slashed, but the verdict convicts " +
                           (faulty_role ? std::string("the ") + faulty_role + " run" : "nobody"));
    }
    if (convicted && r.settled && !r.slashed) {
      v.problems.push_back(at + "the " + r.role + " run it convicts was paid and not clawed back");
    }
  }
  v.recomputed = missing.empty() && f.policy == "audit/1";
  if (f.policy != "audit/1") {
    v.dispute_link = f.dispute_link;
    v.recomputed_fraction = f.recomputed_ppm / 1e6;
  }
  v.how = "the verdict entry (" + f.policy + ") and the receipts of its " +
          std::to_string(f.runs.size()) + " runs";
  if (!missing.empty()) {
    v.how += "; no receipt in the ledger for the ";
    for (size_t i = 0; i < missing.size(); ++i) v.how += (i ? ", " : "") + missing[i];
    v.how += " run (the scheduler's word for it)";
  } else if (f.policy == "audit/1") {
    v.how += (v.problems.empty() ? " agree: recomputed from the ledger"
                                 : " DO NOT agree (see the problems)");
  } else if (f.evidence) {
    v.evidence = f.evidence;
    v.how += "; decided on commitments at link " + std::to_string(f.dispute_link) +
             ", which the ledger does not hold: it names the evidence blob " +
             Short(*f.evidence) + ", which `plume audit` recomputes the outcome from with a "
             "scheduler to fetch it (without one, the outcome is the scheduler's word)";
  } else {
    v.how += "; decided on commitment chains at link " + std::to_string(f.dispute_link) +
             ", which the ledger does not hold and no evidence blob records (a verdict of an "
             "older scheduler): the outcome is the scheduler's word";
  }
}

}  // namespace

std::vector<TaskVerdict> VerdictsOf(const std::vector<LoggedEntry>& job_entries) {
  std::map<std::string, TaskVerdict> by_task;
  std::map<std::string, std::pair<ledger::VerdictFact, uint64_t>> entries;
  for (const LoggedEntry& l : job_entries) {
    const ledger::Entry& e = l.entry;
    if (e.type == EntryType::kVerdict) {
      if (auto f = ledger::DecodeVerdict(e.body)) {
        const std::string task = f->task;  // the right side is evaluated (moved) first
        entries[task] = {std::move(*f), l.index};
      }
      continue;
    }
    if (!e.receipt || (e.type != EntryType::kSettle && e.type != EntryType::kSlash &&
                       e.type != EntryType::kTaskReceipt)) {
      continue;
    }
    const std::string prefix = e.type == EntryType::kSettle  ? "settle:"
                               : e.type == EntryType::kSlash ? "slash:"
                                                             : "receipt:";
    if (!e.id.starts_with(prefix)) continue;
    const auto [task, role] = SplitRun(e.id.substr(prefix.size()));
    TaskVerdict& v = by_task[task];
    v.task = task;
    RunFact* run = nullptr;
    for (RunFact& r : v.runs) {
      if (r.role == role) run = &r;
    }
    if (run == nullptr) {
      v.runs.push_back(RunFact{role, ToHex(e.receipt->agent), e.receipt->output_hash,
                               e.receipt->flops, false, false, false, e.receipt->task_id,
                               l.index});
      run = &v.runs.back();
    }
    if (e.type == EntryType::kSettle) {
      run->settled = true;
    } else if (e.type == EntryType::kTaskReceipt) {
      run->recorded = true;
    } else {
      run->slashed = true;
      AddSlash(e, v);
    }
  }
  std::vector<TaskVerdict> out;
  for (auto& [task, v] : by_task) {
    std::vector<RunFact> ordered;
    for (const char* role : kRoles) {
      if (const RunFact* r = Find(v, role)) ordered.push_back(*r);
    }
    v.runs = std::move(ordered);
    Decide(v);
    out.push_back(std::move(v));
  }
  // Verdict entries decide where there are some (a task may have one before any run is paid).
  for (auto& [task, fact_index] : entries) {
    auto it = std::find_if(out.begin(), out.end(), [&](const TaskVerdict& v) { return v.task == task; });
    if (it == out.end()) {
      TaskVerdict v;
      v.task = task;
      it = out.insert(std::upper_bound(out.begin(), out.end(), v,
                                       [](const TaskVerdict& a, const TaskVerdict& b) {
                                         return a.task < b.task;
                                       }),
                      std::move(v));
    }
    it->problems.clear();  // the entry's check replaces the guesses made without it
    FromVerdictEntry(*it, fact_index.first, fact_index.second);
  }
  return out;
}

}  // namespace plume::cli
