// Authenticated encryption: XChaCha20-Poly1305 (IETF) with a random nonce.
//
// The caller never supplies a nonce: seal() draws 24 random bytes and puts them
// in front of the ciphertext, so a restart or a rolled-back state cannot reuse
// one (reference/crypto.md P1). open() returns the whole plaintext or an error,
// never a partial result.
//
// Sealed layout: nonce (24) || ciphertext || tag (16).
//
// Thread safety: pure functions.
#pragma once

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret.h"

namespace hearth::crypto {

inline constexpr std::size_t kAeadKeyBytes = 32;
inline constexpr std::size_t kAeadNonceBytes = 24;
inline constexpr std::size_t kAeadTagBytes = 16;
inline constexpr std::size_t kAeadOverhead = kAeadNonceBytes + kAeadTagBytes;

// Encrypts `plaintext` bound to `associated_data`. `key` must be 32 bytes
// (a wrong length is a programming error and aborts).
Bytes aead_seal(const SecretBytes& key, ByteView plaintext, ByteView associated_data);

// kAuthFailed when the key, associated data or any byte is wrong; kInvalidArgument
// when `sealed` is too short to hold a nonce and a tag.
Result<Bytes> aead_open(const SecretBytes& key, ByteView sealed, ByteView associated_data);

namespace detail {
// The raw AEAD with a caller-chosen nonce: only for known-answer tests, which
// must reproduce published vectors. Returns ciphertext || tag.
Result<Bytes> xchacha20poly1305_encrypt(ByteView key, ByteView nonce, ByteView plaintext,
                                        ByteView associated_data);
Result<Bytes> xchacha20poly1305_decrypt(ByteView key, ByteView nonce, ByteView ciphertext_and_tag,
                                        ByteView associated_data);
}  // namespace detail

}  // namespace hearth::crypto
