// A thin RAII layer over the SQLite C API: a connection, prepared statements with typed binds,
// and errors as values. Only store/ and the features' *_store.cc files include it.
//
// Threading: the connection is not thread-safe; every store over one SqliteDb holds mu() for
// the whole of each of its calls (so each call is atomic with respect to every other store's),
// and runs every multi-row change in one SqliteTxn (BEGIN IMMEDIATE).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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

// Binds a statement's parameters (nullptr: none).
using SqlBind = std::function<void(SqliteStmt&)>;
// Reads one result row.
using SqlRow = std::function<void(const SqliteStmt&)>;

class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens (creating) the database; ":memory:" works for tests. Enables WAL, foreign keys,
  // synchronous=NORMAL and a busy timeout.
  Status Open(const std::string& path);
  // Runs SQL text without parameters (pragmas, schema scripts, BEGIN/COMMIT).
  Status Exec(const std::string& sql);
  // The way to run a statement: prepares sql, binds, steps to the end. Changes() then says how
  // many rows it changed.
  Status Run(const std::string& sql, const SqlBind& bind = nullptr);
  // The query form of Run: on_row is called once per result row, in order.
  Status Query(const std::string& sql, const SqlBind& bind, const SqlRow& on_row);
  // The first row only (false: there was none).
  Result<bool> QueryOne(const std::string& sql, const SqlBind& bind, const SqlRow& on_row);
  Result<SqliteStmt> Prepare(const std::string& sql);
  int64_t LastInsertRowId() const;
  int Changes() const;

  // Held by every store call for its whole duration (see above).
  std::mutex& mu() { return mu_; }

 private:
  sqlite3* db_ = nullptr;
  std::mutex mu_;
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
