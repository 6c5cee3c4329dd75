// One-time prekeys through the real hearthd (issue 12, hole 8): a route or a
// handoff offer only reserves the one-time prekeys it shows; they are
// deleted when open_case (handoff_accept) commits with them, and an unused
// route gives them back. Repeated handoff_offer for one case reserves
// nothing new. (That the responder's client decrypts an intake sealed to the
// consumed prekey is shown end to end by the relay tests.)
#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/support/test_support.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The responder's one-time prekeys in storage (upload_prekeys with none).
std::int64_t prekey_count(WsClient& responder) {
  auto reply = responder.call(protocol::UploadPrekeysRequest{});
  if (error_code(reply) != "") throw std::runtime_error("upload_prekeys: " + reply.dump());
  return reply["one_time_prekeys"].get<std::int64_t>();
}

// The one-time prekey of the route's (only) bundle, or "" when it has none.
std::string shown_prekey(const json& reply) {
  REQUIRE(reply["bundles"].size() == 1);
  const json& b = reply["bundles"][0];
  return b.contains("one_time_prekey") ? b["one_time_prekey"].get<std::string>() : "";
}

TEST_CASE("routes that are never used leave the responder's one-time prekeys in place",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});  // 5 one-time prekeys
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  REQUIRE(prekey_count(*ana_ws) == 5);

  // Eight routes on two connections, none used: the first five show five
  // different prekeys (reserved, so never shown twice), the rest none.
  std::set<std::string> shown;
  int without = 0;
  {
    auto first = WsClient::connect(hearthd.port());
    auto second = WsClient::connect(hearthd.port());
    for (int i = 0; i < 8; ++i) {
      auto routed = route(i % 2 == 0 ? *first : *second, envelope_for());
      REQUIRE(error_code(routed) == "");
      std::string opk = shown_prekey(routed);
      if (opk.empty()) {
        ++without;
      } else {
        CHECK(shown.insert(opk).second);
      }
    }
    CHECK(shown.size() == 5);
    CHECK(without == 3);
    CHECK(prekey_count(*ana_ws) == 5);
  }  // both connections close: their reservations end
  wait_connections_open(hearthd, 1);
  CHECK(prekey_count(*ana_ws) == 5);
  // Given back: a new route is shown one of them again.
  auto ws = WsClient::connect(hearthd.port());
  auto routed = route(*ws, envelope_for());
  REQUIRE(error_code(routed) == "");
  CHECK(shown.contains(shown_prekey(routed)));

  // A committed open_case consumes exactly the prekey it was shown.
  TestSurvivor survivor = TestSurvivor::make();
  REQUIRE(error_code(open_case(*ws, routed, &survivor, "hello")) == "");
  CHECK(prekey_count(*ana_ws) == 4);
  auto again = WsClient::connect(hearthd.port());
  std::set<std::string> later;
  for (int i = 0; i < 4; ++i) {
    auto r = route(*again, envelope_for());
    REQUIRE(error_code(r) == "");
    later.insert(shown_prekey(r));
  }
  CHECK_FALSE(later.contains(shown_prekey(routed)));
  CHECK(later.size() == 4);
  CHECK_FALSE(later.contains(""));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("an expired route gives its one-time prekey back", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"}, std::nullopt, std::nullopt, 1);
  HearthdProcess hearthd(org, json{{"limits", {{"route_ttl_seconds", 10}}}});
  hearthd.start();
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  auto ws = WsClient::connect(hearthd.port());
  auto first = route(*ws, envelope_for());
  REQUIRE(error_code(first) == "");
  const std::string opk = shown_prekey(first);
  CHECK_FALSE(opk.empty());
  // Reserved while the route lives.
  auto other = WsClient::connect(hearthd.port());
  auto second = route(*other, envelope_for());
  REQUIRE(error_code(second) == "");
  CHECK(shown_prekey(second) == "");
  // Once the first route (and the reservation's grace) has passed, the same
  // connection's next route shows it again; storage never lost it.
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  std::string again;
  while (again.empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto r = route(*ws, envelope_for());
    if (error_code(r) == "limit_exceeded") continue;  // the connection's unused routes
    REQUIRE(error_code(r) == "");
    again = shown_prekey(r);
  }
  CHECK(again == opk);
  CHECK(prekey_count(*ana_ws) == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("repeated handoff offers for one case reserve one prekey per responder",
          "[integration]") {
  TestOrg org;
  auto& lena = org.add_responder("lena", {"legal"});
  auto& ivan = org.add_responder("ivan", {"immigration"});  // 5 one-time prekeys
  HearthdProcess hearthd(org);
  hearthd.start();
  auto lena_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*lena_ws, lena)) == "");
  REQUIRE(error_code(upload_prekeys(*lena_ws, lena)) == "");
  auto ivan_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ivan_ws, ivan)) == "");
  REQUIRE(error_code(upload_prekeys(*ivan_ws, ivan)) == "");
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*ws, envelope_for(protocol::Need::kLegal));
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(*ws, routed, &survivor, "papers")) == "");
  Bytes case_id = b64(routed["case"]);
  REQUIRE(take_case(*lena_ws) == case_id);
  REQUIRE(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "immigration"})) == "");

  // Asked again and again, on this connection and another of the vault: the
  // same offer, the same prekey, nothing new reserved or deleted.
  auto offer = ws->call(protocol::HandoffOfferRequest{case_id});
  REQUIRE(error_code(offer) == "");
  const std::string opk = shown_prekey(offer);
  CHECK_FALSE(opk.empty());
  auto relog = WsClient::connect(hearthd.port());
  REQUIRE(error_code(vault_login(*relog, survivor)) == "");
  for (int i = 0; i < 6; ++i) {
    auto again = (i % 2 == 0 ? *ws : *relog).call(protocol::HandoffOfferRequest{case_id});
    REQUIRE(error_code(again) == "");
    CHECK(shown_prekey(again) == opk);
  }
  CHECK(prekey_count(*ivan_ws) == 5);
  // Meanwhile a route to ivan is shown another of his prekeys.
  auto stranger = WsClient::connect(hearthd.port());
  auto other = route(*stranger, envelope_for(protocol::Need::kImmigration));
  REQUIRE(error_code(other) == "");
  CHECK(shown_prekey(other) != opk);
  CHECK_FALSE(shown_prekey(other).empty());

  // The accept commits with exactly that prekey: one fewer.
  protocol::HandoffAcceptRequest accept;
  accept.case_id = case_id;
  accept.share = protocol::HandoffShare::kSummary;
  accept.intake = {{ivan.certificate_hash(), to_bytes("summary")}};
  REQUIRE(error_code(ws->call(accept)) == "");
  CHECK(prekey_count(*ivan_ws) == 4);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
