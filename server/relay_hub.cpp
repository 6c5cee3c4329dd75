#include "server/relay_hub.h"

#include <utility>

namespace hearth::server {

RelayHub::RelayHub(const Clock& clock, SteadyNow steady_now)
    : clock_(clock), room_(std::move(steady_now), kRefreshSpacing) {}

// ---- roster and certificates ----

void RelayHub::set_roster(std::shared_ptr<const RosterState> roster) {
  MutexLock lock(mu_);
  roster_.set(std::move(roster));
  sync_responders_locked();
}

Status RelayHub::check_certificate(const RosterState& roster,
                                   const crypto::ResponderCertificate& cert, ByteView hash,
                                   UnixSeconds now, std::optional<std::string_view> queue,
                                   bool* cached) const {
  return checks_.check(roster, cert, hash, now, queue, cached);
}

std::shared_ptr<const RosterState> RelayHub::roster() const {
  MutexLock lock(mu_);
  return roster_.roster();
}

void RelayHub::remember_certificate(KnownCertificate cert) {
  MutexLock lock(mu_);
  roster_.remember(std::move(cert));
  sync_responders_locked();
}

std::vector<KnownCertificate> RelayHub::current_certificates() const {
  MutexLock lock(mu_);
  std::vector<KnownCertificate> out;
  for (const auto& [id, known] : roster_.current(clock_.now())) out.push_back(*known);
  return out;
}

void RelayHub::sync_responders_locked() {
  if (!room_.ready()) return;
  for (auto& r : roster_.routing(clock_.now()))
    room_.set_routing(r.id, std::move(r.queues), std::move(r.languages));
}

std::optional<KnownCertificate> RelayHub::certificate(ByteView hash) const {
  MutexLock lock(mu_);
  const KnownCertificate* known = roster_.certificate(hash);
  if (known == nullptr) return std::nullopt;
  return *known;
}

// ---- cases ----

void RelayHub::load_cases(std::vector<OpenCase> cases) {
  MutexLock lock(mu_);
  for (auto& c : cases) cases_.put(std::move(c));
}

void RelayHub::add_case(OpenCase c) {
  MutexLock lock(mu_);
  cases_.put(std::move(c));
}

std::optional<OpenCase> RelayHub::get_case(const storage::CaseId& id) const {
  MutexLock lock(mu_);
  const OpenCase* c = cases_.find(id);
  if (c == nullptr) return std::nullopt;
  return *c;
}

void RelayHub::update_case(const storage::CaseId& id, std::int64_t version, CaseRecord record) {
  MutexLock lock(mu_);
  (void)cases_.update(id, version, std::move(record));
}

std::optional<OpenCase> RelayHub::remove_case(const storage::CaseId& id) {
  MutexLock lock(mu_);
  return cases_.erase(id);
}

std::vector<OpenCase> RelayHub::cases_of_vault(ByteView login_key) const {
  MutexLock lock(mu_);
  return cases_.of_vault(login_key);
}

bool RelayHub::vault_index_exact() const {
  MutexLock lock(mu_);
  return cases_.index_exact();
}

std::vector<OpenCase> RelayHub::cases_of_responder(std::string_view responder_id) const {
  MutexLock lock(mu_);
  return cases_.of_responder(responder_id);
}

std::int64_t RelayHub::case_count() const {
  MutexLock lock(mu_);
  return static_cast<std::int64_t>(cases_.size());
}

bool RelayHub::reserve_case_slot(ByteView login_key, std::size_t limit) {
  MutexLock lock(mu_);
  return cases_.reserve_slot(login_key, limit);
}

void RelayHub::release_case_slot(ByteView login_key) {
  MutexLock lock(mu_);
  cases_.release_slot(login_key);
}

// ---- triage ----

void RelayHub::set_rules(triage::Rules rules) {
  MutexLock lock(mu_);
  if (room_.set_rules(std::move(rules), clock_.now())) sync_responders_locked();
}

triage::Rules RelayHub::rules() const {
  MutexLock lock(mu_);
  return room_.rules();
}

triage::Decision RelayHub::preview(const protocol::RouteEnvelope& envelope) const {
  MutexLock lock(mu_);
  return room_.preview(envelope, clock_.now());
}

void RelayHub::track_case(const OpenCase& c, std::optional<UnixSeconds> arrived,
                          std::optional<UnixSeconds> away_from) {
  MutexLock lock(mu_);
  // Gone meanwhile (a take_next whose claim failed because the case was
  // dismissed or deleted): nothing to put back.
  if (!cases_.contains(c.id)) return;
  const bool survivor_connected = !peers_.alive_survivors(c.record.vault_login_key).empty();
  room_.track(c, arrived, away_from, survivor_connected, clock_.now());
}

void RelayHub::set_room(triage::RoomLimits room) {
  MutexLock lock(mu_);
  room_.set_room(room);
}

bool RelayHub::has_room(const protocol::RouteEnvelope& envelope) const {
  MutexLock lock(mu_);
  return room_.has_room(envelope);
}

RelayHub::PlaceHold RelayHub::hold_place(const protocol::RouteEnvelope& envelope) {
  MutexLock lock(mu_);
  return room_.reserve_place(envelope) ? PlaceHold(this) : PlaceHold();
}

void RelayHub::PlaceHold::release() {
  if (hub_ == nullptr) return;
  MutexLock lock(hub_->mu_);
  hub_->room_.release_place();
  hub_ = nullptr;
}

std::vector<OpenCase> RelayHub::cases_of_locked(const std::vector<triage::WaitingCase>& waiting,
                                                std::vector<UnixSeconds>* away_since) const {
  std::vector<OpenCase> out;
  for (const auto& w : waiting) {
    auto id = storage::CaseId::from(w.key);
    if (!id.is_ok()) continue;
    if (const OpenCase* c = cases_.find(*id)) {
      out.push_back(*c);
      if (away_since != nullptr) away_since->push_back(w.expire_from);
    }
  }
  return out;
}

std::vector<OpenCase> RelayHub::withdraw_parked(UnixSeconds away_from, std::size_t limit,
                                                std::vector<UnixSeconds>* away_since) {
  MutexLock lock(mu_);
  return cases_of_locked(room_.take_parked(away_from, limit), away_since);
}

std::vector<OpenCase> RelayHub::withdraw_waiting(const triage::DismissFilter& filter,
                                                 std::size_t limit, std::size_t* more) {
  MutexLock lock(mu_);
  return cases_of_locked(room_.dismiss(filter, limit, more), nullptr);
}

std::size_t RelayHub::parked_count() const {
  MutexLock lock(mu_);
  return room_.parked_count();
}

std::optional<triage::Taken> RelayHub::take_next(const std::string& responder_id) {
  MutexLock lock(mu_);
  return room_.take_next(responder_id, clock_.now());
}

void RelayHub::untake(const OpenCase& c) {
  untrack_case(c.id);
  track_case(c);
}

void RelayHub::untrack_case(const storage::CaseId& id) {
  MutexLock lock(mu_);
  room_.untrack(id);
}

void RelayHub::responder_online(const std::string& responder_id) {
  MutexLock lock(mu_);
  room_.responder_online(responder_id, kDefaultCapacity);
}

std::optional<triage::ResponderView> RelayHub::responder_view(
    const std::string& responder_id) const {
  MutexLock lock(mu_);
  return room_.responder_view(responder_id);
}

void RelayHub::set_presence(const std::string& responder_id, PresenceState state) {
  MutexLock lock(mu_);
  room_.set_presence(responder_id, state);
}

std::vector<triage::QueueHealth> RelayHub::health() const {
  MutexLock lock(mu_);
  return room_.health(clock_.now());
}

std::size_t RelayHub::waiting_count() const {
  MutexLock lock(mu_);
  return room_.waiting_count();
}

void RelayHub::refresh() {
  {
    MutexLock lock(mu_);
    if (!room_.refresh_allowed()) return;
  }
  refresh_now();
}

void RelayHub::refresh_due(std::chrono::milliseconds idle) {
  {
    MutexLock lock(mu_);
    if (!room_.refresh_due(idle)) return;
  }
  refresh_now();
}

void RelayHub::refresh_now() {
  struct StatusPush {
    Bytes login_key;
    protocol::QueueStatusEvent event;
  };
  std::vector<StatusPush> statuses;
  std::vector<std::pair<std::shared_ptr<Peer>, protocol::WaitingEvent>> waiting;
  {
    MutexLock lock(mu_);
    if (!room_.ready()) return;
    const UnixSeconds now = clock_.now();
    for (const triage::Position& pos : room_.tick(now)) {
      auto id = storage::CaseId::from(pos.key);
      if (!id.is_ok()) continue;
      const OpenCase* c = cases_.find(*id);
      if (c == nullptr) continue;
      statuses.push_back(
          {c->record.vault_login_key,
           protocol::QueueStatusEvent{pos.key, static_cast<std::int64_t>(pos.position), pos.band}});
    }
    for (const auto& id : peers_.responder_ids()) {
      auto counts = room_.waiting_changed(id, now);
      if (!counts) continue;
      protocol::WaitingEvent event{static_cast<std::int64_t>(counts->first),
                                   static_cast<std::int64_t>(counts->second)};
      for (auto& peer : peers_.alive_responders(id)) waiting.emplace_back(std::move(peer), event);
    }
  }
  // The pushes, after the lock: a Peer is never called under mu_.
  for (auto& s : statuses) for_vault(s.login_key, [&](Peer& p) { p.push_event(s.event); });
  for (auto& [peer, event] : waiting) peer->push_event(event);
}

// ---- connected parties ----

void RelayHub::add_peer(const std::shared_ptr<Peer>& peer) {
  MutexLock lock(mu_);
  peers_.add(peer);
}

void RelayHub::remove_peer(const Peer* peer) {
  MutexLock lock(mu_);
  // The parties it leaves behind are noted: a survivor with no connection
  // left has their waiting cases marked away; a responder with none left is
  // no longer available.
  PeerRegistry::Left left = peers_.remove(peer);
  const UnixSeconds now = clock_.now();
  for (const auto& key : left.vaults) room_.survivor_away(cases_.ids_of_vault(key), now);
  for (const auto& id : left.responders) room_.responder_gone(id);
}

void RelayHub::register_survivor(ByteView login_key, const std::shared_ptr<Peer>& peer) {
  MutexLock lock(mu_);
  peers_.register_survivor(login_key, peer);
  room_.survivor_back(cases_.ids_of_vault(login_key));
}

void RelayHub::register_responder(const std::string& responder_id,
                                  const std::shared_ptr<Peer>& peer) {
  MutexLock lock(mu_);
  peers_.register_responder(responder_id, peer);
}

void RelayHub::for_vault(ByteView login_key, const std::function<void(Peer&)>& fn) {
  PeerRegistry::PeerList peers;
  {
    MutexLock lock(mu_);
    peers = peers_.alive_survivors(login_key);
  }
  for (auto& p : peers) fn(*p);
}

void RelayHub::for_responder(const std::string& responder_id,
                             const std::function<void(Peer&)>& fn) {
  PeerRegistry::PeerList peers;
  {
    MutexLock lock(mu_);
    peers = peers_.alive_responders(responder_id);
  }
  for (auto& p : peers) fn(*p);
}

void RelayHub::deliver_to_vault(ByteView login_key, const std::shared_ptr<const Delivery>& d) {
  for_vault(login_key, [&](Peer& p) { p.push_delivery(d); });
}

void RelayHub::deliver_to_responder(const std::string& responder_id,
                                    const std::shared_ptr<const Delivery>& d) {
  for_responder(responder_id, [&](Peer& p) { p.push_delivery(d); });
}

void RelayHub::for_each_peer(const std::function<void(Peer&)>& fn) {
  PeerRegistry::PeerList peers;
  {
    MutexLock lock(mu_);
    peers = peers_.all();
  }
  for (auto& p : peers) fn(*p);
}

}  // namespace hearth::server
