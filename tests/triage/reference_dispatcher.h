// The waiting room as it was before its refresh was indexed (main 7024387's
// triage::Dispatcher, brute force: every query scans every waiting case
// against every responder). Kept only as the reference the differential test
// (dispatcher_index_test.cpp) checks the indexed Dispatcher against; the one
// change is positions()' tie-break (see reference_dispatcher.cpp).
//
// Thread safety: none.
#pragma once

#include "triage/dispatcher.h"

namespace hearth::triage::reference {

class ReferenceDispatcher {
 public:
  explicit ReferenceDispatcher(Rules rules);

  const Rules& rules() const { return rules_; }
  // The room's bounds (the defaults until called). Parks at the next tick().
  void set_room(RoomLimits room) { room_ = room; }
  const RoomLimits& room() const { return room_; }
  // New rules (validated by the caller). Waiting cases keep their arrival
  // and are placed afresh at the first target of their new chain.
  void set_rules(Rules rules, UnixSeconds now);

  // ---- responders ----
  // Connected (or changed): replaces what was known of `r.id`, keeping the
  // load the dispatcher counts itself.
  void upsert_responder(const ResponderView& r);
  // Disconnected: kept for load counting, but no longer available.
  void responder_gone(const std::string& id);
  const ResponderView* responder(const std::string& id) const;

  // ---- cases ----
  // The decision a new request would get at `now` (nothing changes). Its
  // candidates come from the responders the dispatcher knows: upsert every
  // roster certificate (available = false, then responder_gone) when the
  // roster loads, so responders who are offline still get intake copies.
  Decision preview(const protocol::RouteEnvelope& envelope, UnixSeconds now) const;
  // A new case starts waiting: placed by `decision` (from preview), arrived
  // now. `offered` are the responders who got an intake copy: only they can
  // be handed it.
  void add(const CaseKey& key, const protocol::RouteEnvelope& envelope, const Decision& decision,
           std::vector<std::string> offered, UnixSeconds now);
  // A case restored at start-up: waiting since `arrived`, placed afresh.
  void restore(const CaseKey& key, const protocol::RouteEnvelope& envelope,
               std::optional<std::string> forced_queue, std::vector<std::string> offered,
               UnixSeconds arrived, UnixSeconds now);
  // A case held by a responder (for load) at start-up or after take_next.
  void assign(const CaseKey& key, const std::string& responder_id);
  // Gone for good (deleted, closed): out of the waiting room (or parked),
  // and its responder's load drops.
  void remove(const CaseKey& key);
  // Handed off: its responder's load drops and it waits again, only in
  // `queue`, keeping its original arrival; `offered` are the new intake copies.
  void requeue(const CaseKey& key, const protocol::RouteEnvelope& envelope, std::string queue,
               std::vector<std::string> offered, UnixSeconds arrived, UnixSeconds now);

  // ---- the room's bounds ----
  // Whether a case with `envelope` would find a place now: the waiting cases
  // plus reserved places are below max_waiting, or below max_waiting -
  // reserved_urgent for anything but danger-now.
  bool has_room(const protocol::RouteEnvelope& envelope) const;
  // Takes a place for a case about to be added or requeued (true), or
  // refuses (false). Give it back with release_place() once the case is in
  // (or did not make it): until then it counts as waiting.
  bool reserve_place(const protocol::RouteEnvelope& envelope);
  void release_place();

  // The survivor's last connection closed / a connection came back. A case
  // away longer than rules().away_grace_s loses its place: its arrival
  // becomes the moment the grace ran out (tick() does this). A never-taken
  // case away longer than room().park_after_s, counted from `park_from`
  // (default: now; at start-up, when nobody knows since when the survivor
  // is gone, its arrival), is parked: at once when that has passed, else by
  // tick(). survivor_back() brings a parked case back when there is room
  // for it, else tick() does as soon as there is. Parked expiry
  // (take_parked) counts from `expire_from` (default and at most: now), set
  // afresh each time the survivor leaves again, parked or not. At start-up
  // it is now (the process's start), not the arrival: a restart does not
  // hasten any case's expiry.
  void survivor_away(const CaseKey& key, UnixSeconds now,
                     std::optional<UnixSeconds> park_from = std::nullopt,
                     std::optional<UnixSeconds> expire_from = std::nullopt);
  void survivor_back(const CaseKey& key);

  // Escalations, away-grace expiry, parking and parked cases coming back up
  // to `now`. Returns true when any case moved (positions may have changed).
  bool tick(UnixSeconds now);

  // The best waiting case `responder_id` may take at `now`: available, below
  // capacity, eligible at (or before) the case's current target and offered
  // an intake copy. The case leaves the waiting room and counts towards the
  // responder's load (assign() afterwards is a no-op). It applies tick(now)
  // first, so an escalation due by now counts even between ticks. Nullopt
  // when there is none.
  std::optional<Taken> take_next(const std::string& responder_id, UnixSeconds now);
  // How many waiting cases `responder_id` could take now, and how many of
  // those are in a strict class (for the "waiting" push to consoles).
  // Ignores their presence and capacity (a responder at capacity still sees
  // what waits for them), and uses placements as of the last tick().
  std::pair<std::size_t, std::size_t> waiting_for(const std::string& responder_id,
                                                  UnixSeconds now) const;

  std::optional<WaitingCase> waiting(const CaseKey& key) const;
  std::size_t waiting_count() const { return waiting_.size(); }
  // Parked cases (not counted in waiting_count()).
  bool is_parked(const CaseKey& key) const { return parked_.contains(key); }
  std::size_t parked_count() const { return parked_.size(); }
  // Removes up to `limit` never-taken cases, waiting or parked, that match
  // `filter` (oldest first) and returns them; `more` is set to how many
  // matching ones are left. The caller deletes them (or restore()s them).
  std::vector<WaitingCase> dismiss(const DismissFilter& filter, std::size_t limit,
                                   std::size_t* more);
  // Removes and returns the parked cases whose survivor is still away and
  // has been since `away_from` or earlier (counted from `expire_from`: their
  // last leaving, or the process's start), at most `limit`, longest away first: retention's parked
  // expiry. The caller deletes them (or restore()s them).
  std::vector<WaitingCase> take_parked(UnixSeconds away_from, std::size_t limit);
  // The responder holding `key`, if it is taken.
  std::optional<std::string> holder(const CaseKey& key) const;

  // Every waiting case's position within its current queue and its band.
  std::vector<Position> positions(UnixSeconds now) const;
  // One entry per queue named by the rules, sorted by queue name.
  std::vector<QueueHealth> health(UnixSeconds now) const;

 private:
  // Moves `it` out of the room when it is due to be parked at `now`.
  bool park_if_due(std::map<CaseKey, WaitingCase>::iterator it, UnixSeconds now);
  // Brings a parked case whose survivor is back into the room, room allowing.
  bool unpark_if_room(std::map<CaseKey, WaitingCase>::iterator it);

  Rules rules_;
  RoomLimits room_;
  std::size_t reserved_places_ = 0;
  std::map<CaseKey, WaitingCase> waiting_;
  std::map<CaseKey, WaitingCase> parked_;  // out of the room until their survivor is back
  std::map<std::string, ResponderView> responders_;
  std::map<CaseKey, std::string> held_;  // taken cases → responder
  std::map<std::string, bool> connected_;
};

}  // namespace hearth::triage::reference
