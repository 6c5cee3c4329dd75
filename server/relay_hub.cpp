#include "server/relay_hub.h"

#include <algorithm>
#include <set>

namespace hearth::server {
namespace {

Bytes key_of(std::string_view s) { return to_bytes(s); }
Bytes key_of(ByteView b) { return Bytes(b.begin(), b.end()); }

// Drops expired weak references of `key` (and of peers that went away).
void prune(std::multimap<Bytes, std::weak_ptr<Peer>>& map, const Bytes& key) {
  auto [lo, hi] = map.equal_range(key);
  for (auto it = lo; it != hi;) {
    it = it->second.expired() ? map.erase(it) : std::next(it);
  }
}

}  // namespace

void RelayHub::set_roster(std::shared_ptr<const RosterState> roster) {
  MutexLock lock(mu_);
  {
    MutexLock checked(checked_mu_);
    checked_.clear();
    checked_roster_.clear();
  }
  roster_ = std::move(roster);
  sync_responders_locked();
}

Status RelayHub::check_certificate(const RosterState& roster,
                                   const crypto::ResponderCertificate& cert, ByteView hash,
                                   UnixSeconds now, std::optional<std::string_view> queue,
                                   bool* cached) const {
  Bytes key(hash.begin(), hash.end());
  {
    MutexLock lock(checked_mu_);
    if (checked_roster_ != roster.verified.hash()) {
      checked_.clear();
      checked_roster_ = roster.verified.hash();
    }
    if (checked_.contains(key)) {
      if (cached != nullptr) *cached = true;
      return roster.verified.check_certificate_standing(cert, now, queue);
    }
  }
  if (cached != nullptr) *cached = false;
  // Checked under every queue: what is cached is that the signature and the
  // fields are good, whatever `queue` asks.
  Status full = roster.verified.check_certificate(cert, now);
  if (full.is_ok()) {
    MutexLock lock(checked_mu_);
    if (checked_roster_ == roster.verified.hash()) checked_.insert(std::move(key));
  }
  if (!full.is_ok() || !queue) return full;
  return roster.verified.check_certificate_standing(cert, now, queue);
}

std::shared_ptr<const RosterState> RelayHub::roster() const {
  MutexLock lock(mu_);
  return roster_;
}

void RelayHub::remember_certificate(KnownCertificate cert) {
  MutexLock lock(mu_);
  Bytes hash = cert.hash;
  certificates_[hash] = std::move(cert);
  sync_responders_locked();
}

std::map<std::string, const KnownCertificate*> RelayHub::current_locked(UnixSeconds now) const {
  std::map<std::string, const KnownCertificate*> out;
  if (!roster_) return out;
  for (const auto& [hash, known] : certificates_) {
    if (!check_certificate(*roster_, known.certificate, hash, now).is_ok()) continue;
    const KnownCertificate*& best = out[known.certificate.fields.responder_id];
    if (best == nullptr || best->certificate.fields.not_after < known.certificate.fields.not_after)
      best = &known;
  }
  return out;
}

std::vector<KnownCertificate> RelayHub::current_certificates() const {
  MutexLock lock(mu_);
  std::vector<KnownCertificate> out;
  for (const auto& [id, known] : current_locked(clock_.now())) out.push_back(*known);
  return out;
}

void RelayHub::sync_responders_locked() {
  if (!dispatcher_ || !roster_) return;
  auto current = current_locked(clock_.now());
  // Everyone known: a responder whose certificate no longer checks out keeps
  // a view with no queues, so nothing is routed to them.
  std::set<std::string> ids;
  for (const auto& [hash, known] : certificates_) ids.insert(known.certificate.fields.responder_id);
  for (const auto& id : ids) {
    triage::ResponderView view;
    if (const triage::ResponderView* old = dispatcher_->responder(id)) view = *old;
    view.id = id;
    view.queues.clear();
    view.languages.clear();
    auto it = current.find(id);
    if (it != current.end()) {
      view.queues = roster_->verified.queues_of(it->second->hash);
      view.languages = it->second->certificate.fields.languages;
    }
    dispatcher_->upsert_responder(view);
  }
}

std::optional<KnownCertificate> RelayHub::certificate(ByteView hash) const {
  MutexLock lock(mu_);
  auto it = certificates_.find(key_of(hash));
  if (it == certificates_.end()) return std::nullopt;
  return it->second;
}

void RelayHub::put_case_locked(OpenCase c) {
  storage::CaseId id = c.id;
  (void)erase_case_locked(id);
  by_vault_[c.record.vault_login_key].insert(id);
  cases_.emplace(id, std::move(c));
}

std::optional<OpenCase> RelayHub::erase_case_locked(const storage::CaseId& id) {
  auto it = cases_.find(id);
  if (it == cases_.end()) return std::nullopt;
  OpenCase c = std::move(it->second);
  cases_.erase(it);
  if (auto v = by_vault_.find(c.record.vault_login_key); v != by_vault_.end()) {
    v->second.erase(id);
    if (v->second.empty()) by_vault_.erase(v);
  }
  return c;
}

const std::set<storage::CaseId>& RelayHub::vault_cases_locked(const Bytes& login_key) const {
  static const std::set<storage::CaseId> kNone;
  auto it = by_vault_.find(login_key);
  return it == by_vault_.end() ? kNone : it->second;
}

void RelayHub::load_cases(std::vector<OpenCase> cases) {
  MutexLock lock(mu_);
  for (auto& c : cases) put_case_locked(std::move(c));
}

void RelayHub::add_case(OpenCase c) {
  MutexLock lock(mu_);
  put_case_locked(std::move(c));
}

std::optional<OpenCase> RelayHub::get_case(const storage::CaseId& id) const {
  MutexLock lock(mu_);
  auto it = cases_.find(id);
  if (it == cases_.end()) return std::nullopt;
  return it->second;
}

void RelayHub::update_case(const storage::CaseId& id, std::int64_t version, CaseRecord record) {
  MutexLock lock(mu_);
  auto it = cases_.find(id);
  if (it == cases_.end()) return;
  if (it->second.record.vault_login_key != record.vault_login_key) {
    // Never on the server's paths (a case keeps its vault), but the index
    // must follow whatever the record says.
    OpenCase c = *erase_case_locked(id);
    c.version = version;
    c.record = std::move(record);
    put_case_locked(std::move(c));
    return;
  }
  it->second.version = version;
  it->second.record = std::move(record);
}

std::optional<OpenCase> RelayHub::remove_case(const storage::CaseId& id) {
  MutexLock lock(mu_);
  return erase_case_locked(id);
}

std::vector<OpenCase> RelayHub::cases_of_vault(ByteView login_key) const {
  MutexLock lock(mu_);
  std::vector<OpenCase> out;
  for (const auto& id : vault_cases_locked(key_of(login_key))) {
    if (auto it = cases_.find(id); it != cases_.end()) out.push_back(it->second);
  }
  return out;
}

bool RelayHub::vault_index_exact() const {
  MutexLock lock(mu_);
  std::size_t indexed = 0;
  for (const auto& [key, ids] : by_vault_) {
    if (ids.empty()) return false;
    for (const auto& id : ids) {
      auto it = cases_.find(id);
      if (it == cases_.end() || it->second.record.vault_login_key != key) return false;
      ++indexed;
    }
  }
  return indexed == cases_.size();
}

std::vector<OpenCase> RelayHub::cases_of_responder(std::string_view responder_id) const {
  MutexLock lock(mu_);
  std::vector<OpenCase> out;
  for (const auto& [id, c] : cases_) {
    if (c.record.closed || !c.record.claimed_by) continue;
    if (c.record.claimed_by->responder_id == responder_id) out.push_back(c);
  }
  return out;
}

std::int64_t RelayHub::case_count() const {
  MutexLock lock(mu_);
  return static_cast<std::int64_t>(cases_.size());
}

bool RelayHub::reserve_case_slot(ByteView login_key, std::size_t limit) {
  MutexLock lock(mu_);
  std::size_t open = 0;
  for (const auto& id : vault_cases_locked(key_of(login_key))) {
    // A case its responder closed does not count: the survivor may open another.
    if (auto it = cases_.find(id); it != cases_.end() && !it->second.record.closed) ++open;
  }
  std::size_t& reserved = reserved_slots_[key_of(login_key)];
  if (open + reserved >= limit) {
    if (reserved == 0) reserved_slots_.erase(key_of(login_key));
    return false;
  }
  ++reserved;
  return true;
}

void RelayHub::release_case_slot(ByteView login_key) {
  MutexLock lock(mu_);
  auto it = reserved_slots_.find(key_of(login_key));
  if (it == reserved_slots_.end()) return;
  if (--it->second == 0) reserved_slots_.erase(it);
}

// ---- triage ----

void RelayHub::set_rules(triage::Rules rules) {
  MutexLock lock(mu_);
  if (dispatcher_) {
    dispatcher_->set_rules(std::move(rules), clock_.now());
  } else {
    dispatcher_ = std::make_unique<triage::Dispatcher>(std::move(rules));
    sync_responders_locked();
  }
}

triage::Rules RelayHub::rules() const {
  MutexLock lock(mu_);
  return dispatcher_->rules();
}

triage::Decision RelayHub::preview(const protocol::RouteEnvelope& envelope) const {
  MutexLock lock(mu_);
  return dispatcher_->preview(envelope, clock_.now());
}

namespace {

std::vector<std::string> offered_ids(const CaseRecord& record) {
  std::vector<std::string> out;
  for (const auto& o : record.offers) out.push_back(o.responder_id);
  return out;
}

}  // namespace

void RelayHub::track_case(const OpenCase& c, std::optional<UnixSeconds> arrived,
                          std::optional<UnixSeconds> away_from) {
  MutexLock lock(mu_);
  Bytes key(c.id.bytes.begin(), c.id.bytes.end());
  if (c.record.closed || !c.record.routing) return;
  // Gone meanwhile (a take_next whose claim failed because the case was
  // dismissed or deleted): nothing to put back.
  if (!cases_.contains(c.id)) return;
  if (c.record.claimed_by) {
    dispatcher_->assign(key, c.record.claimed_by->responder_id);
    return;
  }
  const CaseRouting& r = *c.record.routing;
  const UnixSeconds since = arrived.value_or(r.arrived);
  dispatcher_->enter(key, r.envelope, r.forced_queue, offered_ids(c.record), since, clock_.now());
  // Nobody of this vault may be connected (at start-up): then it waits away.
  // Since when is not known (nothing about a survivor's comings and goings
  // is stored), so parking counts from its arrival: a case parked before a
  // restart stays parked, and one whose survivor is still there comes back
  // at its old place when they reconnect. Its expiry counts from now (the
  // process's start) unless the time is known (put back after a sweep).
  if (alive(survivors_, c.record.vault_login_key).empty())
    dispatcher_->survivor_away(key, clock_.now(), since, away_from);
}

void RelayHub::set_room(triage::RoomLimits room) {
  MutexLock lock(mu_);
  dispatcher_->set_room(room);
}

bool RelayHub::has_room(const protocol::RouteEnvelope& envelope) const {
  MutexLock lock(mu_);
  return dispatcher_->has_room(envelope);
}

RelayHub::PlaceHold RelayHub::hold_place(const protocol::RouteEnvelope& envelope) {
  MutexLock lock(mu_);
  return dispatcher_->reserve_place(envelope) ? PlaceHold(this) : PlaceHold();
}

void RelayHub::PlaceHold::release() {
  if (hub_ == nullptr) return;
  MutexLock lock(hub_->mu_);
  hub_->dispatcher_->release_place();
  hub_ = nullptr;
}

std::vector<OpenCase> RelayHub::withdraw_parked(UnixSeconds away_from, std::size_t limit,
                                                std::vector<UnixSeconds>* away_since) {
  MutexLock lock(mu_);
  std::vector<OpenCase> out;
  if (!dispatcher_) return out;
  for (const auto& w : dispatcher_->take_parked(away_from, limit)) {
    auto id = storage::CaseId::from(w.key);
    if (!id.is_ok()) continue;
    if (auto it = cases_.find(*id); it != cases_.end()) {
      out.push_back(it->second);
      if (away_since != nullptr) away_since->push_back(w.expire_from);
    }
  }
  return out;
}

std::vector<OpenCase> RelayHub::withdraw_waiting(const triage::DismissFilter& filter,
                                                 std::size_t limit, std::size_t* more) {
  MutexLock lock(mu_);
  std::vector<OpenCase> out;
  for (const auto& w : dispatcher_->dismiss(filter, limit, more)) {
    auto id = storage::CaseId::from(w.key);
    if (!id.is_ok()) continue;
    if (auto it = cases_.find(*id); it != cases_.end()) out.push_back(it->second);
  }
  return out;
}

std::size_t RelayHub::parked_count() const {
  MutexLock lock(mu_);
  return dispatcher_ ? dispatcher_->parked_count() : 0;
}

std::optional<triage::Taken> RelayHub::take_next(const std::string& responder_id) {
  MutexLock lock(mu_);
  return dispatcher_->take_next(responder_id, clock_.now());
}

void RelayHub::untake(const OpenCase& c) {
  untrack_case(c.id);
  track_case(c);
}

void RelayHub::untrack_case(const storage::CaseId& id) {
  MutexLock lock(mu_);
  Bytes key(id.bytes.begin(), id.bytes.end());
  dispatcher_->remove(key);
}

void RelayHub::responder_online(const std::string& responder_id) {
  MutexLock lock(mu_);
  const triage::ResponderView* known = dispatcher_->responder(responder_id);
  if (known == nullptr) return;
  triage::ResponderView view = *known;
  view.available = true;
  view.capacity = kDefaultCapacity;
  dispatcher_->upsert_responder(view);
  last_waiting_.erase(responder_id);  // the new connection hears the count
}

std::optional<triage::ResponderView> RelayHub::responder_view(
    const std::string& responder_id) const {
  MutexLock lock(mu_);
  const triage::ResponderView* known = dispatcher_->responder(responder_id);
  if (known == nullptr) return std::nullopt;
  return *known;
}

void RelayHub::set_presence(const std::string& responder_id, PresenceState state) {
  MutexLock lock(mu_);
  const triage::ResponderView* known = dispatcher_->responder(responder_id);
  if (known == nullptr) return;
  triage::ResponderView view = *known;
  view.available = state.status == protocol::Presence::kAvailable;
  view.capacity = state.capacity;
  dispatcher_->upsert_responder(view);
}

std::vector<triage::QueueHealth> RelayHub::health() const {
  MutexLock lock(mu_);
  return dispatcher_->health(clock_.now());
}

std::size_t RelayHub::waiting_count() const {
  MutexLock lock(mu_);
  return dispatcher_ ? dispatcher_->waiting_count() : 0;
}

bool RelayHub::refresh_allowed_locked() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_refresh_ < kRefreshSpacing) {
    refresh_pending_ = true;
    return false;
  }
  last_refresh_ = now;
  refresh_pending_ = false;
  return true;
}

void RelayHub::refresh() {
  {
    MutexLock lock(mu_);
    if (!refresh_allowed_locked()) return;
  }
  refresh_now();
}

void RelayHub::refresh_due(std::chrono::milliseconds idle) {
  {
    MutexLock lock(mu_);
    if (!refresh_pending_ && std::chrono::steady_clock::now() - last_refresh_ < idle) return;
    if (!refresh_allowed_locked()) return;
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
    if (!dispatcher_) return;
    UnixSeconds now = clock_.now();
    dispatcher_->tick(now);
    // Only the places that changed since the last refresh (the dispatcher
    // remembers what it last said of each case).
    const std::size_t changed = dispatcher_->positions_changed(now, changed_positions_);
    for (std::size_t i = 0; i < changed; ++i) {
      const triage::Position& pos = changed_positions_[i];
      auto id = storage::CaseId::from(pos.key);
      if (!id.is_ok()) continue;
      auto c = cases_.find(*id);
      if (c == cases_.end()) continue;
      statuses.push_back(
          {c->second.record.vault_login_key,
           protocol::QueueStatusEvent{pos.key, static_cast<std::int64_t>(pos.position), pos.band}});
    }
    for (auto it = responders_.begin(); it != responders_.end();
         it = responders_.upper_bound(it->first)) {
      std::string id(it->first.begin(), it->first.end());
      auto counts = dispatcher_->waiting_for(id, now);
      auto [last, inserted] = last_waiting_.try_emplace(id, counts);
      if (!inserted && last->second == counts) continue;
      last->second = counts;
      protocol::WaitingEvent event{static_cast<std::int64_t>(counts.first),
                                   static_cast<std::int64_t>(counts.second)};
      for (auto& peer : alive(responders_, it->first)) waiting.emplace_back(std::move(peer), event);
    }
  }
  for (auto& s : statuses) for_vault(s.login_key, [&](Peer& p) { p.push_event(s.event); });
  for (auto& [peer, event] : waiting) peer->push_event(event);
}

void RelayHub::vault_left_locked(const Bytes& login_key, UnixSeconds now) {
  if (!alive(survivors_, login_key).empty()) return;
  for (const auto& id : vault_cases_locked(login_key))
    dispatcher_->survivor_away(Bytes(id.bytes.begin(), id.bytes.end()), now);
}

void RelayHub::add_peer(const std::shared_ptr<Peer>& peer) {
  MutexLock lock(mu_);
  peers_[peer.get()] = peer;
}

void RelayHub::remove_peer(const Peer* peer) {
  MutexLock lock(mu_);
  peers_.erase(peer);
  // Drop the peer (and any expired entry) from the party maps, so they hold
  // only live connections: a scan per disconnect, bounded by max_connections.
  // The parties it leaves behind are noted: a survivor with no connection
  // left has their waiting cases marked away; a responder with none left is
  // no longer available.
  std::set<Bytes> left;
  auto drop = [&](std::multimap<Bytes, std::weak_ptr<Peer>>& map) {
    for (auto it = map.begin(); it != map.end();) {
      auto p = it->second.lock();
      if (!p || p.get() == peer) {
        left.insert(it->first);
        it = map.erase(it);
      } else {
        ++it;
      }
    }
  };
  drop(survivors_);
  UnixSeconds now = clock_.now();
  if (dispatcher_)
    for (const auto& key : left) vault_left_locked(key, now);
  left.clear();
  drop(responders_);
  if (dispatcher_) {
    for (const auto& key : left) {
      if (!alive(responders_, key).empty()) continue;
      std::string id(key.begin(), key.end());
      dispatcher_->responder_gone(id);
      last_waiting_.erase(id);
    }
  }
}

void RelayHub::register_survivor(ByteView login_key, const std::shared_ptr<Peer>& peer) {
  MutexLock lock(mu_);
  Bytes key = key_of(login_key);
  prune(survivors_, key);
  survivors_.emplace(key, peer);
  if (!dispatcher_) return;
  for (const auto& id : vault_cases_locked(key)) {
    Bytes case_key(id.bytes.begin(), id.bytes.end());
    dispatcher_->survivor_back(case_key);
    dispatcher_->report_again(case_key);  // the new connection hears its place
  }
}

void RelayHub::register_responder(const std::string& responder_id,
                                  const std::shared_ptr<Peer>& peer) {
  MutexLock lock(mu_);
  Bytes key = key_of(responder_id);
  prune(responders_, key);
  responders_.emplace(std::move(key), peer);
}

std::vector<std::shared_ptr<Peer>> RelayHub::alive(
    const std::multimap<Bytes, std::weak_ptr<Peer>>& map, const Bytes& key) const {
  std::vector<std::shared_ptr<Peer>> out;
  auto [lo, hi] = map.equal_range(key);
  for (auto it = lo; it != hi; ++it) {
    if (auto p = it->second.lock()) out.push_back(std::move(p));
  }
  return out;
}

void RelayHub::for_vault(ByteView login_key, const std::function<void(Peer&)>& fn) {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    MutexLock lock(mu_);
    peers = alive(survivors_, key_of(login_key));
  }
  for (auto& p : peers) fn(*p);
}

void RelayHub::for_responder(const std::string& responder_id,
                             const std::function<void(Peer&)>& fn) {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    MutexLock lock(mu_);
    peers = alive(responders_, key_of(responder_id));
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
  std::vector<std::shared_ptr<Peer>> peers;
  {
    MutexLock lock(mu_);
    for (const auto& [raw, weak] : peers_) {
      if (auto p = weak.lock()) peers.push_back(std::move(p));
    }
  }
  for (auto& p : peers) fn(*p);
}

}  // namespace hearth::server
