// TokenBucket: the per-connection frame rate limit.
//
// A bucket holds up to `burst` tokens and refills at `rate` tokens a second.
// Each frame takes one token; when the bucket is empty the frame still takes
// its token (the bucket goes into debt) and take() says how long the caller
// must wait before reading on. A session waits that long before reading the
// next frame, so a flooding client is slowed to the rate while every other
// connection is unaffected, and nothing is dropped.
//
// Time is passed in, never read here, so tests drive it with a ManualClock.
//
// Thread safety: none; one bucket belongs to one connection's strand.
#pragma once

#include <chrono>
#include <cstdint>

namespace hearth::server {

class TokenBucket {
 public:
  using Duration = std::chrono::nanoseconds;

  // Starts full at time `now`. rate >= 1, burst >= 1.
  TokenBucket(std::uint32_t rate_per_second, std::uint32_t burst, Duration now);

  // Takes one token at `now` and returns how long to wait before the next
  // frame may be read: zero while tokens remain. `now` must not go backwards
  // (a smaller value is treated as no time passed).
  Duration take(Duration now);

  // Tokens available at the last take() (negative while in debt). For tests.
  double tokens() const { return tokens_; }

 private:
  double rate_;  // tokens per second
  double burst_;
  double tokens_;
  Duration last_;
};

}  // namespace hearth::server
