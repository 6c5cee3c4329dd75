// What open_case's `conflict` for a taken login id can reveal (issue 12): the
// answer differs from success, so it says the id is taken -- but only to a
// caller who presents the exact 32-byte login id, which comes from the
// codename (Argon2id, then a KDF: docs/crypto.md "Vault keys") and is stored by
// the server only as a keyed hash. Such a caller can log in anyway. Anyone
// else learns nothing: a bad proof is refused before the id is looked at, a
// login id one bit away is free, and vault_login answers the same for a taken
// id as for a free one (docs/protocol.md "open_case").
#include <catch2/catch.hpp>

#include "common/bytes.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using nlohmann::json;

// open_case for `route_reply` with a new vault under `login_id`, proven by
// `key` (its own key: the proof is valid for the key presented). With
// `bad_proof` the signature is over another challenge.
json open_case_as(WsClient& ws, const json& route_reply, ByteView login_id,
                  const crypto::SigningKey& key, bool bad_proof = false) {
  protocol::OpenCaseRequest req;
  req.case_id = b64(route_reply["case"]);
  Bytes challenge = b64(ws.call(protocol::ChallengeRequest{})["challenge"]);
  if (bad_proof) challenge[0] ^= 1;
  Bytes message;
  append_lp(message, as_bytes(std::string_view("HL1/open-case")));
  append_lp(message, challenge);
  append_lp(message, req.case_id);
  append_lp(message, login_id);
  auto proof = key.sign(message);
  auto pk = key.public_key();
  req.vault = protocol::NewVault{
      Bytes(login_id.begin(), login_id.end()), Bytes(pk.bytes.begin(), pk.bytes.end()),
      Bytes(proof.bytes.begin(), proof.bytes.end()), to_bytes("another vault's contents")};
  for (const auto& bundle : route_reply["bundles"]) {
    auto cert = crypto::ResponderCertificate::decode(b64(bundle["certificate"]));
    REQUIRE(cert.is_ok());
    req.intake.push_back({cert->hash(), to_bytes("intake")});
  }
  return ws.call(req);
}

TEST_CASE("only the holder of a login id can learn from open_case that it is taken",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  TestSurvivor survivor = TestSurvivor::make();
  {
    auto ws = WsClient::connect(hearthd.port());
    auto routed = route(*ws, envelope_for());
    REQUIRE(error_code(routed) == "");
    REQUIRE(error_code(open_case(*ws, routed, &survivor, "hello")) == "");
  }
  const Bytes taken = survivor.login_id();
  const auto other = crypto::SigningKey::generate();
  auto routed_case = [&](WsClient& ws) {
    auto routed = route(ws, envelope_for());
    REQUIRE(error_code(routed) == "");
    return routed;
  };
  // A bad proof: refused before the login id is looked at, taken or free.
  {
    auto ws = WsClient::connect(hearthd.port());
    CHECK(error_code(open_case_as(*ws, routed_case(*ws), taken, other, true)) == "auth_failed");
    Bytes free_id = TestSurvivor::make().login_id();
    CHECK(error_code(open_case_as(*ws, routed_case(*ws), free_id, other, true)) == "auth_failed");
  }
  // The exact id with a valid proof for another key: conflict, the only answer
  // that tells; the codename that gives this id also opens the vault.
  {
    auto ws = WsClient::connect(hearthd.port());
    CHECK(error_code(open_case_as(*ws, routed_case(*ws), taken, other)) == "conflict");
    CHECK(error_code(vault_login(*ws, survivor)) == "");
  }
  // One bit away: free (no partial or prefix match to search with).
  {
    Bytes near = taken;
    near[31] ^= 1;
    auto ws = WsClient::connect(hearthd.port());
    CHECK(error_code(open_case_as(*ws, routed_case(*ws), near, other)) == "");
  }
  // vault_login without the key: the same answer for the taken id as for a free one.
  {
    auto ws = WsClient::connect(hearthd.port());
    TestSurvivor impostor = TestSurvivor::make();
    auto c = ws->call(protocol::ChallengeRequest{});
    auto sig = crypto::sign_login_challenge(impostor.keys, b64(c["challenge"]));
    auto reply =
        ws->call(protocol::VaultLoginRequest{taken, Bytes(sig.bytes.begin(), sig.bytes.end())});
    CHECK(error_code(reply) == "auth_failed");
    CHECK(error_code(vault_login(*ws, impostor)) == "auth_failed");
  }
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
