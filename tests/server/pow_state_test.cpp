// The route proof-of-work state: a full replay set rotates instead of refusing,
// effort follows the spending rate and the waiting room, and a proof is
// checked against the effort its seed was issued with. Real BLAKE2b, a
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
  c.proofs_per_minute = 1000000;
  c.seed_rotation = std::chrono::seconds(300);
  c.previous_seed_grace = std::chrono::seconds(60);
  c.effort_step = std::chrono::seconds(0);
  c.replay_budget = 1000;
  return c;
}

const Bytes& request_hash() {
  static const Bytes h = crypto::pow_request_hash(as_bytes("route request"));
  return h;
}

Bytes solve(const crypto::PowChallenge& c) {
  auto s = crypto::solve_pow(c, "route", request_hash());
  REQUIRE(s.is_ok());
  return s->nonce;
}

// A nonce solved at effort 1 that does not meet `effort` (so a check at
// `effort` must refuse it, never by chance accept it).
Bytes solve_weak(const Bytes& seed, std::uint32_t effort) {
  for (;;) {
    Bytes nonce = solve({seed, 1});
    if (!crypto::verify_pow({seed, effort}, "route", request_hash(), {nonce}).is_ok()) return nonce;
  }
}

// Asks, solves and spends one proof; returns the check's status.
Status spend_one(PowState& pow, std::size_t waiting = 0) {
  crypto::PowChallenge c = pow.challenge(waiting);
  return pow.check(c.seed, solve(c), "route", request_hash(), waiting);
}

TEST_CASE("a full replay set rotates the seed and new proofs are still accepted", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.replay_budget = 8;  // 4 per seed
  Metrics metrics;
  PowState pow(config, 1000, clock, &metrics);

  // Regression (issue 12, hole 2): the old guard refused every proof with
  // kLimitExceeded (route: rate_limited) once 8 were spent, until two timer
  // rotations later. Now every proof a client solves for the seed it was
  // given is accepted, without the clock moving.
  for (int i = 0; i < 100; ++i) REQUIRE(spend_one(pow).is_ok());
  CHECK(pow.stats().replay_entries <= 8);
  CHECK(pow.stats().replay_capacity == 8);
  CHECK(pow.stats().rotations >= 24);
  CHECK(metrics.pow_rotations[2].load() == pow.stats().rotations);  // reason "full"
  CHECK(metrics.pow_rotations[0].load() == 0);
  CHECK(metrics.pow_replay_entries.load() <= 8);
  CHECK(metrics.pow_replay_capacity.load() == 8);
}

TEST_CASE("a stockpile of proofs for one seed cannot lock routing out", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.replay_budget = 8;
  PowState pow(config, 1000, clock);

  // Precomputed proofs for the seed of the moment, spent without asking again.
  crypto::PowChallenge held = pow.challenge(0);
  std::vector<Bytes> stockpile;
  for (int i = 0; i < 20; ++i) stockpile.push_back(solve(held));
  int accepted = 0;
  int stale = 0;
  for (const Bytes& nonce : stockpile) {
    Status s = pow.check(held.seed, nonce, "route", request_hash(), 0);
    if (s.is_ok()) ++accepted;
    if (s.code() == Code::kExpired) ++stale;
    CHECK(s.code() != Code::kLimitExceeded);
  }
  CHECK(accepted == 4);  // the seed's share of the budget, then it was replaced
  CHECK(stale == 16);    // pow_stale: ask again

  // A client asking now gets the new seed with room.
  REQUIRE(spend_one(pow).is_ok());

  // Nothing spent can be spent again, whether its seed is still live or gone.
  for (const Bytes& nonce : stockpile)
    CHECK(!pow.check(held.seed, nonce, "route", request_hash(), 0).is_ok());
}

TEST_CASE("a spent proof is never accepted twice across rotations", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.replay_budget = 4;  // 2 per seed
  PowState pow(config, 1000, clock);
  crypto::PowChallenge c = pow.challenge(0);
  Bytes nonce = solve(c);
  REQUIRE(pow.check(c.seed, nonce, "route", request_hash(), 0).is_ok());
  CHECK(pow.check(c.seed, nonce, "route", request_hash(), 0).code() == Code::kReplay);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(spend_one(pow).is_ok());
    Status again = pow.check(c.seed, nonce, "route", request_hash(), 0);
    CHECK((again.code() == Code::kReplay || again.code() == Code::kExpired));
  }
}

TEST_CASE("seeds rotate on the timer, and a replaced seed has a grace period", "[server]") {
  ManualClock clock(kStart);
  PowState pow(cheap(), 1000, clock);
  crypto::PowChallenge first = pow.challenge(0);
  clock.advance(299);
  CHECK(pow.challenge(0).seed == first.seed);
  clock.advance(1);
  crypto::PowChallenge second = pow.challenge(0);
  CHECK(second.seed != first.seed);
  // Within the grace a proof for the replaced seed is accepted...
  clock.advance(59);
  REQUIRE(pow.check(first.seed, solve(first), "route", request_hash(), 0).is_ok());
  // ...after it, refused as stale (ask again), and its nonces are forgotten.
  clock.advance(1);
  CHECK(pow.check(first.seed, solve(first), "route", request_hash(), 0).code() == Code::kExpired);
  CHECK(pow.stats().replay_entries == 0);
  CHECK(pow.check(second.seed, solve(second), "route", request_hash(), 0).is_ok());
}

TEST_CASE("effort rises under a burst of proofs and falls back after", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.max_effort = 64;
  config.proofs_per_minute = 10;
  config.effort_step = std::chrono::seconds(20);
  Metrics metrics;
  PowState pow(config, 1000, clock, &metrics);
  CHECK(pow.challenge(0).effort == 1);
  CHECK(metrics.pow_effort.load() == 1);

  // Within effort_step of the last rotation (the start) the effort holds.
  for (int i = 0; i < 15; ++i) REQUIRE(spend_one(pow).is_ok());
  CHECK(pow.effort_for_load(0) == 2);
  CHECK(pow.challenge(0).effort == 1);

  // Past it, the burst raises it: 40 proofs in a minute is 4 times the
  // normal 10, so two doublings.
  clock.advance(20);
  for (int i = 0; i < 25; ++i) REQUIRE(spend_one(pow).is_ok());
  CHECK(pow.stats().proofs_last_minute == 40);
  CHECK(pow.effort_for_load(0) == 4);
  clock.advance(20);
  const crypto::PowChallenge high = pow.challenge(0);
  CHECK(high.effort == 4);
  CHECK(metrics.pow_effort.load() == 4);
  CHECK(metrics.pow_proofs_last_minute.load() == 40);
  CHECK(metrics.pow_rotations[1].load() >= 1);  // reason "load"
  // The proof is checked against its seed's effort: a weak one is refused.
  CHECK(pow.check(high.seed, solve_weak(high.seed, 4), "route", request_hash(), 0).code() ==
        Code::kAuthFailed);

  // A minute after the burst the window is empty and the effort is back.
  clock.advance(61);
  CHECK(pow.stats().proofs_last_minute == 0);
  CHECK(pow.challenge(0).effort == 1);
  CHECK(metrics.pow_effort.load() == 1);

  // The ceiling holds whatever the rate.
  clock.advance(20);
  for (int i = 0; i < 2000; ++i) REQUIRE(spend_one(pow).is_ok());
  CHECK(pow.effort_for_load(0) == 64);
}

TEST_CASE("a proof solved at the announced effort survives a rise in effort", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.max_effort = 1u << 20;
  config.proofs_per_minute = 1;
  config.effort_step = std::chrono::seconds(20);
  PowState pow(config, 1000, clock);

  const crypto::PowChallenge asked = pow.challenge(0);
  REQUIRE(asked.effort == 1);
  const Bytes solved = solve(asked);
  // Others spend proofs meanwhile (12 a minute against a normal 1): once
  // effort_step has passed, the effort rises and the seed is replaced.
  for (int i = 0; i < 12; ++i) REQUIRE(spend_one(pow).is_ok());
  clock.advance(20);
  const crypto::PowChallenge now = pow.challenge(0);
  REQUIRE(now.seed != asked.seed);
  REQUIRE(now.effort == 16);
  // The earlier client's proof was solved at effort 1 for its seed: accepted.
  CHECK(pow.check(asked.seed, solved, "route", request_hash(), 0).is_ok());
  // The same work for the new seed is not enough.
  CHECK(pow.check(now.seed, solve_weak(now.seed, now.effort), "route", request_hash(), 0).code() ==
        Code::kAuthFailed);
}

TEST_CASE("effort rises as the waiting room fills", "[server]") {
  ManualClock clock(kStart);
  PowConfig config = cheap();
  config.effort = 100;
  config.max_effort = 1000000;
  PowState pow(config, 1000, clock);
  CHECK(pow.effort_for_load(0) == 100);
  CHECK(pow.effort_for_load(499) == 100);
  CHECK(pow.effort_for_load(500) == 200);  // half full: free places halved once
  CHECK(pow.effort_for_load(750) == 400);
  CHECK(pow.effort_for_load(875) == 800);
  CHECK(pow.effort_for_load(999) == 51200);  // 1 free of 1000: nine halvings
  CHECK(pow.effort_for_load(1000) == 1000000);
  CHECK(pow.effort_for_load(5000) == 1000000);
  // The effort asked is the one bound to the seed handed out.
  crypto::PowChallenge c = pow.challenge(750);
  CHECK(c.effort == 400);
  CHECK(pow.check(c.seed, solve(c), "route", request_hash(), 750).is_ok());
  CHECK(pow.challenge(0).effort == 100);
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
