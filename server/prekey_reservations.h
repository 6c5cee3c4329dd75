// PrekeyReservations: responders' one-time prekeys set aside for routes and
// handoff offers that have not committed yet, and the one handoff offer that
// may be pending per case. Memory only.
//
// A route (or a handoff offer) shows the survivor one one-time prekey per
// offered responder. The prekey stays in storage, reserved here so that no
// other route is shown it, and is deleted only when open_case (or
// handoff_accept) commits an intake copy made with it. A reservation ends
// when its holder releases it (the route was used, dropped or expired, or
// its connection closed) or by itself at its expiry (the route's TTL plus
// kGrace, so a commit that found its route alive still holds it): a route
// that is never used costs the responder nothing.
//
// A handoff offer is per case, not per connection: while one is pending,
// handoff_offer answers with it again (any connection of the vault), so
// asking again reserves nothing new.
//
// After a restart nothing is reserved and no offer is pending: routes are
// per connection, so no open_case can refer to one from before.
//
// Thread safety: every method is safe from any thread (one internal mutex);
// try_reserve is called from storage jobs.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "host/case_record.h"
#include "protocol/messages.h"
#include "storage/types.h"

namespace hearth::server {

class PrekeyReservations {
 public:
  // How long a reservation outlives its route: a commit checks the route on
  // the strand, then runs its storage job.
  static constexpr UnixSeconds kGrace = 60;

  // One reserved one-time prekey.
  struct Held {
    std::string responder_id;
    std::uint32_t prekey_id = 0;
    std::uint64_t token = 0;  // its holder
  };

  // A fresh holder token (never 0).
  std::uint64_t new_token();

  // Reserves the prekey for `token` until `expires`: false when a live
  // reservation of another holder has it.
  bool try_reserve(const std::string& responder_id, std::uint32_t prekey_id, std::uint64_t token,
                   UnixSeconds now, UnixSeconds expires);
  // Ends each of `held` that its token still holds (an expired one that was
  // reserved again since belongs to its new holder and stays).
  void release(const std::vector<Held>& held);
  // Live reservations (for metrics).
  std::size_t reserved(UnixSeconds now) const;

  // The handoff offer pending for a case.
  struct HandoffOffer {
    std::uint64_t token = 0;
    std::string queue;
    UnixSeconds expires = 0;
    std::vector<CaseParty> offers;
    std::vector<protocol::Bundle> bundles;
    std::vector<Held> reserved;
  };
  // The case's pending offer for `queue`, if one lives.
  std::optional<HandoffOffer> handoff_offer(const storage::CaseId& id, const std::string& queue,
                                            UnixSeconds now) const;
  // Makes `offer` the case's pending offer unless a live one for the same
  // queue is there already; returns the one in force. An offer for another
  // queue, or an expired one, is replaced and its reservations released; a
  // caller whose offer lost releases its own.
  HandoffOffer put_handoff_offer(const storage::CaseId& id, HandoffOffer offer, UnixSeconds now);
  // Removes the case's pending offer if its token is `token` (0: any) and
  // returns it; the caller consumes or releases its reservations.
  std::optional<HandoffOffer> take_handoff_offer(const storage::CaseId& id, std::uint64_t token);

 private:
  struct Reservation {
    std::uint64_t token = 0;
    UnixSeconds expires = 0;
  };
  void release_locked(const std::vector<Held>& held);
  void prune_offers_locked(UnixSeconds now);

  mutable std::mutex mu_;
  std::uint64_t next_token_ = 1;
  std::map<std::pair<std::string, std::uint32_t>, Reservation> reservations_;
  std::map<storage::CaseId, HandoffOffer> offers_;
};

}  // namespace hearth::server
