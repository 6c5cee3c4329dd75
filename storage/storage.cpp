#include "storage/storage.h"

#include <system_error>

#include "storage/migrations.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kKeyCheckName = "key_check";
constexpr std::string_view kKeyCheckPlain = "hearth storage key check v1";

bool database_exists(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0;
}

Result<MasterKey> load_key(const StorageOptions& options, bool database_existed) {
  auto key = MasterKey::load(options.key_path);
  if (key.is_ok() || key.status().code() != Code::kNotFound) return key;
  if (database_existed) {
    return error(Code::kNotFound,
                 "storage key file does not exist; the database cannot be opened without the "
                 "key it was sealed with");
  }
  if (!options.create) return key.status();
  return MasterKey::create(options.key_path);
}

// Checks the key against meta.key_check: true when the row matched, false
// when there is no row. Needs the meta table (schema version 1 or later).
Result<bool> verify_key(Database& db, const Sealer& sealer) {
  HEARTH_ASSIGN_OR_RETURN(Statement select, db.prepare("SELECT value FROM meta WHERE name = ?1"));
  select.bind_text(1, kKeyCheckName);
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return false;
  auto opened = sealer.open("meta", as_bytes(kKeyCheckName), select.column_blob(0));
  if (!opened.is_ok() || to_string(*opened) != kKeyCheckPlain) {
    return error(Code::kAuthFailed,
                 "storage key file does not match this database (wrong key file?)");
  }
  return true;
}

// True when any table holds a row sealed, indexed or chained under the key.
Result<bool> holds_keyed_rows(Database& db) {
  HEARTH_ASSIGN_OR_RETURN(
      Statement select,
      db.prepare("SELECT EXISTS (SELECT 1 FROM cases) OR EXISTS (SELECT 1 FROM mailboxes) OR "
                 "EXISTS (SELECT 1 FROM envelopes) OR EXISTS (SELECT 1 FROM vaults) OR "
                 "EXISTS (SELECT 1 FROM counters) OR EXISTS (SELECT 1 FROM audit_log)"));
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return error(Code::kInternal, "keyed-row check returned no row");
  return select.column_int64(0) != 0;
}

Status insert_key_check(Database& db, const Sealer& sealer) {
  HEARTH_ASSIGN_OR_RETURN(Statement insert,
                          db.prepare("INSERT INTO meta (name, value) VALUES (?1, ?2)"));
  insert.bind_text(1, kKeyCheckName);
  insert.bind(2, sealer.seal("meta", as_bytes(kKeyCheckName), as_bytes(kKeyCheckPlain)));
  return insert.run();
}

// Verifies the key before migrating an existing database, and writes the
// check value only into a database that holds nothing sealed yet: a fresh
// one, or one whose first open stopped between migrating and writing it. A
// database with sealed rows and no check value is refused, or any key file
// would be accepted for it.
Status open_schema_with_key(Database& db, const Sealer& sealer) {
  HEARTH_ASSIGN_OR_RETURN(std::int64_t version, db.user_version());
  bool verified = false;
  if (version >= 1) {  // the meta table exists from migration 1 on
    HEARTH_ASSIGN_OR_RETURN(verified, verify_key(db, sealer));
  }
  HEARTH_TRY(migrate(db));
  if (verified) return Status::ok();
  HEARTH_ASSIGN_OR_RETURN(bool keyed, holds_keyed_rows(db));
  if (keyed) {
    return error(Code::kAuthFailed,
                 "storage key check is missing from a database that holds sealed rows; the key "
                 "file cannot be verified");
  }
  return insert_key_check(db, sealer);
}

}  // namespace

Result<FileLock> lock_database(const std::filesystem::path& database, std::string_view busy) {
  return FileLock::acquire(database.string() + ".lock", busy);
}

Result<std::unique_ptr<Storage>> Storage::open(const StorageOptions& options) {
  std::unique_ptr<Storage> storage(new Storage());
  HEARTH_ASSIGN_OR_RETURN(
      storage->lock_,
      lock_database(options.database_path, "the database is in use by another Hearth process"));
  bool existed = database_exists(options.database_path);
  if (!existed && !options.create) return error(Code::kNotFound, "database file does not exist");
  HEARTH_ASSIGN_OR_RETURN(MasterKey key, load_key(options, existed));
  storage->sealer_ = std::make_unique<Sealer>(key);

  DatabaseOptions db_options = options.database;
  db_options.create = options.create;
  HEARTH_ASSIGN_OR_RETURN(storage->db_, Database::open(options.database_path, db_options));
  HEARTH_TRY(open_schema_with_key(*storage->db_, *storage->sealer_));
  storage->stores_ = std::make_unique<Stores>(*storage->db_, *storage->sealer_);
  HEARTH_ASSIGN_OR_RETURN(storage->unindexed_vaults_, storage->stores_->vaults.index_login_keys());
  return storage;
}

Storage::~Storage() {
  stores_.reset();
  db_.reset();
  lock_.reset();
}

}  // namespace hearth::storage
