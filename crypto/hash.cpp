#include "crypto/hash.h"

#include <sodium.h>

#include <cstdlib>

#include "crypto/sodium_init.h"

namespace hearth::crypto {

namespace {

// libsodium declares some input pointers nonnull (the HMAC key, the Argon2
// password), but an empty view may hold a null pointer (an absent HKDF salt, an
// empty password), and passing it is undefined behaviour. Any valid address
// will do for a zero-length input.
const std::uint8_t* non_null(ByteView bytes) {
  static constexpr std::uint8_t kEmpty = 0;
  return bytes.empty() ? &kEmpty : bytes.data();
}

}  // namespace

Bytes blake2b(ByteView message, std::size_t out_len, ByteView key) {
  ensure_initialized();
  Bytes out(out_len);
  if (crypto_generichash(out.data(), out.size(), message.data(), message.size(),
                         key.empty() ? nullptr : key.data(), key.size()) != 0) {
    std::abort();  // output or key length out of range: a bug in the caller, never input
  }
  return out;
}

Bytes sha256(std::span<const ByteView> parts) {
  ensure_initialized();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  for (ByteView part : parts) crypto_hash_sha256_update(&state, non_null(part), part.size());
  Bytes out(crypto_hash_sha256_BYTES);
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

Bytes hash_labelled(std::string_view label, ByteView message, std::size_t out_len) {
  Bytes input;
  append_lp(input, as_bytes(label));
  append(input, message);
  return blake2b(input, out_len);
}

SecretBytes hmac_sha256(ByteView key, ByteView message) {
  ensure_initialized();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, non_null(key), key.size());
  crypto_auth_hmacsha256_update(&state, message.data(), message.size());
  SecretBytes out(crypto_auth_hmacsha256_BYTES);
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);
  return out;
}

SecretBytes hkdf_extract(ByteView salt, ByteView ikm) {
  // RFC 5869 2.2: an absent salt is HashLen zeros; HMAC pads a short key with
  // zeros anyway, so an empty salt gives the same PRK.
  return hmac_sha256(salt, ikm);
}

Result<SecretBytes> hkdf_expand(ByteView prk, ByteView info, std::size_t out_len) {
  constexpr std::size_t kHashLen = crypto_auth_hmacsha256_BYTES;
  if (out_len > 255 * kHashLen) return error(Code::kInvalidArgument, "HKDF output too long");
  ensure_initialized();
  SecretBytes out(out_len);
  std::uint8_t t[kHashLen];
  std::size_t t_len = 0;
  std::size_t done = 0;
  for (std::uint8_t counter = 1; done < out_len; ++counter) {
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, non_null(prk), prk.size());
    crypto_auth_hmacsha256_update(&state, t, t_len);
    crypto_auth_hmacsha256_update(&state, info.data(), info.size());
    crypto_auth_hmacsha256_update(&state, &counter, 1);
    crypto_auth_hmacsha256_final(&state, t);
    sodium_memzero(&state, sizeof state);
    t_len = kHashLen;
    std::size_t n = std::min(kHashLen, out_len - done);
    std::copy(t, t + n, out.data() + done);
    done += n;
  }
  sodium_memzero(t, sizeof t);
  return out;
}

Result<SecretBytes> hkdf(ByteView salt, ByteView ikm, ByteView info, std::size_t out_len) {
  SecretBytes prk = hkdf_extract(salt, ikm);
  return hkdf_expand(prk.view(), info, out_len);
}

Result<SecretBytes> derive_subkey(const SecretBytes& master, std::uint64_t id,
                                  std::string_view context, std::size_t out_len) {
  if (master.size() != crypto_kdf_KEYBYTES)
    return error(Code::kInvalidArgument, "master key must be 32 bytes");
  if (context.size() != crypto_kdf_CONTEXTBYTES)
    return error(Code::kInvalidArgument, "KDF context must be 8 characters");
  if (out_len < crypto_kdf_BYTES_MIN || out_len > crypto_kdf_BYTES_MAX) {
    return error(Code::kInvalidArgument, "subkey length out of range");
  }
  ensure_initialized();
  SecretBytes out(out_len);
  crypto_kdf_derive_from_key(out.data(), out_len, id, context.data(), master.data());
  return out;
}

Result<SecretBytes> argon2id(ByteView password, ByteView salt, std::size_t out_len,
                             unsigned long long ops, std::size_t memory) {
  if (salt.size() != crypto_pwhash_SALTBYTES)
    return error(Code::kInvalidArgument, "Argon2 salt must be 16 bytes");
  if (out_len < crypto_pwhash_BYTES_MIN || ops < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      memory < crypto_pwhash_argon2id_MEMLIMIT_MIN) {
    return error(Code::kInvalidArgument, "Argon2 parameters out of range");
  }
  ensure_initialized();
  SecretBytes out(out_len);
  if (crypto_pwhash(out.data(), out_len, reinterpret_cast<const char*>(non_null(password)),
                    password.size(), salt.data(), ops, memory, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return error(Code::kUnavailable, "Argon2id could not allocate its memory");
  }
  return out;
}

}  // namespace hearth::crypto
