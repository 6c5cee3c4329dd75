// The SQLite wrapper: file modes, pragmas, error mapping, statements, savepoints.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "storage/database.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string pragma_text(Database& db, std::string_view pragma) {
  auto stmt = db.prepare(pragma);
  REQUIRE(stmt.is_ok());
  auto row = stmt->step();
  REQUIRE(row.is_ok());
  REQUIRE(*row);
  return stmt->column_text(0);
}

TEST_CASE("database, WAL and shared-memory files are created 0600", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "a.db";
  ::mode_t old = ::umask(0);  // the most permissive umask must not matter
  auto db = Database::open(path);
  ::umask(old);
  REQUIRE(db.is_ok());
  REQUIRE((*db)->exec("CREATE TABLE t (x); INSERT INTO t VALUES (1);").is_ok());
  REQUIRE(mode_of(path) == 0600);
  REQUIRE(mode_of(path.string() + "-wal") == 0600);
  REQUIRE(mode_of(path.string() + "-shm") == 0600);
}

TEST_CASE("an existing database with loose permissions is tightened to 0600", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "a.db";
  { REQUIRE(Database::open(path).is_ok()); }
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  REQUIRE(Database::open(path).is_ok());
  REQUIRE(mode_of(path) == 0600);
}

TEST_CASE("pragmas: WAL, synchronous=FULL, secure_delete, memory temp store", "[storage]") {
  test::TempDir dir;
  auto db = Database::open(dir.path() / "a.db");
  REQUIRE(db.is_ok());
  REQUIRE(pragma_text(**db, "PRAGMA journal_mode") == "wal");
  REQUIRE(pragma_text(**db, "PRAGMA synchronous") == "2");  // FULL
  REQUIRE(pragma_text(**db, "PRAGMA secure_delete") == "1");
  REQUIRE(pragma_text(**db, "PRAGMA temp_store") == "2");  // MEMORY
  REQUIRE(pragma_text(**db, "PRAGMA foreign_keys") == "1");
}

TEST_CASE("missing file without create is kNotFound, a symlink is refused", "[storage]") {
  test::TempDir dir;
  DatabaseOptions no_create;
  no_create.create = false;
  REQUIRE(Database::open(dir.path() / "none.db", no_create).status().code() == Code::kNotFound);

  auto real = dir.path() / "real.db";
  { REQUIRE(Database::open(real).is_ok()); }
  std::filesystem::create_symlink(real, dir.path() / "link.db");
  REQUIRE(Database::open(dir.path() / "link.db").status().code() == Code::kInvalidArgument);
}

TEST_CASE("a symbolic link in place of the WAL or shared-memory file is refused", "[storage]") {
  for (const char* suffix : {"-wal", "-shm"}) {
    DYNAMIC_SECTION(suffix) {
      test::TempDir dir;
      auto path = dir.path() / "a.db";
      { REQUIRE(Database::open(path).is_ok()); }
      // Somewhere else the server's user can write, and an attacker can read.
      auto elsewhere = dir.path() / "elsewhere";
      { std::ofstream(elsewhere) << ""; }
      std::filesystem::remove(path.string() + suffix);
      std::filesystem::create_symlink(elsewhere, path.string() + suffix);
      auto db = Database::open(path);
      INFO(db.status().to_string());
      REQUIRE(db.status().code() == Code::kInvalidArgument);
      REQUIRE(db.status().message().find("symbolic link") != std::string::npos);
      REQUIRE(std::filesystem::file_size(elsewhere) == 0);
    }
  }
}

TEST_CASE("a file that is not a database is kCorrupt with a clear message", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "junk.db";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 31));
  }
  auto db = Database::open(path);
  REQUIRE(db.status().code() == Code::kCorrupt);
  REQUIRE(db.status().message().find("not a database") != std::string::npos);
}

TEST_CASE("a database with a damaged page fails its check on open", "[storage]") {
  test::TempDir dir;
  auto path = dir.path() / "a.db";
  {
    auto db = Database::open(path);
    REQUIRE(db.is_ok());
    REQUIRE((*db)->exec("CREATE TABLE t (x TEXT); CREATE INDEX tx ON t(x);").is_ok());
    REQUIRE((*db)->begin().is_ok());
    for (int i = 0; i < 2000; ++i)
      REQUIRE((*db)->exec("INSERT INTO t VALUES ('row " + std::to_string(i) + "')").is_ok());
    REQUIRE((*db)->commit().is_ok());
    REQUIRE((*db)->checkpoint_truncate().is_ok());
  }
  {
    // Scribble over the middle of the file (past the header page).
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3 + 100);
    for (int i = 0; i < 3000; ++i) f.put(static_cast<char>(0xA5));
  }
  auto db = Database::open(path);
  REQUIRE(db.status().code() == Code::kCorrupt);
}

TEST_CASE("statements bind, step and map constraint errors", "[storage]") {
  test::TempDir dir;
  auto opened = Database::open(dir.path() / "a.db");
  REQUIRE(opened.is_ok());
  Database& db = **opened;
  REQUIRE(db.exec("CREATE TABLE t (k BLOB PRIMARY KEY, n INTEGER NOT NULL, s TEXT)").is_ok());
  {
    auto insert = db.prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
    REQUIRE(insert.is_ok());
    insert->bind(1, as_bytes("key")).bind(2, std::int64_t{42}).bind_text(3, "text");
    REQUIRE(insert->run().is_ok());
    insert->reset();
    insert->bind(1, as_bytes("key")).bind(2, std::int64_t{1}).bind_null(3);
    REQUIRE(insert->run().code() == Code::kAlreadyExists);
    insert->reset();
    insert->bind(1, as_bytes("other")).bind_null(2).bind_null(3);
    REQUIRE(insert->run().code() == Code::kInvalidArgument);  // NOT NULL
  }
  {
    auto select = db.cached("SELECT k, n, s FROM t");
    REQUIRE(select.is_ok());
    auto row = select->step();
    REQUIRE(row.is_ok());
    REQUIRE(*row);
    REQUIRE(to_string(select->column_blob(0)) == "key");
    REQUIRE(select->column_int64(1) == 42);
    REQUIRE(select->column_text(2) == "text");
  }
  // The cached statement was reset when its handle went away; reuse works.
  auto again = db.cached("SELECT k, n, s FROM t");
  REQUIRE(again.is_ok());
  REQUIRE(again->step().value());
  REQUIRE(db.prepare("SELEKT nonsense").status().code() == Code::kInternal);
}

TEST_CASE("an empty blob is stored as a blob, not NULL", "[storage]") {
  test::TempDir dir;
  auto opened = Database::open(dir.path() / "a.db");
  REQUIRE(opened.is_ok());
  Database& db = **opened;
  REQUIRE(db.exec("CREATE TABLE t (b BLOB NOT NULL)").is_ok());
  auto insert = db.prepare("INSERT INTO t VALUES (?1)");
  insert->bind(1, ByteView());
  REQUIRE(insert->run().is_ok());
}

TEST_CASE("savepoints roll back alone inside a transaction", "[storage]") {
  test::TempDir dir;
  auto opened = Database::open(dir.path() / "a.db");
  REQUIRE(opened.is_ok());
  Database& db = **opened;
  REQUIRE(db.exec("CREATE TABLE t (x INTEGER)").is_ok());
  REQUIRE(db.begin().is_ok());
  {
    Savepoint keep(db, "a");
    REQUIRE(keep.status().is_ok());
    REQUIRE(db.exec("INSERT INTO t VALUES (1)").is_ok());
    REQUIRE(keep.commit().is_ok());
  }
  {
    Savepoint drop(db, "b");
    REQUIRE(db.exec("INSERT INTO t VALUES (2)").is_ok());
    // no commit: rolled back on destruction
  }
  REQUIRE(db.commit().is_ok());
  auto count = db.prepare("SELECT group_concat(x) FROM t");
  REQUIRE(count->step().value());
  REQUIRE(count->column_text(0) == "1");
  REQUIRE(db.savepoint("bad name; DROP TABLE t").code() == Code::kInternal);
}

TEST_CASE("user_version and integrity_check", "[storage]") {
  test::TempDir dir;
  auto opened = Database::open(dir.path() / "a.db");
  REQUIRE(opened.is_ok());
  REQUIRE((*opened)->user_version().value() == 0);
  REQUIRE((*opened)->set_user_version(7).is_ok());
  REQUIRE((*opened)->user_version().value() == 7);
  REQUIRE((*opened)->integrity_check().value() == "ok");
}

}  // namespace
}  // namespace hearth::storage
