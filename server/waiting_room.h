// WaitingRoom: hearthd's side of the triage waiting room — the
// triage::Dispatcher (routing rules, waiting and parked cases, who holds
// which case, responders' presence), what each responder was last told of
// it, and the spacing of refreshes — one of the four concerns behind
// RelayHub (server/relay_hub.h).
//
// It reads no clock of its own: calls that depend on the time of day take
// `now` (the hub's Clock), and the spacing of refreshes follows the steady
// time source it is given (steady_clock in hearthd; the tests drive it).
// Before set_rules() it has no dispatcher (ready() is false): only the
// calls that say so may be made then.
//
// Thread safety: none of its own: RelayHub's one mutex guards it (its member
// is GUARDED_BY the hub's mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "host/case_record.h"
#include "protocol/messages.h"
#include "storage/types.h"
#include "triage/dispatcher.h"
#include "triage/rules.h"

namespace hearth::server {

struct PresenceState {
  protocol::Presence status = protocol::Presence::kAway;
  std::uint32_t capacity = 1;
};

// The steady time source the refresh spacing follows.
using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

class WaitingRoom {
 public:
  // Refreshes run at most once per `spacing` of `steady_now`.
  WaitingRoom(SteadyNow steady_now, std::chrono::milliseconds spacing)
      : steady_now_(std::move(steady_now)), spacing_(spacing) {}

  // Whether set_rules() has been called (the dispatcher exists).
  bool ready() const { return dispatcher_ != nullptr; }

  // ---- rules and bounds (any time; the first set_rules makes it ready) ----
  // Installs rules (validated by the caller); waiting cases are placed
  // afresh at `now`. True when this was the first (the caller then sets
  // every responder's routing).
  bool set_rules(triage::Rules rules, UnixSeconds now);
  // Needs ready(), as every call below unless it says otherwise.
  const triage::Rules& rules() const { return dispatcher_->rules(); }
  triage::Decision preview(const protocol::RouteEnvelope& envelope, UnixSeconds now) const;
  void set_room(triage::RoomLimits room);
  bool has_room(const protocol::RouteEnvelope& envelope) const;
  // A place for a case about to enter (true), or none; give it back with
  // release_place() once the case is in or did not make it.
  bool reserve_place(const protocol::RouteEnvelope& envelope);
  void release_place();

  // ---- cases ----
  // The case waits (open, unclaimed) or is held (claimed), from its record;
  // a closed case or one without routing is left out. `arrived`: the exact
  // arrival if known, else the record's. `survivor_connected` false: it
  // waits away from now (parking from `arrived`, expiry from `away_from`
  // if known, else now).
  void track(const OpenCase& c, std::optional<UnixSeconds> arrived,
             std::optional<UnixSeconds> away_from, bool survivor_connected, UnixSeconds now);
  // Out of the waiting room or its holder, for good.
  void untrack(const storage::CaseId& id);
  std::optional<triage::Taken> take_next(const std::string& responder_id, UnixSeconds now);
  // As triage::Dispatcher::dismiss / take_parked (take_parked: empty unless ready()).
  std::vector<triage::WaitingCase> dismiss(const triage::DismissFilter& filter, std::size_t limit,
                                           std::size_t* more);
  std::vector<triage::WaitingCase> take_parked(UnixSeconds away_from, std::size_t limit);
  // 0 unless ready().
  std::size_t parked_count() const;
  std::size_t waiting_count() const;
  std::vector<triage::QueueHealth> health(UnixSeconds now) const;

  // ---- survivors (no-ops unless ready()) ----
  // The vault's last connection closed: its cases wait away from `now`.
  void survivor_away(const std::set<storage::CaseId>& vault_cases, UnixSeconds now);
  // A connection of the vault came back: its cases are back, and the next
  // refresh tells it their places even if unchanged.
  void survivor_back(const std::set<storage::CaseId>& vault_cases);

  // ---- responders ----
  // Replaces what routing knows of `responder_id` (queues, languages),
  // keeping their presence. Needs ready().
  void set_routing(const std::string& responder_id, std::vector<std::string> queues,
                   std::vector<std::string> languages);
  // Logged in: available with `capacity`, and their next refresh tells them
  // the waiting count even if unchanged. No-op for a responder not known.
  void responder_online(const std::string& responder_id, std::uint32_t capacity);
  void set_presence(const std::string& responder_id, PresenceState state);
  // Their last connection closed: unavailable. No-op unless ready().
  void responder_gone(const std::string& responder_id);
  std::optional<triage::ResponderView> responder_view(const std::string& responder_id) const;

  // ---- refresh ----
  // Whether a refresh may run now: true at most once per spacing, and then
  // nothing is pending; false marks one pending. Any time.
  bool refresh_allowed();
  // The timer's question: true (as refresh_allowed) when one is pending or
  // `idle` has passed since the last. Any time.
  bool refresh_due(std::chrono::milliseconds idle);
  // Escalations, away grace and parking up to `now`, then the waiting cases
  // whose place or band changed since last returned (valid until the next call).
  std::span<const triage::Position> tick(UnixSeconds now);
  // The waiting counts of `responder_id` at `now`, if they differ from what
  // this last returned for them (or it never did).
  std::optional<std::pair<std::size_t, std::size_t>> waiting_changed(
      const std::string& responder_id, UnixSeconds now);

 private:
  SteadyNow steady_now_;
  std::chrono::milliseconds spacing_;
  std::optional<std::chrono::steady_clock::time_point> last_refresh_;  // none yet: nullopt
  bool refresh_pending_ = false;
  std::unique_ptr<triage::Dispatcher> dispatcher_;   // set by the first set_rules()
  std::vector<triage::Position> changed_positions_;  // tick()'s buffer, kept warm
  std::map<std::string, std::pair<std::size_t, std::size_t>> last_waiting_;
};

}  // namespace hearth::server
