#include "clients/lib/login_retry.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <thread>

#include "clients/lib/connection.h"

namespace hearth::client {

bool login_retryable(const Status& status) {
  auto code = protocol_error(status);
  return code == protocol::ErrorCode::kRateLimited || code == protocol::ErrorCode::kUnavailable;
}

std::chrono::milliseconds login_retry_delay(const LoginRetry& retry, int attempt) {
  const auto cap = std::max(retry.cap, std::chrono::milliseconds(1));
  auto wait = std::max(retry.first, std::chrono::milliseconds(1));
  for (int i = 0; i < attempt && wait < cap; ++i) wait *= 2;
  wait = std::min(wait, cap);
  // Jitter, not a secret: a seeded Mersenne twister is enough.
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_real_distribution<double> share(0.5, 1.0);
  return std::chrono::milliseconds(std::max<std::int64_t>(
      1, static_cast<std::int64_t>(static_cast<double>(wait.count()) * share(random))));
}

std::string login_retry_text(std::chrono::milliseconds wait) {
  const auto seconds = (wait.count() + 999) / 1000;
  return "server busy, retrying in " + std::to_string(seconds) + " s\u2026";
}

Status with_login_retry(const LoginRetry& retry, const std::function<Status()>& attempt) {
  for (int n = 0;; ++n) {
    Status s = attempt();
    if (s.is_ok() || !login_retryable(s)) return s;
    const auto wait = login_retry_delay(retry, n);
    if (retry.on_wait && !retry.on_wait(wait, s)) return s;
    std::this_thread::sleep_for(wait);
  }
}

}  // namespace hearth::client
