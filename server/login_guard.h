// FailedLoginBudget: a server-wide token bucket for failed logins of one
// kind (responder_login or vault_login).
//
// A failed login costs the server signature checks (and, for a vault, a
// storage read) and the attacker almost nothing. The bucket holds up to
// `burst` failures and refills at `rate` a second; each failure spends one.
// While it is empty, every login of that kind is answered rate_limited
// before any signature work: legitimate clients retry (a success spends
// nothing), an attacker's storm costs at most `rate` checks a second.
//
// Time is passed in, never read here, so tests drive it.
//
// Thread safety: every method is safe from any thread (one internal mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace hearth::server {

class FailedLoginBudget {
 public:
  using Duration = std::chrono::nanoseconds;

  // Starts full at time `now`. rate >= 1, burst >= 1.
  FailedLoginBudget(std::uint32_t rate_per_second, std::uint32_t burst, Duration now);

  // True when a login may be tried at `now`: at least one failure is left.
  bool allow(Duration now);
  // A login failed at `now`: spends one (the bucket never goes below zero).
  void spend(Duration now);

 private:
  void refill_locked(Duration now);

  std::mutex mu_;
  double rate_;
  double burst_;
  double tokens_;
  Duration last_;
};

}  // namespace hearth::server
