// FailedLoginBudget: server-wide budgets for failed logins of one kind
// (responder_login or vault_login), split by whether the connection has
// failed a login before.
//
// A failed login costs the server signature checks (and, for a vault, a
// storage read) and the attacker almost nothing. Two token buckets
// (server/token_bucket.h), each failure spends one token from one of them:
//   first  -- a connection's first login attempt. An attacker pays a TCP and
//             WebSocket handshake for each of these, and a real responder or
//             survivor coming back almost always logs in on a fresh
//             connection, so this budget is the larger one: a storm on few
//             connections cannot make a real first attempt wait.
//   repeat -- attempts on a connection that has already failed (or been
//             refused): what spinning on a kept connection spends.
// While a bucket is empty, every attempt of that class is answered
// rate_limited before any signature work; legitimate clients retry with
// backoff (a success spends nothing). docs/operations.md ("Failed logins")
// gives the defaults and the arithmetic behind them.
//
// Time is passed in, never read here, so tests drive it.
//
// Thread safety: every method is safe from any thread (one internal mutex).
#pragma once

#include <chrono>
#include <mutex>

#include "host/config.h"
#include "server/token_bucket.h"

namespace hearth::server {

class FailedLoginBudget {
 public:
  using Duration = std::chrono::nanoseconds;

  // Both buckets start full at time `now`, sized from `limits`
  // (failed_logins_per_second / failed_login_burst for first attempts,
  // repeat_failed_logins_per_second / repeat_failed_login_burst for repeats).
  FailedLoginBudget(const Limits& limits, Duration now);

  // True when a login may be tried at `now`: the bucket for this connection's
  // class (`failed_before`: it failed or was refused a login already) holds at
  // least one failure.
  bool allow(bool failed_before, Duration now);
  // A login of that class failed at `now`: spends one. Failures that were
  // allowed at once may take the bucket into debt; it refills from there.
  void spend(bool failed_before, Duration now);

 private:
  std::mutex mu_;
  TokenBucket first_;
  TokenBucket repeat_;
};

}  // namespace hearth::server
