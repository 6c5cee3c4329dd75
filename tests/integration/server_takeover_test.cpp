// The front door to a survivor's case (issue 12, holes 1 and 11): a vault's
// login key is public, so open_case must prove it is held; and no reply may
// say whether someone else's case exists. Raw frames against the real hearthd.
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "crypto/keys.h"
#include "crypto/random.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using protocol::Need;

std::unique_ptr<WsClient> responder_online(const HearthdProcess& hearthd, const TestResponder& r) {
  auto ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ws, r)) == "");
  REQUIRE(error_code(upload_prekeys(*ws, r)) == "");
  REQUIRE(error_code(ws->call(protocol::PresenceRequest{protocol::Presence::kAvailable, 5})) == "");
  return ws;
}

// route + open_case with a new vault for `survivor`; returns the case id.
Bytes open_new_case(WsClient& ws, const TestSurvivor& survivor, const std::string& body) {
  auto routed = route(ws, envelope_for(Need::kShelter));
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(ws, routed, &survivor, body)) == "");
  return b64(routed["case"]);
}

// An open_case request for `route_reply` with one intake copy per bundle and
// a vault of the caller's making (login id, key and signature as given).
protocol::OpenCaseRequest open_request(const json& route_reply, Bytes login_id, Bytes login_key,
                                       Bytes signature) {
  protocol::OpenCaseRequest req;
  req.case_id = b64(route_reply["case"]);
  req.vault = protocol::NewVault{std::move(login_id), std::move(login_key), std::move(signature),
                                 Bytes(crypto::kMinVaultBlobBytes, 0x42)};
  for (const auto& bundle : route_reply["bundles"]) {
    auto cert = crypto::ResponderCertificate::decode(b64(bundle["certificate"]));
    REQUIRE(cert.is_ok());
    req.intake.push_back({cert->hash(), to_bytes("intake")});
  }
  return req;
}

Bytes bytes_of(const crypto::Signature& s) { return Bytes(s.bytes.begin(), s.bytes.end()); }

// The open-case proof exactly as docs/crypto.md lays it out, signed with a
// bare Ed25519 key: lp("HL1/open-case") || lp(challenge) || lp(case) || lp(login_id).
Bytes proof_by_hand(const crypto::SigningKey& key, ByteView challenge, ByteView case_id,
                    ByteView login_id) {
  Bytes message;
  for (ByteView field : {as_bytes("HL1/open-case"), challenge, case_id, login_id}) {
    const auto n = static_cast<std::uint32_t>(field.size());
    for (int shift : {24, 16, 8, 0}) message.push_back(static_cast<std::uint8_t>(n >> shift));
    message.insert(message.end(), field.begin(), field.end());
  }
  return bytes_of(key.sign(message));
}

bool has_envelope(const WsClient& ws) {
  for (const auto& e : ws.events)
    if (e.value("ev", "") == "envelope") return true;
  return false;
}

TEST_CASE("open_case: a survivor's public login key does not take over their case",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);

  // Survivor A opens a case; ana takes it and replies. A has not acked.
  TestSurvivor a = TestSurvivor::make();
  auto a_ws = WsClient::connect(hearthd.port());
  Bytes case_id = open_new_case(*a_ws, a, "help me");
  REQUIRE(take_case(*ana_ws) == case_id);
  REQUIRE(a_ws->next_event()["ev"] == "case_claimed");
  REQUIRE(error_code(ana_ws->call(protocol::SendRequest{case_id, to_bytes("reply-1"), {}})) == "");
  REQUIRE(b64(a_ws->next_event()["body"]) == to_bytes("reply-1"));

  // The attacker knows A's auth_pk (it is public) and opens a vault with it
  // under a login id of their own, on a route of their own.
  TestSurvivor attacker = TestSurvivor::make();
  auto x_ws = WsClient::connect(hearthd.port());
  auto routed = route(*x_ws, envelope_for(Need::kShelter));
  REQUIRE(error_code(routed) == "");
  const Bytes x_case = b64(routed["case"]);

  // 1. Signed with the attacker's own key.
  auto c1 = b64(x_ws->call(protocol::ChallengeRequest{})["challenge"]);
  auto own_key =
      x_ws->call(open_request(routed, attacker.login_id(), a.login_key(),
                              bytes_of(crypto::sign_open_case(attacker.keys, c1, x_case))));
  CHECK(error_code(own_key) == "auth_failed");
  // 2. A proof A really made, but for another challenge and case (replayed).
  auto c2 = b64(x_ws->call(protocol::ChallengeRequest{})["challenge"]);
  Bytes replayed = bytes_of(crypto::sign_open_case(a.keys, crypto::random_bytes(32), case_id));
  auto replay = x_ws->call(open_request(routed, a.login_id(), a.login_key(), replayed));
  CHECK(error_code(replay) == "auth_failed");
  // 3. The failed attempt spent the challenge: a proof for it is refused now.
  auto late = x_ws->call(open_request(routed, attacker.login_id(), a.login_key(),
                                      bytes_of(crypto::sign_open_case(attacker.keys, c2, x_case))));
  CHECK(error_code(late) == "not_authenticated");
  // 4. No challenge at all.
  auto none = x_ws->call(open_request(routed, attacker.login_id(), a.login_key(), Bytes(64, 7)));
  CHECK(error_code(none) == "not_authenticated");

  // The attacker's connection is still anonymous: no send, ack or delete.
  CHECK(error_code(x_ws->call(protocol::SendRequest{case_id, to_bytes("it's me"), {}})) ==
        "not_authenticated");
  CHECK(error_code(x_ws->call(protocol::AckRequest{case_id, 1})) == "not_authenticated");
  CHECK(error_code(x_ws->call(protocol::DeleteCaseRequest{case_id})) == "not_authenticated");

  // ana's next reply reaches A, and only A.
  REQUIRE(error_code(ana_ws->call(protocol::SendRequest{case_id, to_bytes("reply-2"), {}})) == "");
  REQUIRE(b64(a_ws->next_event()["body"]) == to_bytes("reply-2"));
  x_ws->call(protocol::PowChallengeRequest{});  // a round trip: anything pushed is read by now
  CHECK_FALSE(has_envelope(*x_ws));

  // Nothing was stored for the refused attempts: the route is still there,
  // and the attacker can open it with a vault of their own key.
  auto own = open_case(*x_ws, routed, &attacker, "my own case");
  CHECK(error_code(own) == "");
  // That vault sees its own case only, and cannot reach A's.
  CHECK(error_code(x_ws->call(protocol::AckRequest{case_id, 1})) == "not_found");
  CHECK(error_code(x_ws->call(protocol::SendRequest{case_id, to_bytes("it's me"), {}})) ==
        "not_found");
  CHECK(error_code(x_ws->call(protocol::DeleteCaseRequest{case_id})) == "not_found");

  // A's case and replies are untouched: a new login gets both, unacked.
  auto again = WsClient::connect(hearthd.port());
  auto login = vault_login(*again, a);
  REQUIRE(error_code(login) == "");
  REQUIRE(login["cases"].size() == 1);
  CHECK(b64(login["cases"][0]["case"]) == case_id);
  CHECK(b64(again->next_event()["body"]) == to_bytes("reply-1"));
  CHECK(b64(again->next_event()["body"]) == to_bytes("reply-2"));
  CHECK(error_code(a_ws->call(protocol::SendRequest{case_id, to_bytes("thanks"), {}})) == "");
  CHECK(b64(ana_ws->next_event()["body"]) == to_bytes("thanks"));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("open_case: the proof follows docs/crypto.md and a login key has one vault",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);

  // An outside client with nothing but an Ed25519 key and the documented
  // message layout.
  const crypto::SigningKey key = crypto::SigningKey::generate();
  const Bytes pk(key.public_key().bytes.begin(), key.public_key().bytes.end());
  auto open_with = [&](WsClient& ws, const Bytes& login_id) {
    auto routed = route(ws, envelope_for(Need::kShelter));
    REQUIRE(error_code(routed) == "");
    Bytes challenge = b64(ws.call(protocol::ChallengeRequest{})["challenge"]);
    Bytes proof = proof_by_hand(key, challenge, b64(routed["case"]), login_id);
    return ws.call(open_request(routed, login_id, pk, proof));
  };
  auto first = WsClient::connect(hearthd.port());
  auto opened = open_with(*first, crypto::random_bytes(32));
  CHECK(error_code(opened) == "");
  CHECK(opened["vault_version"] == 1);
  // The key's own holder, under a second login id: one vault per key.
  auto second = WsClient::connect(hearthd.port());
  auto twice = open_with(*second, crypto::random_bytes(32));
  CHECK(error_code(twice) == "conflict");
  CHECK(hearthd.terminate() == 0);
}

// Every case op a prober can aim at a case id: the error reply, as text.
struct Probe {
  std::string op;
  std::function<json(WsClient&, const Bytes&)> call;
};

std::string answer(const json& reply) {
  return reply.contains("error") ? reply["error"].dump() : reply.dump();
}

TEST_CASE("case ops answer alike for someone else's case, open or closed, and no case",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  auto& ben = org.add_responder("ben", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = WsClient::connect(hearthd.port());
  auto ana_login = responder_login(*ana_ws, ana);
  REQUIRE(error_code(ana_login) == "");
  const std::string outcome = ana_login["outcomes"][0];
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  REQUIRE(error_code(ana_ws->call(protocol::PresenceRequest{protocol::Presence::kAvailable, 5})) ==
          "");
  auto ben_ws = responder_online(hearthd, ben);

  // An open case (ana holds it) and a closed one (ana closed it), both of
  // other survivors; and an id that names no case.
  TestSurvivor a = TestSurvivor::make();
  auto a_ws = WsClient::connect(hearthd.port());
  Bytes open_id = open_new_case(*a_ws, a, "one");
  REQUIRE(take_case(*ana_ws) == open_id);
  TestSurvivor c = TestSurvivor::make();
  auto c_ws = WsClient::connect(hearthd.port());
  Bytes closed_id = open_new_case(*c_ws, c, "two");
  REQUIRE(take_case(*ana_ws) == closed_id);
  REQUIRE(error_code(ana_ws->call(protocol::CloseCaseRequest{closed_id, outcome})) == "");
  Bytes no_id = crypto::random_bytes(protocol::kCaseIdBytes);

  // The probers: a survivor with a case of their own, and ben, a responder.
  TestSurvivor b = TestSurvivor::make();
  auto b_ws = WsClient::connect(hearthd.port());
  Bytes own_id = open_new_case(*b_ws, b, "three");

  const protocol::IntakeCopy copy{ana.certificate_hash(), to_bytes("copy")};
  std::vector<Probe> survivor_probes = {
      {"send",
       [](WsClient& ws, const Bytes& id) {
         return ws.call(protocol::SendRequest{id, to_bytes("x"), {}});
       }},
      {"send+vault",
       [](WsClient& ws, const Bytes& id) {
         return ws.call(
             protocol::SendRequest{id, to_bytes("x"), protocol::VaultPut{1, Bytes(4144, 1)}});
       }},
      {"ack",
       [](WsClient& ws, const Bytes& id) {
         return ws.call(protocol::AckRequest{id, 1});
       }},
      {"delete_case",
       [](WsClient& ws, const Bytes& id) { return ws.call(protocol::DeleteCaseRequest{id}); }},
      {"handoff_offer",
       [](WsClient& ws, const Bytes& id) { return ws.call(protocol::HandoffOfferRequest{id}); }},
      {"handoff_accept",
       [copy](WsClient& ws, const Bytes& id) {
         return ws.call(
             protocol::HandoffAcceptRequest{id, protocol::HandoffShare::kNewOnly, {copy}});
       }},
      {"handoff_decline",
       [](WsClient& ws, const Bytes& id) { return ws.call(protocol::HandoffDeclineRequest{id}); }},
  };
  std::vector<Probe> responder_probes = {
      {"send",
       [](WsClient& ws, const Bytes& id) {
         return ws.call(protocol::SendRequest{id, to_bytes("x"), {}});
       }},
      {"ack",
       [](WsClient& ws, const Bytes& id) {
         return ws.call(protocol::AckRequest{id, 1});
       }},
      {"handoff",
       [](WsClient& ws, const Bytes& id) {
         return ws.call(protocol::HandoffRequest{id, "legal"});
       }},
      {"close_case",
       [outcome](WsClient& ws, const Bytes& id) {
         return ws.call(protocol::CloseCaseRequest{id, outcome});
       }},
  };
  auto check_alike = [&](WsClient& ws, const std::vector<Probe>& probes) {
    for (const auto& p : probes) {
      INFO("op " << p.op);
      std::string on_open = answer(p.call(ws, open_id));
      std::string on_closed = answer(p.call(ws, closed_id));
      std::string on_none = answer(p.call(ws, no_id));
      CHECK(on_open == on_none);
      CHECK(on_closed == on_none);
      CHECK(on_none == R"({"code":"not_found","message":"no such case"})");
    }
  };
  SECTION("a survivor probing") { check_alike(*b_ws, survivor_probes); }
  SECTION("a responder probing") { check_alike(*ben_ws, responder_probes); }
  SECTION("the case's own parties still hear `closed`") {
    CHECK(error_code(c_ws->call(protocol::SendRequest{closed_id, to_bytes("x"), {}})) == "closed");
    CHECK(error_code(ana_ws->call(protocol::SendRequest{closed_id, to_bytes("x"), {}})) ==
          "closed");
    CHECK(error_code(ana_ws->call(protocol::CloseCaseRequest{closed_id, outcome})) == "closed");
    // And their own open case answers as before.
    CHECK(error_code(b_ws->call(protocol::SendRequest{own_id, to_bytes("x"), {}})) ==
          "not_claimed");
  }
  // Nothing the probes did touched the cases.
  CHECK(error_code(ana_ws->call(protocol::SendRequest{open_id, to_bytes("still here"), {}})) == "");
  auto got = a_ws->next_event_where([](const json& e) { return e.value("ev", "") == "envelope"; },
                                    std::chrono::seconds(10));
  CHECK(b64(got["body"]) == to_bytes("still here"));
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
