// hearth-demo: shows Hearth's crypto core end to end, in one process.
//
// An organisation is created (offline root key, roster key, signed roster), one
// responder is certified and publishes prekeys, and an anonymous survivor
// verifies the roster against the pinned root, runs X3DH and exchanges ratcheted
// messages with the responder. It then shows what the server would see (padded
// ciphertext only), and that a tampered or replayed message is refused.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/codename.h"
#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "crypto/sodium_init.h"
#include "crypto/trust.h"
#include "crypto/vault.h"
#include "crypto/x3dh.h"

namespace {

using namespace hearth;
using namespace hearth::crypto;

void line(const char* who, const std::string& text) {
  std::printf("  %-10s %s\n", who, text.c_str());
}

std::string preview(ByteView wire) {
  return std::to_string(wire.size()) + " bytes on the wire: " + to_hex(wire.first(16)) + "...";
}

int run(int message_count) {
  ensure_initialized();
  const UnixSeconds now = SystemClock().now();

  std::puts("1. The organisation");
  SigningKey root = SigningKey::generate();
  SigningKey roster_key = SigningKey::generate();
  RosterKeyCertificate rkc =
      certify_roster_key(root, roster_key.public_key(), now - 60, now + 365 * 86400);
  line("admin", "org root fingerprint: " + fingerprint(root.public_key()));
  line("admin", "(printed on outreach cards; clients pin it)");

  std::puts("\n2. A responder is certified and publishes prekeys");
  SigningKey signing = SigningKey::generate();
  DhKey identity = DhKey::generate();
  auto cert = issue_certificate(roster_key, {"ana",
                                             {"shelter", "legal"},
                                             {"en", "es"},
                                             signing.public_key(),
                                             identity.public_key(),
                                             now - 60,
                                             now + 90 * 86400,
                                             1});
  if (!cert.is_ok())
    return std::fprintf(stderr, "certificate: %s\n", cert.status().to_string().c_str()), 1;
  auto [spk, spk_private] = generate_signed_prekey(signing, 1, now + 7 * 86400);
  auto opks = generate_one_time_prekeys(signing, 1, 10);
  RosterContents contents;
  contents.epoch = 1;
  contents.issued_at = now - 60;
  contents.expires_at = now + kDefaultRosterLifetime;
  contents.queues = {{"shelter", {cert->hash()}}, {"legal", {cert->hash()}}};
  auto roster = sign_roster(roster_key, rkc, contents);
  if (!roster.is_ok())
    return std::fprintf(stderr, "roster: %s\n", roster.status().to_string().c_str()), 1;
  line("admin", "certified responder \"ana\" for shelter, legal (en, es); roster epoch 1, 14 days");
  line("ana", "uploaded a signed prekey and 10 one-time prekeys");

  std::puts("\n3. A survivor reaches out, anonymously");
  auto verified = verify_roster(root.public_key(), *roster, now);
  if (!verified.is_ok())
    return std::fprintf(stderr, "roster: %s\n", verified.status().to_string().c_str()), 1;
  line("survivor", "roster verified against the pinned org root");
  Codename codename = Codename::draw();
  std::string words;
  for (auto w : codename.words()) words += (words.empty() ? "" : " ") + std::string(w);
  line("survivor", "codename (shown once, never chosen): " + words);
  DhKey survivor_identity = DhKey::generate();
  Bytes case_id = random_bytes(kCaseIdBytes);
  PrekeyBundle bundle{*cert, spk, opks[0].first};
  auto init = x3dh_initiate(*verified, bundle, "shelter", survivor_identity, case_id, now);
  if (!init.is_ok())
    return std::fprintf(stderr, "x3dh: %s\n", init.status().to_string().c_str()), 1;
  line("survivor", "X3DH with ana's certified keys; case " + to_hex(case_id).substr(0, 8) + "...");
  auto survivor = Ratchet::init_initiator(
      init->session.shared_key.clone(), init->session.associated_data, init->responder_ratchet_key);
  std::vector<Bytes> known_rosters = {verified->hash()};
  auto session =
      x3dh_respond({*cert, identity, spk_private, &opks[0].second}, init->header, known_rosters);
  if (!survivor.is_ok() || !session.is_ok()) return std::fputs("handshake failed\n", stderr), 1;
  Ratchet responder = Ratchet::init_responder(
      std::move(session->shared_key), std::move(session->associated_data), spk_private.clone());

  std::puts("\n4. Messages, each with a fresh key (the server sees only the padded bytes)");
  const std::vector<std::string> survivor_lines = {
      "Hello. I need a safe place to stay tonight.", "I can only use this phone for a few minutes.",
      "I left my passport with my employer.", "Thank you."};
  const std::vector<std::string> responder_lines = {
      "You reached the shelter team. You are safe to write here.",
      "That is fine. Reply whenever you can; your case stays open.",
      "Legal aid can help with documents. Shall we involve them?", "We are here."};
  for (int i = 0; i < message_count; ++i) {
    bool from_survivor = i % 2 == 0;
    const auto& lines = from_survivor ? survivor_lines : responder_lines;
    const std::string& text = lines[static_cast<std::size_t>(i / 2) % lines.size()];
    Ratchet& from = from_survivor ? *survivor : responder;
    Ratchet& to = from_survivor ? responder : *survivor;
    auto wire = from.encrypt(as_bytes(text));
    if (!wire.is_ok())
      return std::fprintf(stderr, "encrypt: %s\n", wire.status().to_string().c_str()), 1;
    auto plain = to.decrypt(*wire);
    if (!plain.is_ok())
      return std::fprintf(stderr, "decrypt: %s\n", plain.status().to_string().c_str()), 1;
    line(from_survivor ? "survivor" : "ana", "\"" + to_string(*plain) + "\"");
    line("", preview(*wire));
  }

  std::puts("\n5. The survivor leaves; nothing stays on the phone");
  auto keys = derive_vault_keys(codename, root.public_key());
  if (!keys.is_ok())
    return std::fprintf(stderr, "vault: %s\n", keys.status().to_string().c_str()), 1;
  SecretBytes state = survivor->serialize();
  auto blob = seal_vault(*keys, 1, state.view());
  if (!blob.is_ok())
    return std::fprintf(stderr, "vault: %s\n", blob.status().to_string().c_str()), 1;
  line("survivor", "codename -> Argon2id (64 MiB) -> vault keys; session sealed into the vault");
  line("server", "keeps a login key and " + std::to_string(blob->size()) +
                     " opaque bytes; never the codename");
  survivor = error(Code::kNotFound, "the phone was wiped");

  std::puts("\n6. Later, from another device, with only the codename");
  auto typed = Codename::parse("  " + words + "  ");
  auto keys_again = typed.is_ok() ? derive_vault_keys(*typed, root.public_key()) : typed.status();
  auto opened = keys_again.is_ok() ? open_vault(*keys_again, *blob) : keys_again.status();
  if (!opened.is_ok())
    return std::fprintf(stderr, "vault: %s\n", opened.status().to_string().c_str()), 1;
  survivor = Ratchet::deserialize(opened->contents);
  if (!survivor.is_ok()) return std::fputs("vault held no session\n", stderr), 1;
  line("survivor", "typed the codename; vault opened; the conversation continues");
  auto wrong = Codename::parse("abacus abacus abacus abacus abacus abacus abacus");
  auto wrong_keys = derive_vault_keys(*wrong, root.public_key());
  line("someone", "guesses a codename: " + open_vault(*wrong_keys, *blob).status().to_string());

  std::puts("\n7. What goes wrong is refused");
  auto fresh = survivor->encrypt(as_bytes("One more thing."));
  if (!fresh.is_ok()) return std::fputs("encrypt failed\n", stderr), 1;
  Bytes tampered = *fresh;
  tampered.back() ^= 1;
  line("server?", "flips one bit: " + responder.decrypt(tampered).status().to_string());
  line("ana", "gets the real one: \"" + to_string(responder.decrypt(*fresh).value()) + "\"");
  line("server?", "replays it: " + responder.decrypt(*fresh).status().to_string());
  RosterPin pin = verified->pin();
  contents.epoch = 0;
  auto old_roster = sign_roster(roster_key, rkc, contents);
  line("server?", "serves an older roster: " +
                      verify_roster(root.public_key(), *old_roster, now, pin).status().to_string());
  SigningKey rogue = SigningKey::generate();
  auto forged = sign_roster(rogue, rkc, contents);
  line("server?",
       "forges a roster: " + verify_roster(root.public_key(), *forged, now).status().to_string());
  std::puts("\nDone. The next step is the hearthd server (docs/ and the issues list).");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hearth-demo: Hearth's end-to-end encryption, shown in one process"};
  int messages = 6;
  app.add_option("-n,--messages", messages, "How many messages to exchange")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  return run(messages);
}
