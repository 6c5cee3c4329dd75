// LogThrottle: one line for an event that can come in floods (an eviction
// per attacker connection), then at most one summary per interval.
//
// The first event is logged; later ones within `interval` of the last line
// are only counted, and the first event after it is logged with how many were
// held back ("suppressed"). A flood of 1,000 evictions a second writes one
// line per 10 s instead of 1,000 (the metrics count every one).
//
// Thread safety: allow() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace hearth::server {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kInterval{10};

  // True when a line may be written now; `suppressed` is then how many
  // events were held back since the last line.
  bool allow(Clock::time_point now, std::uint64_t& suppressed) {
    std::lock_guard lock(mu_);
    if (written_ && now < next_) {
      ++held_;
      return false;
    }
    written_ = true;
    next_ = now + kInterval;
    suppressed = held_;
    held_ = 0;
    return true;
  }

 private:
  std::mutex mu_;
  bool written_ = false;
  Clock::time_point next_{};
  std::uint64_t held_ = 0;
};

}  // namespace hearth::server
