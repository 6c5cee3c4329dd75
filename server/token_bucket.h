// TokenBucket: a per-connection rate limit, in frames or in bytes.
//
// A bucket holds up to `burst` tokens and refills at `rate` tokens a second.
// Each take() takes `cost` tokens (one per frame, or a frame's size in bytes);
// when the bucket runs short the take still happens (the bucket goes into
// debt) and take() says how long the caller must wait before reading on. A
// session waits that long before reading the next frame, so a flooding client
// is slowed to the rate while every other connection is unaffected, and
// nothing is dropped. A cost larger than the burst is allowed: it is paid off
// by waiting.
//
// The same bucket also serves as a budget checked before work and paid after
// (server/login_guard.h): ready() says whether a token is there, take() pays.
//
// Time is passed in, never read here, so tests drive it with a ManualClock.
//
// Thread safety: none; one bucket belongs to one connection's strand (or is
// used under its owner's lock).
#pragma once

#include <chrono>
#include <cstdint>

namespace hearth::server {

class TokenBucket {
 public:
  using Duration = std::chrono::nanoseconds;

  // Starts full at time `now`. rate >= 1, burst >= 1 (smaller values are raised to 1).
  TokenBucket(std::uint64_t rate_per_second, std::uint64_t burst, Duration now);

  // Takes `cost` tokens at `now` and returns how long to wait before the next
  // frame may be read: zero while tokens remain. `now` must not go backwards
  // (a smaller value is treated as no time passed).
  Duration take(Duration now, std::uint64_t cost = 1);

  // Refills to `now` and says whether at least one whole token is there
  // (nothing is taken).
  bool ready(Duration now);

  // Tokens available at the last take() (negative while in debt). For tests.
  double tokens() const { return tokens_; }

 private:
  void refill(Duration now);

  double rate_;  // tokens per second
  double burst_;
  double tokens_;
  Duration last_;
};

}  // namespace hearth::server
