// Deterministic transcript: with the seeded random source, every key, signature,
// handshake and ratcheted message of a fixed scenario is reproducible byte for
// byte. tests/vectors/transcript_v1.json is the checked-in result; this test
// regenerates it and compares. The browser client must reproduce the same file
// (docs/crypto.md, "Deterministic transcripts", lists the order of random draws).
//
// To regenerate after an intended format change:
//   HEARTH_UPDATE_VECTORS=1 ./crypto_tests "transcript*"
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "crypto/codename.h"
#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "crypto/testing/deterministic_random.h"
#include "crypto/trust.h"
#include "crypto/vault.h"
#include "crypto/x3dh.h"
#include "tests/support/test_support.h"

namespace hearth::crypto {
namespace {

using nlohmann::json;

constexpr UnixSeconds kTranscriptNow = 1'800'000'000;

std::string hex(ByteView b) { return to_hex(b); }
std::string hex(const SecretBytes& s) { return to_hex(s.view()); }

// The scenario. Every call that draws randomness is marked "draws"; the order of
// those calls is the contract a reimplementation must follow.
json generate_transcript() {
  const Bytes seed =
      from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").value();
  testing::ScopedDeterministicRandom rng(seed);
  json t;
  t["description"] =
      "Hearth protocol v1 transcript: org, roster, X3DH, 20 ratcheted messages, vault";
  t["random"] = "ChaCha20-IETF keystream, key = seed, nonce = 0, counter from 0, read in order";
  t["seed"] = hex(seed);
  t["now"] = kTranscriptNow;

  // Org and roster.
  SigningKey root = SigningKey::generate();        // draws 32 (seed)
  SigningKey roster_key = SigningKey::generate();  // draws 32
  RosterKeyCertificate rkc = certify_roster_key(
      root, roster_key.public_key(), kTranscriptNow - 86400, kTranscriptNow + 365 * 86400);
  t["org_root"] = {{"seed", hex(root.seed())},
                   {"public", hex(root.public_key().view())},
                   {"fingerprint", fingerprint(root.public_key())}};
  t["roster_key"] = {{"seed", hex(roster_key.seed())}, {"certificate", hex(rkc.encode())}};

  // The responder.
  SigningKey signing = SigningKey::generate();  // draws 32
  DhKey identity = DhKey::generate();           // draws 32
  ResponderCertificate cert = issue_certificate(roster_key, {"ana",
                                                             {"legal", "shelter"},
                                                             {"en", "es"},
                                                             signing.public_key(),
                                                             identity.public_key(),
                                                             kTranscriptNow - 3600,
                                                             kTranscriptNow + 90 * 86400,
                                                             1})
                                  .value();
  auto [spk, spk_private] =
      generate_signed_prekey(signing, 1, kTranscriptNow + 7 * 86400);  // draws 32
  auto opks = generate_one_time_prekeys(signing, 100, 1);              // draws 32
  t["responder"] = {{"signing_seed", hex(signing.seed())},
                    {"dh_private", hex(identity.private_key())},
                    {"certificate", hex(cert.encode())},
                    {"certificate_hash", hex(cert.hash())},
                    {"signed_prekey", hex(spk.encode())},
                    {"signed_prekey_private", hex(spk_private.private_key())},
                    {"one_time_prekey", hex(opks[0].first.encode())},
                    {"one_time_prekey_private", hex(opks[0].second.private_key())}};

  RosterContents contents;
  contents.epoch = 1;
  contents.issued_at = kTranscriptNow - 60;
  contents.expires_at = kTranscriptNow + kDefaultRosterLifetime;
  contents.queues = {{"legal", {cert.hash()}}, {"shelter", {cert.hash()}}};
  SignedRoster roster = sign_roster(roster_key, rkc, contents).value();
  VerifiedRoster verified = verify_roster(root.public_key(), roster, kTranscriptNow).value();
  t["roster"] = {{"encoded", hex(roster.encode())}, {"hash", hex(verified.hash())}};

  // The survivor's handshake.
  DhKey survivor_identity = DhKey::generate();  // draws 32
  Bytes case_id = random_bytes(kCaseIdBytes);   // draws 16
  PrekeyBundle bundle{cert, spk, opks[0].first};
  auto init = x3dh_initiate(verified, bundle, "legal", survivor_identity, case_id, kTranscriptNow)
                  .value();  // draws 32 (ephemeral key)
  t["x3dh"] = {{"survivor_identity_private", hex(survivor_identity.private_key())},
               {"case_id", hex(case_id)},
               {"header", hex(init.header.encode())},
               {"shared_key", hex(init.session.shared_key)},
               {"associated_data", hex(init.session.associated_data)}};

  Ratchet survivor =
      Ratchet::init_initiator(init.session.shared_key.clone(), init.session.associated_data,
                              init.responder_ratchet_key)
          .value();  // draws 32 (first ratchet key)
  std::vector<Bytes> known = {verified.hash()};
  auto session =
      x3dh_respond({cert, identity, spk_private, &opks[0].second}, init.header, known).value();
  REQUIRE(constant_time_equal(session.shared_key.view(), init.session.shared_key.view()));
  Ratchet responder = Ratchet::init_responder(
      std::move(session.shared_key), std::move(session.associated_data), spk_private.clone());

  // 20 messages. Each encrypt draws 24 (nonce); a receive that sees a new
  // ratchet key draws 32 (the receiver's next ratchet key). Messages 7 and 8 are
  // delivered swapped, to exercise a stored skipped key.
  const std::vector<std::pair<bool, std::string>> script = {
      {true, "Hello. I need a safe place to stay tonight."},
      {false, "You reached the shelter team. You are safe to write here."},
      {true, "Thank you."},
      {true, "I can only use this phone for a few minutes."},
      {false, "That is fine. Reply whenever you can; your case stays open."},
      {false, "Is it safe for you to talk right now?"},
      {true, "Yes, for now."},
      {true, "I left my passport with my employer."},
      {false, "Legal aid can help with documents. Do you want us to involve them?"},
      {true, "Yes please."},
      {false, "We have a bed for you tonight. Can you get to the city centre?"},
      {true, "I think so."},
      {true, "By bus."},
      {false, "Good. We will send the address in a referral card."},
      {true, "Ok."},
      {false, "If you must stop writing, just close this page. Nothing is kept."},
      {true, "Understood."},
      {false, "Take care. We are here."},
      {true, "Thank you so much."},
      {false, "Write again anytime with your codename."},
  };
  json messages = json::array();
  std::vector<std::pair<std::size_t, Bytes>> held;
  for (std::size_t i = 0; i < script.size(); ++i) {
    const auto& [from_survivor, text] = script[i];
    Ratchet& from = from_survivor ? survivor : responder;
    Bytes wire = from.encrypt(as_bytes(text)).value();
    messages.push_back({{"from", from_survivor ? "survivor" : "responder"},
                        {"plaintext", text},
                        {"wire", hex(wire)}});
    held.emplace_back(i, std::move(wire));
    if (i == 6) continue;  // hold message 7 (index 6) until message 8 is in
    if (held.size() == 2) std::swap(held[0], held[1]);  // deliver 8 before 7
    for (auto& [index, bytes] : held) {
      Ratchet& to = script[index].first ? responder : survivor;
      Bytes plain = to.decrypt(bytes).value();
      REQUIRE(to_string(plain) == script[index].second);
    }
    held.clear();
  }
  t["messages"] = messages;
  t["survivor_ratchet_state"] = hex(survivor.serialize());
  t["responder_ratchet_state"] = hex(responder.serialize());

  // The survivor's vault: a codename (7 x random_uniform(7776): draws 4 bytes
  // per word, more on a rejected value), the keys Argon2id derives from it, and
  // the survivor's ratchet state sealed as version 1 (draws 24, the nonce).
  Codename codename = Codename::draw();
  VaultKeys keys = derive_vault_keys(codename, root.public_key()).value();
  SecretBytes vault_contents = survivor.serialize();
  Bytes blob = seal_vault(keys, 1, vault_contents.view()).value();
  REQUIRE(open_vault(keys, blob)->contents ==
          Bytes(vault_contents.view().begin(), vault_contents.view().end()));
  t["vault"] = {{"codename", to_string(codename.normalized())},
                {"salt", hex(vault_kdf_salt(root.public_key()))},
                {"login_id", hex(vault_lookup_key(keys))},
                {"auth_public", hex(keys.auth_public_key().view())},
                {"version", 1},
                {"blob", hex(blob)}};
  return t;
}

TEST_CASE("transcript v1 is reproduced byte for byte", "[crypto]") {
  json generated = generate_transcript();
  // Twice in one process: nothing outside the seed may leak in.
  REQUIRE(generate_transcript() == generated);

  auto path = test::test_data_dir() / "vectors" / "transcript_v1.json";
  if (const char* update = std::getenv("HEARTH_UPDATE_VECTORS");
      update != nullptr && *update == '1') {
    std::ofstream(path) << generated.dump(2) << "\n";
    WARN("rewrote " << path.string());
  }
  auto text = test::read_file(path);
  INFO("missing " << path.string() << ": regenerate with HEARTH_UPDATE_VECTORS=1");
  REQUIRE(text.has_value());
  json stored = json::parse(*text, nullptr, false);
  REQUIRE_FALSE(stored.is_discarded());
  for (const auto& [key, value] : generated.items()) {
    INFO("field " << key);
    REQUIRE(stored.contains(key));
    REQUIRE(stored[key] == value);
  }
  REQUIRE(stored.size() == generated.size());
}

}  // namespace
}  // namespace hearth::crypto
