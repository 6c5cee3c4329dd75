// Backup and restore of a Hearth database, and reading its statistics while
// hearthd serves it: the storage side of hearth-admin's backup, restore and
// stats export (docs/hearth-admin.md, docs/operations.md "Backups").
//
// online_backup() copies a live database as one consistent snapshot without
// taking the Storage lock (hearthd keeps serving); restore_backup() puts such a
// copy in place of a stopped database after checking it; snapshot_counters()
// reads the statistics cells from a private snapshot. The master key is never
// copied by any of them: a backup holds sealed rows only, and the key file
// must be backed up separately, on other media.
//
// This file calls SQLite's backup API directly (database.h wraps connections
// that Hearth owns; here the source is someone else's live file, opened
// read-only for one call).
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/file_lock.h"
#include "common/status.h"
#include "storage/counter_store.h"

namespace hearth::storage {

// The lock Storage::open takes (storage.h lock_database), for work on a
// stopped database: while it is held, hearthd cannot start on the database.
// kUnavailable "hearthd is running on this database; stop it first" while
// hearthd (or another Storage in this process) holds it; kUnavailable when
// the lock file cannot be opened.
Result<FileLock> lock_stopped_database(const std::filesystem::path& database);

// Ok when this process runs as the user that owns `database` (or, when it
// does not exist yet, its directory): files a restore or purge creates beside
// it (the restored file, the lock file) must belong to hearthd's user, or
// hearthd could not open them. kInvalidArgument naming the owner otherwise.
Status check_owner(const std::filesystem::path& database);

struct BackupInfo {
  std::uint64_t bytes = 0;          // size of the copy
  std::int64_t schema_version = 0;  // PRAGMA user_version of the copy
};

// Copies the database at `source` (which a running hearthd may be writing)
// into `destination`, a new file created 0600; then runs PRAGMA
// integrity_check on the copy. The copy is one snapshot: every transaction
// committed before the copy's read transaction began is in it, none after.
// kAlreadyExists when `destination` exists (never overwritten); kNotFound when
// `source` does not exist; kCorrupt when the copy fails integrity_check (the
// copy is then removed); kUnavailable on I/O errors (a partial copy is
// removed).
Result<BackupInfo> online_backup(const std::filesystem::path& source,
                                 const std::filesystem::path& destination);

// PRAGMA integrity_check on the database file at `path` (opened with Hearth's
// settings, WAL replayed). Ok when SQLite says "ok"; kCorrupt with SQLite's
// first complaint otherwise; kNotFound when the file does not exist.
Status check_integrity(const std::filesystem::path& path);

struct RestoreOptions {
  std::filesystem::path backup;    // the file online_backup() wrote
  std::filesystem::path database;  // hearthd's database (config "database")
  std::filesystem::path key_file;  // hearthd's key file (config "key_file")
  // Keep the current database as "<database>.before-restore-<yyyymmddThhmmZ>"
  // (0600). Off: it is deleted (unlinked, not wiped).
  bool keep_current = true;
  UnixSeconds now = 0;  // names the kept file; dates the audit log entry
};

struct RestoreInfo {
  std::optional<std::filesystem::path> kept;  // where the previous database went
  std::int64_t schema_version = 0;            // of the restored database, after migration
};

// Replaces `database` with a copy of `backup`, while holding the database's
// lock for the whole operation. In order: check_owner; take the lock (kUnavailable
// "hearthd is running on this database; stop it first"); copy the backup
// beside the database ("<database>.restoring", 0600) and integrity_check it
// (kCorrupt); open the copy with `key_file` (kAuthFailed: the key file is not
// the one the backup was sealed with; the database is left untouched); append
// an audit log entry "restore" to it; move the current database and its WAL
// aside (or delete them); rename the copy into place; remove any stale -shm.
// Each step that fails leaves the current database in place; the staging copy
// is removed.
Result<RestoreInfo> restore_backup(const RestoreOptions& options);

// Every statistics cell of the database at `database`, read from a snapshot
// (online_backup) written into a new private directory under `scratch_parent`
// and opened with `key_file`; the directory is removed before returning. Works
// while hearthd serves the database. Errors as online_backup and
// Storage::open (kAuthFailed for a wrong key file).
Result<std::vector<CounterCell>> snapshot_counters(const std::filesystem::path& database,
                                                   const std::filesystem::path& key_file,
                                                   const std::filesystem::path& scratch_parent);

}  // namespace hearth::storage
