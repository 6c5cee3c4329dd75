// Hashes and key derivation: BLAKE2b, HMAC-SHA-256, HKDF-SHA-256, subkeys, Argon2id.
//
// HKDF is built here on libsodium's HMAC-SHA-256 (libsodium 1.0.18 has no HKDF
// API), exactly as RFC 5869 defines it, so the browser client can match it byte
// for byte. Outputs that are keys come back as SecretBytes.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret.h"

namespace hearth::crypto {

// BLAKE2b of `message`, `out_len` bytes (16..64), optionally keyed (key 16..64 bytes or empty).
Bytes blake2b(ByteView message, std::size_t out_len, ByteView key = {});

// BLAKE2b of length-prefixed `label` followed by `message`: domain-separated
// hashing for fingerprints, certificate hashes and roster hashes.
Bytes hash_labelled(std::string_view label, ByteView message, std::size_t out_len = 32);

// SHA-256 (FIPS 180-4) of the concatenation of `parts`, 32 bytes: for
// digests others must reproduce with common tools (the web site's hash,
// docs/operations.md "The page's hash").
Bytes sha256(std::span<const ByteView> parts);

// HMAC-SHA-256 with a key of any length (RFC 2104 / 4231).
SecretBytes hmac_sha256(ByteView key, ByteView message);

// RFC 5869. hkdf_expand fails with kInvalidArgument when out_len > 255 * 32.
SecretBytes hkdf_extract(ByteView salt, ByteView ikm);
Result<SecretBytes> hkdf_expand(ByteView prk, ByteView info, std::size_t out_len);
Result<SecretBytes> hkdf(ByteView salt, ByteView ikm, ByteView info, std::size_t out_len);

// libsodium's crypto_kdf: subkey `id` of a 32-byte master key under an
// 8-character context, `out_len` bytes (16..64).
Result<SecretBytes> derive_subkey(const SecretBytes& master, std::uint64_t id,
                                  std::string_view context, std::size_t out_len);

// Argon2id parameters. Vault keys use kVaultArgonOps / kVaultArgonMemory on every
// platform: a different setting would derive different keys (reference/crypto.md P11).
inline constexpr unsigned long long kVaultArgonOps = 3;
inline constexpr std::size_t kVaultArgonMemory = 64u * 1024 * 1024;
inline constexpr std::size_t kArgonSaltBytes = 16;

// Argon2id v1.3, p = 1. kInvalidArgument on a bad salt length or parameters;
// kUnavailable when the memory cannot be allocated.
Result<SecretBytes> argon2id(ByteView password, ByteView salt, std::size_t out_len,
                             unsigned long long ops = kVaultArgonOps,
                             std::size_t memory = kVaultArgonMemory);

}  // namespace hearth::crypto
