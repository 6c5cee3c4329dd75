#include "storage/database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/fd.h"

namespace hearth::storage {
namespace {

// The database, its WAL and its shared-memory index are private to the
// server's user: they hold sealed rows and blind indexes, and nobody else
// needs even those.
constexpr mode_t kFileMode = 0600;

bool is_identifier(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string errno_text(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return "permission denied";
    case ENOSPC:
      return "no space left on device";
    case EROFS:
      return "read-only file system";
    case ENOENT:
      return "no such file or directory";
    default:
      return "error " + std::to_string(err);
  }
}

// Sets a file's permission bits to exactly 0600 when they are anything else.
Status tighten_mode(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return error(Code::kUnavailable, "cannot stat database file");
  if (!S_ISREG(st.st_mode))
    return error(Code::kInvalidArgument, "database path is not a regular file");
  if ((st.st_mode & 0777) != kFileMode && ::fchmod(fd, kFileMode) != 0) {
    return error(Code::kUnavailable,
                 "cannot set mode 0600 on " + path.filename().string() + ": " + errno_text(errno));
  }
  return Status::ok();
}

// Creates (or opens) `path` ourselves so it is 0600 from its first byte;
// SQLite then creates -wal and -shm with the same mode. Existing side files
// are tightened too. The descriptor is closed before SQLite opens the file:
// closing a descriptor would drop SQLite's POSIX locks if it had any.
Status prepare_files(const std::filesystem::path& path, bool create) {
  int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
  if (create) flags |= O_CREAT;
  Fd fd(::open(path.c_str(), flags, kFileMode));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return error(Code::kNotFound, "database file does not exist");
    if (err == ELOOP) return error(Code::kInvalidArgument, "database path is a symbolic link");
    return error(Code::kUnavailable, "cannot open database file: " + errno_text(err));
  }
  HEARTH_TRY(tighten_mode(fd.get(), path));
  fd.reset();
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::path side = path.string() + suffix;
    Fd side_fd(::open(side.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!side_fd.valid()) {
      int err = errno;
      // Absent is fine: SQLite creates it with the database's mode. Anything
      // else is refused: a symbolic link would let SQLite write the WAL (with
      // every row) or the index wherever the link points.
      if (err == ENOENT) continue;
      if (err == ELOOP)
        return error(Code::kInvalidArgument,
                     "database " + std::string(suffix + 1) + " file is a symbolic link");
      return error(Code::kUnavailable,
                   "cannot open database " + std::string(suffix + 1) + " file: " + errno_text(err));
    }
    HEARTH_TRY(tighten_mode(side_fd.get(), side));
  }
  return Status::ok();
}

}  // namespace

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_(other.db_),
      owned_(other.owned_),
      cache_key_(other.cache_key_),
      bind_error_(other.bind_error_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    release();
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
    owned_ = other.owned_;
    cache_key_ = other.cache_key_;
    bind_error_ = other.bind_error_;
  }
  return *this;
}

Statement::~Statement() { release(); }

void Statement::release() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    // Give it back to the cache; if another copy was cached meanwhile, drop ours.
    if (!db_->cache_.try_emplace(cache_key_, stmt_).second) sqlite3_finalize(stmt_);
  }
  stmt_ = nullptr;
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind(int index, ByteView blob) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static constexpr std::uint8_t kEmpty = 0;
  const void* data = blob.empty() ? &kEmpty : blob.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view text) {
  int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Result<bool> Statement::step() {
  if (bind_error_ != 0) return db_->status_from(bind_error_, "bind");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->status_from(rc, "step");
}

Status Statement::run() {
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok();
  }
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

Bytes Statement::column_blob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return {data, data + size};
}

std::string Statement::column_text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(size)};
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

// ---- Database ----

Result<std::unique_ptr<Database>> Database::open(const std::filesystem::path& path,
                                                 const DatabaseOptions& options) {
  HEARTH_TRY(prepare_files(path, options.create));
  std::unique_ptr<Database> db(new Database(path));
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) return db->status_from(rc, "open database");
  HEARTH_TRY(db->configure(options));
  return db;
}

Database::~Database() {
  for (auto& [key, stmt] : cache_) sqlite3_finalize(stmt);
  cache_.clear();
  for (auto& [key, stmt] : control_cache_) sqlite3_finalize(stmt);
  control_cache_.clear();
  // sqlite3_close_v2 defers the close until every statement is finalized, so
  // a statement leaked by a bug cannot make this crash.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status Database::configure(const DatabaseOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  // Non-zero turns the COMMIT into a rollback (restrict_commits()).
  sqlite3_commit_hook(
      db_,
      [](void* self) -> int {
        auto* db = static_cast<Database*>(self);
        return db->commits_restricted_ && !db->commit_allowed_ ? 1 : 0;
      },
      this);
  sqlite3_rollback_hook(
      db_, [](void* self) { ++static_cast<Database*>(self)->rollbacks_; }, this);
  busy_timeout_ms_ = options.busy_timeout_ms;
  sqlite3_busy_timeout(db_, busy_timeout_ms_);
  // Defensive mode: no writable_schema tricks, no direct shadow-table writes,
  // so a bug in our SQL cannot corrupt the file on purpose.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);

  // WAL first: it is the first statement that reads the file, so a file that
  // is not a database fails here with kCorrupt.
  {
    HEARTH_ASSIGN_OR_RETURN(Statement wal, prepare("PRAGMA journal_mode=WAL"));
    HEARTH_ASSIGN_OR_RETURN(bool row, wal.step());
    if (!row || wal.column_text(0) != "wal")
      return error(Code::kUnavailable, "WAL journal mode is not available for this file");
  }
  // synchronous=FULL: in WAL mode every commit is fsync'ed before it returns,
  // so a write we acknowledged survives power loss, not just a process crash.
  // secure_delete=ON: deleted rows and freed pages are overwritten with zeros.
  // temp_store=MEMORY: sorts and temporary tables never reach a disk file.
  HEARTH_TRY(
      exec("PRAGMA synchronous=FULL;"
           "PRAGMA secure_delete=ON;"
           "PRAGMA temp_store=MEMORY;"
           "PRAGMA foreign_keys=ON;"
           "PRAGMA cell_size_check=ON;"));
  if (options.check_on_open) {
    HEARTH_ASSIGN_OR_RETURN(Statement check, prepare("PRAGMA quick_check"));
    HEARTH_ASSIGN_OR_RETURN(bool row, check.step());
    if (!row || check.column_text(0) != "ok")
      return error(Code::kCorrupt, "database failed its integrity check");
  }
  return Status::ok();
}

Status Database::status_from(int rc, std::string_view what) const {
  std::string reason = sqlite3_errstr(rc);
  std::string prefix(what);
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::ok();
    case SQLITE_READONLY:
      if (query_only_)
        return error(Code::kInternal, prefix + ": write attempted in a read-only job");
      return error(Code::kUnavailable, prefix + ": " + reason);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL:
      return error(Code::kUnavailable, prefix + ": " + reason);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return error(Code::kUnavailable, prefix + ": database is locked by another connection");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return error(Code::kCorrupt, prefix + ": " + reason);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_COMMITHOOK)
        return error(Code::kUnavailable,
                     prefix + ": commit refused outside the storage thread's transaction");
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return error(Code::kAlreadyExists, prefix + ": already exists");
      return error(Code::kInvalidArgument, prefix + ": constraint failed");
    case SQLITE_TOOBIG:
      return error(Code::kLimitExceeded, prefix + ": value too large");
    default: {
      // Programming errors (bad SQL, misuse): SQLite's message names the
      // problem in the statement text, never a bound value.
      std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : reason;
      return error(Code::kInternal, prefix + ": " + detail);
    }
  }
}

Status Database::exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::ok() : status_from(rc, "exec");
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), 0, &stmt, nullptr);
  if (rc != SQLITE_OK) return status_from(rc, "prepare");
  if (stmt == nullptr) return error(Code::kInternal, "prepare: empty statement");
  return Statement(stmt, this, /*owned=*/true);
}

Result<Statement> Database::cached(std::string_view sql) {
  auto it = cache_.find(sql.data());
  if (it != cache_.end()) {
    sqlite3_stmt* stmt = it->second;
    cache_.erase(it);
    Statement out(stmt, this, /*owned=*/false);
    out.cache_key_ = sql.data();
    return out;
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return status_from(rc, "prepare");
  if (stmt == nullptr) return error(Code::kInternal, "prepare: empty statement");
  Statement out(stmt, this, /*owned=*/false);
  out.cache_key_ = sql.data();
  return out;
}

Status Database::run_control(const std::string& sql) {
  sqlite3_stmt*& stmt = control_cache_[sql];
  if (stmt == nullptr) {
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      control_cache_.erase(sql);
      return status_from(rc, "prepare");
    }
  }
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::ok();
  return status_from(rc, sql.substr(0, sql.find(' ')));
}

Status Database::begin() { return run_control("BEGIN IMMEDIATE"); }

Status Database::commit() { return run_control("COMMIT"); }

Status Database::set_query_only(bool on) {
  HEARTH_TRY(run_control(on ? "PRAGMA query_only=1" : "PRAGMA query_only=0"));
  query_only_ = on;
  return Status::ok();
}

Status Database::commit_batch() {
  commit_allowed_ = true;
  Status status = run_control("COMMIT");
  commit_allowed_ = false;
  return status;
}

void Database::rollback() {
  if (!in_transaction()) return;
  (void)run_control("ROLLBACK");
}

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Database::savepoint(std::string_view name) {
  if (!is_identifier(name)) return error(Code::kInternal, "bad savepoint name");
  return run_control("SAVEPOINT " + std::string(name));
}

Status Database::release(std::string_view name) {
  if (!is_identifier(name)) return error(Code::kInternal, "bad savepoint name");
  return run_control("RELEASE " + std::string(name));
}

Status Database::rollback_to(std::string_view name) {
  if (!is_identifier(name)) return error(Code::kInternal, "bad savepoint name");
  // ROLLBACK TO leaves the savepoint on the stack; RELEASE removes it.
  HEARTH_TRY(run_control("ROLLBACK TO " + std::string(name)));
  return run_control("RELEASE " + std::string(name));
}

Result<std::int64_t> Database::user_version() {
  HEARTH_ASSIGN_OR_RETURN(Statement stmt, prepare("PRAGMA user_version"));
  HEARTH_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return error(Code::kInternal, "user_version returned no row");
  return stmt.column_int64(0);
}

Status Database::set_user_version(std::int64_t version) {
  return exec("PRAGMA user_version = " + std::to_string(version));
}

Status Database::checkpoint_truncate() {
  int log_frames = 0;
  int checkpointed = 0;
  // Without the busy handler: TRUNCATE would otherwise wait up to the busy
  // timeout for another connection's readers, holding up the storage thread
  // and every write queued behind it. A busy file fails at once instead; the
  // caller retries later.
  sqlite3_busy_timeout(db_, 0);
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                     &checkpointed);
  sqlite3_busy_timeout(db_, busy_timeout_ms_);
  if (rc != SQLITE_OK) return status_from(rc, "checkpoint");
  return Status::ok();
}

void Database::manage_checkpoints() {
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<Database*>(self)->wal_frames_ = frames;
        return SQLITE_OK;
      },
      this);
}

Status Database::checkpoint_passive() {
  int log_frames = 0;
  int checkpointed = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                     &checkpointed);
  if (rc != SQLITE_OK) return status_from(rc, "checkpoint");
  if (log_frames >= 0 && checkpointed == log_frames) wal_frames_ = 0;
  return Status::ok();
}

Result<std::string> Database::integrity_check() {
  HEARTH_ASSIGN_OR_RETURN(Statement stmt, prepare("PRAGMA integrity_check"));
  std::string out;
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    if (!out.empty()) out += "; ";
    out += stmt.column_text(0);
  }
  return out;
}

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

// ---- Savepoint ----

Savepoint::Savepoint(Database& db, std::string_view name) : db_(db), name_(name) {
  status_ = db_.savepoint(name_);
  open_ = status_.is_ok();
}

Savepoint::~Savepoint() {
  if (!open_) return;
  // If SQLite already rolled the whole transaction back (a full disk or an I/O
  // error does that), there is no savepoint left to roll back to.
  if (db_.in_transaction()) (void)db_.rollback_to(name_);
}

Status Savepoint::commit() {
  if (!open_) return status_;
  open_ = false;
  return db_.release(name_);
}

}  // namespace hearth::storage
