// The server-wide failed-login budgets, driven by explicit times.
#include <catch2/catch.hpp>

#include "server/login_guard.h"

namespace hearth::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Limits budgets(std::uint32_t first_rate, std::uint32_t first_burst, std::uint32_t repeat_rate,
               std::uint32_t repeat_burst) {
  Limits l;
  l.failed_logins_per_second = first_rate;
  l.failed_login_burst = first_burst;
  l.repeat_failed_logins_per_second = repeat_rate;
  l.repeat_failed_login_burst = repeat_burst;
  return l;
}

TEST_CASE("the failed-login budget allows a burst of failures, then refills at its rate",
          "[server]") {
  const auto t0 = seconds(1000);
  const bool repeat = GENERATE(false, true);
  FailedLoginBudget budget(repeat ? budgets(100, 100, 2, 3) : budgets(2, 3, 100, 100), t0);
  for (int i = 0; i < 3; ++i) {
    CHECK(budget.allow(repeat, t0));
    budget.spend(repeat, t0);
  }
  CHECK_FALSE(budget.allow(repeat, t0));
  CHECK_FALSE(budget.allow(repeat, t0 + milliseconds(499)));
  CHECK(budget.allow(repeat, t0 + milliseconds(500)));  // one failure's worth at 2/s
  budget.spend(repeat, t0 + milliseconds(500));
  CHECK_FALSE(budget.allow(repeat, t0 + milliseconds(500)));
  // A long pause refills to the burst, never above it.
  const auto later = t0 + seconds(60);
  for (int i = 0; i < 3; ++i) {
    CHECK(budget.allow(repeat, later));
    budget.spend(repeat, later);
  }
  CHECK_FALSE(budget.allow(repeat, later));
  // Time going backwards is taken as no time passing.
  CHECK_FALSE(budget.allow(repeat, t0));
}

TEST_CASE("repeated failures on kept connections do not spend a fresh connection's budget",
          "[server]") {
  const auto t0 = seconds(1000);
  FailedLoginBudget budget(budgets(2, 2, 1, 1), t0);
  // Spinning connections empty the repeat budget...
  budget.spend(true, t0);
  for (int i = 0; i < 100; ++i) CHECK_FALSE(budget.allow(true, t0));
  // ...and a first attempt still goes through.
  CHECK(budget.allow(false, t0));
  budget.spend(false, t0);
  CHECK(budget.allow(false, t0));
  budget.spend(false, t0);
  CHECK_FALSE(budget.allow(false, t0));
  CHECK_FALSE(budget.allow(true, t0));
}

TEST_CASE("failures allowed together may take a budget into debt, paid back by waiting",
          "[server]") {
  const auto t0 = seconds(1000);
  FailedLoginBudget budget(budgets(1, 1, 1, 1), t0);
  CHECK(budget.allow(false, t0));
  CHECK(budget.allow(false, t0));  // two attempts in flight at once
  budget.spend(false, t0);
  budget.spend(false, t0);  // one token in debt
  CHECK_FALSE(budget.allow(false, t0 + milliseconds(1500)));
  CHECK(budget.allow(false, t0 + milliseconds(2000)));
}

}  // namespace
}  // namespace hearth::server
