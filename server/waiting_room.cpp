#include "server/waiting_room.h"

namespace hearth::server {
namespace {

triage::CaseKey key_of(const storage::CaseId& id) {
  return triage::CaseKey(id.bytes.begin(), id.bytes.end());
}

std::vector<std::string> offered_ids(const CaseRecord& record) {
  std::vector<std::string> out;
  for (const auto& o : record.offers) out.push_back(o.responder_id);
  return out;
}

}  // namespace

bool WaitingRoom::set_rules(triage::Rules rules, UnixSeconds now) {
  if (dispatcher_) {
    dispatcher_->set_rules(std::move(rules), now);
    return false;
  }
  dispatcher_ = std::make_unique<triage::Dispatcher>(std::move(rules));
  return true;
}

triage::Decision WaitingRoom::preview(const protocol::RouteEnvelope& envelope,
                                      UnixSeconds now) const {
  return dispatcher_->preview(envelope, now);
}

void WaitingRoom::set_room(triage::RoomLimits room) { dispatcher_->set_room(room); }

bool WaitingRoom::has_room(const protocol::RouteEnvelope& envelope) const {
  return dispatcher_->has_room(envelope);
}

bool WaitingRoom::reserve_place(const protocol::RouteEnvelope& envelope) {
  return dispatcher_->reserve_place(envelope);
}

void WaitingRoom::release_place() { dispatcher_->release_place(); }

void WaitingRoom::track(const OpenCase& c, std::optional<UnixSeconds> arrived,
                        std::optional<UnixSeconds> away_from, bool survivor_connected,
                        UnixSeconds now) {
  if (c.record.closed || !c.record.routing) return;
  const triage::CaseKey key = key_of(c.id);
  if (c.record.claimed_by) {
    dispatcher_->assign(key, c.record.claimed_by->responder_id);
    return;
  }
  const CaseRouting& r = *c.record.routing;
  const UnixSeconds since = arrived.value_or(r.arrived);
  dispatcher_->enter(key, r.envelope, r.forced_queue, offered_ids(c.record), since, now);
  // Nobody of this vault may be connected (at start-up): then it waits away.
  // Since when is not known (nothing about a survivor's comings and goings
  // is stored), so parking counts from its arrival: a case parked before a
  // restart stays parked, and one whose survivor is still there comes back
  // at its old place when they reconnect. Its expiry counts from now (the
  // process's start) unless the time is known (put back after a sweep).
  if (!survivor_connected) dispatcher_->survivor_away(key, now, since, away_from);
}

void WaitingRoom::untrack(const storage::CaseId& id) { dispatcher_->remove(key_of(id)); }

std::optional<triage::Taken> WaitingRoom::take_next(const std::string& responder_id,
                                                    UnixSeconds now) {
  return dispatcher_->take_next(responder_id, now);
}

std::vector<triage::WaitingCase> WaitingRoom::dismiss(const triage::DismissFilter& filter,
                                                      std::size_t limit, std::size_t* more) {
  return dispatcher_->dismiss(filter, limit, more);
}

std::vector<triage::WaitingCase> WaitingRoom::take_parked(UnixSeconds away_from,
                                                          std::size_t limit) {
  if (!dispatcher_) return {};
  return dispatcher_->take_parked(away_from, limit);
}

std::size_t WaitingRoom::parked_count() const {
  return dispatcher_ ? dispatcher_->parked_count() : 0;
}

std::size_t WaitingRoom::waiting_count() const {
  return dispatcher_ ? dispatcher_->waiting_count() : 0;
}

std::vector<triage::QueueHealth> WaitingRoom::health(UnixSeconds now) const {
  return dispatcher_->health(now);
}

void WaitingRoom::survivor_away(const std::set<storage::CaseId>& vault_cases, UnixSeconds now) {
  if (!dispatcher_) return;
  for (const auto& id : vault_cases) dispatcher_->survivor_away(key_of(id), now);
}

void WaitingRoom::survivor_back(const std::set<storage::CaseId>& vault_cases) {
  if (!dispatcher_) return;
  for (const auto& id : vault_cases) {
    const triage::CaseKey key = key_of(id);
    dispatcher_->survivor_back(key);
    dispatcher_->report_again(key);  // the new connection hears its place
  }
}

void WaitingRoom::set_routing(const std::string& responder_id, std::vector<std::string> queues,
                              std::vector<std::string> languages) {
  triage::ResponderView view;
  if (const triage::ResponderView* old = dispatcher_->responder(responder_id)) view = *old;
  view.id = responder_id;
  view.queues = std::move(queues);
  view.languages = std::move(languages);
  dispatcher_->upsert_responder(view);
}

void WaitingRoom::responder_online(const std::string& responder_id, std::uint32_t capacity) {
  const triage::ResponderView* known = dispatcher_->responder(responder_id);
  if (known == nullptr) return;
  triage::ResponderView view = *known;
  view.available = true;
  view.capacity = capacity;
  dispatcher_->upsert_responder(view);
  last_waiting_.erase(responder_id);  // the new connection hears the count
}

void WaitingRoom::set_presence(const std::string& responder_id, PresenceState state) {
  const triage::ResponderView* known = dispatcher_->responder(responder_id);
  if (known == nullptr) return;
  triage::ResponderView view = *known;
  view.available = state.status == protocol::Presence::kAvailable;
  view.capacity = state.capacity;
  dispatcher_->upsert_responder(view);
}

void WaitingRoom::responder_gone(const std::string& responder_id) {
  if (!dispatcher_) return;
  dispatcher_->responder_gone(responder_id);
  last_waiting_.erase(responder_id);
}

std::optional<triage::ResponderView> WaitingRoom::responder_view(
    const std::string& responder_id) const {
  const triage::ResponderView* known = dispatcher_->responder(responder_id);
  if (known == nullptr) return std::nullopt;
  return *known;
}

bool WaitingRoom::refresh_allowed() {
  const auto now = steady_now_();
  if (last_refresh_ && now - *last_refresh_ < spacing_) {
    refresh_pending_ = true;
    return false;
  }
  last_refresh_ = now;
  refresh_pending_ = false;
  return true;
}

bool WaitingRoom::refresh_due(std::chrono::milliseconds idle) {
  if (!refresh_pending_ && last_refresh_ && steady_now_() - *last_refresh_ < idle) return false;
  return refresh_allowed();
}

std::span<const triage::Position> WaitingRoom::tick(UnixSeconds now) {
  dispatcher_->tick(now);
  // Only the places that changed since the last call (the dispatcher
  // remembers what it last said of each case).
  const std::size_t changed = dispatcher_->positions_changed(now, changed_positions_);
  return {changed_positions_.data(), changed};
}

std::optional<std::pair<std::size_t, std::size_t>> WaitingRoom::waiting_changed(
    const std::string& responder_id, UnixSeconds now) {
  auto counts = dispatcher_->waiting_for(responder_id, now);
  auto [last, inserted] = last_waiting_.try_emplace(responder_id, counts);
  if (!inserted && last->second == counts) return std::nullopt;
  last->second = counts;
  return counts;
}

}  // namespace hearth::server
