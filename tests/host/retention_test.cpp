// Closed cases are forgotten once the retention window has passed.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "host/case_record.h"
#include "host/retention.h"
#include "storage/storage.h"
#include "tests/support/test_support.h"

namespace hearth::server {
namespace {

constexpr UnixSeconds kDay = 86400;
constexpr UnixSeconds kT0 = 1'790'000'000;

TEST_CASE("a closed case and its survivor mailbox go once the window has passed", "[host]") {
  test::TempDir dir;
  storage::StorageOptions options;
  options.database_path = dir.path() / "hearth.db";
  options.key_path = dir.path() / "master.key";
  auto opened = storage::Storage::open(options);
  REQUIRE(opened.is_ok());
  storage::Stores& s = (*opened)->stores();

  CaseRecord open_record;
  open_record.queue = "shelter";
  open_record.vault_login_key = Bytes(32, 0x11);
  CaseRecord closed_record = open_record;
  closed_record.closed = true;
  auto open_id = storage::random_id<storage::CaseId>();
  auto closed_id = storage::random_id<storage::CaseId>();
  REQUIRE(s.cases.create(open_id, encode_case_record(open_record), kT0).is_ok());
  REQUIRE(s.cases.create(closed_id, encode_case_record(open_record), kT0).is_ok());
  // Closed ten days in, with a reply still waiting for the survivor.
  REQUIRE(s.cases.update(closed_id, 1, encode_case_record(closed_record), kT0 + 10 * kDay).is_ok());
  REQUIRE(s.envelopes.put(survivor_mailbox(closed_id), to_bytes("last reply"), kT0).is_ok());

  // Within the window nothing goes, however old the case.
  auto none = expire_closed_cases(s, kT0 + 39 * kDay, 30 * kDay);
  REQUIRE(none.is_ok());
  CHECK(none->empty());
  CHECK(s.envelopes.pending(survivor_mailbox(closed_id)).value() == 1);

  auto gone = expire_closed_cases(s, kT0 + 41 * kDay, 30 * kDay);
  REQUIRE(gone.is_ok());
  REQUIRE(gone->size() == 1);
  CHECK(gone->front() == closed_id);
  CHECK(s.cases.get(closed_id).status().code() == Code::kNotFound);
  CHECK(s.envelopes.pending(survivor_mailbox(closed_id)).value() == 0);
  // An open case is never expired for age alone.
  CHECK(s.cases.get(open_id).is_ok());
  auto later = expire_closed_cases(s, kT0 + 400 * kDay, 30 * kDay);
  REQUIRE(later.is_ok());
  CHECK(later->empty());
}

struct Db {
  test::TempDir dir;
  storage::StorageOptions options;
  std::unique_ptr<storage::Storage> handle;
  Db() {
    options.database_path = dir.path() / "hearth.db";
    options.key_path = dir.path() / "master.key";
    reopen();
  }
  // A restart: the file is closed and opened again.
  void reopen() {
    handle.reset();
    auto opened = storage::Storage::open(options);
    REQUIRE(opened.is_ok());
    handle = std::move(opened).value();
  }
  storage::Stores& s() { return handle->stores(); }
};

Bytes login_id(std::uint8_t b) { return Bytes(32, b); }
Bytes login_key(std::uint8_t b) { return Bytes(32, static_cast<std::uint8_t>(b + 0x40)); }

bool has_vault(storage::Stores& s, std::uint8_t b) { return s.vaults.get(login_id(b)).is_ok(); }

// A case of vault `b`, never taken, with an intake copy offered to "ana",
// written at `at`.
OpenCase open_case(storage::Stores& s, std::uint8_t b, UnixSeconds at) {
  OpenCase c;
  c.id = storage::random_id<storage::CaseId>();
  c.version = 1;
  c.opened_minute = at;
  c.record.queue = "shelter";
  c.record.vault_login_key = login_key(b);
  c.record.offers.push_back(CaseParty{Bytes(32, 0x01), "ana"});
  REQUIRE(s.cases.create(c.id, encode_case_record(c.record), at).is_ok());
  REQUIRE(s.envelopes.put(survivor_mailbox(c.id), to_bytes("queue note"), at).is_ok());
  REQUIRE(s.envelopes.put(responder_mailbox(c.id, "ana"), to_bytes("intake"), at).is_ok());
  return c;
}

TEST_CASE("retention: parked never-taken cases expire with their vaults, across restarts",
          "[host]") {
  Db db;
  for (std::uint8_t b : {1, 2, 3, 4})
    REQUIRE(db.s().vaults.create(login_id(b), login_key(b), to_bytes("blob")).is_ok());
  OpenCase a = open_case(db.s(), 1, kT0);      // parked, nothing since: goes, with vault 1
  OpenCase taken = open_case(db.s(), 2, kT0);  // taken meanwhile: stays
  taken.record.claimed_by = CaseParty{Bytes(32, 0x01), "ana"};
  REQUIRE(db.s().cases.update(taken.id, 1, encode_case_record(taken.record), kT0).is_ok());
  OpenCase c_parked = open_case(db.s(), 3, kT0);  // goes; vault 3 keeps a closed case
  OpenCase c_closed = open_case(db.s(), 3, kT0);
  CaseRecord closed = c_closed.record;
  closed.closed = true;
  REQUIRE(db.s().cases.update(c_closed.id, 1, encode_case_record(closed), kT0 + 10 * kDay).is_ok());
  OpenCase written = open_case(db.s(), 4, kT0);  // written 20 days in: within the window
  REQUIRE(db.s()
              .cases.update(written.id, 1, encode_case_record(written.record), kT0 + 20 * kDay)
              .is_ok());

  db.reopen();
  // Before the window nothing goes, even when the hub offers it.
  auto early =
      sweep_cases(db.s(), {a, taken, c_parked, written}, kT0 + 29 * kDay, 30 * kDay, 30 * kDay);
  REQUIRE(early.is_ok());
  CHECK(early->parked.empty());
  CHECK(early->closed.empty());
  CHECK(early->vaults == 0);

  db.reopen();
  auto swept =
      sweep_cases(db.s(), {a, taken, c_parked, written}, kT0 + 31 * kDay, 30 * kDay, 30 * kDay);
  REQUIRE(swept.is_ok());
  std::vector<storage::CaseId> want = {a.id, c_parked.id};
  CHECK(swept->parked == want);
  CHECK(swept->closed.empty());
  CHECK(swept->vaults == 1);
  db.reopen();
  auto& s = db.s();
  CHECK(s.cases.get(a.id).status().code() == Code::kNotFound);
  CHECK(s.cases.get(c_parked.id).status().code() == Code::kNotFound);
  CHECK(s.envelopes.pending(survivor_mailbox(a.id)).value() == 0);
  CHECK(s.envelopes.pending(responder_mailbox(a.id, "ana")).value() == 0);
  CHECK(s.cases.get(taken.id).is_ok());
  CHECK(s.cases.get(written.id).is_ok());
  CHECK(s.envelopes.pending(responder_mailbox(written.id, "ana")).value() == 1);
  CHECK_FALSE(has_vault(s, 1));
  CHECK(has_vault(s, 2));
  CHECK(has_vault(s, 3));
  CHECK(has_vault(s, 4));

  // The closed case's window ends: it goes, and its vault with it, in the same sweep.
  auto later = sweep_cases(s, {}, kT0 + 41 * kDay, 30 * kDay, 30 * kDay);
  REQUIRE(later.is_ok());
  CHECK(later->closed == std::vector<storage::CaseId>{c_closed.id});
  CHECK(later->vaults == 1);
  db.reopen();
  CHECK_FALSE(has_vault(db.s(), 3));
  CHECK(has_vault(db.s(), 2));
  CHECK(has_vault(db.s(), 4));
}

TEST_CASE("retention: a vault left with no case by an earlier run goes at the next sweep",
          "[host]") {
  Db db;
  // What a dismissal before this change (or a crash between two jobs) left:
  // a vault with no case, next to one with a case.
  REQUIRE(db.s().vaults.create(login_id(7), login_key(7), to_bytes("blob")).is_ok());
  REQUIRE(db.s().vaults.create(login_id(8), login_key(8), to_bytes("blob")).is_ok());
  open_case(db.s(), 8, kT0);
  db.reopen();
  auto swept = sweep_cases(db.s(), {}, kT0 + kDay, 30 * kDay, 30 * kDay);
  REQUIRE(swept.is_ok());
  CHECK(swept->vaults == 1);
  db.reopen();
  CHECK_FALSE(has_vault(db.s(), 7));
  CHECK(has_vault(db.s(), 8));
  // Idempotent.
  CHECK(forget_caseless_vaults(db.s()).value() == 0);
}

}  // namespace
}  // namespace hearth::server
