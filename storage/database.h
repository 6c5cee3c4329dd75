// Database and Statement: RAII wrappers around one SQLite connection.
//
// With storage/backup.cpp (the online backup API needs a second, read-only
// connection of its own), this is the only file pair in Hearth that calls
// SQLite; every other storage class goes through it. Database::open creates the file 0600 before
// SQLite touches it (SQLite gives the -wal and -shm files the database's mode), applies the pragmas
// that make an acknowledged write durable and a deleted row unrecoverable (docs/storage.md,
// "Pragmas"), and turns every SQLite result into a Status: a full disk or an I/O error is
// kUnavailable, a locked file is kUnavailable, a damaged file is kCorrupt, a violated constraint is
// kAlreadyExists. Error messages name the operation and SQLite's reason; they
// never contain bound values.
//
// Thread safety: a Database and its Statements belong to one thread at a time
// (in the server, the storage thread). SQLite is opened in its multi-thread
// mode, without its own connection mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/bytes.h"
#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hearth::storage {

class Database;

// One prepared statement. Owned statements are finalized on destruction;
// statements borrowed from Database::cached() are reset instead, so a cached
// statement never keeps a read transaction open past its use.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binders take a 1-based parameter index. Blobs and text are copied by
  // SQLite (SQLITE_TRANSIENT), so the argument need not outlive the call.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, ByteView blob);
  Statement& bind_text(int index, std::string_view text);
  Statement& bind_null(int index);

  // Advances the statement: true when a row is available, false when done.
  // A failed bind earlier is reported here, as is any SQLite error.
  Result<bool> step();
  // Steps to completion, ignoring rows. For INSERT, UPDATE, DELETE and DDL.
  Status run();

  // Column accessors, valid after step() returned true. 0-based index.
  bool is_null(int column) const;
  std::int64_t column_int64(int column) const;
  Bytes column_blob(int column) const;
  std::string column_text(int column) const;

  // Makes the statement ready to run again with fresh bindings.
  void reset();

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, Database* db, bool owned) : stmt_(stmt), db_(db), owned_(owned) {}
  void release();

  sqlite3_stmt* stmt_ = nullptr;
  Database* db_ = nullptr;
  bool owned_ = true;
  const char* cache_key_ = nullptr;  // for borrowed statements: the Database cache slot
  int bind_error_ = 0;               // first failing sqlite3_bind_* result code, reported by step()
};

struct DatabaseOptions {
  // Create the file (0600) when it does not exist. When false a missing file
  // is kNotFound.
  bool create = true;
  // How long a statement waits for another process's lock before it fails
  // with kUnavailable. The storage thread blocks for at most this long.
  int busy_timeout_ms = 1000;
  // Run PRAGMA quick_check when opening, so a damaged file is refused at
  // start-up with kCorrupt instead of failing some later request.
  bool check_on_open = true;
};

class StorageThread;

class Database {
 public:
  // Opens (and, with options.create, creates 0600) the database at `path` and
  // applies Hearth's pragmas. Errors: kNotFound (missing, create off),
  // kUnavailable (cannot open, locked, disk full, WAL not available), kCorrupt
  // (not a database, or quick_check failed).
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& path,
                                                const DatabaseOptions& options = {});

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  // Closes the connection. Cached statements are finalized first.
  ~Database();

  const std::filesystem::path& path() const { return path_; }

  // Runs one or more SQL statements with no parameters and no result rows.
  Status exec(std::string_view sql);

  // A new statement owned by the caller. kInternal on a syntax error (a bug).
  Result<Statement> prepare(std::string_view sql);
  // A statement prepared once per connection and reused; `sql` must be a
  // string literal or otherwise outlive the Database (the cache is keyed by
  // its address). The returned handle is reset and returned to the cache when
  // it goes out of scope; asking again while one is out prepares a second
  // copy. Every statement must be gone before its Database.
  Result<Statement> cached(std::string_view sql);

  // Transaction control. begin() takes the write lock at once (BEGIN
  // IMMEDIATE), so a busy file fails here rather than half-way through.
  // After restrict_commits(), commit() fails (kUnavailable) and rolls back.
  Status begin();
  Status commit();
  // Rolls back if a transaction is open; never fails the caller.
  void rollback();
  bool in_transaction() const;

  // From now on, no transaction on this connection may commit except through
  // the storage thread's batch COMMIT: any other COMMIT or RELEASE of an
  // outermost savepoint (and every autocommit statement) is turned into a
  // rollback by SQLite's commit hook and fails. A job that ignored an error
  // after SQLite rolled its batch back would otherwise commit its later
  // writes on its own, outside the batch, unacknowledged and half-done.
  // Migrations and the key check run at open, before this. Used by the
  // StorageThread.
  void restrict_commits() { commits_restricted_ = true; }
  // PRAGMA query_only: while on, every statement that would change the
  // database fails (kInternal: "write attempted in a read-only job") instead
  // of running. The storage thread turns it on for the length of a read job.
  Status set_query_only(bool on);

  // Whole-transaction rollbacks so far (explicit, or SQLite's own after a
  // full disk or an I/O error); ROLLBACK TO a savepoint does not count.
  std::uint64_t rollbacks() const { return rollbacks_; }

  // Nested savepoints, for a unit of work inside a larger transaction.
  Status savepoint(std::string_view name);
  Status release(std::string_view name);
  Status rollback_to(std::string_view name);

  // PRAGMA user_version: the schema version (storage/migrations.h).
  Result<std::int64_t> user_version();
  Status set_user_version(std::int64_t version);

  // PRAGMA wal_checkpoint(TRUNCATE): copies the WAL into the database and
  // truncates the WAL to zero bytes. kUnavailable when a reader or writer in
  // another connection prevented a complete checkpoint. Never waits for them
  // (the busy timeout does not apply): it fails at once instead.
  Status checkpoint_truncate();

  // Takes WAL checkpoints off the commit path: SQLite's automatic checkpoint
  // (which runs inside COMMIT, before the caller hears back) is replaced by a
  // hook that only counts WAL frames; the owner then checkpoints when
  // wal_frames() says so, after acknowledging. Used by the StorageThread.
  void manage_checkpoints();
  // Frames in the WAL after the last commit (0 until manage_checkpoints()).
  std::int64_t wal_frames() const { return wal_frames_; }
  // PRAGMA wal_checkpoint(PASSIVE): copies what it can without waiting; the
  // next write then reuses the WAL from its start.
  Status checkpoint_passive();

  // PRAGMA integrity_check: "ok" or SQLite's list of problems.
  Result<std::string> integrity_check();

  std::int64_t changes() const;

  // Maps an SQLite result code to a Status; `what` names the operation.
  Status status_from(int rc, std::string_view what) const;

 private:
  friend class Statement;
  // The only COMMIT allowed after restrict_commits(); reachable from the
  // storage thread alone, not from the jobs it runs.
  friend class StorageThread;
  Status commit_batch();
  explicit Database(std::filesystem::path path) : path_(std::move(path)) {}
  Status configure(const DatabaseOptions& options);

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  // Runs a parameterless statement through a cache keyed by its text: the
  // transaction and savepoint statements run several times per job.
  Status run_control(const std::string& sql);

  std::unordered_map<const char*, sqlite3_stmt*> cache_;
  std::unordered_map<std::string, sqlite3_stmt*> control_cache_;
  std::int64_t wal_frames_ = 0;
  int busy_timeout_ms_ = 0;
  bool commits_restricted_ = false;
  bool query_only_ = false;
  bool commit_allowed_ = false;
  std::uint64_t rollbacks_ = 0;
};

// A savepoint that rolls back unless committed: the unit of work of one store
// method or one storage-thread job. Works inside or outside a transaction.
class Savepoint {
 public:
  // Check status() before doing work: the savepoint may have failed to open.
  Savepoint(Database& db, std::string_view name);
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  ~Savepoint();

  const Status& status() const { return status_; }
  // Releases the savepoint, keeping its changes. After this the destructor
  // does nothing.
  Status commit();

 private:
  Database& db_;
  std::string name_;
  Status status_;
  bool open_ = false;
};

}  // namespace hearth::storage
