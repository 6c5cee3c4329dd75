#include "crypto/random.h"

#include <sodium.h>

#include <atomic>

#include "crypto/random_hook.h"
#include "crypto/sodium_init.h"

namespace hearth::crypto {

namespace {
std::atomic<RandomSource*> g_source{nullptr};
}  // namespace

namespace internal {
RandomSource* set_random_source(RandomSource* source) { return g_source.exchange(source); }
}  // namespace internal

void random_fill(MutableByteView out) {
  if (out.empty()) return;
  if (RandomSource* s = g_source.load()) {
    s->fill(out);
    return;
  }
  ensure_initialized();
  randombytes_buf(out.data(), out.size());
}

Bytes random_bytes(std::size_t n) {
  Bytes out(n);
  random_fill(out);
  return out;
}

SecretBytes random_secret(std::size_t n) {
  SecretBytes out(n);
  random_fill(out.mutable_view());
  return out;
}

std::uint32_t random_uniform(std::uint32_t upper_bound) {
  if (upper_bound < 2) return 0;
  // Reject the low values that would bias r % upper_bound (same method as
  // libsodium's randombytes_uniform, written here so the seeded test source
  // and the browser client reproduce it exactly).
  const std::uint32_t min = (0u - upper_bound) % upper_bound;
  std::uint32_t r;
  do {
    std::uint8_t b[4];
    random_fill(b);
    r = static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
        static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
  } while (r < min);
  return r % upper_bound;
}

}  // namespace hearth::crypto
