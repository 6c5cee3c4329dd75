// Closed cases are forgotten once the retention window has passed.
#include <catch2/catch.hpp>

#include "server/case_record.h"
#include "server/retention.h"
#include "storage/storage.h"
#include "tests/support/test_support.h"

namespace hearth::server {
namespace {

constexpr UnixSeconds kDay = 86400;
constexpr UnixSeconds kT0 = 1'790'000'000;

TEST_CASE("a closed case and its survivor mailbox go once the window has passed", "[server]") {
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

}  // namespace
}  // namespace hearth::server
