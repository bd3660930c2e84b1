// A thin RAII layer over the SQLite C API: a connection, prepared statements with typed binds,
// and errors as values. Not thread-safe: the Store serialises access with its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cf::orchestrator {

class SqliteStmt {
 public:
  SqliteStmt() = default;
  SqliteStmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStmt(SqliteStmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  SqliteStmt& operator=(SqliteStmt&& o) noexcept;
  ~SqliteStmt();

  // Binds are 1-based, like SQLite's. Each returns *this for chaining.
  SqliteStmt& Bind(int idx, int64_t v);
  SqliteStmt& Bind(int idx, std::string_view v);
  SqliteStmt& Bind(int idx, const char* v) { return Bind(idx, std::string_view(v)); }
  SqliteStmt& Bind(int idx, const std::string& v) { return Bind(idx, std::string_view(v)); }
  SqliteStmt& BindNull(int idx);

  // Steps once: true = a row is available, false = done; error on failure (with the SQLite
  // message; a constraint violation maps to Errc::kAlreadyExists).
  Result<bool> Step();
  // Steps until done (for statements without rows).
  Status Run();
  // Number of rows the last Run changed.
  int Changes() const;

  int64_t Int(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens (creating) the database; ":memory:" works for tests. Enables WAL, foreign keys,
  // synchronous=NORMAL and a busy timeout.
  Status Open(const std::string& path);
  Status Exec(const std::string& sql);
  Result<SqliteStmt> Prepare(const std::string& sql);
  int64_t LastInsertRowId() const;

 private:
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless Commit() succeeded.
class SqliteTxn {
 public:
  explicit SqliteTxn(SqliteDb& db);
  ~SqliteTxn();
  const Status& begin_status() const { return begin_; }
  Status Commit();

 private:
  SqliteDb& db_;
  Status begin_;
  bool done_ = false;
};

}  // namespace cf::orchestrator
