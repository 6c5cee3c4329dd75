#include "server/prekey_reservations.h"

#include <iterator>

namespace hearth::server {

std::uint64_t PrekeyReservations::new_token() {
  std::lock_guard lock(mu_);
  return next_token_++;
}

bool PrekeyReservations::try_reserve(const std::string& responder_id, std::uint32_t prekey_id,
                                     std::uint64_t token, UnixSeconds now, UnixSeconds expires) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = reservations_.try_emplace({responder_id, prekey_id});
  if (!inserted && it->second.token != token && it->second.expires > now) return false;
  it->second = Reservation{token, expires};
  return true;
}

void PrekeyReservations::release_locked(const std::vector<Held>& held) {
  for (const auto& h : held) {
    auto it = reservations_.find({h.responder_id, h.prekey_id});
    if (it != reservations_.end() && it->second.token == h.token) reservations_.erase(it);
  }
}

void PrekeyReservations::release(const std::vector<Held>& held) {
  std::lock_guard lock(mu_);
  release_locked(held);
}

std::size_t PrekeyReservations::reserved(UnixSeconds now) const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [key, r] : reservations_) n += r.expires > now ? 1 : 0;
  return n;
}

void PrekeyReservations::prune_offers_locked(UnixSeconds now) {
  for (auto it = offers_.begin(); it != offers_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    release_locked(it->second.reserved);
    it = offers_.erase(it);
  }
  // Expired reservations of routes whose release never came (a lost
  // connection is released at close; this only bounds the map).
  for (auto it = reservations_.begin(); it != reservations_.end();)
    it = it->second.expires <= now ? reservations_.erase(it) : std::next(it);
}

std::optional<PrekeyReservations::HandoffOffer> PrekeyReservations::handoff_offer(
    const storage::CaseId& id, const std::string& queue, UnixSeconds now) const {
  std::lock_guard lock(mu_);
  auto it = offers_.find(id);
  if (it == offers_.end() || it->second.expires <= now || it->second.queue != queue)
    return std::nullopt;
  return it->second;
}

PrekeyReservations::HandoffOffer PrekeyReservations::put_handoff_offer(const storage::CaseId& id,
                                                                       HandoffOffer offer,
                                                                       UnixSeconds now) {
  std::lock_guard lock(mu_);
  prune_offers_locked(now);
  auto it = offers_.find(id);
  if (it != offers_.end()) {
    if (it->second.queue == offer.queue) return it->second;
    release_locked(it->second.reserved);
    it->second = std::move(offer);
    return it->second;
  }
  return offers_.emplace(id, std::move(offer)).first->second;
}

std::optional<PrekeyReservations::HandoffOffer> PrekeyReservations::take_handoff_offer(
    const storage::CaseId& id, std::uint64_t token) {
  std::lock_guard lock(mu_);
  auto it = offers_.find(id);
  if (it == offers_.end() || (token != 0 && it->second.token != token)) return std::nullopt;
  HandoffOffer out = std::move(it->second);
  offers_.erase(it);
  return out;
}

}  // namespace hearth::server
