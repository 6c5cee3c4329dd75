// ResponderSession: a responder's connection to hearthd, on top of their
// ResponderStore.
//
// login() proves the certificate (challenge signature), verifies the roster
// the server returns against the org root and the roster pinned in the store
// (a rollback, a split view or a bad signature refuses the login), and keeps
// the server stocked with prekeys: a new signed prekey when the server has none
// or ours is older than 7 days, one-time prekeys topped up to 100 when fewer
// than 20 are left. Private halves are saved in the store before the public
// halves are uploaded.
//
// Cases come one at a time: take_next() asks the server for the best waiting
// case this responder may take (the server's routing decides; a responder
// never browses waiting cases), and the server then pushes this responder's
// intake copy of it. poll() handles the server's pushes: intake copies (X3DH
// with the named prekeys, a replayed handshake refused, the one-time prekey
// secret deleted), survivors' messages, "waiting" counts, a declined handoff
// and case_closed (the case is dropped from the store: the survivor deleted
// it or accepted a handoff). close_case() drops the case from the store too:
// once the outcome is recorded, the conversation is not kept on the
// responder's machine. An intake made under a roster this responder has not accepted
// yet (renewed while it was online) makes it log in again once to fetch and
// verify that roster; the intake is then pushed again. The store is saved
// before anything is acknowledged, always: a crash never loses a message, at
// worst one arrives twice and is ignored.
//
// Thread safety: not thread-safe. One UI thread drives a session and its store.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clients/lib/client_formats.h"
#include "clients/lib/connection.h"
#include "clients/lib/responder_store.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/trust.h"
#include "crypto/x3dh.h"
#include "protocol/messages.h"

namespace hearth::client {

// Prekey upkeep.
inline constexpr UnixSeconds kSignedPrekeyRotation = 7 * 24 * 3600;
inline constexpr UnixSeconds kSignedPrekeyLifetime = 30 * 24 * 3600;
inline constexpr std::int64_t kOneTimePrekeyTarget = 100;
inline constexpr std::int64_t kOneTimePrekeyLowWater = 20;
// A roster closer than this to its expiry is reported in LoginInfo::warnings.
inline constexpr UnixSeconds kRosterExpiryWarning = 72 * 3600;

struct ResponderOptions {
  ConnectionOptions connection;
  std::chrono::milliseconds call_timeout = kDefaultCallTimeout;
  const Clock* clock = nullptr;  // nullptr: the system clock
};

struct LoginInfo {
  std::string responder_id;
  std::vector<std::string> queues;
  std::uint64_t roster_epoch = 0;
  UnixSeconds roster_expires_at = 0;
  std::int64_t roster_expires_in_hours = 0;
  std::int64_t one_time_prekeys = 0;  // held by the server after the last top-up
  bool uploaded_signed_prekey = false;
  std::vector<std::string> outcomes;  // the codes close_case() accepts
  std::vector<std::string> warnings;  // for the UI: e.g. the roster expires soon
};

// Something the UI should show, returned by poll().
struct ResponderUpdate {
  enum class Kind {
    // The intake copy of a case take_next() handed out arrived: `message` is
    // the survivor's first message — kind 1 text, or for a handed-off case a
    // kind-3 handoff plaintext (decode_handoff()). `taken` holds the routing
    // fields take_next() returned (absent if this session did not take it,
    // e.g. after a restart).
    kNewCase,
    kMessage,          // a survivor's message in a case
    kWaiting,          // `waiting` cases could be taken now, `urgent` of them danger-now
    kHandoffDeclined,  // the survivor declined the proposed handoff; the case stays
    kClosed,           // the case ended (`reason`): it is gone from the store
    kWarning,          // something was dropped: `text` says what
    kDisconnected,     // the connection dropped: log in again
    kReplaced,         // a newer login of this responder took the connection's place
                       // (close 4001, past the server's per-responder cap): do NOT log
                       // in again on your own, or that newer session is closed in turn
  };
  Kind kind = Kind::kMessage;
  Bytes case_id;
  Plaintext message;
  UnixSeconds minute = 0;
  std::string text;
  std::optional<protocol::TakenCase> taken;                        // kNewCase
  std::int64_t waiting = 0;                                        // kWaiting
  std::int64_t urgent = 0;                                         // kWaiting
  protocol::CloseReason reason = protocol::CloseReason::kDeleted;  // kClosed
};

class ResponderSession {
 public:
  // Connects and logs in as the responder whose keys `store` holds. `store`
  // must outlive the session. Errors: kAuthFailed / kExpired / kReplay /
  // kConflict when the roster fails verification against the org root or the
  // pin (the message says which: "rollback", "split view", ...); kNotFound
  // when the roster does not list this certificate; server errors as
  // Connection::call (not_on_roster, revoked, certificate_expired, ...).
  static Result<std::unique_ptr<ResponderSession>> login(const Endpoint& endpoint,
                                                         ResponderStore& store,
                                                         const ResponderOptions& options = {});

  ResponderSession(const ResponderSession&) = delete;
  ResponderSession& operator=(const ResponderSession&) = delete;
  ~ResponderSession();

  const LoginInfo& info() const { return info_; }

  // After a disconnect: connects and logs in again (the same checks and prekey
  // upkeep as login()). The server then pushes what is still unacknowledged.
  Status reconnect();

  // Waits up to `timeout` for server pushes and handles every one waiting.
  // An error means the store could not be saved; nothing was acknowledged.
  // Also keeps the server's one-time prekeys stocked between logins: when the
  // cases committed since the last count (rises of `waiting`) may have taken
  // it below kOneTimePrekeyLowWater, it asks the server's count and tops up.
  Result<std::vector<ResponderUpdate>> poll(std::chrono::milliseconds timeout);

  // Asks for the next case. Returns the case handed to this responder (its
  // routing fields: queue, class, the survivor's triage answers, whether an
  // interpreter is needed, how long it waited), or nullopt when nothing is
  // waiting for them. The intake copy follows as a push: poll() turns it into
  // a kNewCase update, after which send() works. Errors: kLimitExceeded (wire
  // "limit_exceeded": at capacity, close a case first), kUnavailable.
  Result<std::optional<protocol::TakenCase>> take_next();

  // Sends `text` in a case this responder took. kNotFound: no such case;
  // kInvalidArgument: a case this responder has not taken.
  Status send(ByteView case_id, std::string_view text);

  // Proposes moving a case this responder holds to `queue`. Nothing moves
  // until the survivor consents: then the case is handed off (a kClosed
  // update, reason kHandedOff) or the proposal declined (kHandoffDeclined).
  // kNotFound: no such case here; kInvalidArgument: a malformed queue name,
  // or the server's "bad_field" (no such queue, or the case's own).
  Status propose_handoff(ByteView case_id, std::string_view queue);

  // Closes a case with an outcome code (one of info().outcomes). On success
  // the case is dropped from the store (the org keeps the outcome; the
  // conversation is not kept here). kNotFound: no such case here;
  // kInvalidArgument: the server's "bad_field" (an outcome not in the rules).
  Status close_case(ByteView case_id, std::string_view outcome);

  // Per-queue counts for a supervisor (the roster lists them under the queue
  // "supervisor"): waiting per class, longest waits, responders. No case ids,
  // no content. kInvalidArgument (wire "forbidden"): not a supervisor.
  Result<protocol::QueueHealthReply> queue_health();
  // Supervisors: deletes the waiting cases nobody took that match `request`
  // (docs/protocol.md "dismiss_waiting"); the server writes an audit entry.
  // kInvalidArgument (wire "forbidden" or "bad_field") otherwise.
  Result<protocol::DismissWaitingReply> dismiss_waiting(
      const protocol::DismissWaitingRequest& request);

  Status set_presence(protocol::Presence presence, std::uint32_t capacity);

  const ResponderState& state() const { return store_.state(); }
  int event_fd() const;
  Connection& connection() { return *connection_; }

 private:
  ResponderSession(ResponderStore& store, ResponderOptions options);
  UnixSeconds now() const;
  Status do_login(const Endpoint& endpoint);
  Status keep_prekeys(std::int64_t server_one_time, bool server_has_signed);
  void handle_intake(const protocol::EnvelopeEvent& ev, std::vector<ResponderUpdate>& updates,
                     bool& changed, bool& ack);
  void handle_message(const protocol::EnvelopeEvent& ev, std::vector<ResponderUpdate>& updates,
                      bool& changed, bool& ack);
  void drop_case(ByteView case_id);

  ResponderStore& store_;
  ResponderOptions options_;
  Endpoint endpoint_;
  std::unique_ptr<Connection> connection_;
  crypto::ResponderCertificate certificate_;
  Bytes certificate_hash_;
  crypto::EphemeralKeyCache seen_;
  LoginInfo info_;
  bool refresh_roster_ = false;           // poll(): log in again for a newer roster
  std::set<Bytes> roster_refreshed_for_;  // roster hashes a refresh was tried for
  // Cases take_next() handed out whose intake copy has not arrived yet.
  std::map<Bytes, protocol::TakenCase> taken_;
  // One-time prekey upkeep between logins: cases committed since the server's
  // count was last known (each may have used one), from the rises of the
  // `waiting` figure. When info_.one_time_prekeys minus this falls below
  // kOneTimePrekeyLowWater, poll() asks the server's count and tops up.
  std::int64_t commits_seen_ = 0;
  std::int64_t last_waiting_ = -1;  // the last `waiting` figure; -1: none yet
  // At most one such check per kPrekeyCheckInterval (a failing upload must
  // not turn every poll into a round trip).
  static constexpr std::chrono::seconds kPrekeyCheckInterval{5};
  std::chrono::steady_clock::time_point last_prekey_check_{};
};

}  // namespace hearth::client
