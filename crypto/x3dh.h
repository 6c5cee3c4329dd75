// X3DH (Signal's Extended Triple Diffie-Hellman) between a survivor's per-case
// identity key and a certified responder, as in reference/crypto.md §2.2.
//
// The survivor side verifies the responder's whole chain first (roster,
// certificate for the queue, prekey signatures) and aborts on any all-zero DH
// output. Both sides derive the same 32-byte shared key and the same associated
// data, which binds both identity keys, the responder's certificate hash, the
// roster hash and the case id, so an unknown-key-share substitution fails.
// Byte layouts: docs/crypto.md.
//
// Thread safety: pure functions; EphemeralKeyCache is not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/prekeys.h"
#include "crypto/secret.h"
#include "crypto/trust.h"

namespace hearth::crypto {

inline constexpr std::uint8_t kProtocolVersion = 1;
// The key-agreement suite: 1 = X25519 only. A post-quantum suite (X-Wing) takes
// a new value once native libsodium has crypto_kem (reference/crypto.md §2.9).
inline constexpr std::uint8_t kSuiteX25519 = 1;
inline constexpr std::size_t kCaseIdBytes = 16;
inline constexpr std::size_t kSharedKeyBytes = 32;

// The encoded X3dhHeader (docs/crypto.md "X3DH"): version, suite, case id,
// IK_S, EK_S, certificate hash, SPK id, OPK flag and roster hash; a one-time
// prekey id adds 4 bytes.
inline constexpr std::size_t kX3dhHeaderBytes = 1 + 1 + kCaseIdBytes + 32 + 32 + 32 + 4 + 1 + 32;
inline constexpr std::size_t kX3dhHeaderWithOpkBytes = kX3dhHeaderBytes + 4;
static_assert(kX3dhHeaderBytes == 151);

// Sent in the clear in front of the first message of a session.
struct X3dhHeader {
  std::uint8_t version = kProtocolVersion;
  std::uint8_t suite = kSuiteX25519;
  Bytes case_id;                     // 16 random bytes
  DhPublicKey survivor_identity;     // IK_S
  DhPublicKey ephemeral;             // EK_S
  Bytes responder_certificate_hash;  // 32 bytes: which certificate this is for
  std::uint32_t signed_prekey_id = 0;
  std::optional<std::uint32_t> one_time_prekey_id;
  Bytes roster_hash;  // 32 bytes: the roster the survivor verified

  Bytes encode() const;
  // kInvalidArgument on a malformed or truncated header or an unknown version/suite.
  static Result<X3dhHeader> decode(ByteView bytes);
};

// The result of a handshake on either side.
struct X3dhSession {
  SecretBytes shared_key;  // SK: the Double Ratchet's first root key
  Bytes associated_data;   // AD: bound into every message of the session
};

struct X3dhInitiation {
  X3dhHeader header;
  X3dhSession session;
  DhPublicKey responder_ratchet_key;  // the SPK: the ratchet's first remote key
};

// Survivor side. Verifies `bundle` for `queue` against `roster` at `now` (see
// verify_bundle) and runs X3DH from `survivor_identity` with a fresh ephemeral
// key. kAuthFailed on any all-zero DH output; kInvalidArgument on a bad case id.
Result<X3dhInitiation> x3dh_initiate(const VerifiedRoster& roster, const PrekeyBundle& bundle,
                                     std::string_view queue, const DhKey& survivor_identity,
                                     ByteView case_id, UnixSeconds now);

// What a responder brings to answer a handshake.
struct ResponderHandshakeKeys {
  const ResponderCertificate& certificate;
  const DhKey& identity;                   // private half of certificate.dh_key
  const DhKey& signed_prekey;              // the SPK named by the header
  const DhKey* one_time_prekey = nullptr;  // the OPK named by the header, if any
};

// Responder side. `known_roster_hashes` are the rosters the responder has
// accepted; a header naming any other roster is a split view (kConflict).
// kInvalidArgument when the header is for another certificate or names an OPK
// that was not supplied; kAuthFailed on an all-zero DH output. The caller
// deletes the OPK after a success, and consults an EphemeralKeyCache first.
Result<X3dhSession> x3dh_respond(const ResponderHandshakeKeys& keys, const X3dhHeader& header,
                                 std::span<const Bytes> known_roster_hashes);

// Remembers (signed prekey id, ephemeral key) pairs a responder has answered,
// so a handshake replayed without a one-time prekey is refused (reference/crypto.md
// §2.2 step 6, P7). Bounded: when full it refuses new handshakes (kLimitExceeded)
// rather than forget old ones, until a signed prekey is retired. Callers remember
// a pair only after the first message has authenticated, so a forged copy cannot
// block the real survivor.
class EphemeralKeyCache {
 public:
  explicit EphemeralKeyCache(std::size_t max_entries = 100000) : max_entries_(max_entries) {}
  // kReplay when the pair was seen before; kLimitExceeded when full; otherwise
  // remembers it.
  Status check_and_remember(std::uint32_t signed_prekey_id, const DhPublicKey& ephemeral);
  // Drops the entries of a retired signed prekey.
  void forget_prekey(std::uint32_t signed_prekey_id);
  std::size_t size() const { return seen_.size(); }

 private:
  std::size_t max_entries_;
  std::set<std::pair<std::uint32_t, DhPublicKey>> seen_;
};

}  // namespace hearth::crypto
