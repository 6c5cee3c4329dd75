// crypto_fuzz: libFuzzer over every parser and decrypt path of hearth_crypto
// (reference/crypto.md P10), built with clang, ASan and UBSan (HEARTH_FUZZ=ON).
//
// The first input byte picks a target. Targets either parse the rest of the
// input as it is, or XOR it over a valid structure from a fixed scenario, so
// the fuzzer starts next to real encodings instead of having to discover them.
// Beyond "no crash", each target checks an invariant and traps when it breaks:
// decoders accept only canonical encodings (re-encoding gives the input back),
// nothing forged verifies or decrypts, and a failed decrypt leaves the ratchet
// state unchanged.
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "crypto/codename.h"
#include "crypto/encoding.h"
#include "crypto/prekeys.h"
#include "crypto/ratchet.h"
#include "crypto/sealed_box.h"
#include "crypto/testing/deterministic_random.h"
#include "crypto/trust.h"
#include "crypto/vault.h"
#include "crypto/x3dh.h"

namespace {

using namespace hearth;
using namespace hearth::crypto;

constexpr UnixSeconds kNow = 1'800'000'000;

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

Bytes state_bytes(const Ratchet& r) {
  SecretBytes s = r.serialize();
  return Bytes(s.view().begin(), s.view().end());
}

// One fixed org, session, message and vault, made once from a seeded stream.
struct Scenario {
  SigningKey root = SigningKey::generate();
  Bytes certificate;
  Bytes roster;
  Bytes signed_prekey;
  Bytes header;
  Bytes responder_state;  // a responder that has not yet received `message`
  Bytes message;
  std::optional<VaultKeys> vault_keys;
  Bytes vault_blob;
  std::optional<DhKey> org_record_key;
  Bytes org_record;

  Scenario() {
    SigningKey roster_key = SigningKey::generate();
    auto rkc = certify_roster_key(root, roster_key.public_key(), kNow - 60, kNow + 86400);
    SigningKey signing = SigningKey::generate();
    DhKey identity = DhKey::generate();
    auto cert = issue_certificate(roster_key, {"ana",
                                               {"legal"},
                                               {"en"},
                                               signing.public_key(),
                                               identity.public_key(),
                                               kNow - 60,
                                               kNow + 86400,
                                               1})
                    .value();
    certificate = cert.encode();
    auto [spk, spk_private] = generate_signed_prekey(signing, 1, kNow + 86400);
    signed_prekey = spk.encode();
    RosterContents c;
    c.epoch = 1;
    c.issued_at = kNow - 60;
    c.expires_at = kNow + 86400;
    c.queues = {{"legal", {cert.hash()}}};
    auto signed_roster = sign_roster(roster_key, rkc, c).value();
    roster = signed_roster.encode();
    auto verified = verify_roster(root.public_key(), signed_roster, kNow).value();
    auto init = x3dh_initiate(verified, {cert, spk, std::nullopt}, "legal", DhKey::generate(),
                              Bytes(kCaseIdBytes, 7), kNow)
                    .value();
    header = init.header.encode();
    Ratchet survivor =
        Ratchet::init_initiator(init.session.shared_key.clone(), init.session.associated_data,
                                init.responder_ratchet_key)
            .value();
    std::vector<Bytes> known = {verified.hash()};
    auto session = x3dh_respond({cert, identity, spk_private, nullptr}, init.header, known).value();
    Ratchet responder = Ratchet::init_responder(
        std::move(session.shared_key), std::move(session.associated_data), spk_private.clone());
    message = survivor.encrypt(as_bytes("a message to fuzz around")).value();
    responder_state = state_bytes(responder);

    // Vault keys at the minimum Argon2 cost would not be the real derivation,
    // so derive once for real: this runs a single time per fuzzing process.
    vault_keys = derive_vault_keys(Codename::draw(), root.public_key()).value();
    vault_blob = seal_vault(*vault_keys, 3, as_bytes("vault contents")).value();
    org_record_key = DhKey::generate();
    org_record = seal_org_record(org_record_key->public_key(), as_bytes("outcome"));
  }
};

const Scenario& scenario() {
  static const Scenario* s = [] {
    static const Bytes kSeed(32, 0x5a);
    testing::ScopedDeterministicRandom rng(kSeed);
    return new Scenario();
  }();
  return *s;
}

// `base` with mask[1..] XORed over its start. An odd mask[0] also truncates the
// base to mask[0] % (size + 1) bytes, so short and cut encodings are reached too.
Bytes mutate(const Bytes& base, ByteView mask) {
  Bytes out = base;
  if (!mask.empty() && (mask[0] & 1) != 0) out.resize(mask[0] % (base.size() + 1));
  for (std::size_t i = 1; i < mask.size() && i - 1 < out.size(); ++i) out[i - 1] ^= mask[i];
  return out;
}

template <typename T>
void decode_round_trip(ByteView in) {
  auto decoded = T::decode(in);
  if (decoded.is_ok()) check(decoded->encode() == Bytes(in.begin(), in.end()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Scenario& s = scenario();
  const std::uint8_t selector = data[0];
  ByteView in(data + 1, size - 1);

  switch (selector % 10) {
    case 0:
      decode_round_trip<ResponderCertificate>(in);
      decode_round_trip<ResponderCertificate>(mutate(s.certificate, in));
      break;
    case 1: {
      Bytes roster = mutate(s.roster, in);
      decode_round_trip<SignedRoster>(roster);
      auto decoded = SignedRoster::decode(roster);
      if (decoded.is_ok() && roster != s.roster) {
        // Nothing but the genuine roster may verify under the org root.
        check(!verify_roster(s.root.public_key(), *decoded, kNow).is_ok());
      }
      break;
    }
    case 2:
      decode_round_trip<X3dhHeader>(in);
      decode_round_trip<X3dhHeader>(mutate(s.header, in));
      break;
    case 3:
      decode_round_trip<SignedPrekey>(mutate(s.signed_prekey, in));
      decode_round_trip<OneTimePrekey>(in);
      break;
    case 4: {
      // A tampered message never decrypts, and never changes the state.
      Ratchet r = Ratchet::deserialize(s.responder_state).value();
      Bytes wire = mutate(s.message, in);
      auto plain = r.decrypt(wire);
      if (wire != s.message) {
        check(!plain.is_ok());
        check(state_bytes(r) == s.responder_state);
      } else {
        check(plain.is_ok());
      }
      break;
    }
    case 5: {
      // A corrupt stored state is refused or, if accepted, serializes back to itself.
      for (const Bytes& state : {Bytes(in.begin(), in.end()), mutate(s.responder_state, in)}) {
        auto r = Ratchet::deserialize(state);
        if (!r.is_ok()) continue;
        check(state_bytes(*r) == state);
        (void)r->decrypt(s.message);
        (void)r->encrypt(as_bytes("x"));
      }
      break;
    }
    case 6: {
      Bytes blob = mutate(s.vault_blob, in);
      auto opened = open_vault(*s.vault_keys, blob);
      check(opened.is_ok() == (blob == s.vault_blob));
      break;
    }
    case 7: {
      Bytes sealed = mutate(s.org_record, in);
      auto opened = open_org_record(*s.org_record_key, sealed);
      check(opened.is_ok() == (sealed == s.org_record));
      break;
    }
    case 8: {
      std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
      auto decoded = base64url_decode(text);
      if (decoded.is_ok()) check(base64url_encode(*decoded) == text);
      break;
    }
    case 9: {
      auto unpadded = unpad_bucket(in);
      if (unpadded.is_ok()) check(pad_to_bucket(*unpadded).value() == Bytes(in.begin(), in.end()));
      break;
    }
  }
  return 0;
}
