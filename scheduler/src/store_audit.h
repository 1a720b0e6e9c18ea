// Private: the replay-audit rows of the scheduler's store (store.cc): each provider's audit
// record (node_audit), each task's place in an audit (task_audit) and the verdicts of disputed
// audits with their evidence (verdicts, JSON, keyed by the original task), and each task's part
// in a dispute on commitment chains (task_dispute, JSON: the chain, the export's pin, the
// segment). New tables of their own, so an older database simply has none: no audits yet.
#pragma once

#include "plume/scheduler/core.h"
#include "sqlite.h"

namespace plume::scheduler {

inline constexpr const char* kAuditSchema = R"sql(
CREATE TABLE IF NOT EXISTS node_audit (
  id TEXT PRIMARY KEY, consecutive_valid INTEGER, valid INTEGER, audited INTEGER,
  proven_faulty INTEGER, no_peer INTEGER);
CREATE TABLE IF NOT EXISTS task_audit (
  id TEXT PRIMARY KEY, role INTEGER, audit_of TEXT, kernel_class TEXT, rate_ppm INTEGER,
  status INTEGER, settle_deferred INTEGER);
CREATE TABLE IF NOT EXISTS verdicts (task TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS task_dispute (task TEXT PRIMARY KEY, record TEXT NOT NULL);
)sql";

class AuditRows {
 public:
  Status Prepare(sql::Db& db);
  Status SaveNode(const Node& n);
  Status SaveTask(const Task& t);
  Status SaveVerdict(const Verdict& v);
  static Status Load(sql::Db& db, State& s);

 private:
  sql::Stmt put_node_, put_task_, put_verdict_, put_dispute_;
};

}  // namespace plume::scheduler
