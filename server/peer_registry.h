// PeerRegistry: the connected sessions, and which party each speaks for (a
// vault's survivor, a responder) — one of the four concerns behind RelayHub
// (server/relay_hub.h). It holds weak references only: a session lives as
// long as its own handlers keep it, never because the registry knows it.
//
// The registry hands out strong references (alive_*, all); it never calls a
// Peer. The hub copies them under its lock and calls the Peers after
// releasing it (a Peer posts to its own strand, and must never be called
// with the hub's lock held).
//
// Thread safety: none of its own: RelayHub's one mutex guards it (its member
// is GUARDED_BY the hub's mutex). Peer's methods may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "protocol/messages.h"
#include "server/roster_cache.h"
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

class PeerRegistry {
 public:
  using PeerList = std::vector<std::shared_ptr<Peer>>;

  // A connection opened (any party, or none yet).
  void add(const std::shared_ptr<Peer>& peer);
  // It speaks for the vault of `login_key` / for `responder_id` (a
  // connection may be registered under one party).
  void register_survivor(ByteView login_key, const std::shared_ptr<Peer>& peer);
  void register_responder(const std::string& responder_id, const std::shared_ptr<Peer>& peer);

  // The parties a closing connection leaves with no live connection.
  struct Left {
    std::vector<Bytes> vaults;            // login keys
    std::vector<std::string> responders;  // responder ids
  };
  // Forgets `peer` (and every expired entry: the maps then hold only live
  // connections; a scan, bounded by max_connections) and returns the
  // parties it (or an expired entry) left without a connection.
  Left remove(const Peer* peer);

  // The live connections of a party / of every party, as strong references.
  PeerList alive_survivors(ByteView login_key) const;
  PeerList alive_responders(const std::string& responder_id) const;
  PeerList all() const;
  // The ids of responders with a registered connection (each once, sorted).
  std::vector<std::string> responder_ids() const;

 private:
  using PartyMap = std::multimap<Bytes, std::weak_ptr<Peer>>;
  std::map<const Peer*, std::weak_ptr<Peer>> peers_;
  PartyMap survivors_;   // by vault login key
  PartyMap responders_;  // by responder id bytes
};

}  // namespace hearth::server
