// The route proof-of-work state: per-connection challenges priced at issue
// from the load (accepted proofs, outstanding challenges, the waiting room and
// its danger-now reserve), checked at exactly that price. Real BLAKE2b, a
// ManualClock for time.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/pow.h"
#include "server/services.h"

namespace hearth::server {
namespace {

constexpr UnixSeconds kStart = 1'800'000'000;

// Effort 1 everywhere unless a test raises it: solving costs one hash.
PowConfig cheap() {
  PowConfig c;
  c.effort = 1;
  c.max_effort = 1;
  c.danger_now_max_effort = 1;
  c.proofs_per_minute = 1000000;
  c.challenge_ttl = std::chrono::seconds(90);
  return c;
}

const Bytes& request_hash() {
  static const Bytes h = crypto::pow_request_hash(as_bytes("route request"));
  return h;
}

Bytes solve(const PowState::Issued& c, std::uint32_t effort = 0) {
  auto s =
      crypto::solve_pow({c.challenge, effort == 0 ? c.effort : effort}, "route", request_hash());
  REQUIRE(s.is_ok());
  return s->nonce;
}

// A nonce solved at effort 1 that does not meet `effort` (so a check at
// `effort` must refuse it, never by chance accept it).
Bytes solve_weak(const PowState::Issued& c, std::uint32_t effort) {
  for (;;) {
    Bytes nonce = solve(c, 1);
    if (!crypto::verify_pow({c.challenge, effort}, "route", request_hash(), {nonce}).is_ok())
      return nonce;
  }
}

// Issues, solves and spends one challenge; returns the spend's status.
Status spend_one(PowState& pow, bool danger_now = false, std::size_t waiting = 0) {
  PowState::Issued c = pow.issue(danger_now, waiting);
  return pow.spend(c, solve(c), "route", request_hash());
}

TEST_CASE("a challenge is checked at the effort it was issued with", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.max_effort = 1u << 20;
  config.proofs_per_minute = 1;
  PowState pow(config, 1000, 0, clock);

  const PowState::Issued asked = pow.issue(false, 0);
  REQUIRE(asked.effort == 1);
  CHECK(asked.challenge.size() == crypto::kPowSeedBytes);
  CHECK(asked.expires == kStart + 90);
  const Bytes solved = solve(asked);
  // Others spend proofs meanwhile (12 against a normal 1 a minute): the price
  // of the next challenge rises at once, with no rotation to wait for.
  for (int i = 0; i < 12; ++i) REQUIRE(spend_one(pow).is_ok());
  const PowState::Issued now = pow.issue(false, 0);
  // 12 accepted + 1 outstanding (asked) in the last minute: past 8, up to 16.
  CHECK(now.effort == 16);
  CHECK(now.challenge != asked.challenge);
  // The earlier client solved what it was asked: accepted.
  CHECK(pow.spend(asked, solved, "route", request_hash()).is_ok());
  // The same work for the new challenge is not enough.
  CHECK(pow.spend(now, solve_weak(now, now.effort), "route", request_hash()).code() ==
        Code::kAuthFailed);
}

TEST_CASE("outstanding challenges raise the price of the next at once", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.max_effort = 64;
  config.proofs_per_minute = 10;
  Metrics metrics;
  PowState pow(config, 1000, 0, clock, &metrics);
  // A stockpile asked for all at once: the k-th sees k - 1 outstanding.
  std::vector<PowState::Issued> held;
  for (int i = 0; i < 41; ++i) held.push_back(pow.issue(false, 0));
  CHECK(held[0].effort == 1);
  CHECK(held[10].effort == 1);  // 10 outstanding: normal
  CHECK(held[11].effort == 2);  // 11: past 10, one doubling
  CHECK(held[21].effort == 4);  // 21: past 20, two
  CHECK(held[40].effort == 4);  // 40: still two
  CHECK(pow.stats().outstanding == 41);
  CHECK(metrics.pow_challenges_outstanding.load() == 41);
  CHECK(metrics.pow_challenges_issued.load() == 41);
  CHECK(metrics.pow_effort.load() == 8);  // the 42nd would see 41 outstanding

  // Released (replaced, refused, closed) challenges stop counting.
  for (int i = 0; i < 20; ++i) pow.release(held[i]);
  CHECK(pow.stats().outstanding == 21);
  CHECK(pow.effort_for_load(false, 0) == 4);
  // A refused proof stops counting too; an accepted one moves to the minute's.
  CHECK(pow.spend(held[40], solve_weak(held[40], 4), "route", request_hash()).code() ==
        Code::kAuthFailed);
  CHECK(pow.spend(held[39], solve(held[39]), "route", request_hash()).is_ok());
  CHECK(pow.stats().outstanding == 19);
  CHECK(pow.stats().proofs_last_minute == 1);

  // Expired challenges stop counting: the price falls back by itself.
  clock.advance(89);
  CHECK(pow.stats().outstanding == 19);
  clock.advance(1);
  CHECK(pow.stats().outstanding == 0);
  pow.maintain(0);
  CHECK(metrics.pow_challenges_outstanding.load() == 0);
  CHECK(pow.effort_for_load(false, 0) == 1);
  CHECK(metrics.pow_effort.load() == 1);

  // The ceiling holds whatever the load.
  for (int i = 0; i < 2000; ++i) REQUIRE(spend_one(pow).is_ok());
  CHECK(pow.effort_for_load(false, 0) == 64);
  clock.advance(60);
  CHECK(pow.effort_for_load(false, 0) == 1);
}

TEST_CASE("effort rises as the waiting room fills", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.effort = 100;
  config.max_effort = 1000000;
  PowState pow(config, 1000, 0, clock);
  CHECK(pow.effort_for_load(false, 0) == 100);
  CHECK(pow.effort_for_load(false, 499) == 100);
  CHECK(pow.effort_for_load(false, 500) == 200);  // half full: free places halved once
  CHECK(pow.effort_for_load(false, 750) == 400);
  CHECK(pow.effort_for_load(false, 875) == 800);
  CHECK(pow.effort_for_load(false, 999) == 51200);  // 1 free of 1000: nine halvings
  CHECK(pow.effort_for_load(false, 1000) == 1000000);
  CHECK(pow.effort_for_load(false, 5000) == 1000000);
  // Outstanding challenges count as places about to be taken.
  std::vector<PowState::Issued> held;
  for (int i = 0; i < 250; ++i) held.push_back(pow.issue(false, 500));
  CHECK(held.front().effort == 200);
  CHECK(held.back().effort == 200);  // 749 of 1000
  CHECK(pow.issue(false, 500).effort == 400);
}

TEST_CASE("danger-now pays for the reserve, steeper, and only for its own kind", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.effort = 100;
  config.max_effort = 1000000;
  config.danger_now_max_effort = 4000000;
  Metrics metrics;
  PowState pow(config, 1000, 100, clock, &metrics);  // the last 100 places: danger-now only
  CHECK(pow.effort_for_load(true, 0) == 100);
  CHECK(pow.effort_for_load(true, 900) == 800);  // the rest is full: 3 halvings of the room
  // Inside the reserve, each halving of its free places doubles once more.
  CHECK(pow.effort_for_load(true, 950) == 3200);       // room 4, reserve 1
  CHECK(pow.effort_for_load(true, 975) == 12800);      // room 5, reserve 2
  CHECK(pow.effort_for_load(true, 999) == 3276800);    // room 9, reserve 6
  CHECK(pow.effort_for_load(true, 1000) == 4000000);   // full: the danger-now ceiling
  CHECK(pow.effort_for_load(false, 1000) == 1000000);  // others stop at max_effort
  CHECK(metrics.pow_danger_now_effort.load() == 100);

  // Challenges for other urgencies cannot take reserved places: holding them
  // does not raise what a survivor in danger pays for the room.
  std::vector<PowState::Issued> others;
  for (int i = 0; i < 100; ++i) others.push_back(pow.issue(false, 900));
  CHECK(pow.effort_for_load(true, 900) == 800);
  // Danger-now ones do: a stockpile asked at once is priced up the reserve.
  std::vector<PowState::Issued> danger;
  for (int i = 0; i < 100; ++i) danger.push_back(pow.issue(true, 900));
  CHECK(danger[0].effort == 800);
  CHECK(danger[50].effort == 3200);
  CHECK(danger[75].effort == 12800);
  CHECK(danger[99].effort == 3276800);
  CHECK(pow.stats().outstanding_danger_now == 100);
  CHECK(pow.effort_for_load(true, 900) == 4000000);
  for (const auto& d : danger) pow.release(d);
  CHECK(pow.effort_for_load(true, 900) == 800);
}

TEST_CASE("the spend window counts the last 60 seconds", "[server]") {
  SpendWindow w;
  w.add(kStart);
  w.add(kStart);
  w.add(kStart + 59);
  CHECK(w.count(kStart + 59) == 3);
  CHECK(w.count(kStart + 60) == 1);
  CHECK(w.count(kStart + 118) == 1);
  CHECK(w.count(kStart + 119) == 0);
  w.add(kStart + 1000);
  CHECK(w.count(kStart + 500) == 1);  // a clock that went back: as if it had not moved
  CHECK(w.count(kStart + 1000 + 3600) == 0);
}

}  // namespace
}  // namespace hearth::server
