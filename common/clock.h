// Clock: the one source of "now" for Hearth code, injectable so tests control time.
//
// Times are Unix seconds (UTC). Anything the server stores is coarsened to the
// minute or coarser by the caller (see docs/storage.md); the clock itself is exact.
//
// Thread safety: SystemClock is stateless; ManualClock is safe to read and
// advance from several threads.
#pragma once

#include <atomic>
#include <cstdint>

namespace hearth {

using UnixSeconds = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixSeconds now() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixSeconds now() const override;
};

// A clock that moves only when told to. For tests and simulations.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixSeconds start) : now_(start) {}
  UnixSeconds now() const override { return now_.load(); }
  void set(UnixSeconds t) { now_.store(t); }
  void advance(UnixSeconds seconds) { now_.fetch_add(seconds); }

 private:
  std::atomic<UnixSeconds> now_;
};

// Rounds down to the start of the minute: the finest time Hearth stores.
inline UnixSeconds to_minute(UnixSeconds t) { return t - ((t % 60) + 60) % 60; }

}  // namespace hearth
