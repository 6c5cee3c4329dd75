// The brute-force waiting room the indexed Dispatcher is checked against.
#include "tests/triage/reference_dispatcher.h"

#include <algorithm>

namespace hearth::triage::reference {

ReferenceDispatcher::ReferenceDispatcher(Rules rules) : rules_(std::move(rules)) {}

namespace {

// The chain `c` follows: its filter's, or the handoff chain of its forced queue.
const std::vector<Target>& chain_of(const Rules& rules, const WaitingCase& c,
                                    std::vector<Target>& storage) {
  if (!c.forced_queue) return rules.chain(c.placement.filter);
  storage = handoff_chain(rules, c.envelope, *c.forced_queue);
  return storage;
}

bool offered_to(const WaitingCase& c, const std::string& id) {
  return std::find(c.offered.begin(), c.offered.end(), id) != c.offered.end();
}

}  // namespace

// ---- internal helpers (file-local views of the private state) ----

namespace {

std::vector<ResponderView> views_of(const std::map<std::string, ResponderView>& responders) {
  std::vector<ResponderView> v;
  v.reserve(responders.size());
  for (const auto& [id, r] : responders) v.push_back(r);
  return v;
}

Placement place_fresh(const Rules& rules, const protocol::RouteEnvelope& envelope,
                      const std::optional<std::string>& forced_queue, UnixSeconds now,
                      std::span<const ResponderView> responders) {
  const std::size_t filter = match_filter(rules, envelope);
  const Placement start{filter, 0, now};
  if (forced_queue)
    return advance_chain(handoff_chain(rules, envelope, *forced_queue), envelope, start, now,
                         responders);
  return advance(rules, envelope, start, now, responders);
}

}  // namespace

void ReferenceDispatcher::set_rules(Rules rules, UnixSeconds now) {
  rules_ = std::move(rules);
  const std::vector<ResponderView> views = views_of(responders_);
  for (auto* room : {&waiting_, &parked_}) {
    for (auto& [key, c] : *room)
      c.placement = place_fresh(rules_, c.envelope, c.forced_queue, now, views);
  }
}

// ---- responders ----

void ReferenceDispatcher::upsert_responder(const ResponderView& r) {
  ResponderView v = r;
  // The dispatcher counts load itself (take_next, assign, remove, requeue):
  // a reconnecting responder must not reset it.
  if (auto it = responders_.find(r.id); it != responders_.end()) v.load = it->second.load;
  responders_[r.id] = std::move(v);
  connected_[r.id] = true;
}

void ReferenceDispatcher::responder_gone(const std::string& id) {
  if (auto it = responders_.find(id); it != responders_.end()) it->second.available = false;
  connected_[id] = false;
}

const ResponderView* ReferenceDispatcher::responder(const std::string& id) const {
  auto it = responders_.find(id);
  return it == responders_.end() ? nullptr : &it->second;
}

// ---- cases ----

Decision ReferenceDispatcher::preview(const protocol::RouteEnvelope& envelope,
                                      UnixSeconds now) const {
  const std::vector<ResponderView> views = views_of(responders_);
  return decide(rules_, envelope, now, views);
}

void ReferenceDispatcher::add(const CaseKey& key, const protocol::RouteEnvelope& envelope,
                              const Decision& decision, std::vector<std::string> offered,
                              UnixSeconds now) {
  WaitingCase c;
  c.key = key;
  c.envelope = envelope;
  c.arrived = now;
  c.first_arrived = now;
  c.offered = std::move(offered);
  if (decision.rules_version == rules_.version &&
      decision.placement.target < rules_.chain(decision.placement.filter).size()) {
    c.placement = decision.placement;
  } else {
    // The rules changed between preview and add: place it under the new ones.
    c.placement = place_fresh(rules_, envelope, std::nullopt, now, views_of(responders_));
  }
  waiting_[key] = std::move(c);
}

void ReferenceDispatcher::restore(const CaseKey& key, const protocol::RouteEnvelope& envelope,
                                  std::optional<std::string> forced_queue,
                                  std::vector<std::string> offered, UnixSeconds arrived,
                                  UnixSeconds now) {
  WaitingCase c;
  c.key = key;
  c.envelope = envelope;
  c.placement = place_fresh(rules_, envelope, forced_queue, now, views_of(responders_));
  c.forced_queue = std::move(forced_queue);
  c.arrived = arrived;
  c.first_arrived = arrived;
  c.offered = std::move(offered);
  parked_.erase(key);
  waiting_[key] = std::move(c);
}

void ReferenceDispatcher::assign(const CaseKey& key, const std::string& responder_id) {
  waiting_.erase(key);
  parked_.erase(key);
  if (auto it = held_.find(key); it != held_.end()) {
    if (it->second == responder_id) return;  // already counted (take_next assigns)
    if (auto r = responders_.find(it->second); r != responders_.end() && r->second.load > 0)
      --r->second.load;
  }
  held_[key] = responder_id;
  auto [it, inserted] = responders_.try_emplace(responder_id);
  if (inserted) {
    // Known only as a holder so far (start-up): not connected, not available.
    it->second.id = responder_id;
    it->second.available = false;
    it->second.load = 0;
  }
  ++it->second.load;
}

namespace {

void drop_load(std::map<std::string, ResponderView>& responders, const std::string& id) {
  if (auto r = responders.find(id); r != responders.end() && r->second.load > 0) --r->second.load;
}

}  // namespace

void ReferenceDispatcher::remove(const CaseKey& key) {
  waiting_.erase(key);
  parked_.erase(key);
  if (auto it = held_.find(key); it != held_.end()) {
    drop_load(responders_, it->second);
    held_.erase(it);
  }
}

void ReferenceDispatcher::requeue(const CaseKey& key, const protocol::RouteEnvelope& envelope,
                                  std::string queue, std::vector<std::string> offered,
                                  UnixSeconds arrived, UnixSeconds now) {
  if (auto it = held_.find(key); it != held_.end()) {
    drop_load(responders_, it->second);
    held_.erase(it);
  }
  WaitingCase c;
  c.key = key;
  c.envelope = envelope;
  c.forced_queue = std::move(queue);
  c.placement = place_fresh(rules_, envelope, c.forced_queue, now, views_of(responders_));
  c.arrived = arrived;
  c.first_arrived = arrived;
  c.offered = std::move(offered);
  parked_.erase(key);
  waiting_[key] = std::move(c);
}

// ---- the room's bounds ----

bool ReferenceDispatcher::has_room(const protocol::RouteEnvelope& envelope) const {
  const std::size_t occupied = waiting_.size() + reserved_places_;
  // Trunk reservation: everyone but danger-now stops short of the last
  // reserved_urgent places.
  std::size_t limit = room_.max_waiting;
  if (envelope.urgency != protocol::Urgency::kDangerNow)
    limit = limit > room_.reserved_urgent ? limit - room_.reserved_urgent : 0;
  return occupied < limit;
}

bool ReferenceDispatcher::reserve_place(const protocol::RouteEnvelope& envelope) {
  if (!has_room(envelope)) return false;
  ++reserved_places_;
  return true;
}

void ReferenceDispatcher::release_place() {
  if (reserved_places_ > 0) --reserved_places_;
}

bool ReferenceDispatcher::park_if_due(std::map<CaseKey, WaitingCase>::iterator it,
                                      UnixSeconds now) {
  const WaitingCase& c = it->second;
  // Only a case nobody ever took: one handed off was a real conversation.
  if (!room_.park_after_s || !c.away || c.forced_queue) return false;
  if (now < c.park_from + *room_.park_after_s) return false;
  parked_.insert(waiting_.extract(it));
  return true;
}

bool ReferenceDispatcher::unpark_if_room(std::map<CaseKey, WaitingCase>::iterator it) {
  if (it->second.away || !has_room(it->second.envelope)) return false;
  // It keeps its arrival and placement: its old place in line (tick()
  // catches its placement up with the escalations it missed).
  waiting_.insert(parked_.extract(it));
  return true;
}

void ReferenceDispatcher::survivor_away(const CaseKey& key, UnixSeconds now,
                                        std::optional<UnixSeconds> park_from,
                                        std::optional<UnixSeconds> expire_from) {
  if (auto p = parked_.find(key); p != parked_.end()) {
    // Still parked; it stays out of the room. Expiry counts from this
    // leaving: a survivor who keeps coming back while the room is full
    // keeps their case.
    if (!p->second.away) p->second.expire_from = std::min(now, expire_from.value_or(now));
    p->second.away = true;
    return;
  }
  auto it = waiting_.find(key);
  if (it == waiting_.end() || it->second.away) return;  // already away: the grace runs from then
  it->second.away = true;
  it->second.away_since = now;
  it->second.park_from = std::min(now, park_from.value_or(now));
  it->second.expire_from = std::min(now, expire_from.value_or(now));
  (void)park_if_due(it, now);  // at start-up a case may have been away long enough already
}

void ReferenceDispatcher::survivor_back(const CaseKey& key) {
  if (auto it = waiting_.find(key); it != waiting_.end()) it->second.away = false;
  if (auto p = parked_.find(key); p != parked_.end()) {
    p->second.away = false;
    (void)unpark_if_room(p);
  }
}

bool ReferenceDispatcher::tick(UnixSeconds now) {
  const std::vector<ResponderView> views = views_of(responders_);
  bool moved = false;
  std::vector<Target> storage;
  for (auto& [key, c] : waiting_) {
    const Placement p =
        advance_chain(chain_of(rules_, c, storage), c.envelope, c.placement, now, views);
    if (p.target != c.placement.target || p.entered != c.placement.entered) {
      c.placement = p;
      moved = true;
    }
    // Away past the grace: the case loses its place (its wait counts from
    // when the grace ran out), once per absence. It is never removed: a
    // survivor may have had to hide the phone, and a reply waits for them.
    if (c.away) {
      const UnixSeconds lapse = c.away_since + rules_.away_grace_s;
      if (now >= lapse && c.arrived < lapse) {
        c.arrived = lapse;
        moved = true;
      }
    }
  }
  // Away too long and never taken: parked, out of the room.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    auto next = std::next(it);
    if (park_if_due(it, now)) moved = true;
    it = next;
  }
  // Survivors who came back while the room was full: in line as it frees,
  // earliest arrival first.
  std::vector<std::map<CaseKey, WaitingCase>::iterator> back;
  for (auto it = parked_.begin(); it != parked_.end(); ++it) {
    if (!it->second.away) back.push_back(it);
  }
  std::stable_sort(back.begin(), back.end(), [](const auto& a, const auto& b) {
    return a->second.arrived < b->second.arrived;
  });
  for (auto it : back) {
    if (unpark_if_room(it)) moved = true;
  }
  return moved;
}

std::optional<Taken> ReferenceDispatcher::take_next(const std::string& responder_id,
                                                    UnixSeconds now) {
  auto rit = responders_.find(responder_id);
  if (rit == responders_.end()) return std::nullopt;
  const ResponderView& r = rit->second;
  if (!r.available || r.load >= r.capacity) return std::nullopt;
  // Placements as of now, so a case whose timeout ran out since the last
  // tick is offered to the wider pool at once.
  (void)tick(now);

  std::vector<Target> storage;
  const WaitingCase* best = nullptr;
  Priority best_priority;
  for (const auto& [key, c] : waiting_) {
    if (!offered_to(c, responder_id)) continue;
    const std::vector<Target>& chain = chain_of(rules_, c, storage);
    if (chain.empty() || !eligible_upto(chain, c.placement.target, c.envelope, r)) continue;
    const Priority p =
        priority_of(rules_, chain[std::min(c.placement.target, chain.size() - 1)].priority_class,
                    c.arrived, now);
    // Strictly better only: on a full tie the smaller key (map order) stays,
    // so the choice is deterministic.
    if (best == nullptr || outranks(p, best_priority)) {
      best = &c;
      best_priority = p;
    }
  }
  if (best == nullptr) return std::nullopt;

  const std::vector<Target>& chain = chain_of(rules_, *best, storage);
  const std::size_t at = std::min(best->placement.target, chain.size() - 1);
  Taken t;
  t.key = best->key;
  t.queue = chain[at].queue;
  t.priority_class = chain[at].priority_class;
  const bool via_interpreter = std::any_of(
      chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(at) + 1,
      [&](const Target& target) {
        return target.eligible == Eligibility::kInterpreter && eligible(target, best->envelope, r);
      });
  t.interpreter = via_interpreter && !shares_language(best->envelope, r);
  t.waited = std::max<UnixSeconds>(0, now - best->arrived);
  t.envelope = best->envelope;

  const CaseKey key = best->key;
  waiting_.erase(key);
  held_[key] = responder_id;
  ++rit->second.load;
  return t;
}

std::pair<std::size_t, std::size_t> ReferenceDispatcher::waiting_for(
    const std::string& responder_id, UnixSeconds now) const {
  (void)now;  // placements are as of the last tick
  auto rit = responders_.find(responder_id);
  if (rit == responders_.end()) return {0, 0};
  std::size_t all = 0;
  std::size_t urgent = 0;
  std::vector<Target> storage;
  for (const auto& [key, c] : waiting_) {
    if (!offered_to(c, responder_id)) continue;
    const std::vector<Target>& chain = chain_of(rules_, c, storage);
    if (chain.empty() || !eligible_upto(chain, c.placement.target, c.envelope, rit->second))
      continue;
    ++all;
    const std::size_t cls = chain[std::min(c.placement.target, chain.size() - 1)].priority_class;
    if (cls < rules_.classes.size() && rules_.classes[cls].strict) ++urgent;
  }
  return {all, urgent};
}

std::optional<WaitingCase> ReferenceDispatcher::waiting(const CaseKey& key) const {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return std::nullopt;
  return it->second;
}

std::vector<WaitingCase> ReferenceDispatcher::take_parked(UnixSeconds away_from,
                                                          std::size_t limit) {
  std::vector<std::map<CaseKey, WaitingCase>::iterator> due;
  for (auto it = parked_.begin(); it != parked_.end(); ++it) {
    if (it->second.away && it->second.expire_from <= away_from) due.push_back(it);
  }
  std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
    return a->second.expire_from < b->second.expire_from;
  });
  std::vector<WaitingCase> out;
  for (auto it : due) {
    if (out.size() >= limit) break;
    out.push_back(std::move(it->second));
    parked_.erase(it);
  }
  return out;
}

std::vector<WaitingCase> ReferenceDispatcher::dismiss(const DismissFilter& filter,
                                                      std::size_t limit, std::size_t* more) {
  std::vector<std::map<CaseKey, WaitingCase>::iterator> matching;
  std::vector<Target> storage;
  for (auto* room : {&waiting_, &parked_}) {
    const bool parked = room == &parked_;
    for (auto it = room->begin(); it != room->end(); ++it) {
      const WaitingCase& c = it->second;
      if (c.forced_queue) continue;  // taken once (handed off): never dismissed in bulk
      if (c.first_arrived < filter.arrived_from || c.first_arrived >= filter.arrived_until)
        continue;
      if (filter.away_only && !c.away && !parked) continue;
      if (filter.queue) {
        const std::vector<Target>& chain = chain_of(rules_, c, storage);
        if (chain.empty() ||
            chain[std::min(c.placement.target, chain.size() - 1)].queue != *filter.queue)
          continue;
      }
      matching.push_back(it);
    }
  }
  std::stable_sort(matching.begin(), matching.end(), [](const auto& a, const auto& b) {
    return a->second.first_arrived < b->second.first_arrived;
  });
  std::vector<WaitingCase> out;
  for (auto it : matching) {
    if (out.size() >= limit) break;
    out.push_back(std::move(it->second));
    if (!waiting_.erase(out.back().key)) parked_.erase(out.back().key);
  }
  if (more != nullptr) *more = matching.size() - out.size();
  return out;
}

std::optional<std::string> ReferenceDispatcher::holder(const CaseKey& key) const {
  auto it = held_.find(key);
  if (it == held_.end()) return std::nullopt;
  return it->second;
}

std::vector<Position> ReferenceDispatcher::positions(UnixSeconds now) const {
  struct Entry {
    const WaitingCase* c;
    std::string queue;
    Priority priority;
    std::size_t available;
  };
  std::vector<Entry> entries;
  std::vector<Target> storage;
  for (const auto& [key, c] : waiting_) {
    const std::vector<Target>& chain = chain_of(rules_, c, storage);
    if (chain.empty()) continue;
    const std::size_t at = std::min(c.placement.target, chain.size() - 1);
    std::size_t available = 0;
    for (const auto& [id, r] : responders_) {
      if (r.available && offered_to(c, id) && eligible_upto(chain, at, c.envelope, r)) ++available;
    }
    entries.push_back({&c, chain[at].queue,
                       priority_of(rules_, chain[at].priority_class, c.arrived, now), available});
  }
  // Within a queue, in the order take_next would hand the cases out.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.queue != b.queue) return a.queue < b.queue;
    // The one change from main 7024387: on a full tie the smaller key first,
    // as take_next() chooses (std::sort left such ties in no set order).
    if (outranks(a.priority, b.priority)) return true;
    if (outranks(b.priority, a.priority)) return false;
    return a.c->key < b.c->key;
  });
  std::vector<Position> out;
  out.reserve(entries.size());
  std::size_t position = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    position = (i > 0 && entries[i - 1].queue == entries[i].queue) ? position + 1 : 1;
    out.push_back({entries[i].c->key, position, wait_band(rules_, position, entries[i].available)});
  }
  return out;
}

std::vector<QueueHealth> ReferenceDispatcher::health(UnixSeconds now) const {
  std::vector<QueueHealth> out;
  std::vector<Target> storage;
  for (const std::string& q : rules_.queues()) {
    QueueHealth h;
    h.queue = q;
    for (const PriorityClass& pc : rules_.classes)
      h.classes.push_back({pc.name, 0, 0, pc.target_s});
    for (const auto& [key, c] : waiting_) {
      const std::vector<Target>& chain = chain_of(rules_, c, storage);
      if (chain.empty()) continue;
      const Target& t = chain[std::min(c.placement.target, chain.size() - 1)];
      if (t.queue != q || t.priority_class >= h.classes.size()) continue;
      ClassHealth& ch = h.classes[t.priority_class];
      ++ch.waiting;
      ch.longest_wait = std::max(ch.longest_wait, now - c.arrived);
    }
    for (const auto& [id, r] : responders_) {
      if (std::find(r.queues.begin(), r.queues.end(), q) == r.queues.end()) continue;
      if (r.available) {
        ++h.responders_available;
        h.load += r.load;
        h.capacity += r.capacity;
      } else if (auto c = connected_.find(id); c != connected_.end() && c->second) {
        ++h.responders_away;
      }
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace hearth::triage::reference
