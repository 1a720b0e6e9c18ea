// The replay-audit rows of the scheduler's store; see store_audit.h.
#include "store_audit.h"

#include <nlohmann/json.hpp>

#include "plume/protocol/hash.h"

namespace plume::scheduler {
namespace {

using nlohmann::json;

json VerdictToJson(const Verdict& v) {
  return json{{"task", v.task},
              {"job", v.job},
              {"policy", v.policy},
              {"kernel_class", v.kernel_class},
              {"outcome", static_cast<int>(v.outcome)},
              {"original_node", v.original_node},
              {"audit_node", v.audit_node},
              {"referee_node", v.referee_node},
              {"original_attempt", v.original_attempt},
              {"original_output", v.original_output},
              {"audit_output", v.audit_output},
              {"referee_output", v.referee_output},
              {"faulty", v.faulty},
              {"faulty_paid", v.faulty_paid},
              {"decided_at_ms", v.decided_at_ms},
              {"slashed", v.slashed_micro_plume},
              {"dispute_link", v.dispute_link},
              {"recomputed_fraction", v.recomputed_fraction},
              {"evidence", v.evidence_blob}};
}

Verdict VerdictFromJson(const json& j) {
  Verdict v;
  v.task = j.at("task").get<std::string>();
  v.job = j.at("job").get<std::string>();
  v.policy = j.at("policy").get<std::string>();
  v.kernel_class = j.at("kernel_class").get<std::string>();
  v.outcome = static_cast<AuditStatus>(j.at("outcome").get<int>());
  v.original_node = j.at("original_node").get<std::string>();
  v.audit_node = j.at("audit_node").get<std::string>();
  v.referee_node = j.at("referee_node").get<std::string>();
  v.original_attempt = j.at("original_attempt").get<uint32_t>();
  v.original_output = j.at("original_output").get<std::string>();
  v.audit_output = j.at("audit_output").get<std::string>();
  v.referee_output = j.at("referee_output").get<std::string>();
  v.faulty = j.at("faulty").get<std::string>();
  v.faulty_paid = j.at("faulty_paid").get<bool>();
  v.decided_at_ms = j.at("decided_at_ms").get<int64_t>();
  v.slashed_micro_plume = j.value("slashed", MicroPlume{0});  // verdicts before slashing: none
  v.dispute_link = j.value("dispute_link", int32_t{-1});     // before disputes: a full re-run
  v.recomputed_fraction = j.value("recomputed_fraction", 1.0);
  v.evidence_blob = j.value("evidence", std::string());  // verdicts before evidence: none
  return v;
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string FromHexOr(const std::string& hex) {
  auto bytes = FromHex(hex);
  return bytes ? *bytes : std::string();
}

bool InDispute(const Task& t) {
  return !t.commitments.empty() || !t.dispute_prompts.empty() || !t.pinned_node.empty() ||
         t.dispute_link >= 0 || !t.dispute_source.empty() || !t.start_state_blob.empty();
}

json DisputeToJson(const Task& t) {
  return json{{"commitments", t.commitments},
              {"pinned_node", t.pinned_node},
              {"link", t.dispute_link},
              {"source", t.dispute_source},
              {"start_state", t.start_state_blob},
              {"prompts", t.dispute_prompts},
              {"receipt", ToHex(AsBytes(t.receipt))},
              {"receipt_signature", ToHex(AsBytes(t.receipt_signature))}};
}

void DisputeFromJson(const json& j, Task& t) {
  t.commitments = j.at("commitments").get<std::vector<std::string>>();
  t.pinned_node = j.at("pinned_node").get<std::string>();
  t.dispute_link = j.at("link").get<int32_t>();
  t.dispute_source = j.at("source").get<std::string>();
  t.start_state_blob = j.at("start_state").get<std::string>();
  // Rows of a scheduler from before inference disputes have none.
  t.dispute_prompts = j.value("prompts", std::vector<uint32_t>{});
  // Rows from before dispute evidence have no receipt: their verdicts name no evidence.
  t.receipt = FromHexOr(j.value("receipt", std::string()));
  t.receipt_signature = FromHexOr(j.value("receipt_signature", std::string()));
}

template <class F>
Status EachRow(sql::Db& db, const std::string& query, F f) {
  auto q = db.Prepare(query);
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step();; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
    f(*q);
  }
}

}  // namespace

Status AuditRows::Prepare(sql::Db& db) {
  auto n = db.Prepare("INSERT OR REPLACE INTO node_audit VALUES (?1,?2,?3,?4,?5,?6)");
  if (!n) return tl::unexpected(n.error());
  auto t = db.Prepare("INSERT OR REPLACE INTO task_audit VALUES (?1,?2,?3,?4,?5,?6,?7)");
  if (!t) return tl::unexpected(t.error());
  auto v = db.Prepare("INSERT OR REPLACE INTO verdicts VALUES (?1,?2)");
  if (!v) return tl::unexpected(v.error());
  put_node_ = std::move(*n);
  put_task_ = std::move(*t);
  put_verdict_ = std::move(*v);
  auto d = db.Prepare("INSERT OR REPLACE INTO task_dispute VALUES (?1,?2)");
  if (!d) return tl::unexpected(d.error());
  put_dispute_ = std::move(*d);
  return {};
}

Status AuditRows::SaveNode(const Node& n) {
  // Nodes are saved on every heartbeat; one without a committed result writes no row here.
  if (n.results_valid == 0 && n.results_audited == 0 && n.proven_faulty == 0 &&
      n.unaudited_no_peer == 0 && n.consecutive_valid == 0) {
    return {};
  }
  put_node_.Bind(1, n.info.id);
  put_node_.Bind(2, n.consecutive_valid);
  put_node_.Bind(3, n.results_valid);
  put_node_.Bind(4, n.results_audited);
  put_node_.Bind(5, n.proven_faulty);
  put_node_.Bind(6, n.unaudited_no_peer);
  return put_node_.Run();
}

Status AuditRows::SaveTask(const Task& t) {
  if (t.audit_role == AuditRole::kNone && t.audit == AuditStatus::kNone && t.audit_rate_ppm == 0) {
    return {};
  }
  put_task_.Bind(1, t.id);
  put_task_.Bind(2, static_cast<int>(t.audit_role));
  put_task_.Bind(3, t.audit_of);
  put_task_.Bind(4, t.kernel_class);
  put_task_.Bind(5, t.audit_rate_ppm);
  put_task_.Bind(6, static_cast<int>(t.audit));
  put_task_.Bind(7, t.settle_deferred);
  if (auto st = put_task_.Run(); !st) return st;
  // Dispute fields are only ever set or replaced, never cleared once saved: no row, no dispute.
  if (!InDispute(t)) return {};
  put_dispute_.Bind(1, t.id);
  put_dispute_.Bind(2, DisputeToJson(t).dump());
  return put_dispute_.Run();
}

Status AuditRows::SaveVerdict(const Verdict& v) {
  put_verdict_.Bind(1, v.task);
  put_verdict_.Bind(2, VerdictToJson(v).dump());
  return put_verdict_.Run();
}

Status AuditRows::Load(sql::Db& db, State& s) {
  Status st = EachRow(db, "SELECT * FROM node_audit", [&](sql::Stmt& q) {
    auto it = s.nodes.find(q.Text(0));
    if (it == s.nodes.end()) return;
    Node& n = it->second;
    n.consecutive_valid = q.Int(1);
    n.results_valid = q.Int(2);
    n.results_audited = q.Int(3);
    n.proven_faulty = q.Int(4);
    n.unaudited_no_peer = q.Int(5);
  });
  if (!st) return st;
  st = EachRow(db, "SELECT * FROM task_audit", [&](sql::Stmt& q) {
    auto it = s.tasks.find(q.Text(0));
    if (it == s.tasks.end()) return;
    Task& t = it->second;
    t.audit_role = static_cast<AuditRole>(q.Int(1));
    t.audit_of = q.Text(2);
    t.kernel_class = q.Text(3);
    t.audit_rate_ppm = static_cast<uint32_t>(q.Int(4));
    t.audit = static_cast<AuditStatus>(q.Int(5));
    t.settle_deferred = q.Int(6) != 0;
  });
  if (!st) return st;
  st = EachRow(db, "SELECT record FROM verdicts", [&](sql::Stmt& q) {
    Verdict v = VerdictFromJson(json::parse(q.Text(0)));
    s.verdicts[v.task] = std::move(v);
  });
  if (!st) return st;
  return EachRow(db, "SELECT task, record FROM task_dispute", [&](sql::Stmt& q) {
    auto it = s.tasks.find(q.Text(0));
    if (it != s.tasks.end()) DisputeFromJson(json::parse(q.Text(1)), it->second);
  });
}

}  // namespace plume::scheduler
