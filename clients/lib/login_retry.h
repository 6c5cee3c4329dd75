// LoginRetry: what a client does when the server turns a login away for load.
//
// hearthd answers a login `rate_limited` while its failed-login budget is
// spent (a storm of bad logins; docs/operations.md "Failed logins") and
// `unavailable` when it cannot serve it right now. Neither says anything
// about this client's keys: the login is tried again, on a new connection,
// after a capped exponential backoff with jitter (so many clients turned away
// together do not come back together), and the person is told why they wait.
//
// Thread safety: none needed; a LoginRetry is read-only while in use.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"

namespace hearth::client {

struct LoginRetry {
  // The first wait; each later one doubles, up to `cap`. Each wait is drawn
  // at random from [half, all] of that.
  std::chrono::milliseconds first{1000};
  std::chrono::milliseconds cap{30000};
  // Called before each wait with its length and the refusal; returns false to
  // stop retrying (the refusal is then returned). Unset: retry until the
  // login succeeds or fails for another reason.
  std::function<bool(std::chrono::milliseconds wait, const Status& refusal)> on_wait;
};

// True when `status` is the server turning a login away for load: the wire
// codes rate_limited and unavailable.
bool login_retryable(const Status& status);

// The wait before retry number `attempt` (0 for the first): min(cap, first *
// 2^attempt), scaled by a random factor in [0.5, 1].
std::chrono::milliseconds login_retry_delay(const LoginRetry& retry, int attempt);

// What to tell the person: "server busy, retrying in 4 s…" (whole seconds,
// rounded up).
std::string login_retry_text(std::chrono::milliseconds wait);

// Runs `attempt` until it succeeds or fails with a status that is not
// login_retryable (or on_wait says stop), sleeping login_retry_delay() in
// between. Returns the last status.
Status with_login_retry(const LoginRetry& retry, const std::function<Status()>& attempt);

}  // namespace hearth::client
