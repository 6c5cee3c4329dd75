// Storage: one Hearth database opened with its key — files checked, schema
// migrated, key verified, and the file locked to this process.
//
// Opening does, in order: take an exclusive lock on "<db>.lock" (a second
// hearthd on the same file is refused, not interleaved); load the master key,
// creating one only when the database does not exist yet (a database without
// its key is refused: its sealed rows would be unreadable); open the database
// 0600 with Hearth's pragmas; run migrations; check the key against a sealed
// check value in the meta table, so a wrong key file fails at start-up with
// kAuthFailed instead of corrupting or misreading rows later; then give
// vaults from before schema version 3 their login-key index.
//
// Thread safety: none. Hand the Storage to a StorageThread, which owns it from
// then on; tests may use it directly from one thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "common/file_lock.h"
#include "common/status.h"
#include "storage/database.h"
#include "storage/master_key.h"
#include "storage/sealer.h"
#include "storage/stores.h"

namespace hearth::storage {

struct StorageOptions {
  std::filesystem::path database_path;
  std::filesystem::path key_path;
  // Create the database (and its key, if neither exists) when it is missing.
  bool create = true;
  DatabaseOptions database;
};

// The lock Storage::open holds on "<database>.lock" while it lives, so two
// processes never open one database. kUnavailable `busy` while someone else
// holds it. hearth-admin takes it to work on a stopped database (backup.h).
Result<FileLock> lock_database(const std::filesystem::path& database, std::string_view busy);

class Storage {
 public:
  // Errors, each with a message that says what to fix:
  //   kUnavailable   the database is in use by another process, a file cannot
  //                  be opened or written, the disk is full, the schema is
  //                  newer than this build
  //   kNotFound      no database (create off), or no key for an existing database
  //   kInvalidArgument  the key file has the wrong size, mode or owner
  //   kAuthFailed    the key file is not the one this database was sealed with
  //   kCorrupt       the file is not a database or fails its integrity check
  static Result<std::unique_ptr<Storage>> open(const StorageOptions& options);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  // Vaults open() could not give a login-key index (VaultStore::index_login_keys):
  // rows from before schema version 3 whose key another vault has, or that
  // fail to open. The server warns about them at start-up.
  std::size_t unindexed_vaults() const { return unindexed_vaults_; }

  Database& db() { return *db_; }
  const Sealer& sealer() const { return *sealer_; }
  Stores& stores() { return *stores_; }

 private:
  Storage() = default;

  std::optional<FileLock> lock_;  // released last, after the database is closed
  std::unique_ptr<Database> db_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Stores> stores_;
  std::size_t unindexed_vaults_ = 0;
};

}  // namespace hearth::storage
