// The server-wide failed-login budget, driven by explicit times.
#include <catch2/catch.hpp>

#include "server/login_guard.h"

namespace hearth::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("the failed-login budget allows a burst of failures, then refills at its rate",
          "[server]") {
  const auto t0 = seconds(1000);
  FailedLoginBudget budget(2, 3, t0);
  for (int i = 0; i < 3; ++i) {
    CHECK(budget.allow(t0));
    budget.spend(t0);
  }
  CHECK_FALSE(budget.allow(t0));
  // Spending more while empty does not go into debt.
  budget.spend(t0);
  CHECK_FALSE(budget.allow(t0 + milliseconds(499)));
  CHECK(budget.allow(t0 + milliseconds(500)));  // one failure's worth at 2/s
  budget.spend(t0 + milliseconds(500));
  CHECK_FALSE(budget.allow(t0 + milliseconds(500)));
  // A long pause refills to the burst, never above it.
  const auto later = t0 + seconds(60);
  for (int i = 0; i < 3; ++i) {
    CHECK(budget.allow(later));
    budget.spend(later);
  }
  CHECK_FALSE(budget.allow(later));
  // Time going backwards is taken as no time passing.
  CHECK_FALSE(budget.allow(t0));
}

}  // namespace
}  // namespace hearth::server
