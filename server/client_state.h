// ClientState: one client's protocol state on one WebSocket session — its
// role (anonymous, survivor or responder), the last challenge it asked for,
// the routes it was given and not yet used (with the one-time prekeys
// reserved for them), how many logins failed on it — and the dispatch of its
// requests to the handlers (server/handlers/*.cpp, one file per flow).
//
// A handler checks what it needs (role, case ownership), does its work
// (storage jobs, the hub) and returns Handled: the reply or error, and the
// follow-ups (server/follow_up.h) the session applies once the reply is
// queued. Storage outcomes become wire errors in one table
// (server/wire_errors.h). The mailbox cursors live in the session's
// MailboxFeed (server/mailbox_feed.h), which handlers watch and unwatch
// through; the write queue is the session's alone (server/session.h).
//
// Thread safety: everything on the owning session's strand.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "crypto/trust.h"
#include "protocol/messages.h"
#include "server/follow_up.h"
#include "server/login_guard.h"
#include "server/mailbox_feed.h"
#include "server/prekey_reservations.h"
#include "server/relay_hub.h"
#include "server/services.h"
#include "server/storage_jobs.h"
#include "server/wire_errors.h"

namespace hearth::server {

class ClientState {
 public:
  enum class Role { kAnonymous, kSurvivor, kResponder };

  // `feed`: the session's mailbox feed; it outlives this state.
  ClientState(Services& services, MailboxFeed& feed);
  ClientState(const ClientState&) = delete;
  ClientState& operator=(const ClientState&) = delete;

  using Outcome = std::variant<protocol::Reply, protocol::ProtocolError>;
  // What a handler returns: the reply (or error) and what should happen once
  // it is queued.
  struct Handled {
    Handled(protocol::ProtocolError e) : outcome(std::move(e)) {}  // NOLINT: implicit
    Handled(Outcome o, FollowUps n = {}) : outcome(std::move(o)), next(std::move(n)) {}  // NOLINT
    Outcome outcome;
    FollowUps next;
  };
  // One request answered: the encoded reply frame and its follow-ups.
  struct Answer {
    std::string reply;
    FollowUps next;
  };

  // Decodes and answers one text frame. Nothing escapes: a handler's
  // exception answers "internal" and drops its follow-ups.
  boost::asio::awaitable<Answer> handle_text(const std::string& text);
  // The same in two steps: decode (a malformed frame's error reply, counted,
  // or the request), then answer the request. `frame` must outlive the
  // answer.
  std::variant<Answer, protocol::RequestFrame> decode(const std::string& text);
  boost::asio::awaitable<Answer> answer(const protocol::RequestFrame& frame);
  // Whether requests of `op` may be in flight together on one session
  // (send, ack, vault_put); every other op waits until they are done.
  static bool may_overlap(protocol::Op op);

  Role role() const { return role_; }
  bool logged_in() const { return role_ != Role::kAnonymous; }
  bool is_responder() const { return role_ == Role::kResponder; }
  bool holds_route() const { return !routes_.empty(); }
  // Asked for a login challenge and has not used it yet.
  bool awaiting_login() const { return challenge_.has_value(); }
  // A survivor's vault has a case not closed (a scan of the hub's cases).
  bool vault_has_live_case() const;
  // Logged in: who, for the per-party connection cap (the vault's login key,
  // or the responder id). In memory only, like the fields it is made of.
  std::string_view party() const {
    return role_ == Role::kResponder
               ? std::string_view(responder_id_)
               : std::string_view(reinterpret_cast<const char*>(login_key_.data()),
                                  login_key_.size());
  }
  const Bytes& login_key() const { return login_key_; }
  const std::string& responder_id() const { return responder_id_; }
  // A responder whose certificate the roster no longer admits (revoked, off
  // every queue, outside its validity) must go: false then.
  bool roster_admits(const RosterState& roster) const;
  // The session ends: whatever this client still reserved (routes' prekeys,
  // its pow challenge) goes back at once.
  void release();

 private:
  // A route (or a handoff offer) given and not yet used: the case id, where
  // it goes and who was offered, until open_case (or handoff_accept).
  struct PendingRoute {
    storage::CaseId id;
    bool handoff = false;
    // A route: the one-time prekeys reserved for its bundles (released when
    // the route goes). A handoff offer: the token of the case's shared offer
    // (PrekeyReservations), which holds the reservations itself.
    std::vector<PrekeyReservations::Held> reserved;
    std::uint64_t offer_token = 0;
    std::string queue;
    std::vector<CaseParty> offers;
    UnixSeconds expires = 0;
    protocol::RouteEnvelope envelope;
    triage::Decision decision;
    UnixSeconds routed_at = 0;
  };
  // Bundles for these responders (best first), one for each that has a
  // current signed prekey, with one of their one-time prekeys (when any is
  // free) reserved under `token` until `expires`: it stays in storage and is
  // deleted only when a case commits with it (consume_prekeys). Empty:
  // nobody can be offered.
  struct Offered {
    CaseParty party;
    protocol::Bundle bundle;
    std::optional<PrekeyReservations::Held> reserved;
  };
  boost::asio::awaitable<Result<std::vector<Offered>>> claim_bundles(
      const std::vector<KnownCertificate>& candidates, std::uint64_t token, UnixSeconds expires);
  // Drops routes (releasing their reservations) for which `drop` is true.
  void drop_routes(const std::function<bool(const PendingRoute&)>& drop);
  // A login on this connection failed with `e` (which the caller returns):
  // counts it on the connection and in the server-wide budget; past
  // login_failures_per_connection the connection closes after the reply
  // (CloseAfterReply added to `next`).
  // Before a login: nullopt when the server-wide budget allows it, else the
  // rate_limited reply (counted toward the connection's failures).
  std::optional<protocol::ProtocolError> login_allowed(FailedLoginBudget& budget, FollowUps& next);
  void login_failed(FailedLoginBudget& budget, const protocol::ProtocolError& e, FollowUps& next);
  // One more failed or refused login; past the limit the connection closes
  // after the reply.
  void count_login_failure(FollowUps& next);
  // An intake copy matched to the offer it was made for.
  struct Copy {
    CaseParty party;
    Bytes body;
  };
  // In a commit's storage job: deletes the reserved one-time prekeys of the
  // responders `copies` were made for (the others stay, released after).
  static Status consume_prekeys(storage::Stores& s,
                                const std::vector<PrekeyReservations::Held>& reserved,
                                const std::vector<Copy>& copies);
  // Each copy of `intake` must name a certificate `route` offered, at most
  // once, and there must be one at least: the error to send, or nullopt.
  static std::optional<protocol::ProtocolError> match_copies(
      const PendingRoute& route, const std::vector<protocol::IntakeCopy>& intake,
      std::vector<Copy>& copies);
  // One handler per op, in the order of protocol::Op.
  boost::asio::awaitable<Handled> on_pow_challenge(const protocol::PowChallengeRequest& req);
  boost::asio::awaitable<Handled> on_route(const protocol::RouteRequest& req);
  // Spends this connection's pow challenge on `req`: nullopt when its proof
  // holds, else the error to answer (pow_stale, pow_replayed, pow_insufficient).
  std::optional<protocol::ProtocolError> spend_pow_challenge(const protocol::RouteRequest& req);
  boost::asio::awaitable<Handled> on_open_case(const protocol::OpenCaseRequest& req);
  boost::asio::awaitable<Handled> on_challenge(const protocol::ChallengeRequest& req);
  boost::asio::awaitable<Handled> on_vault_login(const protocol::VaultLoginRequest& req);
  // A login past the budget check, with the challenge it spent.
  boost::asio::awaitable<Handled> vault_login_attempt(const protocol::VaultLoginRequest& req,
                                                      const Bytes& challenge);
  boost::asio::awaitable<Handled> on_vault_get(const protocol::VaultGetRequest& req);
  boost::asio::awaitable<Handled> on_vault_put(const protocol::VaultPutRequest& req);
  boost::asio::awaitable<Handled> on_send(const protocol::SendRequest& req);
  boost::asio::awaitable<Handled> on_ack(const protocol::AckRequest& req);
  boost::asio::awaitable<Handled> on_delete_case(const protocol::DeleteCaseRequest& req);
  boost::asio::awaitable<Handled> on_responder_login(const protocol::ResponderLoginRequest& req);
  boost::asio::awaitable<Handled> responder_login_attempt(
      const protocol::ResponderLoginRequest& req, const Bytes& challenge);
  boost::asio::awaitable<Handled> on_upload_prekeys(const protocol::UploadPrekeysRequest& req);
  boost::asio::awaitable<Handled> on_presence(const protocol::PresenceRequest& req);
  boost::asio::awaitable<Handled> on_take_next(const protocol::TakeNextRequest& req);
  boost::asio::awaitable<Handled> on_handoff(const protocol::HandoffRequest& req);
  boost::asio::awaitable<Handled> on_handoff_offer(const protocol::HandoffOfferRequest& req);
  // A new handoff offer for case `c` to `queue`, made the case's pending one
  // (or the one another connection made meanwhile): bundles reserved.
  boost::asio::awaitable<std::variant<PrekeyReservations::HandoffOffer, protocol::ProtocolError>>
  make_handoff_offer(const OpenCase& c, const std::string& queue, UnixSeconds now);
  boost::asio::awaitable<Handled> on_handoff_accept(const protocol::HandoffAcceptRequest& req);
  boost::asio::awaitable<Handled> on_handoff_decline(const protocol::HandoffDeclineRequest& req);
  boost::asio::awaitable<Handled> on_close_case(const protocol::CloseCaseRequest& req);
  boost::asio::awaitable<Handled> on_queue_health(const protocol::QueueHealthRequest& req);
  boost::asio::awaitable<Handled> on_dismiss_waiting(const protocol::DismissWaitingRequest& req);
  bool is_supervisor() const;
  // The case `req_id` names, checked for this party: a survivor's own case,
  // or a responder's case that they hold and that is not closed.
  Result<OpenCase> own_case(const Bytes& req_id, protocol::ProtocolError* denied) const;
  // Writes `record` over the case row (compare-and-swap on its version) with
  // `extra` storage work in the same job, then mirrors it in the hub.
  // GCC 12: callers name `record` and `extra` first (no temporaries in co_await).
  using ExtraStorage = std::function<Status(storage::Stores&)>;
  boost::asio::awaitable<std::optional<protocol::ProtocolError>> update_case(
      const OpenCase& c, const CaseRecord& record, const ExtraStorage& extra);

  boost::asio::awaitable<Handled> dispatch(const protocol::Request& request);

  // Role checks: nullopt when allowed.
  std::optional<protocol::ProtocolError> require_survivor() const;
  std::optional<protocol::ProtocolError> require_responder() const;
  std::optional<protocol::ProtocolError> require_anonymous() const;
  std::optional<protocol::ProtocolError> require_not_responder() const;

  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn&, storage::Stores&>> write_job(
      Fn& fn, std::size_t bytes = 0) {
    return server::write_job(services_, fn, bytes);
  }
  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn&, storage::Stores&>> read_job(
      Fn& fn, std::size_t bytes = 0) {
    return server::read_job(services_, fn, bytes);
  }
  void expire_routes();

  Services& services_;
  MailboxFeed& feed_;
  Role role_ = Role::kAnonymous;
  std::optional<Bytes> challenge_;
  // The route proof-of-work challenge issued to this connection, until a
  // route spends it (or a newer one replaces it), and the last one spent, so
  // a replay is named as such.
  std::optional<PowState::Issued> pow_challenge_;
  Bytes spent_pow_challenge_;
  // Survivor: the vault. The login id is a bearer identifier: kept in memory
  // for this connection only, never logged.
  Bytes login_id_;
  Bytes login_key_;
  // Responder.
  std::string responder_id_;
  Bytes certificate_hash_;
  std::optional<crypto::ResponderCertificate> certificate_;

  std::vector<PendingRoute> routes_;
  std::uint32_t login_failures_ = 0;
};

}  // namespace hearth::server
