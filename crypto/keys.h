// Key types: Ed25519 signing keys and X25519 Diffie-Hellman keys, kept apart.
//
// A signing key never does DH and a DH key never signs: they are distinct types
// and nothing converts one into the other (reference/crypto.md P4). Public keys
// are plain 32-byte values; private halves live in SecretBytes.
//
// Thread safety: value types; const operations are safe from several threads.
#pragma once

#include <array>
#include <compare>
#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret.h"

namespace hearth::crypto {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::size_t kSeedBytes = 32;

// A fixed-size public value tagged by what it is, so an Ed25519 key cannot be
// passed where an X25519 key is expected.
template <typename Tag, std::size_t N>
struct FixedBytes {
  std::array<std::uint8_t, N> bytes{};

  ByteView view() const { return {bytes.data(), N}; }
  // nullopt-free parse: kInvalidArgument when the length is wrong.
  static Result<FixedBytes> from(ByteView b) {
    if (b.size() != N) return error(Code::kInvalidArgument, "wrong key length");
    FixedBytes out;
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return out;
  }
  friend bool operator==(const FixedBytes&, const FixedBytes&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 flags the defaulted <=> itself
  friend auto operator<=>(const FixedBytes&, const FixedBytes&) = default;
};

struct SigningPublicKeyTag {};
struct DhPublicKeyTag {};
struct SignatureTag {};
using SigningPublicKey = FixedBytes<SigningPublicKeyTag, kPublicKeyBytes>;
using DhPublicKey = FixedBytes<DhPublicKeyTag, kPublicKeyBytes>;
using Signature = FixedBytes<SignatureTag, kSignatureBytes>;

// An Ed25519 key pair. The secret half is libsodium's 64-byte form.
class SigningKey {
 public:
  static SigningKey generate();
  // Deterministic from a 32-byte seed; kInvalidArgument on a wrong length.
  static Result<SigningKey> from_seed(ByteView seed);

  const SigningPublicKey& public_key() const { return public_; }
  // The 32-byte seed, for keystores that must persist the key.
  SecretBytes seed() const;
  Signature sign(ByteView message) const;
  SigningKey clone() const { return SigningKey(public_, secret_.clone()); }

 private:
  SigningKey(SigningPublicKey pub, SecretBytes secret) : public_(pub), secret_(std::move(secret)) {}
  SigningPublicKey public_;
  SecretBytes secret_;
};

// How every signed structure is encoded: its signed part, then the signature.
inline Bytes with_signature(Bytes signed_part, const Signature& signature) {
  append(signed_part, signature.view());
  return signed_part;
}

// Ok when `signature` is a valid Ed25519 signature of `message` by `key`;
// kAuthFailed otherwise (including non-canonical encodings libsodium refuses).
Status verify_signature(const SigningPublicKey& key, ByteView message, const Signature& signature);
Status verify_signature(const SigningPublicKey& key, ByteView message, ByteView signature);

// An X25519 key pair.
class DhKey {
 public:
  static DhKey generate();
  // From a 32-byte private scalar; kInvalidArgument on a wrong length.
  static Result<DhKey> from_private(ByteView private_key);

  const DhPublicKey& public_key() const { return public_; }
  const SecretBytes& private_key() const { return secret_; }
  DhKey clone() const { return DhKey(public_, secret_.clone()); }

  // X25519(private, their_public). kAuthFailed when the result is all zeros
  // (a low-order or malicious public key); no session may be built on it.
  Result<SecretBytes> agree(const DhPublicKey& their_public) const;

 private:
  DhKey(DhPublicKey pub, SecretBytes secret) : public_(pub), secret_(std::move(secret)) {}
  DhPublicKey public_;
  SecretBytes secret_;
};

// Raw X25519 for known-answer tests: same checks as DhKey::agree.
Result<SecretBytes> x25519(ByteView private_key, ByteView public_key);

// A short human-comparable fingerprint of a public key: BLAKE2b-256 under a
// domain label, hex, in groups of four ("a1b2 c3d4 ..."), 16 groups.
std::string fingerprint(const SigningPublicKey& key);

}  // namespace hearth::crypto
