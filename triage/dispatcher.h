// Dispatcher: the waiting room. Holds the cases waiting for a responder and
// the responders who may take them, and answers "take next", positions and
// queue health — all as a deterministic state machine over the engine.
//
// It never reads a clock: every call that depends on time takes `now`.
// hearthd keeps one (under its hub's lock) and feeds it real time;
// `hearth-admin simulate` feeds it a simulated clock; the tests feed it
// whatever they need. It knows cases by an opaque key (hearthd: the case id
// bytes) and holds no content, only the routing envelope.
//
// Lifecycle of a case: add() → waiting (escalating along its chain on
// tick()) → take_next() hands it to a responder → release() when it closes,
// or requeue() when it is handed off (it waits again, in the new queue).
// remove() drops it at any point (the survivor deleted it).
//
// The room is bounded (set_room): a new case needs a place (reserve_place,
// trunk reservation: the last `reserved_urgent` places are for danger-now
// only), and a never-taken case whose survivor stays away `park_after_s`
// is parked: out of the room (not counted, not handed out), kept for its
// survivor, who brings it back (at its old place in line) by coming back,
// as soon as there is room for it.
//
// Cost: every query the refresh makes (tick, positions, waiting_for) and
// take_next follow an index kept as cases arrive, move, escalate, get taken
// or leave (dispatcher.cpp, "The index"): a refresh costs the number of
// changes plus one pass over the waiting cases for positions(), never
// waiting × responders. health(), dismiss() and take_parked() scan.
//
// Thread safety: none; the owner serialises calls.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "protocol/messages.h"
#include "triage/engine.h"
#include "triage/rules.h"

namespace hearth::triage {

using CaseKey = Bytes;

struct WaitingCase {
  CaseKey key;
  protocol::RouteEnvelope envelope;
  Placement placement;
  std::optional<std::string> forced_queue;  // after a handoff: only this queue
  UnixSeconds arrived = 0;                  // its wait, for priority, counts from here
  std::vector<std::string> offered;         // responders an intake copy was made for
  bool away = false;                        // the survivor has no connection open
  UnixSeconds away_since = 0;
  UnixSeconds park_from = 0;      // while away: parking counts from here
  UnixSeconds expire_from = 0;    // while away: parked expiry (take_parked) counts from here
  UnixSeconds first_arrived = 0;  // as added or restored (arrived moves when the grace lapses)
};

// The waiting room's bounds. The defaults bound nothing (the simulator).
struct RoomLimits {
  // Cases waiting (plus places reserved for cases being opened), in all.
  std::size_t max_waiting = static_cast<std::size_t>(-1);
  // Of max_waiting, the places only a danger-now case may take: a flood of
  // other cases never turns one away.
  std::size_t reserved_urgent = 0;
  // A never-taken case (not handed off) whose survivor has been away this
  // long is parked. Nullopt: never.
  std::optional<UnixSeconds> park_after_s;
};

// Which waiting (or parked) never-taken cases dismiss() removes.
struct DismissFilter {
  std::optional<std::string> queue;                                     // the queue it waits in now
  UnixSeconds arrived_from = 0;                                         // first_arrived >= this
  UnixSeconds arrived_until = std::numeric_limits<UnixSeconds>::max();  // first_arrived < this
  bool away_only = false;                                               // survivor away (or parked)
};

// What take_next hands out.
struct Taken {
  CaseKey key;
  std::string queue;
  std::size_t priority_class = 0;
  bool interpreter = false;
  UnixSeconds waited = 0;  // seconds since it arrived
  protocol::RouteEnvelope envelope;
};

// A waiting case's place, as its survivor is told it.
struct Position {
  CaseKey key;
  std::size_t position = 0;  // 1 = next in its queue
  protocol::WaitBand band = protocol::WaitBand::kNobodyOnline;
  friend bool operator==(const Position&, const Position&) = default;
};

// Queue health for the supervisor view: counts and times only, no case keys.
struct ClassHealth {
  std::string name;
  std::size_t waiting = 0;
  UnixSeconds longest_wait = 0;
  UnixSeconds target = 0;
};
struct QueueHealth {
  std::string queue;
  std::vector<ClassHealth> classes;      // every class of the rules, in rules order
  std::size_t responders_available = 0;  // listed under the queue and available
  std::size_t responders_away = 0;       // listed, connected, away
  std::uint32_t load = 0;                // open cases held by the available ones
  std::uint32_t capacity = 0;            // their summed capacity
};

class Dispatcher {
 public:
  explicit Dispatcher(Rules rules);

  const Rules& rules() const { return rules_; }
  // The room's bounds (the defaults until called). Parks at the next tick().
  void set_room(RoomLimits room);
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
  // The one door into the waiting room, for hearthd (RelayHub::track_case:
  // a new case once it commits, a case at start-up, one put back) and for
  // the simulator (a request arriving) alike: the case waits from
  // `arrived`, placed at `now` by the rules (as preview() would place it
  // now; with `forced_queue`, only in that queue, as after a handoff).
  // `offered` are the responders who got an intake copy: only they can be
  // handed it. It replaces a waiting or parked case of the same key.
  void enter(const CaseKey& key, const protocol::RouteEnvelope& envelope,
             std::optional<std::string> forced_queue, std::vector<std::string> offered,
             UnixSeconds arrived, UnixSeconds now);
  // For tests and the bench: a case placed by `decision` (from preview;
  // placed afresh if the rules changed since), arrived now. Not parked-aware:
  // `key` must be new.
  void add(const CaseKey& key, const protocol::RouteEnvelope& envelope, const Decision& decision,
           std::vector<std::string> offered, UnixSeconds now);
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
  // matching ones are left. The caller deletes them (or enter()s them again).
  std::vector<WaitingCase> dismiss(const DismissFilter& filter, std::size_t limit,
                                   std::size_t* more);
  // Removes and returns the parked cases whose survivor is still away and
  // has been since `away_from` or earlier (counted from `expire_from`: their
  // last leaving, or the process's start), at most `limit`, longest away first: retention's parked
  // expiry. The caller deletes them (or enter()s them again).
  std::vector<WaitingCase> take_parked(UnixSeconds away_from, std::size_t limit);
  // The responder holding `key`, if it is taken.
  std::optional<std::string> holder(const CaseKey& key) const;

  // Every waiting case's position within its current queue and its band.
  std::vector<Position> positions(UnixSeconds now) const;
  // The positions (as positions() gives them) of the cases whose position or
  // band differs from what this call last returned for them, or that it has
  // not returned since they (last) entered the waiting room, written to the
  // first n entries of `out` (n returned; later entries are left as they
  // were). Its cost is one pass over the waiting cases; a caller that keeps
  // `out` from call to call makes it allocate nothing once warm.
  std::size_t positions_changed(UnixSeconds now, std::vector<Position>& out);
  // positions_changed() returns `key`'s position next time even if unchanged
  // (its survivor's new connection must hear it). No-op unless it waits.
  void report_again(const CaseKey& key);
  // One entry per queue named by the rules, sorted by queue name.
  std::vector<QueueHealth> health(UnixSeconds now) const;

 private:
  using Room = std::map<CaseKey, WaitingCase>;

  // ---- the index (see dispatcher.cpp, "The index") ----
  // What a waiting case contributes to the index, derived from the case, the
  // rules and the responders' views; kept so that it can be taken out again.
  struct Indexed;
  // A waiting case in an ordered set: by arrival (or a due time), then key.
  struct Slot {
    UnixSeconds at = 0;
    Indexed* ix = nullptr;
  };
  struct SlotLess {
    bool operator()(const Slot& a, const Slot& b) const;
  };
  using Slots = std::set<Slot, SlotLess>;
  using ByClass = std::map<std::size_t, Slots>;  // priority class → its cases by arrival
  // The same order in one flat array: positions() walks every entry on every
  // refresh, and a walk of an array costs a fraction of a tree's; a change
  // moves at most the array's tail (8 bytes × waiting cases, microseconds).
  class FlatSlots {
   public:
    void insert(const Slot& s);
    void erase(const Slot& s);
    bool empty() const { return v_.empty(); }
    std::vector<Slot>::const_iterator begin() const { return v_.begin(); }
    std::vector<Slot>::const_iterator end() const { return v_.end(); }

   private:
    std::vector<Slot> v_;
  };
  using FlatByClass = std::map<std::size_t, FlatSlots>;
  struct Indexed {
    const CaseKey* key = nullptr;            // the key in waiting_ (stable while it waits)
    const WaitingCase* c = nullptr;          // ditto
    bool listed = false;                     // has a chain: in by_queue_ and by_responder_
    std::string queue;                       // its current target's
    std::size_t priority_class = 0;          // ditto
    UnixSeconds arrived = 0;                 // as indexed
    std::vector<std::string> eligible;       // offered, known and eligible up to its target
    std::size_t available = 0;               // of those, available now
    std::optional<UnixSeconds> timeout_due;  // its current target times out
    bool at_skip = false;                    // sits at a skip_if_empty target (not the last)
    std::optional<UnixSeconds> lapse_due;    // away, and its grace runs out then
    std::optional<UnixSeconds> park_due;     // away, never taken, parked then
    // positions_changed()' last word on it: position (0: none yet) and band.
    mutable std::size_t reported_position = 0;
    mutable protocol::WaitBand reported_band = protocol::WaitBand::kNobodyOnline;
  };

  // Puts the waiting case `it` into the index (again: it re-derives its
  // entry after any change to the case) / takes it out for good. unindex
  // reads only the entry, never the case, so the case may have changed.
  void index(Room::iterator it);
  void unindex(const CaseKey& key);
  void reindex_all();
  // Calls emit(indexed, position, band) for every listed waiting case, in
  // positions() order.
  template <typename Emit>
  void walk_positions(UnixSeconds now, Emit&& emit) const;
  // Re-derives every case that offers `responder_id` (its view changed).
  void reindex_offering(const std::string& responder_id);
  // A new waiting case (replacing any waiting one of its key, and with
  // `drop_parked` a parked one), re-advanced at the next tick().
  void put_waiting(WaitingCase c, bool drop_parked = true);
  bool erase_waiting(const CaseKey& key);
  bool erase_parked(const CaseKey& key);
  // An availability flip of `id`: each case it is eligible for counts it.
  void count_available(const std::string& id, bool available);

  // Moves `it` out of the room when it is due to be parked at `now`.
  bool park_if_due(Room::iterator it, UnixSeconds now);
  // Brings a parked case whose survivor is back into the room, room allowing.
  bool unpark_if_room(Room::iterator it);

  Rules rules_;
  RoomLimits room_;
  std::size_t reserved_places_ = 0;
  Room waiting_;
  Room parked_;  // out of the room until their survivor is back
  std::map<std::string, ResponderView> responders_;
  std::map<CaseKey, std::string> held_;  // taken cases → responder
  std::map<std::string, bool> connected_;

  std::map<CaseKey, Indexed> index_;             // one per waiting case
  std::map<std::string, FlatByClass> by_queue_;  // positions()
  std::map<std::string, ByClass> by_responder_;  // take_next(), waiting_for()
  Slots timeouts_;                               // by timeout_due
  Slots lapses_;                                 // by lapse_due
  Slots parks_;                                  // by park_due
  std::set<CaseKey> at_skip_;                    // re-advanced when responders change
  std::set<CaseKey> dirty_;                      // re-advanced at the next tick()
  bool responders_changed_ = false;
  std::set<std::pair<UnixSeconds, CaseKey>> back_;  // parked, survivor back: by arrival
};

}  // namespace hearth::triage
