// Migrations: from an empty file, from each previous version, refusal of a
// newer schema, atomic failure, and the schema's documentation and shape.
#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <set>

#include "storage/database.h"
#include "storage/migrations.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

std::unique_ptr<Database> fresh(const test::TempDir& dir) {
  auto db = Database::open(dir.path() / "m.db");
  REQUIRE(db.is_ok());
  return std::move(db).value();
}

std::vector<std::string> tables(Database& db) {
  auto stmt = db.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
      "ORDER BY name");
  std::vector<std::string> out;
  while (stmt->step().value()) out.push_back(stmt->column_text(0));
  return out;
}

// Every table's, index's and column's definition: what a migration changes.
std::vector<std::string> schema(Database& db) {
  auto stmt = db.prepare(
      "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema "
      "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
  std::vector<std::string> out;
  while (stmt->step().value()) out.push_back(stmt->column_text(0));
  return out;
}

struct Column {
  std::string name;
  std::string type;
};

std::vector<Column> columns(Database& db, const std::string& table) {
  auto stmt = db.prepare("SELECT name, type FROM pragma_table_info(?1)");
  stmt->bind_text(1, table);
  std::vector<Column> out;
  while (stmt->step().value()) out.push_back({stmt->column_text(0), stmt->column_text(1)});
  return out;
}

// Some data in the tables that `version` introduced, so a later migration
// must carry it across.
void fill(Database& db, std::int64_t version) {
  if (version == 1) {
    REQUIRE(db.exec("INSERT INTO meta VALUES ('probe', x'01');"
                    "INSERT INTO envelopes VALUES (5, x'aa', 1, 60, x'bb');"
                    "INSERT INTO vaults (id, lookup, version, sealed) VALUES (9, x'cc', 3, x'dd');")
                .is_ok());
  }
  if (version == 2) {
    REQUIRE(db.exec("INSERT INTO audit_log VALUES (1, 60, 'a', 'b', x'ee');").is_ok());
  }
  if (version == 3) {
    REQUIRE(db.exec("INSERT INTO vaults (id, lookup, version, sealed, key_index) "
                    "VALUES (10, x'c1', 1, x'd1', x'e1');")
                .is_ok());
    // One vault per login key.
    REQUIRE_FALSE(db.exec("INSERT INTO vaults (id, lookup, version, sealed, key_index) "
                          "VALUES (11, x'c2', 1, x'd2', x'e1');")
                      .is_ok());
  }
}

void check_filled(Database& db, std::int64_t version) {
  auto count = [&](const char* sql) {
    auto stmt = db.prepare(sql);
    REQUIRE(stmt->step().value());
    return stmt->column_int64(0);
  };
  if (version >= 1) {
    REQUIRE(count("SELECT (SELECT count(*) FROM meta WHERE name = 'probe') + "
                  "(SELECT count(*) FROM envelopes WHERE id = 5) + "
                  "(SELECT count(*) FROM vaults WHERE id = 9)") == 3);
  }
  if (version >= 2) REQUIRE(count("SELECT count(*) FROM audit_log WHERE seq = 1") == 1);
  if (version >= 3) REQUIRE(count("SELECT count(*) FROM vaults WHERE key_index = x'e1'") == 1);
}

TEST_CASE("migrations are numbered 1..N without gaps", "[storage]") {
  auto all = migrations();
  REQUIRE(!all.empty());
  for (std::size_t i = 0; i < all.size(); ++i)
    REQUIRE(all[i].version == static_cast<std::int64_t>(i + 1));
  REQUIRE(latest_schema_version() == all.back().version);
}

TEST_CASE("migrating an empty file reaches the latest version", "[storage]") {
  test::TempDir dir;
  auto db = fresh(dir);
  REQUIRE(migrate(*db).is_ok());
  REQUIRE(db->user_version().value() == latest_schema_version());
  REQUIRE(db->integrity_check().value() == "ok");
  // Idempotent.
  REQUIRE(migrate(*db).is_ok());
  REQUIRE(db->user_version().value() == latest_schema_version());
}

TEST_CASE("each migration applies from an empty file and from the version before", "[storage]") {
  for (const Migration& m : migrations()) {
    DYNAMIC_SECTION("migration " << m.version) {
      {
        // From empty straight to this version.
        test::TempDir dir;
        auto db = fresh(dir);
        REQUIRE(migrate(*db, m.version).is_ok());
        REQUIRE(db->user_version().value() == m.version);
        REQUIRE(db->integrity_check().value() == "ok");
      }
      {
        // From the version before, with data in it.
        test::TempDir dir;
        auto db = fresh(dir);
        REQUIRE(migrate(*db, m.version - 1).is_ok());
        REQUIRE(db->user_version().value() == m.version - 1);
        auto before = schema(*db);
        for (std::int64_t v = 1; v < m.version; ++v) fill(*db, v);
        REQUIRE(migrate(*db, m.version).is_ok());
        REQUIRE(db->user_version().value() == m.version);
        check_filled(*db, m.version - 1);
        auto after = schema(*db);
        REQUIRE(after != before);
        fill(*db, m.version);  // the new tables and columns take data too
      }
    }
  }
}

TEST_CASE("a schema newer than this build is refused", "[storage]") {
  test::TempDir dir;
  auto db = fresh(dir);
  REQUIRE(migrate(*db).is_ok());
  REQUIRE(db->set_user_version(latest_schema_version() + 1).is_ok());
  Status status = migrate(*db);
  REQUIRE(status.code() == Code::kUnavailable);
  REQUIRE(status.message().find("newer") != std::string::npos);
}

TEST_CASE("a failing migration leaves the file at the version before", "[storage]") {
  test::TempDir dir;
  auto db = fresh(dir);
  REQUIRE(migrate(*db, 1).is_ok());
  // Something in the way of migration 2.
  REQUIRE(db->exec("CREATE TABLE counters (x)").is_ok());
  REQUIRE(!migrate(*db).is_ok());
  REQUIRE(db->user_version().value() == 1);
  auto names = tables(*db);
  REQUIRE(std::find(names.begin(), names.end(), "org_records") == names.end());
  REQUIRE_FALSE(db->in_transaction());
}

TEST_CASE("docs/storage.md documents every table and column", "[storage]") {
  auto doc = test::read_file(test::test_data_dir().parent_path() / "docs" / "storage.md");
  REQUIRE(doc.has_value());
  test::TempDir dir;
  auto db = fresh(dir);
  REQUIRE(migrate(*db).is_ok());
  for (const std::string& table : tables(*db)) {
    INFO("table " << table);
    std::string heading = "### `" + table + "`";
    auto start = doc->find(heading);
    REQUIRE(start != std::string::npos);
    auto end = doc->find("\n### ", start + heading.size());
    std::string section = doc->substr(start, end == std::string::npos ? end : end - start);
    for (const Column& c : columns(*db, table)) {
      INFO("column " << c.name);
      REQUIRE(section.find("| `" + c.name + "`") != std::string::npos);
    }
  }
}

TEST_CASE("no column is shaped to hold a network address", "[storage]") {
  test::TempDir dir;
  auto db = fresh(dir);
  REQUIRE(migrate(*db).is_ok());
  std::regex suspicious("(^|_)(ip|ips|addr|address|host|remote|peer|endpoint|port|forwarded)($|_)",
                        std::regex::icase);
  // The only text columns: fixed names and admin-action descriptions.
  std::set<std::string> allowed_text = {"meta.name", "audit_log.action", "audit_log.detail"};
  for (const std::string& table : tables(*db)) {
    for (const Column& c : columns(*db, table)) {
      INFO(table << "." << c.name);
      REQUIRE_FALSE(std::regex_search(c.name, suspicious));
      if (c.type == "TEXT") REQUIRE(allowed_text.count(table + "." + c.name) == 1);
    }
  }
}

}  // namespace
}  // namespace hearth::storage
