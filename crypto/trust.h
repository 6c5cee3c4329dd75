// Org trust: the org root key, the roster key, responder certificates and the
// signed roster that says who may answer which queue.
//
//   org root (offline Ed25519) --certifies--> roster key (admin machine)
//   roster key --signs--> responder certificates and the roster
//
// A client pins the org root's public key. verify_roster() is the only way to
// obtain a VerifiedRoster, and certificates are checked only against one, so a
// compromised server cannot add a responder, serve an expired roster or roll the
// epoch back unnoticed. Every signed structure starts with its own length-prefixed
// domain label (reference/crypto.md §2.1, P6). Byte layouts: docs/crypto.md.
//
// Thread safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/keys.h"

namespace hearth::crypto {

inline constexpr std::size_t kHashBytes = 32;
// Clock skew tolerated on "not before" checks.
inline constexpr UnixSeconds kClockSkew = 5 * 60;
// Default roster lifetime (DESIGN.md: 14 days, renewed from the admin's machine).
inline constexpr UnixSeconds kDefaultRosterLifetime = 14 * 24 * 3600;
// Limits that keep a hostile roster or certificate from costing much to parse.
inline constexpr std::size_t kMaxNameBytes = 64;
inline constexpr std::size_t kMaxListEntries = 256;
inline constexpr std::size_t kMaxRosterCertificates = 4096;

// The roster key's certificate: the org root vouches for it over a period.
struct RosterKeyCertificate {
  SigningPublicKey roster_key;
  UnixSeconds not_before = 0;
  UnixSeconds not_after = 0;
  Signature signature;  // by the org root

  Bytes signed_part() const;
  Bytes encode() const;
  static Result<RosterKeyCertificate> decode(ByteView bytes);
};

// What the admin fills in to certify a responder.
struct CertificateRequest {
  std::string responder_id;            // [a-z0-9._-]{1,64}
  std::vector<std::string> queues;     // queue names, [a-z0-9-]{1,64}
  std::vector<std::string> languages;  // ISO 639-1, two lower-case letters
  SigningPublicKey signing_key;        // Ed25519: challenge signatures, prekey signatures
  DhPublicKey dh_key;                  // X25519: the X3DH identity key
  UnixSeconds not_before = 0;
  UnixSeconds not_after = 0;
  std::uint64_t serial = 0;
};

struct ResponderCertificate {
  CertificateRequest fields;
  Signature signature;  // by the roster key

  Bytes signed_part() const;
  Bytes encode() const;
  static Result<ResponderCertificate> decode(ByteView bytes);
  // BLAKE2b-256 of the whole encoding: how the roster and the X3DH associated
  // data refer to this certificate.
  Bytes hash() const;
};

struct RosterQueue {
  std::string queue;
  std::vector<Bytes> certificate_hashes;  // 32 bytes each
};

struct RosterContents {
  std::uint64_t epoch = 0;
  Bytes previous_hash = Bytes(kHashBytes, 0);  // hash of the roster this one replaces
  UnixSeconds issued_at = 0;
  UnixSeconds expires_at = 0;
  std::vector<RosterQueue> queues;
  std::vector<Bytes> revoked;  // certificate hashes, 32 bytes each
};

struct SignedRoster {
  RosterKeyCertificate roster_key_certificate;
  RosterContents contents;
  Signature signature;  // by the roster key

  Bytes signed_part() const;
  Bytes encode() const;
  static Result<SignedRoster> decode(ByteView bytes);
  // BLAKE2b-256 of the signed contents and signature: bound into every handshake.
  Bytes hash() const;
};

// The last roster a client accepted: later rosters must not go back in epoch,
// and a different roster at the same epoch is a split view.
struct RosterPin {
  std::uint64_t epoch = 0;
  Bytes hash;
};

// A roster whose whole chain verified. Only verify_roster() makes one.
class VerifiedRoster {
 public:
  const SignedRoster& roster() const { return roster_; }
  const Bytes& hash() const { return hash_; }
  std::uint64_t epoch() const { return roster_.contents.epoch; }
  UnixSeconds expires_at() const { return roster_.contents.expires_at; }
  RosterPin pin() const { return {epoch(), hash_}; }

  // Ok when `cert` is signed by this roster's key, valid at `now`, listed (under
  // `queue` when given, else under any queue) and not revoked. kAuthFailed for a
  // bad signature or a certificate that reuses one key for signing and DH;
  // kExpired outside its validity; kNotFound when unlisted; kAuthFailed when revoked.
  Status check_certificate(const ResponderCertificate& cert, UnixSeconds now,
                           std::optional<std::string_view> queue = std::nullopt) const;
  // As check_certificate without the signature check: for a certificate
  // whose exact encoding (its hash) passed check_certificate under this
  // roster before. Every check that depends on `now` or `queue` is made.
  Status check_certificate_standing(const ResponderCertificate& cert, UnixSeconds now,
                                    std::optional<std::string_view> queue = std::nullopt) const;

  // The queues under which `cert_hash` is listed (empty when none).
  std::vector<std::string> queues_of(ByteView cert_hash) const;
  bool is_revoked(ByteView cert_hash) const;

 private:
  friend Result<VerifiedRoster> verify_roster(const SigningPublicKey&, const SignedRoster&,
                                              UnixSeconds, const std::optional<RosterPin>&);
  VerifiedRoster(SignedRoster roster, Bytes hash)
      : roster_(std::move(roster)), hash_(std::move(hash)) {}
  Status check(const ResponderCertificate& cert, UnixSeconds now,
               std::optional<std::string_view> queue, bool verify) const;
  SignedRoster roster_;
  Bytes hash_;
};

// Verifies the whole chain at time `now`: the roster key's certificate under
// `org_root`, the roster's signature under the roster key, freshness, and (when
// a pin is given) no rollback. kAuthFailed: a signature does not verify (wrong
// signer, forged, modified). kExpired: roster or roster key outside its validity.
// kReplay: epoch lower than the pin. kConflict: same epoch, different roster.
Result<VerifiedRoster> verify_roster(const SigningPublicKey& org_root, const SignedRoster& roster,
                                     UnixSeconds now,
                                     const std::optional<RosterPin>& pin = std::nullopt);

// --- Issuing (admin side) ---

RosterKeyCertificate certify_roster_key(const SigningKey& org_root,
                                        const SigningPublicKey& roster_key, UnixSeconds not_before,
                                        UnixSeconds not_after);

// kInvalidArgument for a malformed name, queue or language, an empty validity
// window, or a signing key whose bytes equal the DH key (reference/crypto.md P4).
Result<ResponderCertificate> issue_certificate(const SigningKey& roster_key,
                                               CertificateRequest request);

// kInvalidArgument for malformed contents (bad hash lengths, names, empty validity).
Result<SignedRoster> sign_roster(const SigningKey& roster_key,
                                 RosterKeyCertificate roster_key_certificate,
                                 RosterContents contents);

// --- Responder login ---
// A responder proves it holds its certificate's signing key by signing the
// server's fresh challenge: "HL1/responder-login" || challenge. The label keeps
// the signature from passing as any other signed structure (P6).
// The challenge must be at least kMinResponderChallengeBytes of server randomness.
inline constexpr std::size_t kMinResponderChallengeBytes = 16;
Signature sign_responder_login(const SigningKey& signing_key, ByteView challenge);
// kInvalidArgument when the challenge is too short; kAuthFailed when the
// signature is not `cert`'s signing key's over this challenge.
Status verify_responder_login(const ResponderCertificate& cert, ByteView challenge,
                              const Signature& signature);

// Name validators shared by issuing and decoding.
bool is_valid_responder_id(std::string_view id);
bool is_valid_queue_name(std::string_view queue);
bool is_valid_language(std::string_view language);

}  // namespace hearth::crypto
