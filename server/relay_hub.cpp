#include "server/relay_hub.h"

#include <algorithm>

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
  std::lock_guard lock(mu_);
  roster_ = std::move(roster);
}

std::shared_ptr<const RosterState> RelayHub::roster() const {
  std::lock_guard lock(mu_);
  return roster_;
}

void RelayHub::remember_certificate(KnownCertificate cert) {
  std::lock_guard lock(mu_);
  Bytes hash = cert.hash;
  certificates_[hash] = std::move(cert);
}

std::optional<KnownCertificate> RelayHub::certificate(ByteView hash) const {
  std::lock_guard lock(mu_);
  auto it = certificates_.find(key_of(hash));
  if (it == certificates_.end()) return std::nullopt;
  return it->second;
}

void RelayHub::load_cases(std::vector<OpenCase> cases) {
  std::lock_guard lock(mu_);
  for (auto& c : cases) {
    storage::CaseId id = c.id;
    cases_[id] = std::move(c);
  }
}

void RelayHub::add_case(OpenCase c) {
  std::lock_guard lock(mu_);
  storage::CaseId id = c.id;
  cases_[id] = std::move(c);
}

std::optional<OpenCase> RelayHub::get_case(const storage::CaseId& id) const {
  std::lock_guard lock(mu_);
  auto it = cases_.find(id);
  if (it == cases_.end()) return std::nullopt;
  return it->second;
}

void RelayHub::update_case(const storage::CaseId& id, std::int64_t version, CaseRecord record) {
  std::lock_guard lock(mu_);
  auto it = cases_.find(id);
  if (it == cases_.end()) return;
  it->second.version = version;
  it->second.record = std::move(record);
}

std::optional<OpenCase> RelayHub::remove_case(const storage::CaseId& id) {
  std::lock_guard lock(mu_);
  auto it = cases_.find(id);
  if (it == cases_.end()) return std::nullopt;
  OpenCase c = std::move(it->second);
  cases_.erase(it);
  return c;
}

std::vector<OpenCase> RelayHub::cases_of_vault(ByteView login_key) const {
  std::lock_guard lock(mu_);
  std::vector<OpenCase> out;
  for (const auto& [id, c] : cases_) {
    if (std::equal(c.record.vault_login_key.begin(), c.record.vault_login_key.end(),
                   login_key.begin(), login_key.end()))
      out.push_back(c);
  }
  return out;
}

std::vector<OpenCase> RelayHub::cases_of_responder(std::string_view responder_id) const {
  std::lock_guard lock(mu_);
  std::vector<OpenCase> out;
  for (const auto& [id, c] : cases_) {
    if (c.record.offer_for(responder_id) == nullptr) continue;
    if (c.record.claimed_by && c.record.claimed_by->responder_id != responder_id) continue;
    out.push_back(c);
  }
  return out;
}

std::int64_t RelayHub::case_count() const {
  std::lock_guard lock(mu_);
  return static_cast<std::int64_t>(cases_.size());
}

bool RelayHub::reserve_case_slot(ByteView login_key, std::size_t limit) {
  std::lock_guard lock(mu_);
  std::size_t open = 0;
  for (const auto& [id, c] : cases_) {
    if (std::equal(c.record.vault_login_key.begin(), c.record.vault_login_key.end(),
                   login_key.begin(), login_key.end()))
      ++open;
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
  std::lock_guard lock(mu_);
  auto it = reserved_slots_.find(key_of(login_key));
  if (it == reserved_slots_.end()) return;
  if (--it->second == 0) reserved_slots_.erase(it);
}

bool RelayHub::begin_claim(const storage::CaseId& id) {
  std::lock_guard lock(mu_);
  return claiming_.insert(id).second;
}

void RelayHub::end_claim(const storage::CaseId& id) {
  std::lock_guard lock(mu_);
  claiming_.erase(id);
}

void RelayHub::set_presence(const std::string& responder_id, PresenceState state) {
  std::lock_guard lock(mu_);
  presence_[responder_id] = state;
}

void RelayHub::clear_presence(const std::string& responder_id) {
  std::lock_guard lock(mu_);
  presence_.erase(responder_id);
}

void RelayHub::add_peer(const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(mu_);
  peers_[peer.get()] = peer;
}

void RelayHub::remove_peer(const Peer* peer) {
  std::lock_guard lock(mu_);
  peers_.erase(peer);
  // Drop the peer (and any expired entry) from the party maps, so they hold
  // only live connections: a scan per disconnect, bounded by max_connections.
  auto drop = [peer](std::multimap<Bytes, std::weak_ptr<Peer>>& map) {
    for (auto it = map.begin(); it != map.end();) {
      auto p = it->second.lock();
      it = (!p || p.get() == peer) ? map.erase(it) : std::next(it);
    }
  };
  drop(survivors_);
  drop(responders_);
}

void RelayHub::register_survivor(ByteView login_key, const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(mu_);
  Bytes key = key_of(login_key);
  prune(survivors_, key);
  survivors_.emplace(std::move(key), peer);
}

void RelayHub::register_responder(const std::string& responder_id,
                                  const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(mu_);
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
    std::lock_guard lock(mu_);
    peers = alive(survivors_, key_of(login_key));
  }
  for (auto& p : peers) fn(*p);
}

void RelayHub::for_responder(const std::string& responder_id,
                             const std::function<void(Peer&)>& fn) {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    std::lock_guard lock(mu_);
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
    std::lock_guard lock(mu_);
    for (const auto& [raw, weak] : peers_) {
      if (auto p = weak.lock()) peers.push_back(std::move(p));
    }
  }
  for (auto& p : peers) fn(*p);
}

}  // namespace hearth::server
