// The waiting room: a deterministic state machine over the engine.
#include "triage/dispatcher.h"

#include <algorithm>

namespace hearth::triage {

Dispatcher::Dispatcher(Rules rules) : rules_(std::move(rules)) {}

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

void Dispatcher::set_rules(Rules rules, UnixSeconds now) {
  rules_ = std::move(rules);
  const std::vector<ResponderView> views = views_of(responders_);
  for (auto* room : {&waiting_, &parked_}) {
    for (auto& [key, c] : *room)
      c.placement = place_fresh(rules_, c.envelope, c.forced_queue, now, views);
  }
  reindex_all();
  for (const auto& [key, c] : waiting_) dirty_.insert(key);
}

void Dispatcher::set_room(RoomLimits room) {
  room_ = room;
  reindex_all();  // parking deadlines follow park_after_s
}

// ---- responders ----

void Dispatcher::upsert_responder(const ResponderView& r) {
  ResponderView v = r;
  auto it = responders_.find(r.id);
  const bool known = it != responders_.end();
  const bool was_available = known && it->second.available;
  const bool same_view =
      known && it->second.queues == r.queues && it->second.languages == r.languages;
  // The dispatcher counts load itself (take_next, assign, remove, requeue):
  // a reconnecting responder must not reset it.
  if (known) v.load = it->second.load;
  if (known && (!same_view || was_available != r.available || it->second.capacity != r.capacity))
    responders_changed_ = true;
  if (!known) responders_changed_ = true;
  connected_[r.id] = true;
  if (same_view) {
    responders_[r.id] = std::move(v);
    if (was_available != r.available) count_available(r.id, r.available);
    return;
  }
  // New, or listed under other queues or languages: whom it is eligible for changes.
  responders_[r.id] = std::move(v);
  reindex_offering(r.id);
}

void Dispatcher::responder_gone(const std::string& id) {
  if (auto it = responders_.find(id); it != responders_.end() && it->second.available) {
    it->second.available = false;
    responders_changed_ = true;
    count_available(id, false);
  }
  connected_[id] = false;
}

const ResponderView* Dispatcher::responder(const std::string& id) const {
  auto it = responders_.find(id);
  return it == responders_.end() ? nullptr : &it->second;
}

// ---- cases ----

Decision Dispatcher::preview(const protocol::RouteEnvelope& envelope, UnixSeconds now) const {
  const std::vector<ResponderView> views = views_of(responders_);
  return decide(rules_, envelope, now, views);
}

void Dispatcher::add(const CaseKey& key, const protocol::RouteEnvelope& envelope,
                     const Decision& decision, std::vector<std::string> offered, UnixSeconds now) {
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
  put_waiting(std::move(c), /*drop_parked=*/false);  // a new key is never parked
}

void Dispatcher::enter(const CaseKey& key, const protocol::RouteEnvelope& envelope,
                       std::optional<std::string> forced_queue, std::vector<std::string> offered,
                       UnixSeconds arrived, UnixSeconds now) {
  WaitingCase c;
  c.key = key;
  c.envelope = envelope;
  c.placement = place_fresh(rules_, envelope, forced_queue, now, views_of(responders_));
  c.forced_queue = std::move(forced_queue);
  c.arrived = arrived;
  c.first_arrived = arrived;
  c.offered = std::move(offered);
  put_waiting(std::move(c));
}

void Dispatcher::assign(const CaseKey& key, const std::string& responder_id) {
  erase_waiting(key);
  erase_parked(key);
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
    responders_changed_ = true;
    reindex_offering(responder_id);
  }
  ++it->second.load;
}

namespace {

void drop_load(std::map<std::string, ResponderView>& responders, const std::string& id) {
  if (auto r = responders.find(id); r != responders.end() && r->second.load > 0) --r->second.load;
}

}  // namespace

void Dispatcher::remove(const CaseKey& key) {
  erase_waiting(key);
  erase_parked(key);
  if (auto it = held_.find(key); it != held_.end()) {
    drop_load(responders_, it->second);
    held_.erase(it);
  }
}

void Dispatcher::requeue(const CaseKey& key, const protocol::RouteEnvelope& envelope,
                         std::string queue, std::vector<std::string> offered, UnixSeconds arrived,
                         UnixSeconds now) {
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
  put_waiting(std::move(c));
}

// ---- the room's bounds ----

bool Dispatcher::has_room(const protocol::RouteEnvelope& envelope) const {
  const std::size_t occupied = waiting_.size() + reserved_places_;
  // Trunk reservation: everyone but danger-now stops short of the last
  // reserved_urgent places.
  std::size_t limit = room_.max_waiting;
  if (envelope.urgency != protocol::Urgency::kDangerNow)
    limit = limit > room_.reserved_urgent ? limit - room_.reserved_urgent : 0;
  return occupied < limit;
}

bool Dispatcher::reserve_place(const protocol::RouteEnvelope& envelope) {
  if (!has_room(envelope)) return false;
  ++reserved_places_;
  return true;
}

void Dispatcher::release_place() {
  if (reserved_places_ > 0) --reserved_places_;
}

bool Dispatcher::park_if_due(Room::iterator it, UnixSeconds now) {
  const WaitingCase& c = it->second;
  // Only a case nobody ever took: one handed off was a real conversation.
  if (!room_.park_after_s || !c.away || c.forced_queue) return false;
  if (now < c.park_from + *room_.park_after_s) return false;
  unindex(it->first);
  parked_.insert(waiting_.extract(it));
  return true;
}

bool Dispatcher::unpark_if_room(Room::iterator it) {
  if (it->second.away || !has_room(it->second.envelope)) return false;
  // It keeps its arrival and placement: its old place in line (tick()
  // catches its placement up with the escalations it missed).
  back_.erase({it->second.arrived, it->first});
  auto in = waiting_.insert(parked_.extract(it)).position;
  index(in);
  dirty_.insert(in->first);
  return true;
}

void Dispatcher::survivor_away(const CaseKey& key, UnixSeconds now,
                               std::optional<UnixSeconds> park_from,
                               std::optional<UnixSeconds> expire_from) {
  if (auto p = parked_.find(key); p != parked_.end()) {
    // Still parked; it stays out of the room. Expiry counts from this
    // leaving: a survivor who keeps coming back while the room is full
    // keeps their case.
    if (!p->second.away) p->second.expire_from = std::min(now, expire_from.value_or(now));
    p->second.away = true;
    back_.erase({p->second.arrived, key});
    return;
  }
  auto it = waiting_.find(key);
  if (it == waiting_.end() || it->second.away) return;  // already away: the grace runs from then
  it->second.away = true;
  it->second.away_since = now;
  it->second.park_from = std::min(now, park_from.value_or(now));
  it->second.expire_from = std::min(now, expire_from.value_or(now));
  index(it);
  (void)park_if_due(it, now);  // at start-up a case may have been away long enough already
}

void Dispatcher::survivor_back(const CaseKey& key) {
  if (auto it = waiting_.find(key); it != waiting_.end() && it->second.away) {
    it->second.away = false;
    index(it);
  }
  if (auto p = parked_.find(key); p != parked_.end()) {
    p->second.away = false;
    back_.insert({p->second.arrived, key});
    (void)unpark_if_room(p);
  }
}

bool Dispatcher::tick(UnixSeconds now) {
  // Only the cases that can move are looked at (the index says which):
  // those put in since the last tick, those whose target's timeout has run
  // out, and, when a responder changed, those at a skip_if_empty target.
  std::set<CaseKey> due = std::move(dirty_);
  dirty_.clear();
  for (auto t = timeouts_.begin(); t != timeouts_.end() && t->at <= now; ++t)
    due.insert(*t->ix->key);
  if (responders_changed_) due.insert(at_skip_.begin(), at_skip_.end());
  responders_changed_ = false;
  bool moved = false;
  if (!due.empty()) {
    const std::vector<ResponderView> views = views_of(responders_);
    std::vector<Target> storage;
    for (const CaseKey& key : due) {
      auto it = waiting_.find(key);
      if (it == waiting_.end()) continue;
      WaitingCase& c = it->second;
      const Placement p =
          advance_chain(chain_of(rules_, c, storage), c.envelope, c.placement, now, views);
      if (p.target != c.placement.target || p.entered != c.placement.entered) {
        c.placement = p;
        index(it);
        moved = true;
      }
    }
  }
  // Away past the grace: the case loses its place (its wait counts from
  // when the grace ran out), once per absence. It is never removed: a
  // survivor may have had to hide the phone, and a reply waits for them.
  while (!lapses_.empty() && lapses_.begin()->at <= now) {
    const CaseKey key = *lapses_.begin()->ix->key;
    auto it = waiting_.find(key);
    const UnixSeconds lapse = it->second.away_since + rules_.away_grace_s;
    it->second.arrived = lapse;
    index(it);
    moved = true;
  }
  // Away too long and never taken: parked, out of the room.
  while (!parks_.empty() && parks_.begin()->at <= now) {
    auto it = waiting_.find(*parks_.begin()->ix->key);
    if (!park_if_due(it, now)) break;  // cannot happen: the index says it is due
    moved = true;
  }
  // Survivors who came back while the room was full: in line as it frees,
  // earliest arrival first.
  for (auto b = back_.begin(); b != back_.end();) {
    // Full even for danger-now: nobody else fits either.
    if (waiting_.size() + reserved_places_ >= room_.max_waiting) break;
    auto next = std::next(b);
    if (auto it = parked_.find(b->second); it != parked_.end() && unpark_if_room(it)) moved = true;
    b = next;
  }
  return moved;
}

std::optional<Taken> Dispatcher::take_next(const std::string& responder_id, UnixSeconds now) {
  auto rit = responders_.find(responder_id);
  if (rit == responders_.end()) return std::nullopt;
  const ResponderView& r = rit->second;
  if (!r.available || r.load >= r.capacity) return std::nullopt;
  // Placements as of now, so a case whose timeout ran out since the last
  // tick is offered to the wider pool at once.
  (void)tick(now);

  // The best case of each class this responder may take heads its set in
  // by_responder_: strict classes by rank first, then the highest score
  // (within a class, the earliest arrival has it), ties to the smaller key.
  const WaitingCase* best = nullptr;
  Priority best_priority;
  if (auto mine = by_responder_.find(responder_id); mine != by_responder_.end()) {
    for (const auto& [cls, slots] : mine->second) {
      if (slots.empty()) continue;
      const Indexed& ix = *slots.begin()->ix;
      const Priority p = priority_of(rules_, cls, ix.arrived, now);
      if (best == nullptr || outranks(p, best_priority) ||
          (!outranks(best_priority, p) && *ix.key < best->key)) {
        best = ix.c;
        best_priority = p;
      }
    }
  }
  if (best == nullptr) return std::nullopt;

  std::vector<Target> storage;
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
  erase_waiting(key);
  held_[key] = responder_id;
  ++rit->second.load;
  return t;
}

std::pair<std::size_t, std::size_t> Dispatcher::waiting_for(const std::string& responder_id,
                                                            UnixSeconds now) const {
  (void)now;  // placements are as of the last tick
  if (!responders_.contains(responder_id)) return {0, 0};
  auto mine = by_responder_.find(responder_id);
  if (mine == by_responder_.end()) return {0, 0};
  std::size_t all = 0;
  std::size_t urgent = 0;
  for (const auto& [cls, slots] : mine->second) {
    all += slots.size();
    if (cls < rules_.classes.size() && rules_.classes[cls].strict) urgent += slots.size();
  }
  return {all, urgent};
}

std::optional<WaitingCase> Dispatcher::waiting(const CaseKey& key) const {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return std::nullopt;
  return it->second;
}

std::vector<WaitingCase> Dispatcher::take_parked(UnixSeconds away_from, std::size_t limit) {
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
    parked_.erase(it);  // away: never in back_
  }
  return out;
}

std::vector<WaitingCase> Dispatcher::dismiss(const DismissFilter& filter, std::size_t limit,
                                             std::size_t* more) {
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
    WaitingCase c = std::move(it->second);
    if (!erase_waiting(c.key)) erase_parked(c.key);
    out.push_back(std::move(c));
  }
  if (more != nullptr) *more = matching.size() - out.size();
  return out;
}

std::optional<std::string> Dispatcher::holder(const CaseKey& key) const {
  auto it = held_.find(key);
  if (it == held_.end()) return std::nullopt;
  return it->second;
}

template <typename Emit>
void Dispatcher::walk_positions(UnixSeconds now, Emit&& emit_one) const {
  // Within a queue, in the order take_next would hand the cases out: strict
  // classes by rank, each by arrival (then key); then the accumulating
  // classes merged by score at `now` (within one class, arrival order is
  // score order, so each class's set is already sorted).
  std::vector<std::pair<std::size_t, std::vector<Slot>::const_iterator>> heads;
  std::vector<std::vector<Slot>::const_iterator> ends;
  for (const auto& [queue, classes] : by_queue_) {
    std::size_t position = 0;
    const auto emit = [&](const Indexed& ix) {
      ++position;
      emit_one(ix, position, wait_band(rules_, position, ix.available));
    };
    heads.clear();
    ends.clear();
    for (const auto& [cls, slots] : classes) {
      const bool strict = cls < rules_.classes.size() && rules_.classes[cls].strict;
      if (strict) {
        for (const Slot& slot : slots) emit(*slot.ix);
      } else if (!slots.empty()) {
        heads.emplace_back(cls, slots.begin());
        ends.push_back(slots.end());
      }
    }
    while (true) {
      std::size_t best = heads.size();
      Priority best_priority;
      for (std::size_t i = 0; i < heads.size(); ++i) {
        if (heads[i].second == ends[i]) continue;
        // The slot's own arrival: the case itself is read only when emitted.
        const Priority p = priority_of(rules_, heads[i].first, heads[i].second->at, now);
        if (best == heads.size() || outranks(p, best_priority) ||
            (!outranks(best_priority, p) &&
             *heads[i].second->ix->key < *heads[best].second->ix->key)) {
          best = i;
          best_priority = p;
        }
      }
      if (best == heads.size()) break;
      emit(*heads[best].second->ix);
      ++heads[best].second;
    }
  }
}

std::vector<Position> Dispatcher::positions(UnixSeconds now) const {
  std::vector<Position> out;
  out.reserve(waiting_.size());
  walk_positions(now, [&](const Indexed& ix, std::size_t position, protocol::WaitBand band) {
    out.push_back({*ix.key, position, band});
  });
  return out;
}

std::size_t Dispatcher::positions_changed(UnixSeconds now, std::vector<Position>& out) {
  std::size_t n = 0;
  walk_positions(now, [&](const Indexed& ix, std::size_t position, protocol::WaitBand band) {
    if (ix.reported_position == position && ix.reported_band == band) return;
    ix.reported_position = position;
    ix.reported_band = band;
    // Reuses the entries (and their keys' storage) of earlier calls.
    if (n == out.size()) out.emplace_back();
    Position& p = out[n++];
    p.key.assign(ix.key->begin(), ix.key->end());
    p.position = position;
    p.band = band;
  });
  return n;
}

void Dispatcher::report_again(const CaseKey& key) {
  if (auto it = index_.find(key); it != index_.end()) it->second.reported_position = 0;
}

std::vector<QueueHealth> Dispatcher::health(UnixSeconds now) const {
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

// ---- The index ----
//
// Every waiting case has an Indexed entry (index_) derived from it, the
// rules and the responders' views, and a Slot in each ordered set it belongs
// to: by_queue_[its queue][its class] and, for each responder it is offered
// to and eligible for, by_responder_[id][its class] (both by arrival, then
// key); timeouts_, lapses_ and parks_ when it has something due. A change to
// a case takes it out (unindex) and puts it back (index): O(eligible
// responders × log). A responder's availability flip touches only the cases
// it is eligible for; a change of its queues or languages re-derives the
// cases offered to it. So:
//  - tick() looks only at cases put in since the last tick, due timeouts,
//    lapses and parkings, parked cases whose survivor is back, and (after a
//    responder changed) the cases at a skip_if_empty target;
//  - waiting_for() adds up set sizes; take_next() compares the head of each
//    of the responder's class sets;
//  - positions() walks by_queue_ once (merging the accumulating classes).
// tests/triage/dispatcher_index_test.cpp checks all of it against the
// brute-force room it replaced, on random rooms.

bool Dispatcher::SlotLess::operator()(const Slot& a, const Slot& b) const {
  if (a.at != b.at) return a.at < b.at;
  return *a.ix->key < *b.ix->key;
}

void Dispatcher::FlatSlots::insert(const Slot& s) {
  v_.insert(std::lower_bound(v_.begin(), v_.end(), s, SlotLess{}), s);
}

void Dispatcher::FlatSlots::erase(const Slot& s) {
  auto it = std::lower_bound(v_.begin(), v_.end(), s, SlotLess{});
  if (it != v_.end() && it->ix == s.ix) v_.erase(it);
}

void Dispatcher::index(Room::iterator it) {
  // What it was last reported as survives its re-derivation.
  std::size_t reported_position = 0;
  protocol::WaitBand reported_band = protocol::WaitBand::kNobodyOnline;
  if (auto old = index_.find(it->first); old != index_.end()) {
    reported_position = old->second.reported_position;
    reported_band = old->second.reported_band;
  }
  unindex(it->first);
  const WaitingCase& c = it->second;
  Indexed& ix = index_[it->first];
  ix.reported_position = reported_position;
  ix.reported_band = reported_band;
  ix.key = &it->first;
  ix.c = &c;
  ix.arrived = c.arrived;
  std::vector<Target> storage;
  const std::vector<Target>& chain = chain_of(rules_, c, storage);
  if (!chain.empty()) {
    const std::size_t at = std::min(c.placement.target, chain.size() - 1);
    ix.listed = true;
    ix.queue = chain[at].queue;
    ix.priority_class = chain[at].priority_class;
    for (const std::string& id : c.offered) {
      auto r = responders_.find(id);
      if (r == responders_.end() || !eligible_upto(chain, at, c.envelope, r->second)) continue;
      if (std::find(ix.eligible.begin(), ix.eligible.end(), id) != ix.eligible.end()) continue;
      ix.eligible.push_back(id);
      if (r->second.available) ++ix.available;
    }
    if (at + 1 < chain.size()) {
      if (chain[at].timeout_s) ix.timeout_due = c.placement.entered + *chain[at].timeout_s;
      ix.at_skip = chain[at].skip_if_empty;
    }
  }
  if (c.away) {
    const UnixSeconds lapse = c.away_since + rules_.away_grace_s;
    if (c.arrived < lapse) ix.lapse_due = lapse;
    if (room_.park_after_s && !c.forced_queue) ix.park_due = c.park_from + *room_.park_after_s;
  }
  const Slot by_arrival{ix.arrived, &ix};
  if (ix.listed) {
    by_queue_[ix.queue][ix.priority_class].insert(by_arrival);
    for (const std::string& id : ix.eligible)
      by_responder_[id][ix.priority_class].insert(by_arrival);
  }
  if (ix.timeout_due) timeouts_.insert({*ix.timeout_due, &ix});
  if (ix.at_skip) at_skip_.insert(it->first);
  if (ix.lapse_due) lapses_.insert({*ix.lapse_due, &ix});
  if (ix.park_due) parks_.insert({*ix.park_due, &ix});
}

void Dispatcher::unindex(const CaseKey& key) {
  auto found = index_.find(key);
  if (found == index_.end()) return;
  Indexed& ix = found->second;
  const Slot by_arrival{ix.arrived, &ix};
  // Empty sets are dropped, so that by_queue_ walks no dead queue and a
  // class set's head always exists.
  const auto drop = [&](auto& map, const std::string& name) {
    auto m = map.find(name);
    if (m == map.end()) return;
    auto cls = m->second.find(ix.priority_class);
    if (cls == m->second.end()) return;
    cls->second.erase(by_arrival);
    if (cls->second.empty()) m->second.erase(cls);
    if (m->second.empty()) map.erase(m);
  };
  if (ix.listed) {
    drop(by_queue_, ix.queue);
    for (const std::string& id : ix.eligible) drop(by_responder_, id);
  }
  if (ix.timeout_due) timeouts_.erase({*ix.timeout_due, &ix});
  if (ix.at_skip) at_skip_.erase(key);
  if (ix.lapse_due) lapses_.erase({*ix.lapse_due, &ix});
  if (ix.park_due) parks_.erase({*ix.park_due, &ix});
  index_.erase(found);
}

void Dispatcher::reindex_all() {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) index(it);
}

void Dispatcher::reindex_offering(const std::string& responder_id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (!offered_to(it->second, responder_id)) continue;
    index(it);
  }
}

void Dispatcher::put_waiting(WaitingCase c, bool drop_parked) {
  const CaseKey key = c.key;
  if (drop_parked) erase_parked(key);
  auto [it, inserted] = waiting_.try_emplace(key);
  it->second = std::move(c);
  index(it);  // a case replaced in place keeps what positions_changed() last said of it
  dirty_.insert(key);
}

bool Dispatcher::erase_waiting(const CaseKey& key) {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return false;
  unindex(key);
  waiting_.erase(it);
  return true;
}

bool Dispatcher::erase_parked(const CaseKey& key) {
  auto it = parked_.find(key);
  if (it == parked_.end()) return false;
  back_.erase({it->second.arrived, key});
  parked_.erase(it);
  return true;
}

void Dispatcher::count_available(const std::string& id, bool available) {
  auto mine = by_responder_.find(id);
  if (mine == by_responder_.end()) return;
  for (const auto& [cls, slots] : mine->second) {
    for (const Slot& slot : slots) {
      Indexed& ix = *slot.ix;
      if (available) {
        ++ix.available;
      } else if (ix.available > 0) {
        --ix.available;
      }
    }
  }
}

}  // namespace hearth::triage
