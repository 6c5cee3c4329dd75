// RelayHub's index of cases by vault (cases_of_vault, asked at every survivor
// login) stays exact on every path that adds, changes, moves or removes a
// case, and after a restart rebuilds it from a real SQLite file.
#include <catch2/catch.hpp>

#include <algorithm>

#include "common/clock.h"
#include "host/case_record.h"
#include "server/relay_hub.h"
#include "storage/storage.h"
#include "tests/support/test_support.h"

namespace hearth::server {
namespace {

constexpr UnixSeconds kT0 = 1'790'000'000;

OpenCase make_case(Bytes vault, std::string queue = "shelter") {
  OpenCase c;
  c.id = storage::random_id<storage::CaseId>();
  c.version = 1;
  c.opened_minute = kT0;
  c.record.queue = std::move(queue);
  c.record.vault_login_key = std::move(vault);
  return c;
}

std::vector<storage::CaseId> ids_of(const std::vector<OpenCase>& cases) {
  std::vector<storage::CaseId> out;
  for (const auto& c : cases) out.push_back(c.id);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<storage::CaseId> sorted(std::vector<storage::CaseId> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_CASE("relay hub: the index by vault follows add, update, move, remove and a restart",
          "[server]") {
  ManualClock clock(kT0);
  const Bytes vault_a(32, 0xa1), vault_b(32, 0xb2), vault_c(32, 0xc3);

  test::TempDir dir;
  storage::StorageOptions options;
  options.database_path = dir.path() / "hearth.db";
  options.key_path = dir.path() / "master.key";
  std::vector<storage::CaseId> a_ids, b_ids;
  OpenCase moved;
  {
    auto opened = storage::Storage::open(options);
    REQUIRE(opened.is_ok());
    storage::Stores& s = (*opened)->stores();
    RelayHub hub(clock);
    auto add = [&](OpenCase c) {
      REQUIRE(s.cases.create(c.id, encode_case_record(c.record), kT0).is_ok());
      hub.add_case(c);
      return c;
    };
    OpenCase a1 = add(make_case(vault_a));
    OpenCase a2 = add(make_case(vault_a, "legal"));
    OpenCase b1 = add(make_case(vault_b));
    CHECK(hub.vault_index_exact());
    CHECK(ids_of(hub.cases_of_vault(vault_a)) == sorted({a1.id, a2.id}));
    CHECK(ids_of(hub.cases_of_vault(vault_b)) == sorted({b1.id}));
    CHECK(hub.cases_of_vault(vault_c).empty());

    // Closed by its responder: still the vault's (replies still reach it).
    CaseRecord closed = a1.record;
    closed.closed = true;
    REQUIRE(s.cases.update(a1.id, 1, encode_case_record(closed), kT0).is_ok());
    hub.update_case(a1.id, 2, closed);
    CHECK(hub.vault_index_exact());
    CHECK(ids_of(hub.cases_of_vault(vault_a)) == sorted({a1.id, a2.id}));
    CHECK(hub.reserve_case_slot(vault_a, 2));  // the closed one does not count
    hub.release_case_slot(vault_a);

    // Handed off (moved to another queue): same vault, new record.
    CaseRecord handed = a2.record;
    handed.queue = "shelter";
    handed.handoff_queue.reset();
    REQUIRE(s.cases.update(a2.id, 1, encode_case_record(handed), kT0).is_ok());
    hub.update_case(a2.id, 2, handed);
    CHECK(hub.vault_index_exact());

    // A record naming another vault (no server path does this): the index follows.
    moved = b1;
    moved.record.vault_login_key = vault_c;
    hub.update_case(b1.id, 2, moved.record);
    CHECK(hub.vault_index_exact());
    CHECK(hub.cases_of_vault(vault_b).empty());
    CHECK(ids_of(hub.cases_of_vault(vault_c)) == sorted({b1.id}));
    hub.update_case(b1.id, 3, b1.record);  // and back
    CHECK(ids_of(hub.cases_of_vault(vault_b)) == sorted({b1.id}));
    CHECK(hub.cases_of_vault(vault_c).empty());

    // Added again under the same id (a reload): one entry, under its vault.
    hub.add_case(b1);
    CHECK(hub.vault_index_exact());
    CHECK(hub.cases_of_vault(vault_b).size() == 1);

    // Deleted / expired / dismissed: remove_case.
    REQUIRE(s.cases.remove(a1.id).is_ok());
    CHECK(hub.remove_case(a1.id).has_value());
    CHECK_FALSE(hub.remove_case(a1.id).has_value());
    CHECK(hub.vault_index_exact());
    CHECK(ids_of(hub.cases_of_vault(vault_a)) == sorted({a2.id}));
    a_ids = {a2.id};
    b_ids = {b1.id};
  }

  // A restart: the hub is rebuilt from the database as hearthd does it.
  auto reopened = storage::Storage::open(options);
  REQUIRE(reopened.is_ok());
  auto rows = (*reopened)->stores().cases.list_open();
  REQUIRE(rows.is_ok());
  std::vector<OpenCase> cases;
  for (auto& row : *rows) {
    auto record = decode_case_record(row.fields);
    REQUIRE(record.is_ok());
    cases.push_back(OpenCase{row.id, row.version, row.opened_minute, std::move(*record)});
  }
  RelayHub hub(clock);
  hub.load_cases(cases);
  CHECK(hub.vault_index_exact());
  CHECK(hub.case_count() == 2);
  CHECK(ids_of(hub.cases_of_vault(vault_a)) == a_ids);
  CHECK(ids_of(hub.cases_of_vault(vault_b)) == b_ids);
  CHECK(hub.cases_of_vault(vault_c).empty());
  // Loading the same rows twice (never done, but harmless) changes nothing.
  hub.load_cases(cases);
  CHECK(hub.vault_index_exact());
  CHECK(hub.case_count() == 2);
}

}  // namespace
}  // namespace hearth::server
