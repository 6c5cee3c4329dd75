// Randomness for all of Hearth: keys, nonces, identifiers, codename words.
//
// Everything random in hearth_crypto comes through these functions, so a test
// can replace the source with a seeded one (crypto/testing/deterministic_random.h)
// and get byte-identical transcripts. Production code never does.
//
// Thread safety: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "crypto/secret.h"

namespace hearth::crypto {

// Fills `out` with random bytes.
void random_fill(MutableByteView out);
// `n` random public bytes (identifiers, nonces).
Bytes random_bytes(std::size_t n);
// `n` random secret bytes.
SecretBytes random_secret(std::size_t n);
// A uniform integer in [0, upper_bound), without modulo bias. upper_bound > 0.
std::uint32_t random_uniform(std::uint32_t upper_bound);

}  // namespace hearth::crypto
