// Private: the store's rows for forgotten nodes (core_forget.cc). Forgetting deletes a node's
// registry rows (nodes, node_classes, node_owners) and its record rows (node_stats, node_verdicts,
// node_audit); a record worth keeping moves whole into node_records, keyed by the agent key, and
// back out when the key registers again. A table of its own: an older database has none, which
// means nothing was forgotten.
#pragma once

#include "plume/scheduler/core.h"
#include "sqlite.h"

namespace plume::scheduler {

class RecordRows {
 public:
  Status Prepare(sql::Db& db);  // creates the table if needed
  // Applies d.forgotten_nodes and d.records; call before the nodes of the same Dirty are saved.
  Status Save(const Dirty& d);
  static Status Load(sql::Db& db, State& s);

 private:
  sql::Stmt put_record_, del_record_;
  std::vector<sql::Stmt> del_node_;  // one per table that holds a node's rows
};

}  // namespace plume::scheduler
