// The per-connection frame rate limit, driven by a manual clock.
#include <catch2/catch.hpp>

#include "common/clock.h"
#include "server/token_bucket.h"

namespace hearth::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

nanoseconds at(const ManualClock& clock, milliseconds extra = milliseconds(0)) {
  return seconds(clock.now()) + extra;
}

TEST_CASE("a full bucket lets a burst through, then paces at the rate", "[server]") {
  ManualClock clock(1000);
  TokenBucket bucket(10, 5, at(clock));
  for (int i = 0; i < 5; ++i) CHECK(bucket.take(at(clock)) == nanoseconds::zero());
  // The sixth frame must wait one token's time: 1/10 s.
  auto wait = bucket.take(at(clock));
  CHECK(wait == milliseconds(100));
  // After waiting exactly that, the next frame again waits one token's time.
  auto wait2 = bucket.take(at(clock, milliseconds(100)));
  CHECK(wait2 == milliseconds(100));
}

TEST_CASE("the bucket refills with time and never above the burst", "[server]") {
  ManualClock clock(5000);
  TokenBucket bucket(20, 40, at(clock));
  for (int i = 0; i < 40; ++i) REQUIRE(bucket.take(at(clock)) == nanoseconds::zero());
  CHECK(bucket.take(at(clock)) > nanoseconds::zero());
  clock.advance(1);  // 20 tokens back (one was borrowed above)
  for (int i = 0; i < 19; ++i) REQUIRE(bucket.take(at(clock)) == nanoseconds::zero());
  CHECK(bucket.take(at(clock)) > nanoseconds::zero());
  clock.advance(3600);  // capped at the burst
  for (int i = 0; i < 40; ++i) REQUIRE(bucket.take(at(clock)) == nanoseconds::zero());
  CHECK(bucket.take(at(clock)) > nanoseconds::zero());
}

TEST_CASE("a flood that obeys every wait is held to the rate", "[server]") {
  ManualClock clock(0);
  TokenBucket bucket(20, 40, at(clock));
  nanoseconds now = at(clock);
  for (int i = 0; i < 240; ++i) now += bucket.take(now);
  // 40 free, then 200 at 20 a second: about 10 seconds, never less.
  CHECK(now >= seconds(10) - milliseconds(60));
  CHECK(now <= seconds(10) + milliseconds(60));
}

TEST_CASE("time going backwards adds nothing", "[server]") {
  TokenBucket bucket(1, 1, seconds(100));
  CHECK(bucket.take(seconds(100)) == nanoseconds::zero());
  CHECK(bucket.take(seconds(50)) == seconds(1));
}

TEST_CASE("a byte bucket charges a frame's size, and a frame over the burst is paid by waiting",
          "[server]") {
  ManualClock clock(0);
  TokenBucket bytes(64 * 1024, 128 * 1024, at(clock));
  CHECK(bytes.take(at(clock), 100 * 1024) == nanoseconds::zero());
  // 28 KiB left: a 92 KiB frame leaves 64 KiB of debt, one second at the rate.
  CHECK(bytes.take(at(clock), 92 * 1024) == seconds(1));
  // A frame four times the burst is still read, then paid off: 8 s more.
  CHECK(bytes.take(at(clock, milliseconds(1000)), 512 * 1024) == seconds(8));
}

}  // namespace
}  // namespace hearth::server
