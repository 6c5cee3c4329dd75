#include "tests/integration/support/flows.h"

#include <stdexcept>

#include "crypto/encoding.h"
#include "crypto/pow.h"
#include "crypto/random.h"

namespace hearth::test {

TestSurvivor TestSurvivor::make() {
  auto keys = crypto::detail::vault_keys_from_master(crypto::random_secret(32));
  if (!keys.is_ok()) throw std::runtime_error("vault keys");
  return TestSurvivor{std::move(*keys)};
}

Bytes TestSurvivor::login_id() const { return crypto::vault_lookup_key(keys); }
Bytes TestSurvivor::login_key() const {
  auto v = keys.auth_public_key().view();
  return Bytes(v.begin(), v.end());
}

Bytes b64(const nlohmann::json& field) {
  auto bytes = crypto::base64url_decode(field.get<std::string>());
  if (!bytes.is_ok()) throw std::runtime_error("not base64url");
  return *bytes;
}

std::string error_code(const nlohmann::json& reply) {
  if (!reply.contains("error")) return "";
  return reply["error"]["code"].get<std::string>();
}

protocol::RouteEnvelope envelope_for(protocol::Need need) {
  protocol::RouteEnvelope e;
  e.needs = {need};
  e.urgency = protocol::Urgency::kToday;
  e.languages = {"en"};
  e.mode = protocol::Mode::kLive;
  return e;
}

Bytes take_case(WsClient& responder) {
  auto taken = responder.call(protocol::TakeNextRequest{});
  if (taken.contains("error") || !taken.contains("taken"))
    throw std::runtime_error("take_next handed out nothing: " + taken.dump());
  Bytes case_id = b64(taken["taken"]["case"]);
  auto intake = responder.next_event();
  if (intake["ev"] != "envelope" || intake["kind"] != "intake")
    throw std::runtime_error("expected the intake copy, got: " + intake.dump());
  return case_id;
}

nlohmann::json responder_login(WsClient& ws, const TestResponder& r) {
  auto challenge = ws.call(protocol::ChallengeRequest{});
  Bytes c = b64(challenge["challenge"]);
  auto sig = crypto::sign_responder_login(r.signing, c);
  return ws.call(protocol::ResponderLoginRequest{r.certificate_bytes(),
                                                 Bytes(sig.bytes.begin(), sig.bytes.end())});
}

nlohmann::json upload_prekeys(WsClient& ws, const TestResponder& r) {
  protocol::UploadPrekeysRequest req;
  req.signed_prekey = r.spk.encode();
  for (const auto& [opk, priv] : r.opks) req.one_time_prekeys.push_back(opk.encode());
  return ws.call(req);
}

nlohmann::json route(WsClient& ws, const protocol::RouteEnvelope& envelope) {
  Bytes hash = crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(envelope)));
  nlohmann::json reply;
  // pow_stale: the challenge expired while we solved (a loaded machine); ask again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto pc = ws.call(protocol::PowChallengeRequest{envelope.urgency});
    if (!error_code(pc).empty()) return pc;
    crypto::PowChallenge challenge{b64(pc["challenge"]), pc["effort"].get<std::uint32_t>()};
    auto solution = crypto::solve_pow(challenge, "route", hash);
    if (!solution.is_ok()) throw std::runtime_error("solve_pow");
    reply = ws.call(protocol::RouteRequest{envelope, {challenge.seed, solution->nonce}});
    if (error_code(reply) != "pow_stale") break;
  }
  return reply;
}

nlohmann::json open_case(WsClient& ws, const nlohmann::json& route_reply,
                         const TestSurvivor* new_vault, const std::string& intake_body) {
  protocol::OpenCaseRequest req;
  req.case_id = b64(route_reply["case"]);
  if (new_vault != nullptr) {
    auto blob = crypto::seal_vault(new_vault->keys, 1, to_bytes("vault contents"));
    if (!blob.is_ok()) throw std::runtime_error("seal_vault");
    // The login key is proven over a fresh challenge, the case and the login id.
    auto challenge = ws.call(protocol::ChallengeRequest{});
    auto proof = crypto::sign_open_case(new_vault->keys, b64(challenge["challenge"]), req.case_id);
    req.vault = protocol::NewVault{new_vault->login_id(), new_vault->login_key(),
                                   Bytes(proof.bytes.begin(), proof.bytes.end()), *blob};
  }
  for (const auto& bundle : route_reply["bundles"]) {
    auto cert = crypto::ResponderCertificate::decode(b64(bundle["certificate"]));
    if (!cert.is_ok()) throw std::runtime_error("bundle certificate");
    req.intake.push_back({cert->hash(), to_bytes(intake_body)});
  }
  return ws.call(req);
}

nlohmann::json vault_login(WsClient& ws, const TestSurvivor& survivor) {
  auto challenge = ws.call(protocol::ChallengeRequest{});
  auto sig = crypto::sign_login_challenge(survivor.keys, b64(challenge["challenge"]));
  return ws.call(
      protocol::VaultLoginRequest{survivor.login_id(), Bytes(sig.bytes.begin(), sig.bytes.end())});
}

}  // namespace hearth::test
