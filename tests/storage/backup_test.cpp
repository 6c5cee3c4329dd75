// Online backup, restore and the statistics snapshot (storage/backup.h), on
// real files: a writer keeps committing in another connection while the copy
// is taken, the way hearthd does.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "storage/backup.h"
#include "storage/stores.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

using testing::open_storage;

constexpr UnixSeconds kNow = 1'790'000'123;

unsigned mode_of(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// Opens a database that is not locked by anyone, with the key in `key_dir`.
std::unique_ptr<Storage> open_copy(const std::filesystem::path& db,
                                   const std::filesystem::path& key) {
  StorageOptions options;
  options.database_path = db;
  options.key_path = key;
  options.create = false;
  auto storage = Storage::open(options);
  INFO(storage.status().to_string());
  REQUIRE(storage.is_ok());
  return std::move(storage).value();
}

TEST_CASE("backup: a copy of a database in use, 0600, integrity checked, never overwriting",
          "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());  // holds the lock, like hearthd
  MailboxId box = random_id<MailboxId>();
  REQUIRE(storage->stores().envelopes.put(box, as_bytes("kept"), kNow).is_ok());
  REQUIRE(storage->stores().counters.increment({202611, "shelter", "referred", "en"}, 3).is_ok());

  auto out = dir.path() / "backup.db";
  auto info = online_backup(dir.path() / "hearth.db", out);
  INFO(info.status().to_string());
  REQUIRE(info.is_ok());
  CHECK(info->bytes > 0);
  CHECK(info->schema_version >= 2);
  CHECK(mode_of(out) == 0600);
  CHECK_FALSE(std::filesystem::exists(out.string() + "-wal"));
  CHECK(check_integrity(out).is_ok());

  auto again = online_backup(dir.path() / "hearth.db", out);
  CHECK(again.status().code() == Code::kAlreadyExists);
  CHECK(online_backup(dir.path() / "missing.db", dir.path() / "x.db").status().code() ==
        Code::kNotFound);

  auto copy = open_copy(out, dir.path() / "storage.key");
  auto got = copy->stores().envelopes.fetch(box, 0, 10).value();
  REQUIRE(got.size() == 1);
  CHECK(to_string(got[0].ciphertext) == "kept");
  // The key itself is nowhere in the copy.
  auto key = test::read_file(dir.path() / "storage.key").value();
  CHECK(testing::raw_bytes(out).find(key) == std::string::npos);
}

TEST_CASE("backup: one snapshot while another connection keeps committing", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  MailboxId box = random_id<MailboxId>();
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  // Every transaction stores two envelopes: a consistent copy holds an even
  // number, and at least as many as were committed before it began.
  std::thread writer([&] {
    Database& db = storage->db();
    while (!stop) {
      if (!db.begin().is_ok()) continue;
      bool ok = storage->stores().envelopes.put(box, Bytes(2000, 1), kNow).is_ok() &&
                storage->stores().envelopes.put(box, Bytes(2000, 2), kNow).is_ok();
      if (ok && db.commit().is_ok()) {
        committed += 2;
      } else {
        db.rollback();
      }
    }
  });
  while (committed < 200) std::this_thread::yield();
  int before = committed;
  auto out = dir.path() / "backup.db";
  auto info = online_backup(dir.path() / "hearth.db", out);
  int after = committed;
  stop = true;
  writer.join();
  INFO(info.status().to_string());
  REQUIRE(info.is_ok());
  CHECK(check_integrity(out).is_ok());

  auto copy = open_copy(out, dir.path() / "storage.key");
  auto pending = copy->stores().envelopes.pending(box).value();
  CHECK(pending % 2 == 0);
  CHECK(pending >= before);
  CHECK(pending <= after);
}

TEST_CASE("restore: refused while the database is in use, or with the wrong key", "[storage]") {
  test::TempDir dir;
  MailboxId box = random_id<MailboxId>();
  auto out = dir.path() / "backup.db";
  {
    auto storage = open_storage(dir.path());
    REQUIRE(storage->stores().envelopes.put(box, as_bytes("old"), kNow).is_ok());
    REQUIRE(online_backup(dir.path() / "hearth.db", out).is_ok());

    RestoreOptions options{out, dir.path() / "hearth.db", dir.path() / "storage.key", true, kNow};
    auto busy = restore_backup(options);
    CHECK(busy.status().code() == Code::kUnavailable);
    CHECK(busy.status().message() == "hearthd is running on this database; stop it first");
  }
  // Another database, another key: its key does not open the backup.
  test::TempDir other;
  { open_storage(other.path()); }
  RestoreOptions wrong{out, other.path() / "hearth.db", other.path() / "storage.key", true, kNow};
  auto refused = restore_backup(wrong);
  CHECK(refused.status().code() == Code::kAuthFailed);
  CHECK_FALSE(std::filesystem::exists(other.path() / "hearth.db.restoring"));
  // The current database is untouched and nothing was kept aside.
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(other.path()))
    files += e.path().filename().string().find("before-restore") != std::string::npos ? 1 : 0;
  CHECK(files == 0);
  open_copy(other.path() / "hearth.db", other.path() / "storage.key");

  // A file that is not a database is refused before anything moves.
  auto junk = dir.path() / "junk.db";
  {
    std::FILE* f = std::fopen(junk.c_str(), "wb");
    std::fputs("not a database, not at all", f);
    std::fclose(f);
  }
  RestoreOptions bad{junk, dir.path() / "hearth.db", dir.path() / "storage.key", true, kNow};
  CHECK_FALSE(restore_backup(bad).is_ok());
}

TEST_CASE("restore: the backup replaces the database, the old one kept aside 0600", "[storage]") {
  test::TempDir dir;
  MailboxId box = random_id<MailboxId>();
  auto out = dir.path() / "backup.db";
  {
    auto storage = open_storage(dir.path());
    REQUIRE(storage->stores().envelopes.put(box, as_bytes("in backup"), kNow).is_ok());
    REQUIRE(online_backup(dir.path() / "hearth.db", out).is_ok());
    REQUIRE(storage->stores().envelopes.put(box, as_bytes("after backup"), kNow).is_ok());
  }
  RestoreOptions options{out, dir.path() / "hearth.db", dir.path() / "storage.key", true, kNow};
  auto info = restore_backup(options);
  INFO(info.status().to_string());
  REQUIRE(info.is_ok());
  REQUIRE(info->kept.has_value());
  CHECK(mode_of(*info->kept) == 0600);
  CHECK(mode_of(dir.path() / "hearth.db") == 0600);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "hearth.db.restoring"));

  {
    auto restored = open_storage(dir.path());
    auto got = restored->stores().envelopes.fetch(box, 0, 10).value();
    REQUIRE(got.size() == 1);
    CHECK(to_string(got[0].ciphertext) == "in backup");
    auto audit = restored->stores().audit.entries(0, 10).value();
    REQUIRE_FALSE(audit.empty());
    CHECK(audit.back().action == "restore");
    CHECK(restored->stores().audit.verify_chain().is_ok());
  }
  auto kept = open_copy(*info->kept, dir.path() / "storage.key");
  CHECK(kept->stores().envelopes.pending(box).value() == 2);

  // --no-keep: the current file goes, nothing is kept.
  RestoreOptions no_keep = options;
  no_keep.keep_current = false;
  no_keep.now = kNow + 3600;
  auto second = restore_backup(no_keep);
  REQUIRE(second.is_ok());
  CHECK_FALSE(second->kept.has_value());
}

TEST_CASE("snapshot_counters: reads the cells while the database is in use", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  REQUIRE(storage->stores().counters.increment({202611, "shelter", "referred", "en"}, 3).is_ok());
  REQUIRE(storage->stores().counters.increment({202611, "legal", "resolved", "es"}, 7).is_ok());
  auto cells = snapshot_counters(dir.path() / "hearth.db", dir.path() / "storage.key", dir.path());
  INFO(cells.status().to_string());
  REQUIRE(cells.is_ok());
  REQUIRE(cells->size() == 2);
  CHECK(cells->at(0).key.need == "legal");
  CHECK(cells->at(0).count == 7);
  // The private snapshot directory is gone.
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().find(".hearth-stats-") == std::string::npos);

  test::TempDir other;
  { open_storage(other.path()); }
  auto wrong =
      snapshot_counters(dir.path() / "hearth.db", other.path() / "storage.key", dir.path());
  CHECK(wrong.status().code() == Code::kAuthFailed);
}

TEST_CASE("check_owner: only the database's owner may restore or purge", "[storage]") {
  test::TempDir dir;
  auto db = dir.path() / "hearth.db";
  CHECK(check_owner(db).is_ok());  // not there yet: the directory's owner counts
  { open_storage(dir.path()); }
  CHECK(check_owner(db).is_ok());
  CHECK(check_owner(dir.path() / "no-such-dir" / "hearth.db").code() == Code::kNotFound);
  if (::geteuid() == 0) {  // only root can give a file away
    REQUIRE(::chown(db.c_str(), 4242, 4242) == 0);
    auto other = check_owner(db);
    CHECK(other.code() == Code::kInvalidArgument);
    CHECK_THAT(other.message(), Catch::Matchers::Contains("uid 4242"));
  }
}

TEST_CASE("check_integrity: a damaged file is kCorrupt", "[storage]") {
  test::TempDir dir;
  auto out = dir.path() / "backup.db";
  {
    auto storage = open_storage(dir.path());
    MailboxId box = random_id<MailboxId>();
    for (int i = 0; i < 200; ++i)
      REQUIRE(storage->stores().envelopes.put(box, Bytes(1000, 7), kNow).is_ok());
    REQUIRE(online_backup(dir.path() / "hearth.db", out).is_ok());
  }
  // Overwrite the b-tree page headers of pages 2..8 (not the file header).
  {
    std::FILE* f = std::fopen(out.c_str(), "r+b");
    REQUIRE(f != nullptr);
    std::string garbage(64, '\xee');
    for (long page = 1; page < 8; ++page) {
      std::fseek(f, page * 4096, SEEK_SET);
      std::fwrite(garbage.data(), 1, garbage.size(), f);
    }
    std::fclose(f);
  }
  auto status = check_integrity(out);
  CHECK(status.code() == Code::kCorrupt);
  CHECK(check_integrity(dir.path() / "nope.db").code() == Code::kNotFound);
}

}  // namespace
}  // namespace hearth::storage
