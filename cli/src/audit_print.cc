// The report of `plume audit` (audit_ledger.h): one line per check and a verdict, or the same
// as JSON with the job record the checks ran on.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "audit_evidence.h"
#include "audit_ledger.h"
#include "audit_money.h"
#include "audit_verdicts.h"
#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"

namespace plume::cli {
namespace {

using nlohmann::json;
using namespace plume::ledger;

std::string StatusKey(CheckStatus s) {
  switch (s) {
    case CheckStatus::kOk:
      return "ok";
    case CheckStatus::kProblem:
      return "problem";
    case CheckStatus::kNotChecked:
      return "not_checked";
    case CheckStatus::kNotApplicable:
      return "not_applicable";
  }
  return "unknown";
}

json ProvenanceJson(const ProvenanceReport& p) {
  json checks = json::array();
  for (const CheckResult& c : p.checks) {
    checks.push_back({{"name", c.name},
                      {"status", StatusKey(c.status)},
                      {"summary", c.summary},
                      {"problems", c.problems}});
  }
  json j{{"checked", p.checked}, {"ok", p.ok()}, {"scheduler", p.scheduler}, {"checks", checks}};
  if (!p.checked) j["reason"] = p.not_checked_why;
  if (!p.record) return j;
  // The record the checks ran on, so a reader can recheck any hash by hand.
  const JobRecord& r = *p.record;
  auto hexes = [](const std::vector<Hash256>& hs) {
    json a = json::array();
    for (const Hash256& h : hs) a.push_back(ToHex(h));
    return a;
  };
  json data = json::object(), rounds = json::array();
  for (const auto& [name, hash] : r.data_blobs) data[name] = ToHex(hash);
  for (const RoundFacts& f : r.rounds) {
    rounds.push_back({{"round", f.round},
                      {"params_in", ToHex(f.params_in)},
                      {"params_out", ToHex(f.params_out)},
                      {"deltas", hexes(f.deltas)},
                      {"weights", f.weights},
                      {"outer_lr", f.outer_lr},
                      {"outer_momentum", f.outer_momentum}});
  }
  j["record"] = {{"state", r.state},
                 {"spec_hash", r.spec_hash ? json(ToHex(*r.spec_hash)) : json(nullptr)},
                 {"data_blobs", data},
                 {"rounds", rounds},
                 {"output_shards", hexes(r.output_shards)}};
  return j;
}

json VerdictsJson(const std::vector<TaskVerdict>& verdicts) {
  json out = json::array();
  for (const TaskVerdict& v : verdicts) {
    json runs = json::array();
    for (const RunFact& r : v.runs) {
      runs.push_back({{"role", r.role},
                      {"provider", r.provider},
                      {"output", ToHex(r.output)},
                      {"settled", r.settled},
                      {"slashed", r.slashed},
                      {"recorded", r.recorded},
                      {"receipt_task", r.receipt_task},
                      {"entry", r.entry}});
    }
    // What the ledger holds only as the scheduler's word (the slash memo).
    json word = json::object();
    if (v.audit_rate_ppm) word["audit_rate_ppm"] = *v.audit_rate_ppm;
    if (v.pay_micro_plume) word["pay_micro_plume"] = *v.pay_micro_plume;
    if (v.dispute_link) word["dispute_link"] = *v.dispute_link;
    if (v.recomputed_fraction) word["recomputed_fraction"] = *v.recomputed_fraction;
    out.push_back({{"task", v.task},
                   {"verdict", v.verdict},
                   {"faulty", v.faulty},
                   {"recomputed_from_ledger", v.recomputed},
                   {"evidence", v.evidence ? json(ToHex(*v.evidence)) : json(nullptr)},
                   {"evidence_checked", v.evidence_checked},
                   {"recomputed_from_evidence", v.recomputed_from_evidence},
                   {"verdict_entry", v.verdict_entry ? json(*v.verdict_entry) : json(nullptr)},
                   {"segment_share", v.segment_share ? json(*v.segment_share) : json(nullptr)},
                   {"how", v.how},
                   {"runs", runs},
                   {"schedulers_word", word},
                   {"slashed", v.slashed},
                   {"clawback", v.clawback},
                   {"compensation", v.compensation},
                   {"finder", v.finder},
                   {"treasury", v.treasury},
                   {"problems", v.problems}});
  }
  return out;
}

void PrintVerdictsText(const std::vector<TaskVerdict>& verdicts) {
  if (verdicts.empty()) return;
  std::cout << "  verification verdicts per task (from the ledger's verdicts and receipts):\n";
  for (const TaskVerdict& v : verdicts) {
    std::cout << "    " << v.task << ": " << v.verdict
              << (v.verdict_entry ? " [verdict entry #" + std::to_string(*v.verdict_entry) + "]"
                                  : std::string())
              << (v.faulty.empty() ? "" : ", proven faulty: " + v.faulty.substr(0, 16) + "..")
              << (v.recomputed ? " (recomputed from the ledger)" : "")
              << (v.recomputed_from_evidence ? " (recomputed from the ledger and the evidence blob)"
                                             : "")
              << "\n      " << v.how
              << "\n";
    for (const RunFact& r : v.runs) {
      std::cout << "      " << r.role << " run by " << r.provider.substr(0, 16) << ".. output "
                << ToHex(r.output).substr(0, 16) << ".." << (r.settled ? " paid" : "")
                << (r.slashed ? " SLASHED" : "") << (r.recorded ? " unpaid (receipt recorded)" : "")
                << " (entry #" << r.entry << ")\n";
    }
    if (v.slashed > 0) {
      std::cout << "      slashed " << v.slashed << " micro-PLUME: clawback " << v.clawback
                << ", compensation " << v.compensation << ", finder " << v.finder
                << ", treasury " << v.treasury << "\n";
    }
    if (v.audit_rate_ppm || v.dispute_link) {
      std::cout << "      the scheduler's word (slash memo):";
      if (v.audit_rate_ppm) std::cout << " drawn at " << *v.audit_rate_ppm << " ppm";
      if (v.pay_micro_plume) std::cout << ", pay " << *v.pay_micro_plume << " micro-PLUME";
      if (v.dispute_link) {
        std::cout << ", decided at link " << *v.dispute_link << " recomputing "
                  << v.recomputed_fraction.value_or(1) << " of the task";
      }
      std::cout << "\n";
    }
    for (const std::string& p : v.problems) std::cout << "      PROBLEM: " << p << "\n";
  }
}

}  // namespace

// One word for the outcome, so neither a script nor a reader takes a money-only audit for a
// full one.
std::string Verdict(bool ledger_ok, const ProvenanceReport& p) {
  if (!ledger_ok || (p.checked && !p.ok())) return "FAILED";
  if (p.checked) return "VERIFIED";
  return p.scheduler_named ? "FAILED" : "LEDGER-ONLY";
}

void PrintAuditJson(const std::string& job, const LedgerAudit& audit, const ProvenanceReport& p,
                    const std::string& verdict) {
  json entries = json::array();
  for (const LoggedEntry& l : audit.entries) {
    json e{{"index", l.index}, {"line", DescribeEntry(l)}};
    if (l.entry.receipt) {
      json inputs = json::array();
      for (const Hash256& h : l.entry.receipt->input_hashes) inputs.push_back(ToHex(h));
      e["inputs"] = inputs;
      e["output"] = ToHex(l.entry.receipt->output_hash);
      e["agent_signature"] = ToHex(l.entry.receipt->agent_signature);
      e["scheduler_signature"] = ToHex(l.entry.receipt->scheduler_signature);
    }
    entries.push_back(e);
  }
  // "ok": no check found a problem; "verified": the ledger and the provenance were both checked
  // and passed (false for a money-only audit).
  json j{{"job", job},
         {"ok", audit.problems.empty() && verdict != "FAILED"},
         {"verified", verdict == "VERIFIED"},
         {"verdict", verdict},
         {"ledger_ok", audit.problems.empty()},
         {"problems", audit.problems},
         {"entries", entries},
         {"escrow_micro_plume", audit.escrow},
         {"provenance", ProvenanceJson(p)}};
  json tasks = json::object();
  for (const auto& [task, m] : MoneyByTask(audit.entries)) {
    tasks[task] = {{"provider", m.provider},       {"paid", m.paid},
                   {"fee", m.fee},                 {"slashed", m.slashed},
                   {"clawback", m.clawback},       {"compensation", m.compensation},
                   {"finder", m.finder},           {"treasury", m.treasury}};
  }
  j["tasks_micro_plume"] = tasks;
  std::vector<TaskVerdict> verdicts = VerdictsOf(audit.entries);
  ApplyEvidence(verdicts, p.evidence);
  j["verdicts"] = VerdictsJson(verdicts);
  if (audit.lineage) {
    j["lineage"] = {{"verified", audit.lineage->check.ok()},
                    {"summary", LineageSummary(*audit.lineage)},
                    {"problems", audit.lineage->check.problems},
                    {"entries", audit.lineage->lineage.CitedEntries()}};
  } else {
    j["lineage"] = {{"verified", false}, {"not_applicable", audit.lineage_not_applicable}};
  }
  if (audit.hold) {
    const auto& h = *audit.hold;
    j["hold"] = {{"held", h.held.value()},
                 {"paid", h.paid.value()},
                 {"fees", h.fees.value()},
                 {"royalties", h.royalties.value()},
                 {"released", h.released.value()},
                 {"closed", h.closed}};
  }
  std::cout << j.dump() << "\n";
}

void PrintAuditText(const std::string& job, const std::string& dir, const LedgerAudit& audit,
                    const ProvenanceReport& p, const std::string& verdict) {
  std::cout << "audit of " << job << " in " << dir << "\n";
  for (const LoggedEntry& l : audit.entries) {
    std::cout << "  " << DescribeEntry(l) << "\n";
    if (!l.entry.receipt) continue;
    const TaskReceipt& r = *l.entry.receipt;
    for (const Hash256& h : r.input_hashes) std::cout << "      input  " << ToHex(h) << "\n";
    std::cout << "      output " << ToHex(r.output_hash) << "\n"
              << "      signed by agent " << ToHex(r.agent).substr(0, 16)
              << ".. and countersigned by the ledger key: "
              << (VerifyAgentSignature(r, audit.ledger) &&
                          VerifyCountersignature(r, audit.ledger, audit.trusted)
                      ? "ok"
                      : "BAD")
              << "\n";
  }
  const auto money = MoneyByTask(audit.entries);
  if (!money.empty()) {
    std::cout << "  money per task (micro-PLUME; final = settled; slashes from the provider's "
                 "stake):\n";
    std::printf("    %-40s %-16s %10s %8s %10s %10s %12s %8s %10s\n", "task", "provider", "final",
                "fee", "slashed", "clawback", "compensation", "finder", "treasury");
    for (const auto& [task, m] : money) {
      std::printf("    %-40s %-16s %10lld %8lld %10lld %10lld %12lld %8lld %10lld\n",
                  task.substr(0, 40).c_str(), m.provider.substr(0, 16).c_str(),
                  static_cast<long long>(m.paid), static_cast<long long>(m.fee),
                  static_cast<long long>(m.slashed), static_cast<long long>(m.clawback),
                  static_cast<long long>(m.compensation), static_cast<long long>(m.finder),
                  static_cast<long long>(m.treasury));
    }
    std::cout << "    (pay waiting for an audit or the challenge window is not in the ledger "
                 "yet: `plume balance` shows it)\n";
  }
  std::vector<TaskVerdict> verdicts = VerdictsOf(audit.entries);
  ApplyEvidence(verdicts, p.evidence);
  PrintVerdictsText(verdicts);
  if (audit.hold) {
    const auto& h = *audit.hold;
    std::cout << "  held " << h.held.value() << " = paid " << h.paid.value() << " + fees "
              << h.fees.value() << " + royalties " << h.royalties.value() << " + released " << h.released.value() << " + in escrow "
              << audit.escrow << " micro-PLUME\n";
  }
  if (audit.lineage) {
    std::cout << "  lineage (`plume lineage " << job
              << "` for every link): " << (audit.lineage->check.ok() ? "ok, " : "PROBLEM, ")
              << LineageSummary(*audit.lineage) << "\n";
  } else if (!audit.lineage_not_applicable.empty()) {
    std::cout << "  lineage: n/a, " << audit.lineage_not_applicable << "\n";
  }
  for (const std::string& problem : audit.problems) std::cout << "  PROBLEM: " << problem << "\n";
  std::cout << "  ledger: " << (audit.problems.empty() ? "ok" : "PROBLEM") << "\n";
  if (!p.checked) {
    std::cout << "  provenance not checked: " << p.not_checked_why << "\n";
  } else {
    std::cout << "  provenance (from the scheduler at " << p.scheduler << "):\n";
    for (const CheckResult& c : p.checks) {
      std::printf("    %-12s %-12s %s\n", c.name.c_str(), StatusName(c.status).c_str(),
                  c.summary.c_str());
      for (const std::string& problem : c.problems) {
        std::cout << "      PROBLEM: " << problem << "\n";
      }
    }
  }
  if (verdict == "LEDGER-ONLY") {
    std::cout << "LEDGER VERIFIED, PROVENANCE NOT CHECKED: " << job << "\n";
    return;
  }
  std::cout << verdict << ": " << job;
  for (const CheckResult& c : p.checks) {
    if (verdict == "VERIFIED" && c.status == CheckStatus::kNotChecked) {
      std::cout << " (" << c.name << " not checked)";
    }
  }
  std::cout << "\n";
}

}  // namespace plume::cli
