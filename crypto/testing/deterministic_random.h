// A seeded random source for tests: byte-identical keys, nonces and transcripts.
//
// The stream is the ChaCha20 (IETF) keystream under key = seed, nonce = 0,
// block counter from 0, consumed in order; docs/crypto.md describes it so the
// browser client can reproduce our transcript files. Linked only into tests.
//
// Thread safety: install from one thread while no other thread draws randomness.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/random_hook.h"

namespace hearth::crypto::testing {

class ScopedDeterministicRandom final : public RandomSource {
 public:
  // `seed` must be 32 bytes. Installs itself; restores the previous source on destruction.
  explicit ScopedDeterministicRandom(ByteView seed);
  ~ScopedDeterministicRandom() override;
  ScopedDeterministicRandom(const ScopedDeterministicRandom&) = delete;
  ScopedDeterministicRandom& operator=(const ScopedDeterministicRandom&) = delete;

  void fill(MutableByteView out) override;

 private:
  std::array<std::uint8_t, 32> key_{};
  std::array<std::uint8_t, 64> block_{};
  std::uint32_t counter_ = 0;
  std::size_t used_ = 64;  // bytes of block_ already handed out
  RandomSource* previous_ = nullptr;
};

}  // namespace hearth::crypto::testing
