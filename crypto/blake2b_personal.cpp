#include "crypto/blake2b_personal.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>

#include "crypto/sodium_init.h"

namespace hearth::crypto {

void blake2b_personal_into(MutableByteView out, ByteView message, std::string_view personal,
                           ByteView key) {
  static_assert(kBlake2bPersonalBytes == crypto_generichash_blake2b_PERSONALBYTES);
  if (personal.size() > kBlake2bPersonalBytes || out.size() < kBlake2bMinOutput ||
      out.size() > kBlake2bMaxOutput ||
      (!key.empty() && (key.size() < crypto_generichash_blake2b_KEYBYTES_MIN ||
                        key.size() > crypto_generichash_blake2b_KEYBYTES_MAX))) {
    std::abort();  // constants from our own code are wrong: never input-dependent
  }
  ensure_initialized();
  // The label, then zero bytes up to 16 (see the header); the salt is 16 zeros.
  std::array<std::uint8_t, kBlake2bPersonalBytes> personal16{};
  std::copy(personal.begin(), personal.end(), personal16.begin());
  const std::array<std::uint8_t, crypto_generichash_blake2b_SALTBYTES> zero_salt{};
  if (crypto_generichash_blake2b_salt_personal(out.data(), out.size(), message.data(),
                                               message.size(), key.empty() ? nullptr : key.data(),
                                               key.size(), zero_salt.data(),
                                               personal16.data()) != 0) {
    std::abort();  // only fails on the parameter errors checked above
  }
}

Bytes blake2b_personal(ByteView message, std::size_t out_len, std::string_view personal,
                       ByteView key) {
  Bytes out(out_len);
  blake2b_personal_into(out, message, personal, key);
  return out;
}

}  // namespace hearth::crypto
