#include "storage/storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "storage/migrations.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kKeyCheckName = "key_check";
constexpr std::string_view kKeyCheckPlain = "hearth storage key check v1";

Result<int> lock_database(const std::filesystem::path& database_path) {
  std::filesystem::path lock_path = database_path.string() + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return error(Code::kUnavailable, "cannot open the database lock file");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return error(Code::kUnavailable, "the database is in use by another Hearth process");
  }
  return fd;
}

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

Status check_key(Database& db, const Sealer& sealer) {
  HEARTH_ASSIGN_OR_RETURN(Statement select, db.prepare("SELECT value FROM meta WHERE name = ?1"));
  select.bind_text(1, kKeyCheckName);
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (row) {
    auto opened = sealer.open("meta", as_bytes(kKeyCheckName), select.column_blob(0));
    if (!opened.is_ok() || to_string(*opened) != kKeyCheckPlain) {
      return error(Code::kAuthFailed,
                   "storage key file does not match this database (wrong key file?)");
    }
    return Status::ok();
  }
  HEARTH_ASSIGN_OR_RETURN(Statement insert,
                          db.prepare("INSERT INTO meta (name, value) VALUES (?1, ?2)"));
  insert.bind_text(1, kKeyCheckName);
  insert.bind(2, sealer.seal("meta", as_bytes(kKeyCheckName), as_bytes(kKeyCheckPlain)));
  return insert.run();
}

}  // namespace

Result<std::unique_ptr<Storage>> Storage::open(const StorageOptions& options) {
  std::unique_ptr<Storage> storage(new Storage());
  HEARTH_ASSIGN_OR_RETURN(storage->lock_fd_, lock_database(options.database_path));
  bool existed = database_exists(options.database_path);
  if (!existed && !options.create) return error(Code::kNotFound, "database file does not exist");
  HEARTH_ASSIGN_OR_RETURN(MasterKey key, load_key(options, existed));
  storage->sealer_ = std::make_unique<Sealer>(key);

  DatabaseOptions db_options = options.database;
  db_options.create = options.create;
  HEARTH_ASSIGN_OR_RETURN(storage->db_, Database::open(options.database_path, db_options));
  HEARTH_TRY(migrate(*storage->db_));
  HEARTH_TRY(check_key(*storage->db_, *storage->sealer_));
  storage->stores_ = std::make_unique<Stores>(*storage->db_, *storage->sealer_);
  return storage;
}

Storage::~Storage() {
  stores_.reset();
  db_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace hearth::storage
