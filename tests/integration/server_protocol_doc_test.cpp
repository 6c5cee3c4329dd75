// What docs/protocol.md states where an outside client would otherwise have to
// guess, pinned so a rework of the handlers keeps it: open_case's error
// precedence, the proposer left out of handoff_offer, the `waiting` event a
// responder gets after login. The real hearthd on loopback.
#include <catch2/catch.hpp>

#include "common/bytes.h"
#include "crypto/random.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using nlohmann::json;

enum class Proof { kNone, kNoChallenge, kBad, kGood };

// open_case for `case_id` (a route's or any other), with a new vault for
// `survivor` proven as `proof` says, and one copy per bundle of `route_reply`
// (or, with `stray_copy`, one for a certificate that was never offered).
json open_case_with(WsClient& ws, const json& route_reply, const Bytes& case_id,
                    const TestSurvivor& survivor, Proof proof, bool stray_copy) {
  protocol::OpenCaseRequest req;
  req.case_id = case_id;
  if (proof != Proof::kNone) {
    Bytes challenge(32, 0);
    if (proof != Proof::kNoChallenge)
      challenge = b64(ws.call(protocol::ChallengeRequest{})["challenge"]);
    if (proof == Proof::kBad) challenge[0] ^= 1;
    auto sig = crypto::sign_open_case(survivor.keys, challenge, case_id);
    req.vault = protocol::NewVault{survivor.login_id(), survivor.login_key(),
                                   Bytes(sig.bytes.begin(), sig.bytes.end()),
                                   crypto::seal_vault(survivor.keys, 1, to_bytes("v")).value()};
  }
  if (stray_copy) {
    req.intake.push_back({crypto::random_bytes(32), to_bytes("intake")});
  } else {
    for (const auto& bundle : route_reply["bundles"]) {
      auto cert = crypto::ResponderCertificate::decode(b64(bundle["certificate"]));
      REQUIRE(cert.is_ok());
      req.intake.push_back({cert->hash(), to_bytes("intake")});
    }
  }
  return ws.call(req);
}

TEST_CASE("open_case answers the first of its errors in the documented order", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");

  auto ws = WsClient::connect(hearthd.port());
  auto routed = route(*ws, envelope_for());
  REQUIRE(error_code(routed) == "");
  const Bytes routed_case = b64(routed["case"]);
  const TestSurvivor survivor = TestSurvivor::make();
  auto attempt = [&](const Bytes& case_id, Proof proof, bool stray) {
    return error_code(open_case_with(*ws, routed, case_id, survivor, proof, stray));
  };

  // 1. forbidden: a responder, whatever else is wrong.
  CHECK(error_code(open_case_with(*ana_ws, routed, crypto::random_bytes(16), survivor, Proof::kBad,
                                  true)) == "forbidden");
  // 2. not_found: no such route on this connection, before the vault and the copies.
  CHECK(attempt(crypto::random_bytes(16), Proof::kBad, true) == "not_found");
  CHECK(attempt(crypto::random_bytes(16), Proof::kNoChallenge, true) == "not_found");
  // 3. bad_field: an anonymous caller without a vault.
  CHECK(attempt(routed_case, Proof::kNone, true) == "bad_field");
  // 4. not_authenticated: a vault but no challenge asked for (the last one was spent).
  CHECK(attempt(routed_case, Proof::kNoChallenge, true) == "not_authenticated");
  // 5. auth_failed: the proof, before the copies are looked at.
  CHECK(attempt(routed_case, Proof::kBad, true) == "auth_failed");
  // 6. bad_field: a copy for a certificate that was not offered.
  CHECK(attempt(routed_case, Proof::kGood, true) == "bad_field");
  // All well: the case opens, and the route is used up.
  CHECK(attempt(routed_case, Proof::kGood, false) == "");
  CHECK(attempt(routed_case, Proof::kGood, false) == "not_found");
}

TEST_CASE("handoff_offer never offers the responder who proposed it, even if listed there",
          "[integration]") {
  TestOrg org;
  auto& lena = org.add_responder("lena", {"legal", "immigration"});
  auto& ivan = org.add_responder("ivan", {"immigration"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto lena_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*lena_ws, lena)) == "");
  REQUIRE(error_code(upload_prekeys(*lena_ws, lena)) == "");
  auto ivan_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ivan_ws, ivan)) == "");
  REQUIRE(error_code(upload_prekeys(*ivan_ws, ivan)) == "");
  // protocol.md "Events": a responder hears the count once after its login, 0 too.
  auto counted = ivan_ws->next_event_where([](const json& j) { return j["ev"] == "waiting"; },
                                           std::chrono::seconds(10));
  CHECK(counted["waiting"] == 0);
  CHECK(counted["urgent"] == 0);

  auto ws = WsClient::connect(hearthd.port());
  const TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*ws, envelope_for(protocol::Need::kLegal));
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(*ws, routed, &survivor, "papers")) == "");
  const Bytes case_id = b64(routed["case"]);
  REQUIRE(take_case(*lena_ws) == case_id);
  REQUIRE(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "immigration"})) == "");
  auto offer = ws->call(protocol::HandoffOfferRequest{case_id});
  REQUIRE(error_code(offer) == "");
  REQUIRE(offer["bundles"].size() == 1);
  auto cert = crypto::ResponderCertificate::decode(b64(offer["bundles"][0]["certificate"]));
  REQUIRE(cert.is_ok());
  CHECK(cert->hash() == ivan.certificate_hash());
}

}  // namespace
}  // namespace hearth::test
