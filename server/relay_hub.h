// RelayHub: the server's shared in-memory state, and the one lock over it.
// It is a façade over four concerns, each a small class with its own file:
//   RosterCache  (roster_cache.h)  the roster in force, known certificates,
//                                  which of them count now, checked signatures;
//   CaseIndex    (case_index.h)    open cases by id and by vault, case slots;
//   WaitingRoom  (waiting_room.h)  the triage::Dispatcher, presence, what
//                                  each party was last told, refresh spacing;
//   PeerRegistry (peer_registry.h) connected sessions by party, fan-out.
// Its methods are the operations that span them (a survivor leaving marks
// the vault's cases away; a roster change re-routes every responder).
//
// The database is the truth; the hub mirrors it so that routing and access
// checks never wait on the storage thread. It is rebuilt at start from
// CaseStore::list_open() and RosterStore, and changed only after the storage
// write it mirrors has committed.
//
// Sessions register as a Peer. The hub keeps weak references only, and calls
// a Peer's methods without holding its lock; a Peer posts the work onto its
// own strand, so no session state is ever touched from another thread.
//
// Thread safety: every method is safe from any thread. One mutex, mu_,
// guards all four concerns (they have no lock of their own; each member is
// GUARDED_BY(mu_), checked by clang's -Wthread-safety in the clang build,
// common/thread_annotations.h). The exception is the checked-signature
// cache (CertificateChecks), which has its own mutex: check_certificate()
// runs without mu_, so a signature check never holds up the hub.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/thread_annotations.h"
#include "crypto/trust.h"
#include "host/case_record.h"
#include "protocol/messages.h"
#include "server/case_index.h"
#include "server/peer_registry.h"
#include "server/roster_cache.h"
#include "server/waiting_room.h"
#include "storage/types.h"
#include "triage/dispatcher.h"
#include "triage/rules.h"

namespace hearth::server {

class RelayHub {
 public:
  // `clock` must outlive the hub. `steady_now`: the steady time the refresh
  // spacing (kRefreshSpacing) follows; tests pass one they advance.
  explicit RelayHub(const Clock& clock, SteadyNow steady_now = &std::chrono::steady_clock::now);

  // ---- roster and certificates ----
  void set_roster(std::shared_ptr<const RosterState> roster);
  std::shared_ptr<const RosterState> roster() const;
  void remember_certificate(KnownCertificate cert);
  std::optional<KnownCertificate> certificate(ByteView hash) const;
  // Per responder id, the certificate the roster accepts now (listed, not
  // revoked, valid; the latest expiry when several are): who can be routed to.
  std::vector<KnownCertificate> current_certificates() const;
  // `roster`'s check_certificate for `cert`, whose hash is `hash`, with the
  // signature verified once per roster: a hash that passed under a roster is
  // not verified again (only its validity, listing and revocation are) until
  // the roster changes. *cached (optional) says whether the signature check
  // was skipped.
  Status check_certificate(const RosterState& roster, const crypto::ResponderCertificate& cert,
                           ByteView hash, UnixSeconds now,
                           std::optional<std::string_view> queue = std::nullopt,
                           bool* cached = nullptr) const;

  // ---- cases ----
  void load_cases(std::vector<OpenCase> cases);
  void add_case(OpenCase c);
  std::optional<OpenCase> get_case(const storage::CaseId& id) const;
  // Replaces the case's record and version (after a committed update); no-op if gone.
  void update_case(const storage::CaseId& id, std::int64_t version, CaseRecord record);
  // Removes and returns the case.
  std::optional<OpenCase> remove_case(const storage::CaseId& id);
  // The vault's cases, from an index by login key (no scan of every case).
  std::vector<OpenCase> cases_of_vault(ByteView login_key) const;
  // For tests: whether the index by vault holds exactly the cases there are
  // (each under its record's login key, no empty or stale entry).
  bool vault_index_exact() const;
  // Open cases `responder_id` holds (took and has not closed).
  std::vector<OpenCase> cases_of_responder(std::string_view responder_id) const;
  std::int64_t case_count() const;

  // Reserves one open-case slot for the vault: false when its open (not closed) cases plus
  // reservations reach `limit`. Release with release_case_slot() either way.
  bool reserve_case_slot(ByteView login_key, std::size_t limit);
  void release_case_slot(ByteView login_key);

  // ---- triage (the waiting room) ----
  // Installs rules (validated by the caller); waiting cases are placed afresh.
  void set_rules(triage::Rules rules);
  triage::Rules rules() const;
  // The decision a new request would get now (nothing changes).
  triage::Decision preview(const protocol::RouteEnvelope& envelope) const;
  // A case starts (or, at start-up, resumes) waiting or being held, from its
  // record: waiting when open and unclaimed, held when claimed. `arrived`:
  // the exact arrival when known (a new case), else the record's minute.
  // `away_from`: when its survivor left, if known (a parked case put back
  // after a sweep); else, if nobody of its vault is connected, now (at
  // start-up: the process's start) for parked expiry.
  void track_case(const OpenCase& c, std::optional<UnixSeconds> arrived = std::nullopt,
                  std::optional<UnixSeconds> away_from = std::nullopt);
  // The waiting room's bounds (config limits): set at start-up, before track_case.
  void set_room(triage::RoomLimits room);
  // Whether a case with `envelope` would find a place in the waiting room
  // now (triage::Dispatcher::has_room: danger-now may use the reserved share).
  bool has_room(const protocol::RouteEnvelope& envelope) const;
  // A place held for a case about to commit into the waiting room
  // (open_case, handoff_accept), so that commits racing each other cannot
  // overfill it. Empty (false) when there is none. It is given back when the
  // hold goes out of scope: keep it until after track_case(), on every path.
  class PlaceHold {
   public:
    PlaceHold() = default;
    PlaceHold(PlaceHold&& other) noexcept : hub_(std::exchange(other.hub_, nullptr)) {}
    PlaceHold& operator=(PlaceHold&& other) noexcept {
      if (this != &other) {
        release();
        hub_ = std::exchange(other.hub_, nullptr);
      }
      return *this;
    }
    ~PlaceHold() { release(); }
    explicit operator bool() const { return hub_ != nullptr; }

   private:
    friend class RelayHub;
    explicit PlaceHold(RelayHub* hub) : hub_(hub) {}
    void release();
    RelayHub* hub_ = nullptr;
  };
  PlaceHold hold_place(const protocol::RouteEnvelope& envelope);
  // Takes the never-taken waiting (or parked) cases matching `filter` out of
  // the waiting room, at most `limit`, oldest first, so nobody can take them
  // any more, and returns them (`more`: how many matching ones are left).
  // The caller deletes them, then remove_case()s each; if the deletion fails
  // it must track_case() them again.
  std::vector<OpenCase> withdraw_waiting(const triage::DismissFilter& filter, std::size_t limit,
                                         std::size_t* more);
  // Takes the parked cases whose survivor has been away since `away_from` or
  // earlier out of the waiting room (at most `limit`), as withdraw_waiting
  // does: retention deletes them, then remove_case()s each, or track_case()s
  // them again if the deletion fails, with the time their survivor left,
  // which `away_since` receives (one per case returned, in the same order).
  std::vector<OpenCase> withdraw_parked(UnixSeconds away_from, std::size_t limit,
                                        std::vector<UnixSeconds>* away_since = nullptr);
  std::size_t parked_count() const;
  // Hands `responder_id` the best waiting case they may take, out of the
  // waiting room (exclusive). Put it back with untake() if the claim fails
  // to commit.
  std::optional<triage::Taken> take_next(const std::string& responder_id);
  void untake(const OpenCase& c);
  // The case left the waiting room or its holder for good (closed, deleted).
  void untrack_case(const storage::CaseId& id);
  // Responders' routing views follow the roster and the known certificates
  // (queues from the roster, languages from the certificate); presence is
  // theirs: a login makes them available with capacity kDefaultCapacity
  // until they say otherwise, and their last connection closing makes them
  // unavailable.
  static constexpr std::uint32_t kDefaultCapacity = 2;
  void responder_online(const std::string& responder_id);
  void set_presence(const std::string& responder_id, PresenceState state);
  std::optional<triage::ResponderView> responder_view(const std::string& responder_id) const;
  // Counts and times per queue for the supervisor view.
  std::vector<triage::QueueHealth> health() const;
  std::size_t waiting_count() const;
  // Escalations and away-grace expiry up to now, then the pushes that follow:
  // queue_status to each waiting survivor whose place or band changed, and
  // waiting to each responder whose count changed. Called after every change
  // to the waiting room; it runs at most once per kRefreshSpacing (its cost
  // grows with the waiting room), and a call that comes sooner leaves it
  // pending for the timer's next refresh_due().
  static constexpr std::chrono::milliseconds kRefreshSpacing{250};
  void refresh();
  // The timer's call: refreshes when one is pending or `idle` has passed
  // since the last (escalation timeouts and away grace run on the clock).
  void refresh_due(std::chrono::milliseconds idle);

  // ---- connected parties ----
  void add_peer(const std::shared_ptr<Peer>& peer);
  void remove_peer(const Peer* peer);
  void register_survivor(ByteView login_key, const std::shared_ptr<Peer>& peer);
  void register_responder(const std::string& responder_id, const std::shared_ptr<Peer>& peer);

  // Fan-out to every live connection of a party; the Peer calls run without mu_.
  void deliver_to_vault(ByteView login_key, const std::shared_ptr<const Delivery>& d);
  void deliver_to_responder(const std::string& responder_id,
                            const std::shared_ptr<const Delivery>& d);
  void for_vault(ByteView login_key, const std::function<void(Peer&)>& fn);
  void for_responder(const std::string& responder_id, const std::function<void(Peer&)>& fn);
  void for_each_peer(const std::function<void(Peer&)>& fn);

 private:
  // Under mu_: every known responder's routing (queues, languages) set
  // afresh from the roster and the certificates. No-op before rules or roster.
  void sync_responders_locked() REQUIRES(mu_);
  // Under mu_: the cases `waiting` names, in order, skipping any gone;
  // `away_since` (optional) gets each one's expire_from.
  std::vector<OpenCase> cases_of_locked(const std::vector<triage::WaitingCase>& waiting,
                                        std::vector<UnixSeconds>* away_since) const REQUIRES(mu_);
  void refresh_now() EXCLUDES(mu_);

  const Clock& clock_;
  mutable Mutex mu_;
  CertificateChecks checks_;  // its own mutex (see above): not GUARDED_BY(mu_)
  RosterCache roster_ GUARDED_BY(mu_){checks_};
  CaseIndex cases_ GUARDED_BY(mu_);
  WaitingRoom room_ GUARDED_BY(mu_);
  PeerRegistry peers_ GUARDED_BY(mu_);
};

}  // namespace hearth::server
