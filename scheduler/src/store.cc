// SQLite persistence of the scheduler's State; see store.h. One table per record type, plus
// job_outputs (one row per output blob, in order) and meta (counters and the last time seen).
// A job's spec and a node's GPU list are stored as JSON text: they are read whole, never queried.
//
// Hot path: a busy job is saved in nearly every turn, so its immutable spec (which carries all
// the prompts) lives in job_specs, written once when the store first sees the job; later saves
// upsert only the job's mutable columns and the output rows that changed since the last commit.
// Schema 1 kept the spec in jobs.spec; Load still reads it from there when job_specs has none.
// Schema 3 added node_verdicts (results refused per node) and task_excluded (the providers a task
// may not go to again); older databases have neither, which means nothing was refused.
// Schema 4 (stake, issue 10) added columns at the end of nodes (stake, unbonding, slashes), tasks
// (price fixed at assignment, final_at_ms of the challenge window) and outbox (a slash's legs
// and memo), and task_nonretryable; an older database gains them on open (AddColumns), with
// zeros: nothing staked, no fixed price (PayFor falls back to the node's), no window.
#include "plume/scheduler/store.h"

#include <nlohmann/json.hpp>

#include "store_impl.h"

namespace plume::scheduler {
namespace {

using nlohmann::json;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
  id TEXT PRIMARY KEY, name TEXT, gpus TEXT, host_memory_bytes INTEGER, backend INTEGER,
  selftest_passed INTEGER, flops_per_s INTEGER, price INTEGER, state INTEGER,
  registered_at_ms INTEGER, lease_expires_ms INTEGER, stake INTEGER NOT NULL DEFAULT 0,
  unbonding INTEGER NOT NULL DEFAULT 0, slashes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS node_stats (
  id TEXT PRIMARY KEY, succeeded INTEGER, failed INTEGER, lost INTEGER);
CREATE TABLE IF NOT EXISTS node_verdicts (id TEXT PRIMARY KEY, refused INTEGER);
CREATE TABLE IF NOT EXISTS task_excluded (task TEXT, node TEXT, PRIMARY KEY (task, node));
CREATE TABLE IF NOT EXISTS task_nonretryable (task TEXT, node TEXT, PRIMARY KEY (task, node));
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, owner TEXT, spec TEXT, state INTEGER, reason TEXT, seq INTEGER,
  submitted_at_ms INTEGER, finished_at_ms INTEGER, infeasible_since_ms INTEGER, round INTEGER,
  params_blob TEXT, paid INTEGER, escrow_held INTEGER);
CREATE TABLE IF NOT EXISTS job_specs (id TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS job_outputs (
  job TEXT, idx INTEGER, blob TEXT, PRIMARY KEY (job, idx));
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, wire_id INTEGER UNIQUE, job TEXT, kind INTEGER, round INTEGER, shard INTEGER, attempt INTEGER,
  state INTEGER, node TEXT, not_before_ms INTEGER, assigned_at_ms INTEGER,
  finished_at_ms INTEGER, input_blob TEXT, output_blob TEXT, last_error TEXT, loss REAL,
  tokens INTEGER, reported_flops INTEGER, flops INTEGER, paid INTEGER, settle INTEGER,
  price INTEGER NOT NULL DEFAULT 0, final_at_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS rounds (
  job TEXT, round INTEGER, state INTEGER, params_in TEXT, params_out TEXT,
  started_at_ms INTEGER, deadline_ms INTEGER, PRIMARY KEY (job, round));
CREATE TABLE IF NOT EXISTS blob_uploaders (
  blob TEXT, uploader TEXT, PRIMARY KEY (blob, uploader));
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY, seq INTEGER, kind INTEGER, job TEXT, owner TEXT, node TEXT, task TEXT,
  attempt INTEGER, amount INTEGER, flops INTEGER, legs TEXT NOT NULL DEFAULT '[]',
  memo TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS node_classes (id TEXT PRIMARY KEY, kernel_class TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_owners (id TEXT PRIMARY KEY, owner TEXT NOT NULL);
)sql";

// Adds `column` (declared as `decl`) at the end of `table` unless it is there.
Status AddColumn(sql::Db& d, const std::string& table, const std::string& column,
                 const std::string& decl) {
  auto q = d.Prepare("SELECT COUNT(*) FROM pragma_table_info('" + table + "') WHERE name = '" +
                     column + "'");
  if (!q) return tl::unexpected(q.error());
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  if (*row && q->Int(0) > 0) return {};
  return d.Exec("ALTER TABLE " + table + " ADD COLUMN " + column + " " + decl + ";");
}

// Columns added after their table, in the order the table has them (the statements below write
// rows by position): tasks.settle (settle outcomes), then schema 4's stake columns.
Status AddColumns(sql::Db& d) {
  static const char* const kAdded[][3] = {
      {"tasks", "settle", "INTEGER NOT NULL DEFAULT 0"},
      {"nodes", "stake", "INTEGER NOT NULL DEFAULT 0"},
      {"nodes", "unbonding", "INTEGER NOT NULL DEFAULT 0"},
      {"nodes", "slashes", "INTEGER NOT NULL DEFAULT 0"},
      {"tasks", "price", "INTEGER NOT NULL DEFAULT 0"},
      {"tasks", "final_at_ms", "INTEGER NOT NULL DEFAULT 0"},
      {"outbox", "legs", "TEXT NOT NULL DEFAULT '[]'"},
      {"outbox", "memo", "TEXT NOT NULL DEFAULT ''"},
  };
  for (const auto& [table, column, decl] : kAdded) {
    if (auto st = AddColumn(d, table, column, decl); !st) return st;
  }
  return {};
}

}  // namespace

nlohmann::json LegsToJson(const std::vector<SlashLeg>& legs) {
  nlohmann::json out = nlohmann::json::array();
  for (const SlashLeg& l : legs) {
    out.push_back({{"kind", l.kind}, {"account", l.account}, {"amount", l.amount}});
  }
  return out;
}

Store::Store() : impl_(std::make_unique<Impl>()) {}
Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

Result<Store> Store::Open(const std::filesystem::path& path, Sync sync) {
  auto db = sql::Db::Open(path);
  if (!db) return tl::unexpected(db.error());
  Store store;
  store.impl_->db = std::move(*db);
  sql::Db& d = store.impl_->db;
  // WAL: readers do not block the writer and a commit is one append to the log.
  if (auto st = d.Exec("PRAGMA journal_mode=WAL;"); !st) return tl::unexpected(st.error());
  const char* sync_sql = sync == Sync::kFull ? "PRAGMA synchronous=FULL;"
                                             : "PRAGMA synchronous=NORMAL;";
  if (auto st = d.Exec(sync_sql); !st) return tl::unexpected(st.error());
  if (auto st = d.Exec(kSchema); !st) return tl::unexpected(st.error());
  if (auto st = AddColumns(d); !st) return tl::unexpected(st.error());
  if (auto st = d.Exec(kAuditSchema); !st) return tl::unexpected(st.error());
  // A readable older database is upgraded in place: from now on new jobs keep their spec in
  // job_specs, which the older code would not find.
  if (auto st = d.Exec("INSERT OR IGNORE INTO meta VALUES ('schema_version', " +
                       std::to_string(kSchemaVersion) + "); UPDATE meta SET value = " +
                       std::to_string(kSchemaVersion) + " WHERE key = 'schema_version' AND " +
                       "value >= " + std::to_string(kSchemaVersionReadable) + " AND value < " +
                       std::to_string(kSchemaVersion) + ";");
      !st) {
    return tl::unexpected(st.error());
  }
  if (auto st = store.impl_->Prepare(); !st) return tl::unexpected(st.error());
  return store;
}

Status Store::Impl::Prepare() {
  struct P {
    sql::Stmt* stmt;
    const char* sql;
  };
  const P all[] = {
      {&put_meta, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)"},
      {&put_node,
       "INSERT OR REPLACE INTO nodes VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"},
      {&put_node_stats, "INSERT OR REPLACE INTO node_stats VALUES (?1,?2,?3,?4)"},
      {&put_node_verdicts, "INSERT OR REPLACE INTO node_verdicts VALUES (?1,?2)"},
      {&put_excluded, "INSERT OR IGNORE INTO task_excluded VALUES (?1,?2)"},
      {&put_nonretryable, "INSERT OR IGNORE INTO task_nonretryable VALUES (?1,?2)"},
      // Upsert that leaves the spec column alone (NULL for jobs saved by schema 2).
      {&put_job,
       "INSERT INTO jobs VALUES (?1,?2,NULL,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) "
       "ON CONFLICT(id) DO UPDATE SET owner=?2, state=?4, reason=?5, seq=?6, "
       "submitted_at_ms=?7, finished_at_ms=?8, infeasible_since_ms=?9, round=?10, "
       "params_blob=?11, paid=?12, escrow_held=?13"},
      {&put_spec, "INSERT OR REPLACE INTO job_specs VALUES (?1, ?2)"},
      {&del_outputs_from, "DELETE FROM job_outputs WHERE job = ?1 AND idx >= ?2"},
      {&put_output, "INSERT OR REPLACE INTO job_outputs VALUES (?1, ?2, ?3)"},
      {&put_task,
       "INSERT OR REPLACE INTO tasks VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,"
       "?15,?16,?17,?18,?19,?20,?21,?22,?23)"},
      {&put_round, "INSERT OR REPLACE INTO rounds VALUES (?1,?2,?3,?4,?5,?6,?7)"},
      {&put_op, "INSERT OR REPLACE INTO outbox VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"},
      {&del_op, "DELETE FROM outbox WHERE id = ?1"},
      {&put_uploader, "INSERT OR IGNORE INTO blob_uploaders VALUES (?1, ?2)"},
      {&del_uploaders, "DELETE FROM blob_uploaders WHERE blob = ?1"},
      {&put_node_class, "INSERT OR REPLACE INTO node_classes VALUES (?1, ?2)"},
      {&put_node_owner, "INSERT OR REPLACE INTO node_owners VALUES (?1, ?2)"},
  };
  for (const P& p : all) {
    auto s = db.Prepare(p.sql);
    if (!s) return tl::unexpected(s.error());
    *p.stmt = std::move(*s);
  }
  return audit.Prepare(db);
}

Status Store::Impl::SaveNode(const Node& n) {
  const NodeInfo& i = n.info;
  put_node.Bind(1, i.id);
  put_node.Bind(2, i.name);
  put_node.Bind(3, GpusToJson(i.gpus).dump());
  put_node.Bind(4, i.host_memory_bytes);
  put_node.Bind(5, static_cast<int>(i.backend));
  put_node.Bind(6, i.selftest_passed);
  put_node.Bind(7, i.flops_per_s);
  put_node.Bind(8, i.price_micro_plume_per_pflop);
  put_node.Bind(9, static_cast<int>(n.state));
  put_node.Bind(10, n.registered_at_ms);
  put_node.Bind(11, n.lease_expires_ms);
  put_node.Bind(12, n.stake_micro_plume);
  put_node.Bind(13, n.unbonding_micro_plume);
  put_node.Bind(14, n.slashes);
  if (auto st = put_node.Run(); !st) return st;
  if (!i.kernel_class.empty()) {
    put_node_class.Bind(1, i.id);
    put_node_class.Bind(2, i.kernel_class);
    if (auto st = put_node_class.Run(); !st) return st;
  }
  // Written also when empty: a node that registers again without its attestation is its own
  // owner again, after a restart too.
  put_node_owner.Bind(1, i.id);
  put_node_owner.Bind(2, i.owner);
  if (auto st = put_node_owner.Run(); !st) return st;
  put_node_stats.Bind(1, i.id);
  put_node_stats.Bind(2, n.tasks_succeeded);
  put_node_stats.Bind(3, n.tasks_failed);
  put_node_stats.Bind(4, n.tasks_lost);
  if (auto st = put_node_stats.Run(); !st) return st;
  if (auto st = audit.SaveNode(n); !st) return st;
  // Nodes are saved on every heartbeat; most never had a result refused and write no row here.
  if (n.tasks_refused == 0) return {};
  put_node_verdicts.Bind(1, i.id);
  put_node_verdicts.Bind(2, n.tasks_refused);
  return put_node_verdicts.Run();
}

Status Store::Impl::SaveJob(const Job& j) {
  // The core never changes a spec after submission, so a job this store has seen keeps its row.
  auto saved = saved_outputs.find(j.id);
  if (saved == saved_outputs.end() && !pending_outputs.contains(j.id)) {
    put_spec.Bind(1, j.id);
    put_spec.Bind(2, SpecToJson(j.spec).dump());
    if (auto st = put_spec.Run(); !st) return st;
  }
  put_job.Bind(1, j.id);
  put_job.Bind(2, j.owner);
  put_job.Bind(4, static_cast<int>(j.state));
  put_job.Bind(5, j.reason);
  put_job.Bind(6, j.seq);
  put_job.Bind(7, j.submitted_at_ms);
  put_job.Bind(8, j.finished_at_ms);
  put_job.Bind(9, j.infeasible_since_ms);
  put_job.Bind(10, j.round);
  put_job.Bind(11, j.params_blob);
  put_job.Bind(12, j.paid_micro_plume);
  put_job.Bind(13, j.escrow_held);
  if (auto st = put_job.Run(); !st) return st;
  // Compare with what the database holds (as of this transaction) and write only the changes.
  auto pending = pending_outputs.find(j.id);
  static const std::vector<BlobHash> kNone;
  const std::vector<BlobHash>& before = pending != pending_outputs.end() ? pending->second
                                        : saved != saved_outputs.end()   ? saved->second
                                                                         : kNone;
  if (before.size() > j.outputs.size()) {
    del_outputs_from.Bind(1, j.id);
    del_outputs_from.Bind(2, static_cast<int64_t>(j.outputs.size()));
    if (auto st = del_outputs_from.Run(); !st) return st;
  }
  for (size_t k = 0; k < j.outputs.size(); ++k) {
    if (k < before.size() && before[k] == j.outputs[k]) continue;
    put_output.Bind(1, j.id);
    put_output.Bind(2, static_cast<int64_t>(k));
    put_output.Bind(3, j.outputs[k]);
    if (auto st = put_output.Run(); !st) return st;
  }
  pending_outputs[j.id] = j.outputs;
  return {};
}

Status Store::Impl::SaveTask(const Task& t) {
  sql::Stmt& q = put_task;
  q.Bind(1, t.id);
  q.Bind(2, t.wire_id);
  q.Bind(3, t.job);
  q.Bind(4, static_cast<int>(t.kind));
  q.Bind(5, t.round);
  q.Bind(6, t.shard);
  q.Bind(7, t.attempt);
  q.Bind(8, static_cast<int>(t.state));
  q.Bind(9, t.node);
  q.Bind(10, t.not_before_ms);
  q.Bind(11, t.assigned_at_ms);
  q.Bind(12, t.finished_at_ms);
  q.Bind(13, t.input_params_blob);
  q.Bind(14, t.output_blob);
  q.Bind(15, t.last_error);
  q.Bind(16, t.metrics.loss);
  q.Bind(17, t.metrics.tokens);
  q.Bind(18, t.metrics.flops);
  q.Bind(19, t.flops);
  q.Bind(20, t.paid_micro_plume);
  q.Bind(21, static_cast<int>(t.settle));
  q.Bind(22, t.price_micro_plume_per_pflop);
  q.Bind(23, t.final_at_ms);
  if (auto st = q.Run(); !st) return st;
  if (auto st = audit.SaveTask(t); !st) return st;
  // The sets only grow, so inserting what is there keeps the rows equal to them.
  for (const NodeId& node : t.excluded) {
    put_excluded.Bind(1, t.id);
    put_excluded.Bind(2, node);
    if (auto st = put_excluded.Run(); !st) return st;
  }
  for (const NodeId& node : t.nonretryable_from) {
    put_nonretryable.Bind(1, t.id);
    put_nonretryable.Bind(2, node);
    if (auto st = put_nonretryable.Run(); !st) return st;
  }
  return {};
}

Status Store::Impl::SaveRound(const Round& r) {
  put_round.Bind(1, r.job);
  put_round.Bind(2, r.round);
  put_round.Bind(3, static_cast<int>(r.state));
  put_round.Bind(4, r.params_in);
  put_round.Bind(5, r.params_out);
  put_round.Bind(6, r.started_at_ms);
  put_round.Bind(7, r.deadline_ms);
  return put_round.Run();
}

Status Store::Impl::SaveOp(const LedgerOp& op) {
  put_op.Bind(1, op.id);
  put_op.Bind(2, op.seq);
  put_op.Bind(3, static_cast<int>(op.kind));
  put_op.Bind(4, op.job);
  put_op.Bind(5, op.owner);
  put_op.Bind(6, op.node);
  put_op.Bind(7, op.task);
  put_op.Bind(8, op.attempt);
  put_op.Bind(9, op.amount_micro_plume);
  put_op.Bind(10, op.flops);
  put_op.Bind(11, LegsToJson(op.legs).dump());
  put_op.Bind(12, op.memo);
  return put_op.Run();
}

Status Store::Impl::SaveAll(const Dirty& d) {
  for (const Node& n : d.nodes) {
    if (auto st = SaveNode(n); !st) return st;
  }
  for (const Job& j : d.jobs) {
    if (auto st = SaveJob(j); !st) return st;
  }
  for (const Task& t : d.tasks) {
    if (auto st = SaveTask(t); !st) return st;
  }
  for (const Round& r : d.rounds) {
    if (auto st = SaveRound(r); !st) return st;
  }
  for (const LedgerOp& op : d.outbox_upserts) {
    if (auto st = SaveOp(op); !st) return st;
  }
  for (const std::string& id : d.outbox_deletes) {
    del_op.Bind(1, id);
    if (auto st = del_op.Run(); !st) return st;
  }
  for (const Verdict& v : d.verdicts) {
    if (auto st = audit.SaveVerdict(v); !st) return st;
  }
  for (const BlobHash& blob : d.blob_uploader_deletes) {
    del_uploaders.Bind(1, blob);
    if (auto st = del_uploaders.Run(); !st) return st;
  }
  for (const auto& [blob, uploader] : d.blob_uploaders) {
    put_uploader.Bind(1, blob);
    put_uploader.Bind(2, uploader);
    if (auto st = put_uploader.Run(); !st) return st;
  }
  const std::pair<const char*, int64_t> meta[] = {
      {"next_job_seq", static_cast<int64_t>(d.next_job_seq)},
      {"next_op_seq", static_cast<int64_t>(d.next_op_seq)},
      {"next_task_wire_id", static_cast<int64_t>(d.next_task_wire_id)},
      {"now_ms", d.now_ms}};
  for (const auto& [key, value] : meta) {
    put_meta.Bind(1, std::string_view(key));
    put_meta.Bind(2, value);
    if (auto st = put_meta.Run(); !st) return st;
  }
  return {};
}

Status Store::Save(const Dirty& dirty) {
  Impl& m = *impl_;
  m.pending_outputs.clear();
  if (auto st = m.db.Exec("BEGIN IMMEDIATE;"); !st) return st;
  if (auto st = m.SaveAll(dirty); !st) {
    (void)m.db.Exec("ROLLBACK;");
    m.pending_outputs.clear();
    return st;
  }
  if (auto st = m.db.Exec("COMMIT;"); !st) {
    (void)m.db.Exec("ROLLBACK;");
    m.pending_outputs.clear();
    return st;
  }
  for (auto& [id, outputs] : m.pending_outputs) m.saved_outputs[id] = std::move(outputs);
  m.pending_outputs.clear();
  return {};
}

}  // namespace plume::scheduler
