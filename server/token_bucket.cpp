#include "server/token_bucket.h"

#include <algorithm>

namespace hearth::server {

TokenBucket::TokenBucket(std::uint64_t rate_per_second, std::uint64_t burst, Duration now)
    : rate_(static_cast<double>(std::max<std::uint64_t>(rate_per_second, 1))),
      burst_(static_cast<double>(std::max<std::uint64_t>(burst, 1))),
      tokens_(burst_),
      last_(now) {}

void TokenBucket::refill(Duration now) {
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
}

bool TokenBucket::ready(Duration now) {
  refill(now);
  return tokens_ >= 1.0;
}

TokenBucket::Duration TokenBucket::take(Duration now, std::uint64_t cost) {
  refill(now);
  tokens_ -= static_cast<double>(cost);
  if (tokens_ >= 0.0) return Duration::zero();
  // In debt: wait until the bucket is back at zero.
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / rate_));
}

}  // namespace hearth::server
