// The seam through which tests replace Hearth's random source.
//
// Not for production code: only hearth_crypto_testing includes this header.
// Thread safety: set_random_source is atomic, but swapping sources while other
// threads draw randomness gives those threads an unspecified mix.
#pragma once

#include "common/bytes.h"

namespace hearth::crypto {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(MutableByteView out) = 0;
};

namespace internal {
// Installs `source` (nullptr restores libsodium's CSPRNG); returns the previous one.
RandomSource* set_random_source(RandomSource* source);
}  // namespace internal

}  // namespace hearth::crypto
