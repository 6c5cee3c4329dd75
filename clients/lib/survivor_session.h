// SurvivorSession: a survivor's side of Hearth — open a case, come back with
// the codename, write, read replies, delete.
//
// Nothing is ever written to disk: the survivor's state (per-case identity
// keys, ratchet sessions, a bounded transcript) lives in the vault the server
// stores, sealed under keys derived from the codename (crypto/vault.h), and in
// this object's memory. Every change to that state is written back with a
// compare-and-swap vault write before anything that depends on it is
// acknowledged: a sent message travels together with the vault that records
// it; a received one is acknowledged only after the vault holding it committed.
//
// Trust: the roster in a route reply (and in a handoff offer) must verify
// against the org root the caller pins (a survivor's client ships with it); a
// roster that does not, or a bundle that does not, is never used.
//
// Handoff: when the responder proposes another team (a kHandoffProposed
// update), nothing moves until the survivor answers. accept_handoff() opens a
// new session with each responder of that team (same case id, the case's own
// identity key), whose first message says what the survivor chose to share
// (client_formats.h "Handoff plaintext"); decline_handoff() keeps the case
// where it is.
//
// Thread safety: not thread-safe. One UI thread drives a session; event_fd()
// may be polled from that thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clients/lib/client_formats.h"
#include "clients/lib/connection.h"
#include "clients/lib/login_retry.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/codename.h"
#include "crypto/keys.h"
#include "crypto/vault.h"
#include "protocol/messages.h"

namespace hearth::client {

struct SurvivorOptions {
  ConnectionOptions connection;
  std::chrono::milliseconds call_timeout = kDefaultCallTimeout;
  // The largest frame the server accepts (hearthd's limits.max_frame_bytes):
  // the vault is trimmed (oldest transcript entries first) so that a send with
  // its vault update always fits. Also used as connection.max_request_bytes.
  std::size_t max_frame_bytes = 256u * 1024;
  // Refuse a proof-of-work effort above this (a hostile server could ask for
  // hours of work); kLimitExceeded then.
  std::uint32_t max_pow_effort = 1u << 24;
  const Clock* clock = nullptr;  // nullptr: the system clock
  // resume(): a vault login the server turns away for load (rate_limited,
  // unavailable) is tried again with this backoff (clients/lib/login_retry.h).
  // Unset: the refusal is returned.
  std::optional<LoginRetry> login_retry;
};

// Something the UI should show, returned by poll().
struct SurvivorUpdate {
  enum class Kind {
    kMessage,          // a responder's message: `message`, `minute`
    kClaimed,          // a responder took the case
    kQueueStatus,      // the case waits: `position` in line (1 = next), `wait_band`
    kHandoffProposed,  // the responder proposes the team `queue`: accept_handoff() or
                       // decline_handoff()
    kClosed,           // the case ended: `reason` kClosed (by the responder: replies
                       // already sent still arrive, nothing more can be sent) or
                       // kDeleted (on another device: it is gone from the vault)
    kWarning,          // something was dropped (a message that failed to decrypt): `text` says what
    kDisconnected,     // the connection dropped: call reconnect()
    kReplaced,         // a newer login of this vault (another device or window) took the
                       // connection's place (close 4001): do NOT reconnect on your own,
                       // or that newer session is closed in turn
  };
  Kind kind = Kind::kMessage;
  Bytes case_id;
  Plaintext message;  // kMessage only
  UnixSeconds minute = 0;
  std::string text;           // kWarning / kDisconnected / kReplaced
  std::int64_t position = 0;  // kQueueStatus
  protocol::WaitBand wait_band = protocol::WaitBand::kNobodyOnline;  // kQueueStatus
  std::string queue;                                                 // kHandoffProposed
  protocol::CloseReason reason = protocol::CloseReason::kClosed;     // kClosed
};

// What this session knows of a case beyond the vault: from the server's case
// list at login and from pushes since. Kept in memory only.
struct SurvivorCaseStatus {
  std::optional<std::string> handoff_queue;  // a handoff proposed and not yet answered
  bool closed = false;                       // the responder closed the case
  std::int64_t position = 0;                 // last queue position heard (0: none)
  std::optional<protocol::WaitBand> wait_band;
};

class SurvivorSession {
 public:
  struct Started;

  // Opens a new case: proof-of-work, route, roster and bundle verification
  // against `org_root`, a freshly drawn codename, vault keys (Argon2id, about a
  // second), a new identity key for the case, X3DH + ratchet + one intake copy
  // of `first_text` per verified responder, and open_case with the new vault
  // (its login key proven by signing a fresh challenge, the case and login id).
  // The returned codename must be shown to the survivor once; nothing else can
  // recover the vault. Errors: kInvalidArgument (bad envelope or text),
  // kAuthFailed / kExpired / kReplay / kConflict (the roster or every bundle
  // failed verification: nothing was sent), server errors as Connection::call,
  // kLimitExceeded (the server asked for more proof-of-work than max_pow_effort).
  static Result<Started> start(const Endpoint& endpoint, const crypto::SigningPublicKey& org_root,
                               const protocol::RouteEnvelope& envelope, std::string_view first_text,
                               const SurvivorOptions& options = {});

  // Comes back with a codename: vault login, open the vault. The server then
  // pushes every reply not yet acknowledged; poll() receives them.
  // kAuthFailed: no vault for this codename (wrong codename) — protocol_error()
  // says auth_failed. kCorrupt: the vault opened but is not a survivor vault.
  static Result<std::unique_ptr<SurvivorSession>> resume(const Endpoint& endpoint,
                                                         const crypto::SigningPublicKey& org_root,
                                                         const crypto::Codename& codename,
                                                         const SurvivorOptions& options = {});

  SurvivorSession(const SurvivorSession&) = delete;
  SurvivorSession& operator=(const SurvivorSession&) = delete;
  ~SurvivorSession();

  // Encrypts `text` for the responder who took the case and sends it together
  // with the updated vault (one compare-and-swap; on a conflict the vault is
  // fetched again and the send retried once). kNotFound: no such case in the
  // vault. kUnavailable: nobody has taken the case yet ("not_claimed"), or the
  // connection is down. Ok means the server committed message and vault.
  Status send(ByteView case_id, std::string_view text);

  // Waits up to `timeout` for server pushes and handles all that are waiting:
  // case_claimed (keeps only the claimer's session), envelopes (decrypted,
  // added to the transcript, stored in the vault, then acknowledged;
  // duplicates are acknowledged and ignored). Returns what the UI should show
  // (possibly nothing). An error means the vault could not be written; the
  // envelopes stay unacknowledged and come again after reconnect().
  Result<std::vector<SurvivorUpdate>> poll(std::chrono::milliseconds timeout);

  // Consents to the handoff the responder proposed for `case_id`: fetches the
  // new team's key bundles (handoff_offer), verifies their roster against the
  // pinned org root and the vault's roster pin, runs X3DH with each (the
  // current responder is skipped: they are the one handing over), and sends
  // handoff_accept with one intake copy each, carrying `share`: kNewOnly
  // nothing, kSummary `summary_text` (UTF-8, not empty), kHistory the
  // transcript (oldest entries dropped to fit one frame). The vault gains the
  // new sessions before the server moves the case and loses the old one after;
  // the case then waits in the new queue until one of them takes it (send()
  // answers kUnavailable until then). Returns how many responders got a copy.
  // Errors: kNotFound (no such case, or no handoff pending: wire "not_found"),
  // kInvalidArgument (a bad summary), kLimitExceeded (the summary does not fit
  // beside that many copies), kAuthFailed / kExpired / kReplay / kConflict (the
  // roster or every bundle failed verification: nothing was sent),
  // kUnavailable (the only responder offered is the current one), server
  // errors as Connection::call (no_responder, ...). On an error the handoff
  // stays pending: the survivor can try again or decline.
  Result<std::size_t> accept_handoff(ByteView case_id, protocol::HandoffShare share,
                                     std::string_view summary_text = {});

  // Declines the proposed handoff: the case stays with its responder.
  // kNotFound: no such case, or no handoff pending.
  Status decline_handoff(ByteView case_id);

  // The in-memory status of a case (a default one for an unknown case).
  SurvivorCaseStatus case_status(ByteView case_id) const;

  // Deletes the case on the server (every message of it, both ways) and from
  // the vault. When it was the last case the server deletes the vault too, and
  // this session has nothing left (vault_gone() is true).
  Status delete_case(ByteView case_id);

  // After a disconnect: connects again and logs into the vault with the keys
  // kept in memory, reloading the vault.
  Status reconnect();

  // The vault as this session last stored or loaded it: cases and transcripts.
  const SurvivorVault& vault() const { return vault_; }
  std::int64_t vault_version() const { return version_; }
  bool vault_gone() const { return vault_gone_; }
  // Readable when poll() has something to do (see Connection::event_fd). It
  // changes after reconnect().
  int event_fd() const;
  Connection& connection() { return *connection_; }

 private:
  SurvivorSession(Endpoint endpoint, crypto::SigningPublicKey org_root, crypto::VaultKeys keys,
                  SurvivorOptions options);
  UnixSeconds now() const;
  Status login();
  Status reload_vault();
  // Trims `vault` to fit a frame beside `body_bytes` of message and seals it
  // as `version`.
  Result<Bytes> seal(SurvivorVault& vault, std::int64_t version, std::size_t body_bytes) const;
  Status send_once(ByteView case_id, std::string_view text);
  // Seals `next` as the vault's next version and writes it by compare-and-swap;
  // on success it becomes vault_. kConflict (wire "conflict") when the stored
  // vault moved on: the caller reloads and rebuilds its change.
  Status put_vault(SurvivorVault next);
  Result<std::vector<SurvivorUpdate>> receive(
      const std::vector<protocol::EnvelopeEvent>& envelopes);
  bool apply_claim(SurvivorVault& vault, ByteView case_id, ByteView claimed_by) const;
  // Applies `change` to a copy of the vault and writes it (put_vault); on a
  // compare-and-swap conflict reloads the vault and applies it once more.
  Status update_vault(const std::function<Status(SurvivorVault&)>& change);
  SurvivorCaseStatus& status_of(ByteView case_id);

  Endpoint endpoint_;
  crypto::SigningPublicKey org_root_;
  crypto::VaultKeys keys_;
  SurvivorOptions options_;
  std::unique_ptr<Connection> connection_;
  SurvivorVault vault_;
  std::int64_t version_ = 0;
  bool vault_gone_ = false;
  std::map<Bytes, SurvivorCaseStatus> status_;
};

struct SurvivorSession::Started {
  std::unique_ptr<SurvivorSession> session;
  crypto::Codename codename;  // show it once
  Bytes case_id;
  std::string queue;
  std::size_t responders = 0;  // how many responders got an intake copy
};

}  // namespace hearth::client
