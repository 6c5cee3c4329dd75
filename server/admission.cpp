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

std::size_t Admission::shield_cap() const {
  // At most a quarter of the anonymous pool per kind: at least half of it
  // stays unprotected, so an idle flood always has its own to evict.
  return std::min(limits_.max_protected_anonymous, limits_.max_anonymous_connections / 4);
}

bool Admission::shielded(const Entry& e, TimePoint now) const {
  return e.shield != Shield::kNone && e.shield_until > now;
}

Admission::Closer Admission::take_out(std::map<std::uint64_t, Entry>::iterator it) {
  it->second.asked_to_close = true;
  adjust(it->second.pool, -1);
  it->second.pool = Pool::kNone;
  if (!it->second.party.empty()) {
    auto p = parties_.find(it->second.party);
    if (p != parties_.end() && --p->second == 0) parties_.erase(p);
    it->second.party.clear();
  }
  return it->second.closer;
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
    Entry entry;
    entry.closer = std::move(closer);
    entries_.emplace(id, std::move(entry));
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
      // makes way (a client told 1013 may come back). Unprotected ones go
      // first: a login in flight and a paid route are not pushed out by a
      // flood of idle sockets. Only when every one is protected does a
      // protection yield (logging in, which is free to claim, before paid),
      // so the upgrade is refused only when logged-in connections hold every
      // place.
      const TimePoint now = std::chrono::steady_clock::now();
      auto victim = entries_.end();
      int victim_rank = 3;
      for (auto e = entries_.begin(); e != entries_.end() && victim_rank > 0; ++e) {
        if (e->second.pool != Pool::kAnonymous || e->second.asked_to_close) continue;
        int rank = !shielded(e->second, now) ? 0 : e->second.shield == Shield::kLoggingIn ? 1 : 2;
        if (rank < victim_rank) {
          victim = e;
          victim_rank = rank;
        }
      }
      if (victim != entries_.end()) {
        evict = take_out(victim);
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

bool Admission::promote(Ticket& ticket, bool responder, std::string_view party, bool live_case) {
  std::vector<std::pair<Closer, Reason>> closers;
  bool admitted = false;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(ticket.id_);
    if (ticket.owner_ != this || it == entries_.end() || it->second.pool != Pool::kAnonymous)
      return false;
    std::string key = responder ? "r" : "s";
    key.append(party);
    auto of_party = [this](const std::string& k) {
      return std::find_if(entries_.begin(), entries_.end(), [&k](const auto& e) {
        return e.second.party == k && !e.second.asked_to_close;
      });
    };
    // One party at its cap: its oldest connection goes (often a socket
    // left half-dead by a network change), the newest login stays.
    const std::size_t cap =
        responder ? limits_.max_connections_per_responder : limits_.max_connections_per_vault;
    for (auto p = parties_.find(key); p != parties_.end() && p->second >= cap;
         p = parties_.find(key)) {
      auto victim = of_party(key);
      if (victim == entries_.end()) break;
      closers.emplace_back(take_out(victim), Reason::kReplaced);
      metrics_.logins_replaced[responder ? 1 : 0].fetch_add(1);
    }
    // Survivors stay below max_connections minus the reserve: past it a
    // responder could not get in. When full, a connection of a vault with no
    // live case goes first (a vault is made with a case, which costs a proof
    // of work and a place in the waiting room; once its cases are dismissed
    // or closed it holds no place against one that has a case). Then the
    // vault holding the most connections gives up its oldest, so every vault
    // gets one place before any gets two: filling the pool takes one vault,
    // with a live case, per place.
    const std::size_t survivor_room = limits_.max_connections - reserve();
    if (!responder && survivors_ >= survivor_room) {
      auto victim = entries_.end();
      std::size_t most = 1;
      for (auto e = entries_.begin(); e != entries_.end(); ++e) {
        if (e->second.pool != Pool::kSurvivor || e->second.asked_to_close) continue;
        if (!e->second.live_case) {
          victim = e;
          break;
        }
        auto p = parties_.find(e->second.party);
        if (p != parties_.end() && p->second > most) {
          most = p->second;
          victim = e;
        }
      }
      if (victim != entries_.end()) {
        closers.emplace_back(take_out(victim), Reason::kMadeWay);
        metrics_.survivors_made_way.fetch_add(1);
      }
    }
    if (responder || survivors_ < survivor_room) {
      --anonymous_;
      it->second.pool = responder ? Pool::kResponder : Pool::kSurvivor;
      it->second.shield = Shield::kNone;
      adjust(it->second.pool, +1);
      ++parties_[key];
      it->second.party = std::move(key);
      it->second.live_case = responder || live_case;
      admitted = true;
    }
    publish();
  }
  for (auto& [closer, reason] : closers)
    if (closer) closer(reason);
  return admitted;
}

void Admission::set_live_case(Ticket& ticket, bool live_case) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end()) return;
  it->second.live_case = live_case;
}

void Admission::protect(Ticket& ticket, Shield shield) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end() || shield == Shield::kNone) return;
  Entry& self = it->second;
  if (self.pool != Pool::kAnonymous || self.asked_to_close) return;
  // Once per kind per connection: asking for challenge after challenge does
  // not keep a socket protected.
  bool& granted = shield == Shield::kPaid ? self.granted_paid : self.granted_logging_in;
  if (granted) return;
  granted = true;
  const TimePoint now = std::chrono::steady_clock::now();
  if (shield == Shield::kLoggingIn && self.shield == Shield::kPaid && shielded(self, now)) return;
  const std::size_t cap = shield_cap();
  if (cap == 0) return;
  // Past the kind's cap its oldest protection ends: claiming them all takes
  // a steady stream of new connections, and each lasts anonymous_protection.
  std::size_t live = 0;
  auto oldest_shield = entries_.end();
  for (auto e = entries_.begin(); e != entries_.end(); ++e) {
    const Entry& x = e->second;
    if (x.pool != Pool::kAnonymous || x.asked_to_close || x.shield != shield || !shielded(x, now))
      continue;
    ++live;
    if (oldest_shield == entries_.end() || x.shield_order < oldest_shield->second.shield_order)
      oldest_shield = e;
  }
  if (live >= cap && oldest_shield != entries_.end()) {
    oldest_shield->second.shield = Shield::kNone;
    metrics_.protections_displaced.fetch_add(1);
  }
  self.shield = shield;
  self.shield_until = now + limits_.anonymous_protection;
  self.shield_order = next_shield_order_++;
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
  if (!it->second.party.empty()) {
    auto p = parties_.find(it->second.party);
    if (p != parties_.end() && --p->second == 0) parties_.erase(p);
  }
  buffered_ -= it->second.read + it->second.queued;
  entries_.erase(it);
  publish();
}

}  // namespace hearth::server
