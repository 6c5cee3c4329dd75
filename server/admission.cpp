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

namespace {

int shield_kind(Admission::Shield shield) { return shield == Admission::Shield::kPaid ? 1 : 0; }

}  // namespace

void Admission::list(std::uint64_t id, Entry& e) {
  if (e.asked_to_close) return;
  // Ranked by what a close frees (its read and its queue): requests in
  // flight run to their commit whether or not the connection closes.
  closable_ += e.read + e.queued;
  if (e.read + e.queued > 0) holders_.emplace(e.read + e.queued, ~id);
  switch (e.pool) {
    case Pool::kHandshake:
      shares_[kHandshakes].add(e.source, id);
      break;
    case Pool::kAnonymous:
      if (e.shield == Shield::kNone) {
        shares_[kUnprotected].add(e.source, id);
      } else {
        shares_[e.shield == Shield::kPaid ? kPaid : kLoggingIn].add(e.source, e.shield_order);
        shields_[shield_kind(e.shield)].emplace(e.shield_order, id);
      }
      break;
    case Pool::kSurvivor:
      shares_[kSurvivors].add(e.source, id);
      e.source->vaults.add(e.party, id);
      if (!e.live_case) caseless_.add(e.source, id);
      party_members_[e.party].insert(id);
      break;
    case Pool::kResponder:
      party_members_[e.party].insert(id);
      break;
    case Pool::kNone:
      break;
  }
}

void Admission::unlist(std::uint64_t id, Entry& e) {
  if (e.asked_to_close) return;
  closable_ -= e.read + e.queued;
  holders_.erase({e.read + e.queued, ~id});
  switch (e.pool) {
    case Pool::kHandshake:
      shares_[kHandshakes].remove(e.source, id);
      break;
    case Pool::kAnonymous:
      if (e.shield == Shield::kNone) {
        shares_[kUnprotected].remove(e.source, id);
      } else {
        shares_[e.shield == Shield::kPaid ? kPaid : kLoggingIn].remove(e.source, e.shield_order);
        shields_[shield_kind(e.shield)].erase(e.shield_order);
      }
      break;
    case Pool::kSurvivor:
      shares_[kSurvivors].remove(e.source, id);
      e.source->vaults.remove(e.party, id);
      caseless_.remove(e.source, id);
      [[fallthrough]];
    case Pool::kResponder:
      if (auto p = party_members_.find(e.party); p != party_members_.end()) {
        p->second.erase(id);
        if (p->second.empty()) party_members_.erase(p);
      }
      break;
    case Pool::kNone:
      break;
  }
}

void Admission::expire_shields(TimePoint now) {
  for (auto& kind : shields_) {
    while (!kind.empty()) {
      auto it = entries_.find(kind.begin()->second);
      if (it == entries_.end()) {
        kind.erase(kind.begin());  // cannot happen: erase unlists
        continue;
      }
      // Every protection lasts anonymous_protection: the first granted ends first.
      if (it->second.shield_until > now) break;
      unlist(it->first, it->second);
      it->second.shield = Shield::kNone;
      list(it->first, it->second);
    }
  }
}

std::uint64_t Admission::member_to_id(Share share, std::uint64_t member) const {
  if (share != kLoggingIn && share != kPaid) return member;
  const auto& kind = shields_[share == kPaid ? 1 : 0];
  auto it = kind.find(member);
  return it == kind.end() ? 0 : it->second;
}

std::uint64_t Admission::fair_victim(Share share, Source* newcomer) const {
  const FairShare<Source*>& s = shares_[share];
  Source* const* top = s.top();
  if (top == nullptr) return 0;
  Source* from = *top;
  // The newcomer's source joins with one more: when it would hold as many as
  // the top source, it gives up its own (one source: always its own oldest).
  const std::size_t own = s.count(newcomer);
  if (own > 0 && own + 1 >= s.count(*top)) from = newcomer;
  auto member = s.oldest(from);
  return member ? member_to_id(share, *member) : 0;
}

Admission::Closer Admission::take_out(Entries::iterator it) {
  unlist(it->first, it->second);
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

Admission::Ticket Admission::enter(Closer closer, const SourceKey& source) {
  Closer evict;
  Ticket ticket;
  {
    std::lock_guard lock(mu_);
    Source* from = &sources_[source];
    from->key = source;
    ++from->tickets;
    if (handshakes_ >= limits_.max_handshakes) {
      // Refusal at accept: the handshake that has stalled longest, of the
      // source holding the most, goes at once, and leaves the pool now (its
      // socket is closed on its strand).
      if (std::uint64_t victim = fair_victim(kHandshakes, from); victim != 0) {
        auto it = entries_.find(victim);
        unlist(it->first, it->second);
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
    entry.source = from;
    auto [it, inserted] = entries_.emplace(id, std::move(entry));
    list(id, it->second);
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
      // place. Each time from the source holding the most of that kind: a
      // flood from one address pushes out its own.
      expire_shields(std::chrono::steady_clock::now());
      std::uint64_t victim = 0;
      for (Share share : {kUnprotected, kLoggingIn, kPaid}) {
        victim = fair_victim(share, self->second.source);
        if (victim != 0) break;
      }
      if (victim != 0) {
        evict = take_out(entries_.find(victim));
        metrics_.anonymous_evicted.fetch_add(1);
      }
    }
    unlist(self->first, self->second);
    --handshakes_;
    if (has_room()) {
      self->second.pool = Pool::kAnonymous;
      ++anonymous_;
      admitted = true;
    } else {
      self->second.pool = Pool::kNone;
    }
    list(self->first, self->second);
    publish();
  }
  if (evict) evict(Reason::kAnonymousEvicted);
  return admitted;
}

void Admission::leave_handshake(Ticket& ticket) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end() || it->second.pool != Pool::kHandshake) return;
  unlist(it->first, it->second);
  it->second.pool = Pool::kNone;
  list(it->first, it->second);
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
    // One party at its cap: its oldest connection goes (often a socket
    // left half-dead by a network change), the newest login stays.
    const std::size_t cap =
        responder ? limits_.max_connections_per_responder : limits_.max_connections_per_vault;
    for (auto p = parties_.find(key); p != parties_.end() && p->second >= cap;
         p = parties_.find(key)) {
      auto members = party_members_.find(key);
      if (members == party_members_.end() || members->second.empty()) break;
      closers.emplace_back(take_out(entries_.find(*members->second.begin())), Reason::kReplaced);
      metrics_.logins_replaced[responder ? 1 : 0].fetch_add(1);
    }
    // Survivors stay below max_connections minus the reserve: past it a
    // responder could not get in. When full, a source holding at least two
    // more survivor connections than the newcomer's gives one up: filling the
    // pool from one address takes nobody else's place. Of its connections, one
    // of a vault with no live case goes first (a vault is made with a case,
    // which costs a proof of work and a place in the waiting room; once its
    // cases are dismissed or closed it holds no place against one that has a
    // case), else one of its vault holding the most, if more than one, else
    // its oldest; if it holds none without a live case, the source holding
    // the most without one gives one up when it too holds two more. A
    // newcomer with a live case also takes the oldest without one of a
    // source holding at least one more (as many once it has joined). Then the
    // newcomer's own source gives up its oldest without a live case, else its
    // vault holding the most connections gives up its oldest, so every vault
    // gets one place before any gets two: filling the pool takes one vault,
    // with a live case, per place. One source: the oldest without a live case,
    // then the vault holding the most.
    const std::size_t survivor_room = limits_.max_connections - reserve();
    if (!responder && survivors_ >= survivor_room) {
      std::uint64_t victim = 0;
      Source* mine = it->second.source;
      const FairShare<Source*>& share = shares_[kSurvivors];
      const std::size_t own = share.count(mine);
      // `s` is another source holding at least `more` survivor connections
      // more than the newcomer's.
      auto holds_more = [&](Source* const* s, std::size_t more) {
        return s != nullptr && *s != mine && share.count(*s) >= own + more;
      };
      auto of_vaults = [](const Source& s) -> std::uint64_t {
        const std::string* vault = s.vaults.top();
        if (vault == nullptr || s.vaults.count(*vault) < 2) return 0;
        return *s.vaults.oldest(*vault);
      };
      Source* const* top = share.top();
      Source* const* top_caseless = caseless_.top();
      if (holds_more(top, 2)) {
        if (caseless_.count(*top) > 0) {
          victim = *caseless_.oldest(*top);
        } else if (holds_more(top_caseless, 2)) {
          victim = *caseless_.oldest(*top_caseless);
        } else {
          victim = of_vaults(**top);
          if (victim == 0) victim = share.oldest(*top).value_or(0);
        }
      } else if (live_case && holds_more(top_caseless, 1)) {
        victim = *caseless_.oldest(*top_caseless);
      } else if (caseless_.count(mine) > 0) {
        victim = *caseless_.oldest(mine);
      } else {
        victim = of_vaults(*mine);
      }
      if (victim != 0) {
        closers.emplace_back(take_out(entries_.find(victim)), Reason::kMadeWay);
        metrics_.survivors_made_way.fetch_add(1);
      }
    }
    if (responder || survivors_ < survivor_room) {
      unlist(it->first, it->second);
      --anonymous_;
      it->second.pool = responder ? Pool::kResponder : Pool::kSurvivor;
      it->second.shield = Shield::kNone;
      adjust(it->second.pool, +1);
      ++parties_[key];
      it->second.party = std::move(key);
      it->second.live_case = responder || live_case;
      list(it->first, it->second);
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
  unlist(it->first, it->second);
  it->second.live_case = live_case;
  list(it->first, it->second);
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
  expire_shields(now);
  if (shield == Shield::kLoggingIn && self.shield == Shield::kPaid) return;
  const std::size_t cap = shield_cap();
  if (cap == 0) return;
  // Past the kind's cap a protection ends: the oldest of the source holding
  // the most of this kind (or this source's own, when it would hold as
  // many). Claiming them all from one address ends only its own; each lasts
  // anonymous_protection.
  unlist(it->first, self);
  const Share share = shield == Shield::kPaid ? kPaid : kLoggingIn;
  if (shields_[shield_kind(shield)].size() >= cap) {
    if (std::uint64_t victim = fair_victim(share, self.source); victim != 0) {
      auto v = entries_.find(victim);
      unlist(v->first, v->second);
      v->second.shield = Shield::kNone;
      list(v->first, v->second);
      metrics_.protections_displaced.fetch_add(1);
    }
  }
  self.shield = shield;
  self.shield_until = now + limits_.anonymous_protection;
  self.shield_order = next_shield_order_++;
  list(it->first, self);
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
  if (bytes != it->second.read) {
    unlist(it->first, it->second);
    buffered_ = without + bytes;
    it->second.read = bytes;
    list(it->first, it->second);
  }
  publish();
  return true;
}

bool Admission::hold_in_flight(Ticket& ticket, std::size_t bytes) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket.id_);
  if (ticket.owner_ != this || it == entries_.end()) return false;
  std::size_t without = buffered_ - it->second.in_flight;
  if (bytes > it->second.in_flight && without + bytes > limits_.max_buffered_bytes) return false;
  if (bytes != it->second.in_flight) {
    unlist(it->first, it->second);
    buffered_ = without + bytes;
    in_flight_ = in_flight_ - it->second.in_flight + bytes;
    it->second.in_flight = bytes;
    list(it->first, it->second);
  }
  publish();
  return true;
}

void Admission::hold_queued(Ticket& ticket, std::size_t bytes) {
  Closer close;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(ticket.id_);
    if (ticket.owner_ != this || it == entries_.end()) return;
    unlist(it->first, it->second);
    buffered_ = buffered_ - it->second.queued + bytes;
    it->second.queued = bytes;
    list(it->first, it->second);
    // Over the budget, not counting what connections already asked to close
    // are about to free (else each frame queued meanwhile would close one
    // more): the largest holder goes (its queue is dropped when it closes),
    // not whoever happened to queue the last frame.
    if (closable_ + in_flight_ > limits_.max_buffered_bytes && !holders_.empty()) {
      auto largest = entries_.find(~holders_.rbegin()->second);
      unlist(largest->first, largest->second);
      largest->second.asked_to_close = true;
      close = largest->second.closer;
      metrics_.buffer_budget_closes.fetch_add(1);
    }
    publish();
  }
  if (close) close(Reason::kBufferBudget);
}

std::size_t Admission::buffered() const {
  std::lock_guard lock(mu_);
  return buffered_;
}

std::size_t Admission::sources() const {
  std::lock_guard lock(mu_);
  return sources_.size();
}

void Admission::erase(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  unlist(it->first, it->second);
  adjust(it->second.pool, -1);
  if (!it->second.party.empty()) {
    auto p = parties_.find(it->second.party);
    if (p != parties_.end() && --p->second == 0) parties_.erase(p);
  }
  buffered_ -= it->second.held();
  in_flight_ -= it->second.in_flight;
  // The source's entry goes with its last connection: nothing about a peer
  // outlives its socket.
  Source* source = it->second.source;
  entries_.erase(it);
  if (source != nullptr && --source->tickets == 0) sources_.erase(source->key);
  publish();
}

}  // namespace hearth::server
