#include "server/services.h"

#include <algorithm>

#include "common/log.h"
#include "crypto/random.h"

namespace hearth::server {
namespace {

using log::logger;

// Effort doublings are counted up to here: 2^31 times any effort >= 1 is past
// every u32 ceiling already.
constexpr unsigned kMaxDoublings = 31;

std::size_t bucket_of(UnixSeconds t) {
  return static_cast<std::size_t>(((t % SpendWindow::kSeconds) + SpendWindow::kSeconds) %
                                  SpendWindow::kSeconds);
}

// Doublings for the spending rate: the least k with count <= per_minute * 2^k.
unsigned load_doublings(std::uint64_t count, std::uint64_t per_minute) {
  unsigned k = 0;
  while (k < kMaxDoublings && count > (per_minute << k)) ++k;
  return k;
}

// Doublings for the waiting room: one each time its free places halved, the
// greatest k with free * 2^k <= max (0 while at most half full); a full room
// asks the most.
unsigned room_doublings(std::size_t waiting, std::size_t max_waiting) {
  if (max_waiting == 0) return 0;
  if (waiting >= max_waiting) return kMaxDoublings;
  const std::uint64_t free = max_waiting - waiting;
  unsigned k = 0;
  while (k < kMaxDoublings && (free << (k + 1)) <= max_waiting) ++k;
  return k;
}

}  // namespace

void SpendWindow::advance(UnixSeconds now) {
  if (now <= head_) return;
  // Seconds that left the window are cleared; a jump of a whole window or
  // more clears everything, so the loop is bounded by kSeconds.
  const UnixSeconds steps = std::min(now - head_, kSeconds);
  for (UnixSeconds i = 1; i <= steps; ++i) {
    std::uint32_t& b = buckets_[bucket_of(head_ + i)];
    total_ -= b;
    b = 0;
  }
  head_ = now;
}

void SpendWindow::add(UnixSeconds now) {
  advance(now);
  ++buckets_[bucket_of(head_)];
  ++total_;
}

std::uint64_t SpendWindow::count(UnixSeconds now) {
  advance(now);
  return total_;
}

PowState::PowState(const PowConfig& config, std::size_t max_waiting_cases, const Clock& clock,
                   Metrics* metrics)
    : config_(config),
      max_waiting_(max_waiting_cases),
      clock_(clock),
      metrics_(metrics),
      current_{crypto::random_bytes(crypto::kPowSeedBytes), std::max(config.effort, 1u),
               clock.now()},
      last_rotation_(current_.since),
      guard_(current_.seed, config.replay_budget) {
  std::lock_guard lock(mu_);
  publish_locked();
}

std::uint32_t PowState::effort_for_locked(UnixSeconds now, std::size_t waiting) {
  const std::uint64_t floor = std::max(config_.effort, 1u);
  const std::uint64_t ceiling = std::max<std::uint64_t>(config_.max_effort, floor);
  const unsigned doublings =
      std::min(kMaxDoublings, load_doublings(window_.count(now), config_.proofs_per_minute) +
                                  room_doublings(waiting, max_waiting_));
  return static_cast<std::uint32_t>(std::min(ceiling, floor << doublings));
}

std::uint32_t PowState::effort_for_load(std::size_t waiting) {
  std::lock_guard lock(mu_);
  return effort_for_locked(clock_.now(), waiting);
}

void PowState::rotate_locked(UnixSeconds now, std::uint32_t effort, Reason reason) {
  Bytes next = crypto::random_bytes(crypto::kPowSeedBytes);
  // A 32-byte random seed equal to one of the two live ones does not happen;
  // if the guard refused it anyway, draw again rather than keep a full seed.
  while (!guard_.rotate(next).is_ok()) next = crypto::random_bytes(crypto::kPowSeedBytes);
  previous_ = LiveSeed{std::move(current_.seed), current_.effort, now};
  current_ = LiveSeed{std::move(next), effort, now};
  last_rotation_ = now;
  ++rotations_;
  switch (reason) {
    case Reason::kTimer:
      logger().debug("pow_seed_rotated", {{"reason", "timer"}, {"effort", effort}});
      break;
    case Reason::kLoad:
      logger().debug("pow_seed_rotated", {{"reason", "load"}, {"effort", effort}});
      break;
    case Reason::kFull:
      logger().debug("pow_seed_rotated", {{"reason", "full"}, {"effort", effort}});
      break;
  }
  if (metrics_ != nullptr)
    metrics_->pow_rotations[static_cast<std::size_t>(reason)].fetch_add(1,
                                                                        std::memory_order_relaxed);
}

void PowState::maintain_locked(UnixSeconds now, std::size_t waiting) {
  // A replaced seed past its grace is forgotten with its nonces: it is
  // refused as stale from now on, so nothing it spent can be replayed.
  if (previous_ && now - previous_->since >= config_.previous_seed_grace.count()) {
    guard_.retire_previous();
    previous_.reset();
  }
  const std::uint32_t effort = effort_for_locked(now, waiting);
  if (guard_.current_full()) {
    rotate_locked(now, effort, Reason::kFull);
  } else if (now - current_.since >= config_.seed_rotation.count()) {
    rotate_locked(now, effort, Reason::kTimer);
  } else if (effort != current_.effort && now - last_rotation_ >= config_.effort_step.count()) {
    rotate_locked(now, effort, Reason::kLoad);
  }
  publish_locked();
}

void PowState::publish_locked() {
  if (metrics_ == nullptr) return;
  metrics_->pow_effort.store(current_.effort, std::memory_order_relaxed);
  metrics_->pow_replay_entries.store(static_cast<std::int64_t>(guard_.size()),
                                     std::memory_order_relaxed);
  metrics_->pow_replay_capacity.store(static_cast<std::int64_t>(guard_.capacity()),
                                      std::memory_order_relaxed);
  metrics_->pow_proofs_last_minute.store(static_cast<std::int64_t>(window_.count(clock_.now())),
                                         std::memory_order_relaxed);
}

crypto::PowChallenge PowState::challenge(std::size_t waiting) {
  std::lock_guard lock(mu_);
  maintain_locked(clock_.now(), waiting);
  return {current_.seed, current_.effort};
}

void PowState::maintain(std::size_t waiting) {
  std::lock_guard lock(mu_);
  maintain_locked(clock_.now(), waiting);
}

Status PowState::check(ByteView seed, ByteView nonce, std::string_view action,
                       ByteView request_hash, std::size_t waiting) {
  if (seed.size() != crypto::kPowSeedBytes || nonce.size() != crypto::kPowNonceBytes)
    return error(Code::kInvalidArgument, "wrong proof-of-work lengths");
  std::uint32_t effort = 0;
  {
    std::lock_guard lock(mu_);
    maintain_locked(clock_.now(), waiting);
    auto is = [&](const Bytes& s) { return std::equal(seed.begin(), seed.end(), s.begin()); };
    if (is(current_.seed))
      effort = current_.effort;
    else if (previous_ && is(previous_->seed))
      effort = previous_->effort;
    else
      return error(Code::kExpired, "PoW seed is not live");
  }
  // Verify first (one hash, outside the lock), so an invalid proof cannot use
  // up the guard's budget. A seed's effort never changes, so a rotation in
  // between cannot make this check the wrong effort; the guard then answers
  // kExpired for a seed it no longer knows.
  crypto::PowChallenge challenge{Bytes(seed.begin(), seed.end()), effort};
  HEARTH_TRY(crypto::verify_pow(challenge, action, request_hash,
                                crypto::PowSolution{Bytes(nonce.begin(), nonce.end())}));

  std::lock_guard lock(mu_);
  Status remembered = guard_.check_and_remember(seed, nonce);
  // A seed whose share of the budget is used up is as good as gone: the
  // current one was replaced when it filled, so asking again gets room.
  if (remembered.code() == Code::kLimitExceeded)
    return error(Code::kExpired, "PoW seed's replay budget used up");
  if (!remembered.is_ok()) return remembered;
  const UnixSeconds now = clock_.now();
  window_.add(now);
  // Rotates at once if this proof filled the current seed's share, or if the
  // spending rate now asks for another effort.
  maintain_locked(now, waiting);
  return Status::ok();
}

PowState::Stats PowState::stats() const {
  std::lock_guard lock(mu_);
  Stats s;
  s.effort = current_.effort;
  s.replay_entries = guard_.size();
  s.replay_capacity = guard_.capacity();
  s.proofs_last_minute = window_.count(clock_.now());
  s.rotations = rotations_;
  return s;
}

}  // namespace hearth::server
