// BLAKE2b with a personalization label: domain-separated hashing for the vault
// KDF salt and the application proof-of-work (reference/crypto.md §2.6, §2.8).
//
// libsodium's crypto_generichash_blake2b_salt_personal takes a personal of
// exactly 16 bytes. Hearth's labels ("HL1-kdfsalt", "HL1-pow") are shorter, so
// the label's ASCII bytes are followed by zero bytes up to 16, and the 16-byte
// BLAKE2b salt is all zeros. This is the same encoding Python's
// hashlib.blake2b(person=label) uses; a browser passing a 16-byte personal to
// libsodium.js must pad it the same way or every hash differs.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/bytes.h"

namespace hearth::crypto {

inline constexpr std::size_t kBlake2bPersonalBytes = 16;
inline constexpr std::size_t kBlake2bMinOutput = 16;
inline constexpr std::size_t kBlake2bMaxOutput = 64;

// Writes BLAKE2b(message) with `personal` (at most 16 bytes, zero-padded to 16)
// and an optional key (empty, or 16..64 bytes) into `out` (16..64 bytes).
// The label and sizes are constants chosen by Hearth's own code, so a violation
// is a programming error and aborts.
void blake2b_personal_into(MutableByteView out, ByteView message, std::string_view personal,
                           ByteView key = {});

// As blake2b_personal_into, returning `out_len` fresh bytes.
Bytes blake2b_personal(ByteView message, std::size_t out_len, std::string_view personal,
                       ByteView key = {});

}  // namespace hearth::crypto
