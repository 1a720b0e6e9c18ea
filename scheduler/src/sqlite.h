// A small RAII wrapper over the sqlite3 C API: a connection and prepared statements, errors as
// plume::Result values carrying SQLite's own message. Private to the scheduler's store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "plume/protocol/error.h"

namespace plume::scheduler::sql {

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}

  // Binds are 1-based like SQLite's. Text is copied (SQLITE_TRANSIENT).
  void Bind(int i, int64_t v) { sqlite3_bind_int64(s_.get(), i, v); }
  void Bind(int i, uint64_t v) { sqlite3_bind_int64(s_.get(), i, static_cast<int64_t>(v)); }
  void Bind(int i, uint32_t v) { sqlite3_bind_int64(s_.get(), i, v); }
  void Bind(int i, int v) { sqlite3_bind_int64(s_.get(), i, v); }
  void Bind(int i, bool v) { sqlite3_bind_int64(s_.get(), i, v ? 1 : 0); }
  void Bind(int i, double v) { sqlite3_bind_double(s_.get(), i, v); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }

  // True while a row is available; false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows, then resets it for reuse.
  Status Run();
  void Reset() {
    sqlite3_reset(s_.get());
    sqlite3_clear_bindings(s_.get());
  }

  // Columns are 0-based like SQLite's.
  int64_t Int(int col) const { return sqlite3_column_int64(s_.get(), col); }
  double Real(int col) const { return sqlite3_column_double(s_.get(), col); }
  std::string Text(int col) const;

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> s_;
};

class Db {
 public:
  static Result<Db> Open(const std::filesystem::path& path);
  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(const std::string& sql);
  std::string Message() const { return sqlite3_errmsg(db_.get()); }

 private:
  struct Close {
    void operator()(sqlite3* d) const { sqlite3_close_v2(d); }
  };
  std::unique_ptr<sqlite3, Close> db_;
};

}  // namespace plume::scheduler::sql
