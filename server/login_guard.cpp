#include "server/login_guard.h"

#include <algorithm>

namespace hearth::server {

FailedLoginBudget::FailedLoginBudget(std::uint32_t rate_per_second, std::uint32_t burst,
                                     Duration now)
    : rate_(std::max<double>(1, rate_per_second)),
      burst_(std::max<double>(1, burst)),
      tokens_(burst_),
      last_(now) {}

void FailedLoginBudget::refill_locked(Duration now) {
  if (now > last_) {
    double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
    last_ = now;
  }
}

bool FailedLoginBudget::allow(Duration now) {
  std::lock_guard lock(mu_);
  refill_locked(now);
  return tokens_ >= 1;
}

void FailedLoginBudget::spend(Duration now) {
  std::lock_guard lock(mu_);
  refill_locked(now);
  tokens_ = std::max(0.0, tokens_ - 1);
}

}  // namespace hearth::server
