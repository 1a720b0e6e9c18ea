// Loading the scheduler's State back from SQLite; see store.h and store.cc for the schema.
#include "store_impl.h"

namespace plume::scheduler {

using nlohmann::json;

std::vector<SlashLeg> LegsFromJson(const json& j) {
  std::vector<SlashLeg> out;
  for (const json& l : j) {
    out.push_back(SlashLeg{l.at("kind").get<uint8_t>(), l.at("account").get<std::string>(),
                           l.at("amount").get<MicroPlume>()});
  }
  return out;
}

Status Store::Impl::LoadNodes(State& s) {
  // node_stats is new in schema 2: a node without a row there has no track record yet.
  auto q = db.Prepare(
      "SELECT n.id, n.name, n.gpus, n.host_memory_bytes, n.backend, n.selftest_passed, "
      "n.flops_per_s, n.price, n.state, n.registered_at_ms, n.lease_expires_ms, "
      "COALESCE(s.succeeded, 0), COALESCE(s.failed, 0), COALESCE(s.lost, 0), "
      "COALESCE(v.refused, 0), n.stake, n.unbonding, n.slashes FROM nodes n "
      "LEFT JOIN node_stats s ON s.id = n.id LEFT JOIN node_verdicts v ON v.id = n.id");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    Node n;
    n.info = NodeInfo{q->Text(0), q->Text(1), GpusFromJson(json::parse(q->Text(2))),
                      static_cast<uint64_t>(q->Int(3)), static_cast<Backend>(q->Int(4)),
                      q->Int(5) != 0, static_cast<uint64_t>(q->Int(6)), q->Int(7),
                      /*kernel_class: node_classes below*/ {},
                      /*owner: node_owners below*/ {}};
    n.state = static_cast<NodeState>(q->Int(8));
    n.registered_at_ms = q->Int(9);
    n.lease_expires_ms = q->Int(10);
    n.tasks_succeeded = static_cast<uint64_t>(q->Int(11));
    n.tasks_failed = static_cast<uint64_t>(q->Int(12));
    n.tasks_lost = static_cast<uint64_t>(q->Int(13));
    n.tasks_refused = static_cast<uint64_t>(q->Int(14));
    n.stake_micro_plume = q->Int(15);
    n.unbonding_micro_plume = q->Int(16);
    n.slashes = static_cast<uint64_t>(q->Int(17));
    s.nodes[n.info.id] = std::move(n);
  }
  // node_classes came after schema 2 without a version of its own: no row means no class, as
  // for an agent that sent none.
  auto c = db.Prepare("SELECT id, kernel_class FROM node_classes");
  if (!c) return tl::unexpected(c.error());
  for (auto row = c->Step(); ; row = c->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    if (auto n = s.nodes.find(c->Text(0)); n != s.nodes.end()) n->second.info.kernel_class = c->Text(1);
  }
  // node_owners came with owner attestations, also without a version: no row, its own owner.
  auto o = db.Prepare("SELECT id, owner FROM node_owners");
  if (!o) return tl::unexpected(o.error());
  for (auto row = o->Step(); ; row = o->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    if (auto n = s.nodes.find(o->Text(0)); n != s.nodes.end()) n->second.info.owner = o->Text(1);
  }
  return {};
}

Status Store::Impl::LoadJobs(State& s) {
  auto q = db.Prepare(
      "SELECT j.id, j.owner, COALESCE(s.spec, j.spec), j.state, j.reason, j.seq, "
      "j.submitted_at_ms, j.finished_at_ms, j.infeasible_since_ms, j.round, j.params_blob, "
      "j.paid, j.escrow_held FROM jobs j LEFT JOIN job_specs s ON s.id = j.id");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    Job j;
    j.id = q->Text(0);
    j.owner = q->Text(1);
    j.spec = SpecFromJson(json::parse(q->Text(2)));  // job_specs, or schema 1's column
    j.state = static_cast<JobState>(q->Int(3));
    j.reason = q->Text(4);
    j.seq = static_cast<uint64_t>(q->Int(5));
    j.submitted_at_ms = q->Int(6);
    j.finished_at_ms = q->Int(7);
    j.infeasible_since_ms = q->Int(8);
    j.round = static_cast<uint32_t>(q->Int(9));
    j.params_blob = q->Text(10);
    j.paid_micro_plume = q->Int(11);
    j.escrow_held = q->Int(12) != 0;
    s.jobs[j.id] = std::move(j);
  }
  auto o = db.Prepare("SELECT job, blob FROM job_outputs ORDER BY job, idx");
  if (!o) return tl::unexpected(o.error());
  for (auto row = o->Step(); ; row = o->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    auto it = s.jobs.find(o->Text(0));
    if (it != s.jobs.end()) it->second.outputs.push_back(o->Text(1));
  }
  return {};
}

Status Store::Impl::LoadTasks(State& s) {
  auto q = db.Prepare("SELECT * FROM tasks");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    Task t;
    t.id = q->Text(0);
    t.wire_id = static_cast<uint64_t>(q->Int(1));
    t.job = q->Text(2);
    t.kind = static_cast<TaskKind>(q->Int(3));
    t.round = static_cast<uint32_t>(q->Int(4));
    t.shard = static_cast<uint32_t>(q->Int(5));
    t.attempt = static_cast<uint32_t>(q->Int(6));
    t.state = static_cast<TaskState>(q->Int(7));
    t.node = q->Text(8);
    t.not_before_ms = q->Int(9);
    t.assigned_at_ms = q->Int(10);
    t.finished_at_ms = q->Int(11);
    t.input_params_blob = q->Text(12);
    t.output_blob = q->Text(13);
    t.last_error = q->Text(14);
    t.metrics = TaskMetrics{q->Real(15), static_cast<uint64_t>(q->Int(16)),
                            static_cast<uint64_t>(q->Int(17))};
    t.flops = static_cast<uint64_t>(q->Int(18));
    t.paid_micro_plume = q->Int(19);
    t.settle = static_cast<SettleState>(q->Int(20));
    t.price_micro_plume_per_pflop = q->Int(21);
    t.final_at_ms = q->Int(22);
    s.tasks[t.id] = std::move(t);
  }
  for (const bool nonretryable : {false, true}) {
    auto x = db.Prepare(nonretryable ? "SELECT task, node FROM task_nonretryable"
                                     : "SELECT task, node FROM task_excluded");
    if (!x) return tl::unexpected(x.error());
    for (auto row = x->Step(); ; row = x->Step()) {
      if (!row) return tl::unexpected(row.error());
      if (!*row) break;
      auto t = s.tasks.find(x->Text(0));
      if (t == s.tasks.end()) continue;
      (nonretryable ? t->second.nonretryable_from : t->second.excluded).insert(x->Text(1));
    }
  }
  return {};
}

Status Store::Impl::LoadRounds(State& s) {
  auto q = db.Prepare("SELECT * FROM rounds");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    Round r{q->Text(0), static_cast<uint32_t>(q->Int(1)), static_cast<RoundState>(q->Int(2)),
            q->Text(3), q->Text(4), q->Int(5), q->Int(6)};
    s.rounds[{r.job, r.round}] = std::move(r);
  }
  return {};
}

Status Store::Impl::LoadOutbox(State& s) {
  auto q = db.Prepare("SELECT * FROM outbox");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    LedgerOp op{q->Text(0), static_cast<uint64_t>(q->Int(1)),
                static_cast<LedgerOpKind>(q->Int(2)), q->Text(3), q->Text(4), q->Text(5),
                q->Text(6), static_cast<uint32_t>(q->Int(7)), q->Int(8),
                static_cast<uint64_t>(q->Int(9)), LegsFromJson(json::parse(q->Text(10))),
                q->Text(11)};
    s.outbox[op.id] = std::move(op);
  }
  return {};
}

Status Store::Impl::LoadUploaders(State& s) {
  auto q = db.Prepare("SELECT blob, uploader FROM blob_uploaders");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    s.blob_uploaders[q->Text(0)].insert(q->Text(1));
  }
  return {};
}

Status Store::Impl::LoadMeta(State& s) {
  auto q = db.Prepare("SELECT key, value FROM meta");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step(); ; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    const std::string key = q->Text(0);
    const int64_t v = q->Int(1);
    if (key == "schema_version" && (v < kSchemaVersionReadable || v > kSchemaVersion)) {
      return Fail("database schema version " + std::to_string(v) + " is not " +
                  std::to_string(kSchemaVersionReadable) + ".." +
                  std::to_string(kSchemaVersion) + ": use the matching plume-scheduler");
    }
    if (key == "next_job_seq") s.next_job_seq = static_cast<uint64_t>(v);
    if (key == "next_op_seq") s.next_op_seq = static_cast<uint64_t>(v);
    if (key == "next_task_wire_id") s.next_task_wire_id = static_cast<uint64_t>(v);
    if (key == "now_ms") s.now_ms = v;
  }
  return {};
}

Result<State> Store::Load() {
  State s;
  try {
    // One read transaction: a consistent snapshot even if another process is writing.
    if (auto st = impl_->db.Exec("BEGIN;"); !st) return tl::unexpected(st.error());
    Status st = impl_->LoadMeta(s);
    if (st) st = impl_->LoadNodes(s);
    if (st) st = impl_->LoadJobs(s);
    if (st) st = impl_->LoadTasks(s);
    if (st) st = impl_->LoadRounds(s);
    if (st) st = impl_->LoadOutbox(s);
    if (st) st = impl_->LoadUploaders(s);
    if (st) st = AuditRows::Load(impl_->db, s);
    (void)impl_->db.Exec("COMMIT;");
    if (!st) return tl::unexpected(st.error());
    impl_->saved_outputs.clear();
    impl_->pending_outputs.clear();
    for (const auto& [id, j] : s.jobs) impl_->saved_outputs[id] = j.outputs;
  } catch (const json::exception& e) {
    (void)impl_->db.Exec("ROLLBACK;");
    return Fail(std::string("database holds a malformed record: ") + e.what() +
                " (restore the database from a backup)");
  }
  // Referential checks: Core's indexes assume every task's job and node exist.
  for (const auto& [id, t] : s.tasks) {
    if (!s.jobs.contains(t.job) ||
        (t.state == TaskState::kAssigned && !s.nodes.contains(t.node))) {
      return Fail("database is inconsistent: task " + id +
                  " refers to a missing job or node (restore from a backup)");
    }
  }
  return s;
}

}  // namespace plume::scheduler
