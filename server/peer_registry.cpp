#include "server/peer_registry.h"

#include <set>

namespace hearth::server {
namespace {

using PartyMap = std::multimap<Bytes, std::weak_ptr<Peer>>;

Bytes key_of(ByteView b) { return Bytes(b.begin(), b.end()); }

// Drops expired weak references of `key`.
void prune(PartyMap& map, const Bytes& key) {
  auto [lo, hi] = map.equal_range(key);
  for (auto it = lo; it != hi;) {
    it = it->second.expired() ? map.erase(it) : std::next(it);
  }
}

PeerRegistry::PeerList alive(const PartyMap& map, const Bytes& key) {
  PeerRegistry::PeerList out;
  auto [lo, hi] = map.equal_range(key);
  for (auto it = lo; it != hi; ++it) {
    if (auto p = it->second.lock()) out.push_back(std::move(p));
  }
  return out;
}

// Drops `peer` and every expired entry from `map`; returns the keys dropped
// that have no live connection left.
std::set<Bytes> drop(PartyMap& map, const Peer* peer) {
  std::set<Bytes> dropped;
  for (auto it = map.begin(); it != map.end();) {
    auto p = it->second.lock();
    if (!p || p.get() == peer) {
      dropped.insert(it->first);
      it = map.erase(it);
    } else {
      ++it;
    }
  }
  std::set<Bytes> left;
  for (const auto& key : dropped) {
    if (alive(map, key).empty()) left.insert(key);
  }
  return left;
}

}  // namespace

void PeerRegistry::add(const std::shared_ptr<Peer>& peer) { peers_[peer.get()] = peer; }

void PeerRegistry::register_survivor(ByteView login_key, const std::shared_ptr<Peer>& peer) {
  Bytes key = key_of(login_key);
  prune(survivors_, key);
  survivors_.emplace(std::move(key), peer);
}

void PeerRegistry::register_responder(const std::string& responder_id,
                                      const std::shared_ptr<Peer>& peer) {
  Bytes key = to_bytes(responder_id);
  prune(responders_, key);
  responders_.emplace(std::move(key), peer);
}

PeerRegistry::Left PeerRegistry::remove(const Peer* peer) {
  peers_.erase(peer);
  Left out;
  for (auto& key : drop(survivors_, peer)) out.vaults.push_back(key);
  for (const auto& key : drop(responders_, peer))
    out.responders.emplace_back(key.begin(), key.end());
  return out;
}

PeerRegistry::PeerList PeerRegistry::alive_survivors(ByteView login_key) const {
  return alive(survivors_, key_of(login_key));
}

PeerRegistry::PeerList PeerRegistry::alive_responders(const std::string& responder_id) const {
  return alive(responders_, to_bytes(responder_id));
}

PeerRegistry::PeerList PeerRegistry::all() const {
  PeerList out;
  for (const auto& [raw, weak] : peers_) {
    if (auto p = weak.lock()) out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> PeerRegistry::responder_ids() const {
  std::vector<std::string> out;
  for (auto it = responders_.begin(); it != responders_.end();
       it = responders_.upper_bound(it->first))
    out.emplace_back(it->first.begin(), it->first.end());
  return out;
}

}  // namespace hearth::server
