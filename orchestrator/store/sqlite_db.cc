#include "orchestrator/store/sqlite_db.h"

#include <sqlite3.h>

namespace cf::orchestrator {
namespace {

Error SqlError(sqlite3* db, int rc, const std::string& what) {
  int base = rc & 0xff;
  Errc code = base == SQLITE_CONSTRAINT                        ? Errc::kAlreadyExists
              : (base == SQLITE_BUSY || base == SQLITE_LOCKED) ? Errc::kUnavailable
                                                               : Errc::kIo;
  std::string msg = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  return MakeError(code, msg);
}

}  // namespace

SqliteStmt& SqliteStmt::operator=(SqliteStmt&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

SqliteStmt::~SqliteStmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

SqliteStmt& SqliteStmt::Bind(int idx, int64_t v) {
  sqlite3_bind_int64(stmt_, idx, v);
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int idx, std::string_view v) {
  sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::BindNull(int idx) {
  sqlite3_bind_null(stmt_, idx);
  return *this;
}

Result<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(db_, rc, "sqlite step");
}

Status SqliteStmt::Run() {
  while (true) {
    auto r = Step();
    if (!r) return r.error();
    if (!*r) return {};
  }
}

int SqliteStmt::Changes() const { return sqlite3_changes(db_); }

int64_t SqliteStmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

bool SqliteStmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

SqliteDb::~SqliteDb() {
  if (db_) sqlite3_close_v2(db_);
}

Status SqliteDb::Open(const std::string& path) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(db_, rc, "open " + path);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return e;
  }
  sqlite3_busy_timeout(db_, 5000);
  if (path != ":memory:") {
    if (auto st = Exec("PRAGMA journal_mode=WAL"); !st) return st;
  }
  if (auto st = Exec("PRAGMA synchronous=NORMAL"); !st) return st;
  return Exec("PRAGMA foreign_keys=ON");
}

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return MakeError((rc & 0xff) == SQLITE_CONSTRAINT ? Errc::kAlreadyExists : Errc::kIo,
                     "sqlite exec: " + msg);
  }
  return {};
}

Result<SqliteStmt> SqliteDb::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqlError(db_, rc, "prepare '" + sql + "'");
  return SqliteStmt(db_, stmt);
}

Status SqliteDb::Run(const std::string& sql, const SqlBind& bind) {
  auto st = Prepare(sql);
  if (!st) return st.error();
  if (bind) bind(*st);
  return st->Run();
}

Status SqliteDb::Query(const std::string& sql, const SqlBind& bind, const SqlRow& on_row) {
  auto st = Prepare(sql);
  if (!st) return st.error();
  if (bind) bind(*st);
  while (true) {
    auto row = st->Step();
    if (!row) return row.error();
    if (!*row) return {};
    on_row(*st);
  }
}

Result<bool> SqliteDb::QueryOne(const std::string& sql, const SqlBind& bind, const SqlRow& on_row) {
  auto st = Prepare(sql);
  if (!st) return st.error();
  if (bind) bind(*st);
  auto row = st->Step();
  if (!row) return row.error();
  if (*row) on_row(*st);
  return *row;
}

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int SqliteDb::Changes() const { return sqlite3_changes(db_); }

SqliteTxn::SqliteTxn(SqliteDb& db) : db_(db) { begin_ = db_.Exec("BEGIN IMMEDIATE"); }

SqliteTxn::~SqliteTxn() {
  if (!done_ && begin_) (void)db_.Exec("ROLLBACK");
}

Status SqliteTxn::Commit() {
  if (!begin_) return begin_;
  auto st = db_.Exec("COMMIT");
  if (st) done_ = true;
  return st;
}

}  // namespace cf::orchestrator
