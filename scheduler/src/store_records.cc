// The store's rows for forgotten nodes; see store_records.h.
#include "store_records.h"

namespace plume::scheduler {
namespace {

constexpr const char* kRecordSchema = R"sql(
CREATE TABLE IF NOT EXISTS node_records (
  id TEXT PRIMARY KEY, forgotten_at_ms INTEGER, succeeded INTEGER, failed INTEGER, lost INTEGER,
  refused INTEGER, consecutive_valid INTEGER, valid INTEGER, audited INTEGER,
  proven_faulty INTEGER, no_peer INTEGER, slashes INTEGER);
)sql";

constexpr const char* kNodeTables[] = {"nodes",         "node_classes", "node_owners",
                                       "node_stats",    "node_verdicts", "node_audit"};

}  // namespace

Status RecordRows::Prepare(sql::Db& db) {
  if (auto st = db.Exec(kRecordSchema); !st) return st;
  auto put = db.Prepare(
      "INSERT OR REPLACE INTO node_records VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  if (!put) return tl::unexpected(put.error());
  put_record_ = std::move(*put);
  auto del = db.Prepare("DELETE FROM node_records WHERE id = ?1");
  if (!del) return tl::unexpected(del.error());
  del_record_ = std::move(*del);
  del_node_.clear();
  for (const char* table : kNodeTables) {
    auto q = db.Prepare(std::string("DELETE FROM ") + table + " WHERE id = ?1");
    if (!q) return tl::unexpected(q.error());
    del_node_.push_back(std::move(*q));
  }
  return {};
}

Status RecordRows::Save(const Dirty& d) {
  for (const NodeId& id : d.forgotten_nodes) {
    for (sql::Stmt& del : del_node_) {
      del.Bind(1, std::string_view(id));
      if (auto st = del.Run(); !st) return st;
    }
  }
  for (const auto& [id, record] : d.records) {
    if (!record) {
      del_record_.Bind(1, std::string_view(id));
      if (auto st = del_record_.Run(); !st) return st;
      continue;
    }
    const NodeRecord& r = *record;
    put_record_.Bind(1, std::string_view(id));
    put_record_.Bind(2, r.forgotten_at_ms);
    put_record_.Bind(3, r.tasks_succeeded);
    put_record_.Bind(4, r.tasks_failed);
    put_record_.Bind(5, r.tasks_lost);
    put_record_.Bind(6, r.tasks_refused);
    put_record_.Bind(7, r.consecutive_valid);
    put_record_.Bind(8, r.results_valid);
    put_record_.Bind(9, r.results_audited);
    put_record_.Bind(10, r.proven_faulty);
    put_record_.Bind(11, r.unaudited_no_peer);
    put_record_.Bind(12, r.slashes);
    if (auto st = put_record_.Run(); !st) return st;
  }
  return {};
}

Status RecordRows::Load(sql::Db& db, State& s) {
  auto q = db.Prepare("SELECT * FROM node_records");
  if (!q) return tl::unexpected(q.error());
  for (auto row = q->Step();; row = q->Step()) {
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
    NodeRecord r;
    r.forgotten_at_ms = q->Int(1);
    r.tasks_succeeded = static_cast<uint64_t>(q->Int(2));
    r.tasks_failed = static_cast<uint64_t>(q->Int(3));
    r.tasks_lost = static_cast<uint64_t>(q->Int(4));
    r.tasks_refused = static_cast<uint64_t>(q->Int(5));
    r.consecutive_valid = q->Int(6);
    r.results_valid = q->Int(7);
    r.results_audited = q->Int(8);
    r.proven_faulty = q->Int(9);
    r.unaudited_no_peer = q->Int(10);
    r.slashes = static_cast<uint64_t>(q->Int(11));
    s.records[q->Text(0)] = r;
  }
}

}  // namespace plume::scheduler
