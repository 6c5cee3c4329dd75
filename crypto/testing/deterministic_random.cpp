#include "crypto/testing/deterministic_random.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace hearth::crypto::testing {

ScopedDeterministicRandom::ScopedDeterministicRandom(ByteView seed) {
  if (seed.size() != key_.size()) std::abort();  // a test bug, never runtime input
  std::memcpy(key_.data(), seed.data(), key_.size());
  previous_ = internal::set_random_source(this);
}

ScopedDeterministicRandom::~ScopedDeterministicRandom() {
  internal::set_random_source(previous_);
  sodium_memzero(key_.data(), key_.size());
}

void ScopedDeterministicRandom::fill(MutableByteView out) {
  static const std::uint8_t zero_nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  std::size_t done = 0;
  while (done < out.size()) {
    if (used_ == block_.size()) {
      std::memset(block_.data(), 0, block_.size());
      crypto_stream_chacha20_ietf_xor_ic(block_.data(), block_.data(), block_.size(), zero_nonce,
                                         counter_++, key_.data());
      used_ = 0;
    }
    std::size_t n = std::min(out.size() - done, block_.size() - used_);
    std::memcpy(out.data() + done, block_.data() + used_, n);
    used_ += n;
    done += n;
  }
}

}  // namespace hearth::crypto::testing
