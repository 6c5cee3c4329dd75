// RelayHub: the server's shared in-memory state — open cases, who is
// connected as which party, responders' known certificates, the current
// roster, and the waiting room (triage::Dispatcher: routing rules, presence,
// waiting cases, who holds which case) — and the fan-out of live pushes to
// connected sessions.
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
// Thread safety: every method is safe from any thread (one internal mutex,
// mu_; the members it guards say so: GUARDED_BY, checked by clang's
// -Wthread-safety in the clang build, common/thread_annotations.h).
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
#include "storage/types.h"
#include "triage/dispatcher.h"
#include "triage/rules.h"

namespace hearth::server {

// A stored envelope on its way to a connected recipient.
struct Delivery {
  storage::MailboxId mailbox;
  storage::CaseId case_id;
  std::int64_t seq = 0;
  bool responder_side = false;  // a responder's mailbox (seq 1 there is the intake copy)
  Bytes body;
  UnixSeconds sent_minute = 0;
};

// The roster in force, verified, with its encoding (sent to clients as is).
struct RosterState {
  crypto::VerifiedRoster verified;
  Bytes encoded;
};

// A responder certificate the server has seen at a login (stored in RosterStore).
struct KnownCertificate {
  crypto::ResponderCertificate certificate;
  Bytes encoded;
  Bytes hash;
};

struct PresenceState {
  protocol::Presence status = protocol::Presence::kAway;
  std::uint32_t capacity = 1;
};

// What a connected session offers the hub. Every method may be called from
// any thread and must only post work to the session's strand.
class Peer {
 public:
  virtual ~Peer() = default;
  virtual void push_delivery(std::shared_ptr<const Delivery> delivery) = 0;
  // A case of this party was claimed (by `claimed_by`, a certificate hash) or
  // ended for this party (the connection stops watching its mailbox, except a
  // survivor's mailbox of a case its responder closed: replies still arrive).
  virtual void push_case_claimed(const storage::CaseId& case_id, Bytes claimed_by,
                                 std::string claimed_responder_id) = 0;
  virtual void push_case_closed(const storage::CaseId& case_id, protocol::CloseReason reason) = 0;
  // An event with no effect on the connection's state (queue_status,
  // waiting, handoff_proposed, handoff_declined).
  virtual void push_event(protocol::Event event) = 0;
  // The roster changed: a responder whose certificate no longer checks out
  // must disconnect (close 1008).
  virtual void roster_changed(std::shared_ptr<const RosterState> roster) = 0;
  // Graceful shutdown: finish the request in hand, flush, close 1001.
  virtual void shut_down() = 0;
};

class RelayHub {
 public:
  explicit RelayHub(const Clock& clock) : clock_(clock) {}

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

  // Fan-out to every connected session of a party.
  void deliver_to_vault(ByteView login_key, const std::shared_ptr<const Delivery>& d);
  void deliver_to_responder(const std::string& responder_id,
                            const std::shared_ptr<const Delivery>& d);
  void for_vault(ByteView login_key, const std::function<void(Peer&)>& fn);
  void for_responder(const std::string& responder_id, const std::function<void(Peer&)>& fn);
  void for_each_peer(const std::function<void(Peer&)>& fn);

 private:
  std::vector<std::shared_ptr<Peer>> alive(const std::multimap<Bytes, std::weak_ptr<Peer>>& map,
                                           const Bytes& key) const REQUIRES(mu_);

  // Under mu_: puts `c` into cases_ (replacing a case of the same id) and
  // the index by vault; takes case `id` out of both.
  void put_case_locked(OpenCase c) REQUIRES(mu_);
  std::optional<OpenCase> erase_case_locked(const storage::CaseId& id) REQUIRES(mu_);
  // Under mu_: the ids of the vault's cases (empty when none).
  const std::set<storage::CaseId>& vault_cases_locked(const Bytes& login_key) const REQUIRES(mu_);

  // Under mu_: survivors of `login_key` left; mark its waiting cases away.
  void vault_left_locked(const Bytes& login_key, UnixSeconds now) REQUIRES(mu_);
  // Under mu_: the current certificate per responder id.
  std::map<std::string, const KnownCertificate*> current_locked(UnixSeconds now) const
      REQUIRES(mu_);
  // Under mu_: every responder's view rebuilt from roster and certificates.
  void sync_responders_locked() REQUIRES(mu_);

  // Under mu_: whether a refresh may run now (and if not, marks it pending).
  bool refresh_allowed_locked() REQUIRES(mu_);
  void refresh_now() EXCLUDES(mu_);

  const Clock& clock_;
  mutable Mutex mu_;
  std::chrono::steady_clock::time_point last_refresh_ GUARDED_BY(mu_){};
  bool refresh_pending_ GUARDED_BY(mu_) = false;
  std::shared_ptr<const RosterState> roster_ GUARDED_BY(mu_);
  // Certificate hashes that passed check_certificate under the roster whose
  // hash is checked_roster_ (at most the roster's listed certificates).
  mutable Mutex checked_mu_;
  mutable Bytes checked_roster_ GUARDED_BY(checked_mu_);
  mutable std::set<Bytes> checked_ GUARDED_BY(checked_mu_);
  std::unique_ptr<triage::Dispatcher> dispatcher_
      GUARDED_BY(mu_);  // set by set_rules() at start-up
  std::vector<triage::Position> changed_positions_
      GUARDED_BY(mu_);  // refresh_now()'s buffer, kept warm
  std::map<std::string, std::pair<std::size_t, std::size_t>> last_waiting_ GUARDED_BY(mu_);
  std::map<Bytes, KnownCertificate> certificates_ GUARDED_BY(mu_);  // by certificate hash
  std::map<storage::CaseId, OpenCase> cases_ GUARDED_BY(mu_);
  // cases_ by vault login key: kept exact by every path that adds, changes or
  // removes a case (index_add_locked / index_remove_locked).
  std::map<Bytes, std::set<storage::CaseId>> by_vault_ GUARDED_BY(mu_);
  std::map<Bytes, std::size_t> reserved_slots_ GUARDED_BY(mu_);  // by vault login key
  std::map<const Peer*, std::weak_ptr<Peer>> peers_ GUARDED_BY(mu_);
  std::multimap<Bytes, std::weak_ptr<Peer>> survivors_ GUARDED_BY(mu_);   // by vault login key
  std::multimap<Bytes, std::weak_ptr<Peer>> responders_ GUARDED_BY(mu_);  // by responder id bytes
};

}  // namespace hearth::server
