// The master key file and opening a keyed database: missing, wrong, loose or
// short keys fail clearly; a database is never paired with a fresh key.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "crypto/secret.h"
#include "storage/master_key.h"
#include "storage/storage.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

using testing::open_storage;
using testing::options_in;

void write_file(const std::filesystem::path& p, std::size_t size, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary);
    for (std::size_t i = 0; i < size; ++i) out.put(static_cast<char>(i));
  }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

TEST_CASE("a created key file is 32 bytes, 0600, and loads back", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "storage.key";
  ::mode_t old = ::umask(0);
  auto created = MasterKey::create(path);
  ::umask(old);
  REQUIRE(created.is_ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0600);
  REQUIRE(st.st_size == 32);
  auto loaded = MasterKey::load(path);
  REQUIRE(loaded.is_ok());
  REQUIRE(crypto::constant_time_equal(created->derive(KeyPurpose::kRowSealing).view(),
                                      loaded->derive(KeyPurpose::kRowSealing).view()));
  // Subkeys are distinct per purpose.
  REQUIRE_FALSE(crypto::constant_time_equal(loaded->derive(KeyPurpose::kRowSealing).view(),
                                            loaded->derive(KeyPurpose::kBlindIndex).view()));
  // No temporary file is left behind.
  std::size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  REQUIRE(files == 1);
}

TEST_CASE("an existing key file is never overwritten", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "storage.key";
  REQUIRE(MasterKey::create(path).is_ok());
  auto before = test::read_file(path);
  REQUIRE(MasterKey::create(path).status().code() == Code::kAlreadyExists);
  REQUIRE(test::read_file(path) == before);
}

TEST_CASE("bad key files are refused with a clear error", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "storage.key";

  SECTION("missing") {
    auto key = MasterKey::load(path);
    REQUIRE(key.status().code() == Code::kNotFound);
    REQUIRE(key.status().message().find("does not exist") != std::string::npos);
  }
  SECTION("readable by group") {
    write_file(path, 32, 0640);
    auto key = MasterKey::load(path);
    REQUIRE(key.status().code() == Code::kInvalidArgument);
    REQUIRE(key.status().message().find("0600") != std::string::npos);
  }
  SECTION("readable by others") {
    write_file(path, 32, 0604);
    REQUIRE(MasterKey::load(path).status().code() == Code::kInvalidArgument);
  }
  SECTION("too short") {
    write_file(path, 31, 0600);
    auto key = MasterKey::load(path);
    REQUIRE(key.status().code() == Code::kInvalidArgument);
    REQUIRE(key.status().message().find("32 bytes") != std::string::npos);
  }
  SECTION("too long") {
    write_file(path, 33, 0600);
    REQUIRE(MasterKey::load(path).status().code() == Code::kInvalidArgument);
  }
  SECTION("a directory") {
    std::filesystem::create_directory(path);
    REQUIRE(MasterKey::load(path).status().code() == Code::kInvalidArgument);
  }
  SECTION("a symlink") {
    auto real = dir.path() / "real.key";
    REQUIRE(MasterKey::create(real).is_ok());
    std::filesystem::create_symlink(real, path);
    REQUIRE(MasterKey::load(path).status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("opening creates the key only together with a new database", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  { open_storage(dir.path()); }
  REQUIRE(std::filesystem::exists(options.key_path));

  SECTION("a missing key for an existing database is refused, not replaced") {
    std::filesystem::remove(options.key_path);
    auto storage = Storage::open(options);
    REQUIRE(storage.status().code() == Code::kNotFound);
    REQUIRE(storage.status().message().find("key") != std::string::npos);
    REQUIRE_FALSE(std::filesystem::exists(options.key_path));
  }
  SECTION("a different key is detected at open") {
    std::filesystem::remove(options.key_path);
    REQUIRE(MasterKey::create(options.key_path).is_ok());
    auto storage = Storage::open(options);
    REQUIRE(storage.status().code() == Code::kAuthFailed);
    REQUIRE(storage.status().message().find("does not match") != std::string::npos);
  }
  SECTION("the right key opens it again") { REQUIRE(Storage::open(options).is_ok()); }
}

TEST_CASE("a database with sealed rows but no key check is refused, whatever the key",
          "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  {
    auto storage = open_storage(dir.path());
    REQUIRE(storage->stores().envelopes.put(random_id<MailboxId>(), as_bytes("x"), 0).is_ok());
  }
  auto drop_check = [&] {
    auto db = Database::open(options.database_path);
    REQUIRE(db.is_ok());
    REQUIRE((*db)->exec("DELETE FROM meta WHERE name = 'key_check'").is_ok());
  };
  drop_check();
  SECTION("a different key") {
    std::filesystem::remove(options.key_path);
    REQUIRE(MasterKey::create(options.key_path).is_ok());
    auto storage = Storage::open(options);
    REQUIRE(storage.status().code() == Code::kAuthFailed);
    REQUIRE(storage.status().message().find("key check is missing") != std::string::npos);
  }
  SECTION("even the right key: it cannot be told apart") {
    REQUIRE(Storage::open(options).status().code() == Code::kAuthFailed);
  }
}

TEST_CASE("an empty database whose key check was never written gets one at open", "[storage]") {
  // A first open that stopped between migrating and writing the check value.
  test::TempDir dir;
  auto options = options_in(dir.path());
  { open_storage(dir.path()); }
  {
    auto db = Database::open(options.database_path);
    REQUIRE(db.is_ok());
    REQUIRE((*db)->exec("DELETE FROM meta").is_ok());
  }
  { open_storage(dir.path()); }  // writes it
  std::filesystem::remove(options.key_path);
  REQUIRE(MasterKey::create(options.key_path).is_ok());
  REQUIRE(Storage::open(options).status().code() == Code::kAuthFailed);  // and it is checked
}

TEST_CASE("a wrong key is refused before any migration runs", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  { open_storage(dir.path()); }
  {
    // Back to schema version 1, as if written by an older build.
    auto db = Database::open(options.database_path);
    REQUIRE(db.is_ok());
    REQUIRE((*db)
                ->exec("DROP TABLE org_records; DROP TABLE counters; DROP TABLE audit_log; "
                       "PRAGMA user_version = 1;")
                .is_ok());
  }
  std::filesystem::remove(options.key_path);
  REQUIRE(MasterKey::create(options.key_path).is_ok());
  REQUIRE(Storage::open(options).status().code() == Code::kAuthFailed);
  auto db = Database::open(options.database_path);
  REQUIRE(db.is_ok());
  REQUIRE((*db)->user_version().value() == 1);  // untouched
}

TEST_CASE("a second process-level open of the same database is refused", "[storage]") {
  test::TempDir dir;
  auto first = open_storage(dir.path());
  auto second = Storage::open(options_in(dir.path()));
  REQUIRE(second.status().code() == Code::kUnavailable);
  REQUIRE(second.status().message().find("in use") != std::string::npos);
  first.reset();
  REQUIRE(Storage::open(options_in(dir.path())).is_ok());
}

TEST_CASE("without create, a missing database is kNotFound and nothing is created", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  options.create = false;
  REQUIRE(Storage::open(options).status().code() == Code::kNotFound);
  REQUIRE_FALSE(std::filesystem::exists(options.key_path));
  REQUIRE_FALSE(std::filesystem::exists(options.database_path));
}

TEST_CASE("a corrupt database file is refused at open", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  { open_storage(dir.path()); }
  {
    std::ofstream out(options.database_path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(i * 13));
  }
  auto storage = Storage::open(options);
  REQUIRE(storage.status().code() == Code::kCorrupt);
}

}  // namespace
}  // namespace hearth::storage
