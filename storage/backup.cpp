#include "storage/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): POSIX mkdtemp is not in <cstdlib>
#include <sys/stat.h>
#include <time.h>  // NOLINT(modernize-deprecated-headers): POSIX gmtime_r is not in <ctime>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <system_error>
#include <thread>
#include <utility>

#include "common/fd.h"
#include "storage/database.h"
#include "storage/storage.h"

namespace hearth::storage {
namespace {

namespace fs = std::filesystem;

// How long the backup waits, in all, for a moment when it can start its read
// transaction (a WAL reader is only held off while hearthd recovers or
// restarts the WAL index, which is brief).
constexpr int kBusyTimeoutMs = 5000;
constexpr int kBusyRetries = 20;

fs::path with_suffix(const fs::path& path, const char* suffix) {
  return fs::path(path.string() + suffix);
}

bool exists_no_follow(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

void remove_quietly(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

// Removes a database file and every side file SQLite or Hearth may have made.
void remove_database_files(const fs::path& path) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm", ".lock"})
    remove_quietly(with_suffix(path, suffix));
}

Status fsync_path(const fs::path& path, bool directory) {
  Fd fd(::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC));
  if (!fd.valid()) return error(Code::kUnavailable, "cannot open " + path.string() + " to sync it");
  if (::fsync(fd.get()) != 0) return error(Code::kUnavailable, "cannot sync " + path.string());
  return Status::ok();
}

fs::path parent_of(const fs::path& path) {
  fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

Status sqlite_status(sqlite3* db, int rc, const std::string& what) {
  std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return error(Code::kCorrupt, what + ": " + reason);
    case SQLITE_CANTOPEN:
      return error(Code::kUnavailable, what + ": cannot open the file");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return error(Code::kUnavailable, what + ": the database stayed locked; try again");
    default:
      return error(Code::kUnavailable, what + ": " + reason);
  }
}

struct Connection {
  sqlite3* db = nullptr;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (db != nullptr) sqlite3_close_v2(db);
  }
};

// The single copy step, in its own scope so every handle is closed before
// the caller removes or checks the file.
Status copy_pages(const fs::path& source, const fs::path& destination) {
  Connection src;
  // Read-only, no Storage lock: hearthd keeps the lock and keeps writing. In
  // WAL mode our read transaction neither blocks its commits nor is blocked
  // by them; only hearthd's TRUNCATE checkpoint fails while we read, and it
  // retries later (docs/storage.md "Retention and remanence").
  int rc =
      sqlite3_open_v2(source.c_str(), &src.db,
                      SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return sqlite_status(src.db, rc, "open the database to back up");
  sqlite3_busy_timeout(src.db, kBusyTimeoutMs);
  sqlite3_db_config(src.db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(src.db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);

  Connection dst;
  rc = sqlite3_open_v2(destination.c_str(), &dst.db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return sqlite_status(dst.db, rc, "open the backup file");
  sqlite3_busy_timeout(dst.db, kBusyTimeoutMs);

  // One step of -1 pages: SQLite copies every page inside ONE read
  // transaction on the source, so the copy is the snapshot of the moment that
  // transaction began — consistent however fast hearthd commits. With smaller
  // steps (for a progress bar) each step would run in its own read
  // transaction, and a commit by hearthd between two steps would restart the
  // copy from page 1: under steady traffic it might never finish. VACUUM INTO
  // would also give one snapshot, but it creates the output file itself with
  // the process umask; here we create it 0600 before SQLite writes a byte.
  for (int attempt = 0;; ++attempt) {
    sqlite3_backup* backup = sqlite3_backup_init(dst.db, "main", src.db, "main");
    if (backup == nullptr)
      return sqlite_status(dst.db, sqlite3_errcode(dst.db), "start the backup");
    rc = sqlite3_backup_step(backup, -1);
    int finish = sqlite3_backup_finish(backup);
    if (rc == SQLITE_DONE && finish == SQLITE_OK) {
      // The copy carries the source's WAL flag. A rollback-journal file is
      // one self-contained file that can be read from read-only media (a WAL
      // file needs its -shm beside it); hearthd turns WAL back on when it
      // opens a restored copy.
      rc = sqlite3_exec(dst.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) return sqlite_status(dst.db, rc, "finish the backup file");
      return Status::ok();
    }
    bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    if (!busy || attempt >= kBusyRetries)
      return sqlite_status(nullptr, rc == SQLITE_DONE ? finish : rc, "copy the database");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// integrity_check and user_version of a database file, read-only. A file in
// WAL mode (a live database) has its WAL read as SQLite always does.
Result<std::int64_t> check_and_version(const fs::path& path) {
  Connection c;
  int rc =
      sqlite3_open_v2(path.c_str(), &c.db,
                      SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return sqlite_status(c.db, rc, "open " + path.filename().string());
  sqlite3_busy_timeout(c.db, kBusyTimeoutMs);
  sqlite3_db_config(c.db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(c.db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  std::string verdict;
  std::int64_t version = 0;
  for (const char* sql : {"PRAGMA integrity_check", "PRAGMA user_version"}) {
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(c.db, sql, -1, &stmt, nullptr);
    if (rc != SQLITE_OK) return sqlite_status(c.db, rc, "integrity_check");
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (sql[7] == 'i') {
        const auto* text = sqlite3_column_text(stmt, 0);
        if (verdict.empty() && text != nullptr) verdict = reinterpret_cast<const char*>(text);
      } else {
        version = sqlite3_column_int64(stmt, 0);
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return sqlite_status(c.db, rc, "integrity_check");
  }
  // Only the first complaint is reported: SQLite's messages name pages and
  // tables, never row contents.
  if (verdict != "ok") return error(Code::kCorrupt, "integrity_check failed: " + verdict);
  return version;
}

std::string utc_stamp(UnixSeconds now) {
  time_t t = static_cast<time_t>(now);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Removes a directory tree when it goes out of scope.
struct ScratchDir {
  fs::path path;
  ScratchDir() = default;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

// ---- The database lock ----

Result<FileLock> lock_stopped_database(const fs::path& database) {
  return lock_database(database, "hearthd is running on this database; stop it first");
}

Status check_owner(const fs::path& database) {
  struct stat st {};
  fs::path subject = database;
  if (::lstat(subject.c_str(), &st) != 0) {
    subject = parent_of(database);
    if (::stat(subject.c_str(), &st) != 0)
      return error(Code::kNotFound, "the database directory does not exist: " + subject.string());
  }
  if (st.st_uid == ::geteuid()) return Status::ok();
  return error(Code::kInvalidArgument, "run this as the user hearthd runs as (uid " +
                                           std::to_string(st.st_uid) + ", the owner of " +
                                           subject.string() +
                                           "): files it creates there must belong to that user");
}

// ---- backup ----

Result<BackupInfo> online_backup(const fs::path& source, const fs::path& destination) {
  if (!exists_no_follow(source))
    return error(Code::kNotFound, "database file does not exist: " + source.string());
  // The copy holds everything the database holds (sealed): private from its
  // first byte, and an existing file is never replaced.
  Fd fd(::open(destination.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    int err = errno;
    if (err == EEXIST)
      return error(Code::kAlreadyExists,
                   destination.string() + " already exists; choose a new file name");
    return error(Code::kUnavailable, "cannot create " + destination.string() + ": " +
                                         std::generic_category().message(err));
  }
  int chmod_rc = ::fchmod(fd.get(), 0600);
  fd.reset();
  if (chmod_rc != 0) {
    remove_quietly(destination);
    return error(Code::kUnavailable, "cannot set mode 0600 on " + destination.string());
  }
  for (const char* suffix : {"-journal", "-wal", "-shm"}) {
    // Side files of some earlier file of this name would be read as ours.
    if (exists_no_follow(with_suffix(destination, suffix))) {
      remove_quietly(destination);
      return error(Code::kAlreadyExists,
                   destination.string() + suffix + " exists; remove it or choose a new name");
    }
  }

  Status copied = copy_pages(source, destination);
  if (!copied.is_ok()) {
    remove_database_files(destination);
    return copied;
  }
  auto version = check_and_version(destination);
  if (!version.is_ok()) {
    remove_database_files(destination);
    return version.status();
  }
  remove_quietly(with_suffix(destination, "-shm"));
  Status synced = fsync_path(destination, false);
  if (synced.is_ok()) synced = fsync_path(parent_of(destination), true);
  if (!synced.is_ok()) {
    remove_database_files(destination);
    return synced;
  }
  std::error_code ec;
  BackupInfo info;
  info.bytes = fs::file_size(destination, ec);
  info.schema_version = *version;
  return info;
}

Status check_integrity(const fs::path& path) {
  if (!exists_no_follow(path))
    return error(Code::kNotFound, "database file does not exist: " + path.string());
  return check_and_version(path).status();
}

// ---- restore ----

Result<RestoreInfo> restore_backup(const RestoreOptions& options) {
  if (!exists_no_follow(options.backup))
    return error(Code::kNotFound, "backup file does not exist: " + options.backup.string());
  HEARTH_TRY(check_owner(options.database));
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, lock_stopped_database(options.database));

  // The staging copy sits beside the database, so the final rename is atomic
  // (same directory, same file system). A leftover from an interrupted
  // restore is ours: we hold the lock.
  const fs::path staging = with_suffix(options.database, ".restoring");
  remove_database_files(staging);
  // Copying through the backup API (not byte by byte) also takes any WAL
  // left beside the backup file into account, and checks integrity.
  auto copied = online_backup(options.backup, staging);
  if (!copied.is_ok()) {
    remove_database_files(staging);
    return copied.status();
  }

  RestoreInfo info;
  {
    StorageOptions storage_options;
    storage_options.database_path = staging;
    storage_options.key_path = options.key_file;
    storage_options.create = false;
    auto storage = Storage::open(storage_options);
    if (!storage.is_ok()) {
      remove_database_files(staging);
      if (storage.status().code() == Code::kAuthFailed)
        return error(Code::kAuthFailed,
                     "the key file " + options.key_file.string() +
                         " does not open this backup: it was sealed with another storage key. "
                         "Restore with the key file that was in use when the backup was taken");
      return error(storage.status().code(),
                   "cannot open the backup with the key file: " + storage.status().message());
    }
    Storage& s = **storage;
    auto version = s.db().user_version();
    auto entry = s.stores().audit.append("restore",
                                         "database replaced by a backup (schema version " +
                                             std::to_string(version.is_ok() ? *version : 0) + ")",
                                         options.now);
    Status closed = entry.status();
    if (closed.is_ok()) closed = s.db().checkpoint_truncate();
    if (!closed.is_ok()) {
      storage->reset();
      remove_database_files(staging);
      return closed;
    }
    info.schema_version = version.is_ok() ? *version : 0;
  }
  remove_quietly(with_suffix(staging, ".lock"));
  remove_quietly(with_suffix(staging, "-shm"));
  if (exists_no_follow(with_suffix(staging, "-wal"))) {
    remove_database_files(staging);
    return error(Code::kUnavailable, "the staged copy kept a WAL file; nothing was changed");
  }
  HEARTH_TRY(fsync_path(staging, false));

  const fs::path wal = with_suffix(options.database, "-wal");
  if (exists_no_follow(options.database)) {
    // Fold the current WAL into the current file first, so the kept copy is
    // one self-contained file. If that fails (a damaged database), the WAL
    // travels with it below. A stale WAL must never stay beside the restored
    // file: SQLite would replay its frames onto it.
    {
      DatabaseOptions db_options;
      db_options.create = false;
      db_options.check_on_open = false;
      auto current = Database::open(options.database, db_options);
      if (current.is_ok()) (void)(*current)->checkpoint_truncate();
    }
    if (options.keep_current) {
      fs::path kept =
          with_suffix(options.database, (".before-restore-" + utc_stamp(options.now)).c_str());
      // A hard link, then an atomic rename over the database: at every
      // moment the database path holds either the old file or the new one.
      if (::link(options.database.c_str(), kept.c_str()) != 0) {
        int err = errno;
        remove_database_files(staging);
        return error(Code::kUnavailable, "cannot keep the current database as " + kept.string() +
                                             ": " + std::generic_category().message(err));
      }
      if (exists_no_follow(wal)) {
        std::error_code ec;
        fs::rename(wal, with_suffix(kept, "-wal"), ec);
      }
      info.kept = kept;
    }
  }
  remove_quietly(wal);
  remove_quietly(with_suffix(options.database, "-shm"));
  if (::rename(staging.c_str(), options.database.c_str()) != 0) {
    int err = errno;
    remove_database_files(staging);
    return error(Code::kUnavailable, "cannot move the restored database into place: " +
                                         std::generic_category().message(err));
  }
  HEARTH_TRY(fsync_path(parent_of(options.database), true));
  return info;
}

// ---- statistics ----

Result<std::vector<CounterCell>> snapshot_counters(const fs::path& database,
                                                   const fs::path& key_file,
                                                   const fs::path& scratch_parent) {
  // The snapshot holds every sealed row of the database; it lives in a 0700
  // directory (mkdtemp) beside the database, on the same (encrypted) volume
  // rather than in a shared /tmp, and is removed before this returns.
  std::string pattern = (scratch_parent / ".hearth-stats-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    return error(Code::kUnavailable,
                 "cannot create a private directory in " + scratch_parent.string());
  ScratchDir scratch;
  scratch.path = pattern;
  const fs::path snapshot = scratch.path / "snapshot.db";
  HEARTH_TRY(online_backup(database, snapshot).status());
  StorageOptions storage_options;
  storage_options.database_path = snapshot;
  storage_options.key_path = key_file;
  storage_options.create = false;
  auto storage = Storage::open(storage_options);
  if (!storage.is_ok()) {
    if (storage.status().code() == Code::kAuthFailed)
      return error(Code::kAuthFailed, "the key file " + key_file.string() +
                                          " does not match this database (wrong key file?)");
    return storage.status();
  }
  return (*storage)->stores().counters.list();
}

}  // namespace hearth::storage
