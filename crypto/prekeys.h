// Prekeys: a responder's signed prekey (SPK) and one-time prekeys (OPKs), the
// bundle the server hands a survivor, and its verification.
//
// Prekeys are signed with the responder's certified Ed25519 key under their own
// labels ("HL1/spk", "HL1/opk"), so a prekey signature can never pass as any
// other signed structure (reference/crypto.md §2.1, P6). Byte layouts: docs/crypto.md.
//
// Thread safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "crypto/keys.h"
#include "crypto/trust.h"

namespace hearth::crypto {

struct SignedPrekey {
  std::uint32_t id = 0;
  DhPublicKey key;
  UnixSeconds expires_at = 0;
  Signature signature;

  Bytes signed_part() const;
  Bytes encode() const;
  static Result<SignedPrekey> decode(ByteView bytes);
};

struct OneTimePrekey {
  std::uint32_t id = 0;
  DhPublicKey key;
  Signature signature;

  Bytes signed_part() const;
  Bytes encode() const;
  static Result<OneTimePrekey> decode(ByteView bytes);
};

// What a survivor's client receives to open a session with one responder.
struct PrekeyBundle {
  ResponderCertificate certificate;
  SignedPrekey signed_prekey;
  std::optional<OneTimePrekey> one_time_prekey;  // absent when the responder ran out
};

// The private halves a responder keeps (in its keystore, never on the server).
struct PrekeySecrets {
  std::map<std::uint32_t, DhKey> signed_prekeys;
  std::map<std::uint32_t, DhKey> one_time_prekeys;
};

// Makes a signed prekey with id `id`, valid until `expires_at`.
std::pair<SignedPrekey, DhKey> generate_signed_prekey(const SigningKey& identity, std::uint32_t id,
                                                      UnixSeconds expires_at);
// Makes `count` one-time prekeys with ids first_id, first_id + 1, ...
std::vector<std::pair<OneTimePrekey, DhKey>> generate_one_time_prekeys(const SigningKey& identity,
                                                                       std::uint32_t first_id,
                                                                       std::size_t count);

// Checks a bundle for use in `queue` at `now`: the certificate against the
// verified roster, the SPK signature and expiry, and the OPK signature. Errors
// as VerifiedRoster::check_certificate, plus kAuthFailed for a bad prekey
// signature and kExpired for an expired SPK.
Status verify_bundle(const VerifiedRoster& roster, const PrekeyBundle& bundle,
                     std::string_view queue, UnixSeconds now);

}  // namespace hearth::crypto
