#include "server/services.h"

#include <algorithm>

#include "crypto/random.h"

namespace hearth::server {
namespace {

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

PowState::PowState(const PowConfig& config, std::size_t max_waiting_cases,
                   std::size_t reserved_places, const Clock& clock, Metrics* metrics)
    : config_(config),
      max_waiting_(max_waiting_cases),
      reserved_(std::min(reserved_places, max_waiting_cases)),
      clock_(clock),
      metrics_(metrics) {
  std::lock_guard lock(mu_);
  publish_locked(clock_.now(), 0);
}

void PowState::expire_locked(UnixSeconds now) {
  // A challenge is usable while now < expires: from its expiry second on it
  // is no longer outstanding.
  while (!outstanding_.empty() && outstanding_.begin()->first <= now) {
    total_.all -= outstanding_.begin()->second.all;
    total_.danger_now -= outstanding_.begin()->second.danger_now;
    outstanding_.erase(outstanding_.begin());
  }
}

void PowState::forget_locked(const Issued& issued, UnixSeconds now) {
  expire_locked(now);
  // Gone already when it expired. Each issued challenge is forgotten once
  // (the Connection gives up its only copy), so the counts never underflow.
  auto it = outstanding_.find(issued.expires);
  if (it == outstanding_.end() || it->second.all == 0) return;
  --it->second.all;
  --total_.all;
  if (issued.danger_now && it->second.danger_now > 0) {
    --it->second.danger_now;
    --total_.danger_now;
  }
  if (it->second.all == 0) outstanding_.erase(it);
}

std::uint32_t PowState::effort_for_locked(bool danger_now, UnixSeconds now, std::size_t waiting) {
  expire_locked(now);
  const std::uint64_t floor = std::max(config_.effort, 1u);
  const std::uint64_t ceiling = std::max<std::uint64_t>(
      danger_now ? config_.danger_now_max_effort : config_.max_effort, floor);
  unsigned doublings = load_doublings(window_.count(now) + total_.all, config_.proofs_per_minute);
  // Outstanding challenges are places about to be taken. A danger-now price
  // counts only danger-now ones: others cannot take the reserved places, so
  // holding them must not raise what a survivor in danger pays.
  const std::uint64_t occupied = std::min<std::uint64_t>(
      waiting + (danger_now ? total_.danger_now : total_.all), max_waiting_);
  doublings += room_doublings(occupied, max_waiting_);
  if (danger_now && reserved_ > 0) {
    const std::uint64_t free = max_waiting_ - occupied;
    const std::uint64_t reserved_free = std::min<std::uint64_t>(free, reserved_);
    doublings += room_doublings(reserved_ - reserved_free, reserved_);
  }
  return static_cast<std::uint32_t>(std::min(ceiling, floor << std::min(kMaxDoublings, doublings)));
}

std::uint32_t PowState::effort_for_load(bool danger_now, std::size_t waiting) {
  std::lock_guard lock(mu_);
  return effort_for_locked(danger_now, clock_.now(), waiting);
}

void PowState::publish_locked(UnixSeconds now, std::size_t waiting) {
  last_waiting_ = waiting;
  if (metrics_ == nullptr) return;
  metrics_->pow_effort.store(effort_for_locked(false, now, waiting), std::memory_order_relaxed);
  metrics_->pow_danger_now_effort.store(effort_for_locked(true, now, waiting),
                                        std::memory_order_relaxed);
  metrics_->pow_challenges_outstanding.store(static_cast<std::int64_t>(total_.all),
                                             std::memory_order_relaxed);
  metrics_->pow_proofs_last_minute.store(static_cast<std::int64_t>(window_.count(now)),
                                         std::memory_order_relaxed);
}

PowState::Issued PowState::issue(bool danger_now, std::size_t waiting) {
  std::lock_guard lock(mu_);
  const UnixSeconds now = clock_.now();
  Issued issued;
  issued.challenge = crypto::random_bytes(crypto::kPowSeedBytes);
  issued.effort = effort_for_locked(danger_now, now, waiting);
  issued.danger_now = danger_now;
  issued.expires = now + config_.challenge_ttl.count();
  Counts& at = outstanding_[issued.expires];
  ++at.all;
  ++total_.all;
  if (danger_now) {
    ++at.danger_now;
    ++total_.danger_now;
  }
  if (metrics_ != nullptr) metrics_->pow_challenges_issued.fetch_add(1, std::memory_order_relaxed);
  publish_locked(now, waiting);
  return issued;
}

void PowState::release(const Issued& issued) {
  std::lock_guard lock(mu_);
  forget_locked(issued, clock_.now());
}

Status PowState::spend(const Issued& issued, ByteView nonce, std::string_view action,
                       ByteView request_hash) {
  // One hash, outside the lock. The effort is the one fixed at issue: a
  // client that solved what it was asked is never refused because the load
  // changed meanwhile, and a proof solved at a lower effort is no proof here.
  crypto::PowChallenge challenge{issued.challenge, issued.effort};
  Status verified = crypto::verify_pow(challenge, action, request_hash,
                                       crypto::PowSolution{Bytes(nonce.begin(), nonce.end())});
  std::lock_guard lock(mu_);
  const UnixSeconds now = clock_.now();
  forget_locked(issued, now);
  if (verified.is_ok()) window_.add(now);
  publish_locked(now, last_waiting_);
  return verified;
}

void PowState::maintain(std::size_t waiting) {
  std::lock_guard lock(mu_);
  const UnixSeconds now = clock_.now();
  expire_locked(now);
  publish_locked(now, waiting);
}

PowState::Stats PowState::stats() {
  std::lock_guard lock(mu_);
  const UnixSeconds now = clock_.now();
  expire_locked(now);
  return {total_.all, total_.danger_now, window_.count(now)};
}

}  // namespace hearth::server
