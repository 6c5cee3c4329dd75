#include "server/admission.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace hearth::server {

// ---- Ticket ----

Admission::Ticket::Ticket(Ticket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), id_(std::exchange(other.id_, 0)) {}

Admission::Ticket& Admission::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void Admission::Ticket::reset() {
  if (owner_ != nullptr) owner_->erase(id_);
  owner_ = nullptr;
  id_ = 0;
}

Admission::Pool Admission::Ticket::pool() const {
  if (owner_ == nullptr) return Pool::kNone;
  std::lock_guard lock(owner_->mu_);
  auto it = owner_->entries_.find(id_);
  return it == owner_->entries_.end() ? Pool::kNone : it->second.pool;
}

// ---- Admission ----

Admission::Admission(const Limits& limits, Metrics& metrics) : limits_(limits), metrics_(metrics) {}

std::size_t Admission::reserve() const {
  return std::min(limits_.reserved_responder_connections, limits_.max_connections / 2);
}

void Admission::adjust(Pool pool, int delta) {
  std::size_t* n = nullptr;
  switch (pool) {
    case Pool::kHandshake:
      n = &handshakes_;
      break;
    case Pool::kAnonymous:
      n = &anonymous_;
      break;
    case Pool::kSurvivor:
      n = &survivors_;
      break;
    case Pool::kResponder:
      n = &responders_;
      break;
    case Pool::kNone:
      return;  // closing, or an HTTP reply: counted nowhere
  }
  *n = static_cast<std::size_t>(static_cast<std::int64_t>(*n) + delta);
}

void Admission::publish() {
  metrics_.handshakes_open.store(static_cast<std::int64_t>(handshakes_));
  metrics_.anonymous_open.store(static_cast<std::int64_t>(anonymous_));
  metrics_.survivors_open.store(static_cast<std::int64_t>(survivors_));
  metrics_.responders_open.store(static_cast<std::int64_t>(responders_));
  metrics_.buffered_bytes.store(static_cast<std::int64_t>(buffered_));
}

std::map<std::uint64_t, Admission::Entry>::iterator Admission::oldest(Pool pool) {
  return std::find_if(entries_.begin(), entries_.end(), [pool](const auto& e) {
    return e.second.pool == pool && !e.second.asked_to_close;
  });
}

Admission::Ticket Admission::enter(Closer closer) {
  Closer evict;
  Ticket ticket;
  {
    std::lock_guard lock(mu_);
    if (handshakes_ >= limits_.max_handshakes) {
      // Refusal at accept: the handshake that has stalled longest goes, at
      // once, and leaves the pool now (its socket is closed on its strand).
      if (auto it = oldest(Pool::kHandshake); it != entries_.end()) {
        it->second.asked_to_close = true;
        it->second.pool = Pool::kNone;
        --handshakes_;
        evict = it->second.closer;
        metrics_.handshakes_evicted.fetch_add(1);
      }
    }
    std::uint64_t id = next_id_++;
    entries_.emplace(id, Entry{Pool::kHandshake, std::move(closer), 0, 0, false});
    ++handshakes_;
    publish();
    ticket.owner_ = this;
    ticket.id_ = id;
  }
  if (evict) evict(Reason::kHandshakeEvicted);
  return ticket;
}

bool Admission::upgrade(Ticket& ticket) {
  Closer evict;
  bool admitted = false;
  {
    std::lock_guard lock(mu_);
    auto self = entries_.find(ticket.id_);
    if (ticket.owner_ != this || self == entries_.end() || self->second.pool != Pool::kHandshake)
      return false;
    // Anonymous connections may use the responders' reserve: they are the
    // ones closed to make room, and a responder arrives as one of them.
    auto has_room = [this] {
      return anonymous_ < limits_.max_anonymous_connections &&
             anonymous_ + survivors_ + responders_ < limits_.max_connections;
    };
    if (!has_room()) {
      // The oldest anonymous connection has had the longest to log in; it
      // makes way (a client told 1013 may come back).
      if (auto it = oldest(Pool::kAnonymous); it != entries_.end()) {
        it->second.asked_to_close = true;
        it->second.pool = Pool::kNone;
        --anonymous_;
        evict = it->second.closer;
        metrics_.anonymous_evicted.fetch_add(1);
      }
    }
    --handshakes_;
    if (has_room()) {
      self->second.pool = Pool::kAnonymous;
      ++anonymous_;
      admitted = true;
    } else {
      self->second.pool = Pool::kNone;
    }
    publish();
  }
  if (evict) evict(Reason::kAnonymousEvicted);
  return admitted;
}

void Admission::leave_handshake(Ticket& ticket) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end() || it->second.pool != Pool::kHandshake) return;
  it->second.pool = Pool::kNone;
  --handshakes_;
  publish();
}

bool Admission::promote(Ticket& ticket, bool responder) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end() || it->second.pool != Pool::kAnonymous)
    return false;
  // Survivors stay below max_connections minus the reserve: past it a
  // responder could not get in.
  if (!responder && survivors_ >= limits_.max_connections - reserve()) return false;
  --anonymous_;
  it->second.pool = responder ? Pool::kResponder : Pool::kSurvivor;
  adjust(it->second.pool, +1);
  publish();
  return true;
}

bool Admission::hold_read(Ticket& ticket, std::size_t bytes) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end()) return false;
  std::size_t without = buffered_ - it->second.read;  // everything but this read
  if (bytes > it->second.read && bytes > kFreeReadBytes &&
      without + bytes > limits_.max_buffered_bytes) {
    metrics_.buffer_waits.fetch_add(1);
    return false;
  }
  buffered_ = without + bytes;
  it->second.read = bytes;
  publish();
  return true;
}

void Admission::hold_queued(Ticket& ticket, std::size_t bytes) {
  Closer close;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(ticket.id_);
    if (ticket.owner_ != this || it == entries_.end()) return;
    buffered_ = buffered_ - it->second.queued + bytes;
    it->second.queued = bytes;
    if (buffered_ > limits_.max_buffered_bytes) {
      // Over the budget: the largest holder goes (its queue is dropped when it
      // closes), not whoever happened to queue the last frame.
      auto largest = entries_.end();
      for (auto e = entries_.begin(); e != entries_.end(); ++e) {
        if (e->second.asked_to_close) continue;
        if (largest == entries_.end() ||
            e->second.read + e->second.queued > largest->second.read + largest->second.queued)
          largest = e;
      }
      if (largest != entries_.end()) {
        largest->second.asked_to_close = true;
        close = largest->second.closer;
        metrics_.buffer_budget_closes.fetch_add(1);
      }
    }
    publish();
  }
  if (close) close(Reason::kBufferBudget);
}

std::size_t Admission::buffered() const {
  std::lock_guard lock(mu_);
  return buffered_;
}

void Admission::erase(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  adjust(it->second.pool, -1);
  buffered_ -= it->second.read + it->second.queued;
  entries_.erase(it);
  publish();
}

}  // namespace hearth::server
