#include "crypto/aead.h"

#include <sodium.h>

#include <cstdlib>

#include "crypto/random.h"
#include "crypto/sodium_init.h"

namespace hearth::crypto {

namespace detail {

Result<Bytes> xchacha20poly1305_encrypt(ByteView key, ByteView nonce, ByteView plaintext,
                                        ByteView associated_data) {
  if (key.size() != kAeadKeyBytes || nonce.size() != kAeadNonceBytes) {
    return error(Code::kInvalidArgument, "bad AEAD key or nonce length");
  }
  ensure_initialized();
  Bytes out(plaintext.size() + kAeadTagBytes);
  unsigned long long out_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data(), &out_len, plaintext.data(), plaintext.size(), associated_data.data(),
      associated_data.size(), nullptr, nonce.data(), key.data());
  out.resize(out_len);
  return out;
}

Result<Bytes> xchacha20poly1305_decrypt(ByteView key, ByteView nonce, ByteView ciphertext_and_tag,
                                        ByteView associated_data) {
  if (key.size() != kAeadKeyBytes || nonce.size() != kAeadNonceBytes) {
    return error(Code::kInvalidArgument, "bad AEAD key or nonce length");
  }
  if (ciphertext_and_tag.size() < kAeadTagBytes) {
    return error(Code::kInvalidArgument, "ciphertext shorter than its tag");
  }
  ensure_initialized();
  Bytes out(ciphertext_and_tag.size() - kAeadTagBytes);
  unsigned long long out_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &out_len, nullptr, ciphertext_and_tag.data(), ciphertext_and_tag.size(),
          associated_data.data(), associated_data.size(), nonce.data(), key.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return error(Code::kAuthFailed, "decryption failed");
  }
  out.resize(out_len);
  return out;
}

}  // namespace detail

Bytes aead_seal(const SecretBytes& key, ByteView plaintext, ByteView associated_data) {
  if (key.size() != kAeadKeyBytes) std::abort();  // our own keys are always 32 bytes
  Bytes nonce = random_bytes(kAeadNonceBytes);
  auto body = detail::xchacha20poly1305_encrypt(key.view(), nonce, plaintext, associated_data);
  Bytes out = std::move(nonce);
  append(out, body.value());
  return out;
}

Result<Bytes> aead_open(const SecretBytes& key, ByteView sealed, ByteView associated_data) {
  if (sealed.size() < kAeadOverhead) return error(Code::kInvalidArgument, "sealed data too short");
  return detail::xchacha20poly1305_decrypt(key.view(), sealed.first(kAeadNonceBytes),
                                           sealed.subspan(kAeadNonceBytes), associated_data);
}

}  // namespace hearth::crypto
