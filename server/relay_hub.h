// RelayHub: the server's shared in-memory state — open cases, who is
// connected as which party, responders' known certificates, presence and the
// current roster — and the fan-out of live pushes to connected sessions.
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
// Thread safety: every method is safe from any thread (one internal mutex).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/trust.h"
#include "protocol/messages.h"
#include "server/case_record.h"
#include "storage/types.h"

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
  // A case of this party was claimed (by `claimed_by`, a certificate hash) or closed.
  virtual void push_case_claimed(const storage::CaseId& case_id, Bytes claimed_by,
                                 std::string claimed_responder_id) = 0;
  virtual void push_case_closed(const storage::CaseId& case_id) = 0;
  // The roster changed: a responder whose certificate no longer checks out
  // must disconnect (close 1008).
  virtual void roster_changed(std::shared_ptr<const RosterState> roster) = 0;
  // Graceful shutdown: finish the request in hand, flush, close 1001.
  virtual void shut_down() = 0;
};

class RelayHub {
 public:
  // ---- roster and certificates ----
  void set_roster(std::shared_ptr<const RosterState> roster);
  std::shared_ptr<const RosterState> roster() const;
  void remember_certificate(KnownCertificate cert);
  std::optional<KnownCertificate> certificate(ByteView hash) const;

  // ---- cases ----
  void load_cases(std::vector<OpenCase> cases);
  void add_case(OpenCase c);
  std::optional<OpenCase> get_case(const storage::CaseId& id) const;
  // Replaces the case's record and version (after a committed update); no-op if gone.
  void update_case(const storage::CaseId& id, std::int64_t version, CaseRecord record);
  // Removes and returns the case.
  std::optional<OpenCase> remove_case(const storage::CaseId& id);
  std::vector<OpenCase> cases_of_vault(ByteView login_key) const;
  // Cases offered to `responder_id` and not claimed by anyone else.
  std::vector<OpenCase> cases_of_responder(std::string_view responder_id) const;
  std::int64_t case_count() const;

  // Reserves one open-case slot for the vault: false when its open cases plus
  // reservations reach `limit`. Release with release_case_slot() either way.
  bool reserve_case_slot(ByteView login_key, std::size_t limit);
  void release_case_slot(ByteView login_key);

  // Marks a claim in flight: false when another claim of the case is.
  bool begin_claim(const storage::CaseId& id);
  void end_claim(const storage::CaseId& id);

  // ---- presence ----
  void set_presence(const std::string& responder_id, PresenceState state);
  void clear_presence(const std::string& responder_id);

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
                                           const Bytes& key) const;

  mutable std::mutex mu_;
  std::shared_ptr<const RosterState> roster_;
  std::map<Bytes, KnownCertificate> certificates_;  // by certificate hash
  std::map<storage::CaseId, OpenCase> cases_;
  std::map<Bytes, std::size_t> reserved_slots_;  // by vault login key
  std::set<storage::CaseId> claiming_;
  std::map<std::string, PresenceState> presence_;
  std::map<const Peer*, std::weak_ptr<Peer>> peers_;
  std::multimap<Bytes, std::weak_ptr<Peer>> survivors_;   // by vault login key
  std::multimap<Bytes, std::weak_ptr<Peer>> responders_;  // by responder id bytes
};

}  // namespace hearth::server
