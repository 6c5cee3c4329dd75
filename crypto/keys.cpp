#include "crypto/keys.h"

#include <sodium.h>

#include <algorithm>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/sodium_init.h"

namespace hearth::crypto {

SigningKey SigningKey::generate() {
  SecretBytes seed = random_secret(kSeedBytes);
  return std::move(from_seed(seed.view()).value());
}

Result<SigningKey> SigningKey::from_seed(ByteView seed) {
  if (seed.size() != crypto_sign_SEEDBYTES)
    return error(Code::kInvalidArgument, "seed must be 32 bytes");
  ensure_initialized();
  SigningPublicKey pub;
  SecretBytes secret(crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair(pub.bytes.data(), secret.data(), seed.data());
  return SigningKey(pub, std::move(secret));
}

SecretBytes SigningKey::seed() const {
  SecretBytes out(crypto_sign_SEEDBYTES);
  crypto_sign_ed25519_sk_to_seed(out.data(), secret_.data());
  return out;
}

Signature SigningKey::sign(ByteView message) const {
  Signature sig;
  crypto_sign_detached(sig.bytes.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Status verify_signature(const SigningPublicKey& key, ByteView message, ByteView signature) {
  if (signature.size() != crypto_sign_BYTES)
    return error(Code::kAuthFailed, "bad signature length");
  ensure_initialized();
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  key.bytes.data()) != 0) {
    return error(Code::kAuthFailed, "signature does not verify");
  }
  return Status::ok();
}

Status verify_signature(const SigningPublicKey& key, ByteView message, const Signature& signature) {
  return verify_signature(key, message, signature.view());
}

DhKey DhKey::generate() {
  SecretBytes secret = random_secret(crypto_scalarmult_SCALARBYTES);
  return std::move(from_private(secret.view()).value());
}

Result<DhKey> DhKey::from_private(ByteView private_key) {
  if (private_key.size() != crypto_scalarmult_SCALARBYTES) {
    return error(Code::kInvalidArgument, "X25519 private key must be 32 bytes");
  }
  ensure_initialized();
  DhPublicKey pub;
  crypto_scalarmult_base(pub.bytes.data(), private_key.data());
  return DhKey(pub, SecretBytes::from(private_key));
}

Result<SecretBytes> DhKey::agree(const DhPublicKey& their_public) const {
  return x25519(secret_.view(), their_public.view());
}

Result<SecretBytes> x25519(ByteView private_key, ByteView public_key) {
  if (private_key.size() != crypto_scalarmult_SCALARBYTES ||
      public_key.size() != crypto_scalarmult_BYTES) {
    return error(Code::kInvalidArgument, "X25519 keys must be 32 bytes");
  }
  ensure_initialized();
  SecretBytes shared(crypto_scalarmult_BYTES);
  // libsodium returns -1 when the output is all zeros (low-order point).
  if (crypto_scalarmult(shared.data(), private_key.data(), public_key.data()) != 0) {
    return error(Code::kAuthFailed, "X25519 produced an all-zero shared secret");
  }
  return shared;
}

std::string fingerprint(const SigningPublicKey& key) {
  auto digest = hash_labelled("HL1/fingerprint", key.view(), 32);
  std::string hex = to_hex(digest);
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 4) {
    if (i != 0) out.push_back(' ');
    out.append(hex, i, 4);
  }
  return out;
}

}  // namespace hearth::crypto
