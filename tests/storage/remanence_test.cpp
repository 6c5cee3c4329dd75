// Remanence (reference/crypto.md P20): what was deleted is gone from the raw
// bytes of the database and its WAL after a TRUNCATE checkpoint.
#include <catch2/catch.hpp>

#include "crypto/random.h"
#include "storage/database.h"
#include "storage/storage_thread.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

using testing::contains;
using testing::open_storage;
using testing::raw_bytes;
using testing::raw_database;

constexpr UnixSeconds kNow = 1'790'000'000;

// A distinctive marker, repeated so it spans several pages (overflow pages
// are freed differently from cells in a leaf).
Bytes marker_body(std::size_t size) {
  std::string text;
  while (text.size() < size) text += "HEARTH-REMANENCE-MARKER-0123456789|";
  return to_bytes(text.substr(0, size));
}

TEST_CASE("the SQLite layer itself: a deleted row leaves no bytes behind", "[storage]") {
  for (std::size_t size : {40u, 3000u, 70000u}) {
    DYNAMIC_SECTION("row of " << size << " bytes") {
      test::TempDir dir;
      auto path = dir.path() / "r.db";
      auto opened = Database::open(path);
      REQUIRE(opened.is_ok());
      Database& db = **opened;
      REQUIRE(db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)").is_ok());
      for (int i = 0; i < 50; ++i) {  // neighbours on the same pages
        auto insert = db.prepare("INSERT INTO t (body) VALUES (?1)");
        insert->bind(1, crypto::random_bytes(200));
        REQUIRE(insert->run().is_ok());
      }
      Bytes marker = marker_body(size);
      Bytes needle(marker.begin(), marker.begin() + 32);
      {
        auto insert = db.prepare("INSERT INTO t (id, body) VALUES (1000, ?1)");
        insert->bind(1, marker);
        REQUIRE(insert->run().is_ok());
      }
      // Half the runs checkpoint the marker into the main file first.
      REQUIRE(db.checkpoint_truncate().is_ok());
      REQUIRE(contains(raw_bytes(path), needle));  // the search does find it when present
      REQUIRE(db.exec("DELETE FROM t WHERE id = 1000").is_ok());
      REQUIRE(db.checkpoint_truncate().is_ok());
      REQUIRE_FALSE(contains(raw_bytes(path), needle));
      REQUIRE_FALSE(contains(raw_bytes(path.string() + "-wal"), needle));
      REQUIRE_FALSE(contains(raw_bytes(path.string() + "-shm"), needle));
    }
  }
}

TEST_CASE("an acknowledged envelope is gone from the database and WAL after a checkpoint",
          "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  EnvelopeStore& env = storage->stores().envelopes;
  MailboxId m = random_id<MailboxId>();
  Bytes marker = marker_body(20000);
  Bytes needle(marker.begin(), marker.begin() + 32);
  REQUIRE(env.put(m, as_bytes("before"), kNow).is_ok());
  auto seq = env.put(m, marker, kNow);
  REQUIRE(seq.is_ok());
  REQUIRE(env.put(m, as_bytes("after"), kNow).is_ok());

  // What the file actually holds for the marker is its sealed form.
  Bytes sealed;
  {
    auto select = storage->db().prepare("SELECT sealed FROM envelopes WHERE seq = ?1");
    select->bind(1, *seq);
    REQUIRE(select->step().value());
    sealed = select->column_blob(0);
  }
  Bytes sealed_needle(sealed.begin() + 100, sealed.begin() + 164);
  std::string before = raw_database(*storage);
  REQUIRE(contains(before, sealed_needle));
  REQUIRE_FALSE(contains(before, needle));  // sealed at rest: the plaintext never lands

  REQUIRE(env.ack(m, *seq).value());
  REQUIRE(storage->db().checkpoint_truncate().is_ok());
  std::string after = raw_database(*storage);
  REQUIRE_FALSE(contains(after, sealed_needle));
  REQUIRE_FALSE(contains(after, needle));
  REQUIRE(std::filesystem::file_size(storage->db().path().string() + "-wal") == 0);
}

TEST_CASE("a replaced vault version is gone after a checkpoint", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  VaultStore& vaults = storage->stores().vaults;
  Bytes login = crypto::random_bytes(32);
  REQUIRE(vaults.create(login, crypto::random_bytes(32), marker_body(8000)).is_ok());
  Bytes old_sealed;
  {
    auto select = storage->db().prepare("SELECT sealed FROM vaults");
    REQUIRE(select->step().value());
    old_sealed = select->column_blob(0);
  }
  Bytes needle(old_sealed.begin() + 200, old_sealed.begin() + 264);
  REQUIRE(vaults.put(login, 1, marker_body(8000)).is_ok());
  REQUIRE(storage->db().checkpoint_truncate().is_ok());
  REQUIRE_FALSE(contains(raw_database(*storage), needle));
}

TEST_CASE("through the storage thread: ack, checkpoint, and the envelope is gone", "[storage]") {
  test::TempDir dir;
  auto path = testing::options_in(dir.path()).database_path;
  Bytes sealed_needle;
  {
    StorageThread thread(open_storage(dir.path()));
    MailboxId m = random_id<MailboxId>();
    auto seq =
        thread.write_future([&](Stores& s) { return s.envelopes.put(m, marker_body(5000), kNow); })
            .get();
    REQUIRE(seq.is_ok());
    auto sealed = thread
                      .read_future([&](Stores& s) -> Result<Bytes> {
                        auto select = s.db.prepare("SELECT sealed FROM envelopes");
                        if (!select.is_ok()) return select.status();
                        if (!select->step().value()) return error(Code::kNotFound, "none");
                        return select->column_blob(0);
                      })
                      .get();
    sealed_needle.assign(sealed->begin() + 64, sealed->begin() + 128);
    REQUIRE(contains(raw_bytes(path) + raw_bytes(path.string() + "-wal"), sealed_needle));
    REQUIRE(thread.write_future([&](Stores& s) { return s.envelopes.ack(m, *seq); }).get().value());
    REQUIRE(thread.checkpoint_now().is_ok());
    REQUIRE_FALSE(contains(raw_bytes(path) + raw_bytes(path.string() + "-wal"), sealed_needle));
  }
  // And after a clean shutdown.
  REQUIRE_FALSE(contains(raw_bytes(path) + raw_bytes(path.string() + "-wal"), sealed_needle));
}

}  // namespace
}  // namespace hearth::storage
