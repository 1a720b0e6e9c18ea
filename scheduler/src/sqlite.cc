// sqlite3 wrapper; see sqlite.h.
#include "sqlite.h"

namespace plume::scheduler::sql {

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(s_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(s_.get());
  return Fail(std::string("database: ") + sqlite3_errmsg(db) +
              " (is the disk full or the file read-only?)");
}

Status Stmt::Run() {
  auto r = Step();
  Reset();
  if (!r) return tl::unexpected(r.error());
  return {};
}

std::string Stmt::Text(int col) const {
  const auto* p = sqlite3_column_text(s_.get(), col);
  const int n = sqlite3_column_bytes(s_.get(), col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

Result<Db> Db::Open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  Db db;
  db.db_.reset(raw);
  if (rc != SQLITE_OK) {
    return Fail("cannot open database " + path.string() + ": " +
                (raw ? sqlite3_errmsg(raw) : "out of memory") +
                " (check the directory exists and is writable)");
  }
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : Message();
    sqlite3_free(err);
    return Fail("database: " + msg);
  }
  return {};
}

Result<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    return Fail("database: cannot prepare statement: " + Message());
  }
  return Stmt(s);
}

}  // namespace plume::scheduler::sql
