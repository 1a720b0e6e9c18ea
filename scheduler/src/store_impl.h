// Private: the scheduler store's connection, prepared statements and row writers/readers,
// shared by store.cc (schema, open, save) and store_load.cc (load).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plume/scheduler/store.h"
#include "sqlite.h"
#include "store_audit.h"
#include "store_json.h"

namespace plume::scheduler {

inline constexpr int kSchemaVersion = 4;
inline constexpr int kSchemaVersionReadable = 1;  // oldest version this code loads (and upgrades)

// A slash's legs in the outbox's legs column (JSON array of {kind, account, amount}).
nlohmann::json LegsToJson(const std::vector<SlashLeg>& legs);
std::vector<SlashLeg> LegsFromJson(const nlohmann::json& j);

struct Store::Impl {
  sql::Db db;
  sql::Stmt put_meta, put_node, put_node_stats, put_node_verdicts, put_excluded, put_job, put_spec,
      del_outputs_from, put_output, put_task, put_round, put_op, del_op, put_uploader, del_uploaders,
      put_nonretryable;
  sql::Stmt put_node_class, put_node_owner;
  AuditRows audit;
  // Output blobs of every job as last committed (present = the job's spec row is written), and
  // what the open transaction changes; merged on commit, dropped on rollback.
  std::map<JobId, std::vector<BlobHash>> saved_outputs;
  std::map<JobId, std::vector<BlobHash>> pending_outputs;

  Status Prepare();
  Status SaveNode(const Node& n);
  Status SaveJob(const Job& j);
  Status SaveTask(const Task& t);
  Status SaveRound(const Round& r);
  Status SaveOp(const LedgerOp& op);
  Status SaveAll(const Dirty& d);
  Status LoadNodes(State& s);
  Status LoadJobs(State& s);
  Status LoadTasks(State& s);
  Status LoadRounds(State& s);
  Status LoadOutbox(State& s);
  Status LoadUploaders(State& s);
  Status LoadMeta(State& s);
};

}  // namespace plume::scheduler
