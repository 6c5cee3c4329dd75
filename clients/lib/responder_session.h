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
// poll() handles the server's pushes: intake copies (X3DH with the named
// prekeys, a replayed handshake refused, the one-time prekey secret deleted),
// survivors' messages, case_claimed (a case someone else took is dropped) and
// case_closed. An intake made under a roster this responder has not accepted
// yet (renewed while it was online) makes it log in again once to fetch and
// verify that roster; the intake is then pushed again. The store is saved
// before anything is acknowledged, always: a crash never loses a message, at
// worst one arrives twice and is ignored.
//
// Thread safety: not thread-safe. One UI thread drives a session and its store.
#pragma once

#include <chrono>
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
  std::int64_t one_time_prekeys = 0;  // held by the server after the top-up
  bool uploaded_signed_prekey = false;
  std::vector<std::string> warnings;  // for the UI: e.g. the roster expires soon
};

// Something the UI should show, returned by poll().
struct ResponderUpdate {
  enum class Kind {
    kNewCase,       // an intake copy arrived: `message` is the survivor's first message
    kMessage,       // a survivor's message in a case
    kClaimed,       // this responder's claim was confirmed by the server
    kTakenByOther,  // another responder took the case: it is gone from the store
    kClosed,        // the survivor deleted the case: it is gone from the store
    kWarning,       // something was dropped: `text` says what
    kDisconnected,  // the connection dropped: log in again
  };
  Kind kind = Kind::kMessage;
  Bytes case_id;
  Plaintext message;
  UnixSeconds minute = 0;
  std::string text;
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
  Result<std::vector<ResponderUpdate>> poll(std::chrono::milliseconds timeout);

  // Takes a case this responder received an intake copy of. Returns its queue.
  // kConflict (wire "conflict"): someone else was faster; the case is dropped
  // when the server's case_claimed arrives.
  Result<std::string> claim(ByteView case_id);

  // Sends `text` in a case this responder claimed. kNotFound: no such case;
  // kInvalidArgument: not claimed by this responder yet.
  Status send(ByteView case_id, std::string_view text);

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
};

}  // namespace hearth::client
