// Responder enrolment: the files that pass between a new responder and the
// org's admin, and the responder's half of the work.
//
//   1. The responder's console makes a signing key (Ed25519) and a DH key
//      (X25519), keeps them in a pending file encrypted under their passphrase,
//      and writes a KeyRequest: the requested id and both public keys, signed
//      by the new signing key (proof that the requester holds it). Both sides
//      read its fingerprint aloud (phone, in person) before the admin certifies it.
//   2. The admin certifies the keys with the roster key and hands back an
//      EnrollmentCertificate: the responder certificate plus the roster key's
//      certificate, so the console can check the chain up to the org root it
//      was told to pin.
//   3. complete_enrollment() checks that chain and that the certificate is for
//      the pending keys, creates the ResponderStore and wipes the pending file.
//
// Both files travel as short armoured text ("-----BEGIN HEARTH ...-----",
// base64url lines, "-----END ...-----"). Byte layouts: docs/hearth-admin.md
// "File formats". Neither file holds a secret; the pending file does (encrypted).
//
// Thread safety: value types and free functions; two processes enrolling in
// one directory race (the second fails with kAlreadyExists or kNotFound).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "clients/lib/responder_store.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/trust.h"

namespace hearth::client {

// The name of the pending-keys file inside the responder's data directory.
inline constexpr std::string_view kPendingKeysFileName = "enrollment.pending";
// Armoured files are never read past this size (a request is ~300 bytes).
inline constexpr std::size_t kMaxArmouredBytes = 64 * 1024;

// A new responder's public keys, as sent to the admin.
struct KeyRequest {
  std::string responder_id;  // the id asked for; crypto::is_valid_responder_id
  crypto::SigningPublicKey signing_key;
  crypto::DhPublicKey dh_key;
  crypto::Signature signature;  // by signing_key over signed_part()

  // "HL1/key-request" || version || id || signing key || DH key.
  Bytes signed_part() const;
  Bytes encode() const;
  // Decodes and verifies the self-signature. kInvalidArgument: malformed, a bad
  // id, or the same bytes for both keys; kAuthFailed: the signature does not verify.
  static Result<KeyRequest> decode(ByteView bytes);
  // The armoured text file, and its reverse (as decode, plus kInvalidArgument
  // for text that is not an armoured key request).
  std::string armoured() const;
  static Result<KeyRequest> parse(std::string_view text);
  // What the admin and the responder compare: crypto::fingerprint of the
  // signing key (the signature binds the DH key to it).
  std::string fingerprint() const;
};

// Makes a request for `signing_key` and `dh_key`, signed with `signing_key`.
// kInvalidArgument for a malformed responder id.
Result<KeyRequest> make_key_request(const crypto::SigningKey& signing_key,
                                    const crypto::DhKey& dh_key, std::string responder_id);

// What the admin hands back: the responder certificate and the roster key's
// certificate from the org root, which the console needs to check the chain.
struct EnrollmentCertificate {
  crypto::RosterKeyCertificate roster_key_certificate;
  crypto::ResponderCertificate certificate;

  Bytes encode() const;
  // kInvalidArgument when malformed (signatures are checked by check()).
  static Result<EnrollmentCertificate> decode(ByteView bytes);
  std::string armoured() const;
  static Result<EnrollmentCertificate> parse(std::string_view text);

  // Ok when the roster key certificate is signed by `org_root` and valid at
  // `now`, and the responder certificate is signed by that roster key, valid at
  // `now`, and for exactly `signing_key` and `dh_key`. kAuthFailed: not issued
  // under this org root (or a forged signature); kExpired: outside a validity
  // window; kInvalidArgument: the certificate is for other keys.
  Status check(const crypto::SigningPublicKey& org_root,
               const crypto::SigningPublicKey& signing_key, const crypto::DhPublicKey& dh_key,
               UnixSeconds now) const;
};

// The private halves kept between the two steps.
struct PendingKeys {
  std::string responder_id;
  crypto::SigningKey signing_key;
  crypto::DhKey dh_key;
};

// Step 1: makes the keys, writes them to `dir`/enrollment.pending (0600, the
// directory made 0700) encrypted under `passphrase` (Argon2id ops 3 / 64 MiB,
// XChaCha20-Poly1305, as the ResponderStore), and returns the request.
// kInvalidArgument: a bad id or a passphrase shorter than kMinPassphraseBytes.
// kAlreadyExists: a pending enrolment or a responder store is already there.
// kUnavailable: the directory cannot be written.
Result<KeyRequest> begin_enrollment(const std::filesystem::path& dir, std::string_view passphrase,
                                    std::string responder_id);

// Reads the pending keys back. kNotFound: no pending enrolment in `dir`.
// kAuthFailed: wrong passphrase (or a modified file). kInvalidArgument: not a
// pending-keys file, or readable by others.
Result<PendingKeys> read_pending_keys(const std::filesystem::path& dir,
                                      std::string_view passphrase);

// The request for the keys pending in `dir` (to write it out again).
Result<KeyRequest> pending_key_request(const std::filesystem::path& dir,
                                       std::string_view passphrase);

// Step 2: reads the pending keys, checks `certificate` (as
// EnrollmentCertificate::check at `now`), creates the ResponderStore in `dir`
// under the same passphrase pinning `org_root`, then overwrites and removes the
// pending file. kAlreadyExists: a store is already there. Otherwise errors as
// read_pending_keys, EnrollmentCertificate::check and
// ResponderStore::create; on any error the pending keys stay, so the
// responder can retry with the right file.
Result<std::unique_ptr<ResponderStore>> complete_enrollment(
    const std::filesystem::path& dir, std::string_view passphrase,
    const EnrollmentCertificate& certificate, const crypto::SigningPublicKey& org_root,
    UnixSeconds now);

}  // namespace hearth::client
