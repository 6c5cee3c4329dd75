#include "server/login_guard.h"

namespace hearth::server {

FailedLoginBudget::FailedLoginBudget(const Limits& limits, Duration now)
    : first_(limits.failed_logins_per_second, limits.failed_login_burst, now),
      repeat_(limits.repeat_failed_logins_per_second, limits.repeat_failed_login_burst, now) {}

bool FailedLoginBudget::allow(bool failed_before, Duration now) {
  std::lock_guard lock(mu_);
  return (failed_before ? repeat_ : first_).ready(now);
}

void FailedLoginBudget::spend(bool failed_before, Duration now) {
  std::lock_guard lock(mu_);
  (void)(failed_before ? repeat_ : first_).take(now);
}

}  // namespace hearth::server
