// Protocol steps for integration tests, over a WsClient: log a responder in,
// upload its prekeys, solve a route's proof of work, open a case with a new
// vault. Each returns the reply frame as JSON (check "error" yourself) and
// throws only when the connection fails.
//
// Thread safety: none; one flow per client.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "crypto/vault.h"
#include "protocol/messages.h"
#include "tests/integration/support/test_org.h"
#include "tests/integration/support/ws_client.h"

namespace hearth::test {

// A survivor's vault keys without Argon2id (a random master key): the server
// only ever sees the login id, the login public key and signatures.
struct TestSurvivor {
  crypto::VaultKeys keys;
  Bytes login_id() const;
  Bytes login_key() const;
  static TestSurvivor make();
};

Bytes b64(const nlohmann::json& field);  // decodes a base64url JSON string; throws if bad
std::string error_code(const nlohmann::json& reply);  // "" when the reply is not an error

protocol::RouteEnvelope envelope_for(protocol::Need need = protocol::Need::kShelter);

// challenge + responder_login with the responder's signing key.
nlohmann::json responder_login(WsClient& ws, const TestResponder& r);
// upload_prekeys: the responder's signed prekey and every one-time prekey.
nlohmann::json upload_prekeys(WsClient& ws, const TestResponder& r);
// pow_challenge for the envelope's urgency, solve, route.
nlohmann::json route(WsClient& ws, const protocol::RouteEnvelope& envelope);
// take_next for a responder: the case id it hands out, after the intake
// copy that follows it has arrived (and been consumed). Throws when nothing
// is handed out.
Bytes take_case(WsClient& responder);

// open_case for a route reply: one intake copy (body = `intake_body`) per
// bundle, with a new vault for `survivor` (or none when logged in already);
// a new vault asks for a challenge first and signs it (crypto sign_open_case).
nlohmann::json open_case(WsClient& ws, const nlohmann::json& route_reply,
                         const TestSurvivor* new_vault, const std::string& intake_body);
// challenge + vault_login.
nlohmann::json vault_login(WsClient& ws, const TestSurvivor& survivor);

}  // namespace hearth::test
