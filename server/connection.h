// Connection: one client's protocol state, the handler of every op, and the
// connection's bounded write queue. The transport (ws_session.h, templated on
// plain TCP or TLS) reads frames, hands them to handle_text(), and drains the
// write queue; everything here runs on the connection's strand.
//
// Per connection the server keeps: its role (anonymous, survivor or
// responder), the last challenge it asked for, the routes it was given and not
// yet used (with the one-time prekeys reserved for them), how many logins
// failed on it, and one delivery cursor per mailbox it receives from. A cursor
// is the last seq queued: live pushes and backlog pages both advance it, so
// nothing is sent twice or out of order.
//
// The write queue (write_queue_frames, write_queue_bytes) is shared three
// ways, so that a client that keeps reading is never cut off:
//   - envelopes may fill it to half. A live envelope that finds no room (or a
//     gap, or the cursor already behind) is not queued: its cursor is marked
//     behind and the backlog pump fetches it from storage, where it already
//     is. One pump per connection serves every behind mailbox in turn, a page
//     at a time, each page sized to the room left under the half mark and
//     queued only while that room lasts;
//   - other events (small) may fill it to three quarters; past that they wait
//     in a held list, one per (kind, case): a newer one of the same kind for
//     the same case replaces the older, so the list is bounded by the party's
//     cases. Held events go out first as frames are written; no envelope is
//     queued while any is held, so events keep their order against envelopes;
//   - the last quarter is for replies: the reader reads the next request only
//     while the queue has a frame and a quarter of its bytes to spare, so
//     replies do not overflow it either. A client that stops reading is
//     closed (1008, slow_reader_dropped) when nothing has been written for
//     limits.write_stall_timeout, or when its held list would pass
//     kMaxHeldEvents; the hard limit in enqueue() stays as a last guard.
//
// Thread safety: all state is touched only on the strand. The Peer methods
// may be called from any thread: they post to the strand.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/log.h"
#include "crypto/trust.h"
#include "protocol/messages.h"
#include "server/login_guard.h"
#include "server/prekey_reservations.h"
#include "server/relay_hub.h"
#include "server/services.h"
#include "server/storage_bridge.h"

namespace hearth::server {

// WebSocket close codes the server uses (RFC 6455 §7.4.1).
inline constexpr std::uint16_t kCloseGoingAway = 1001;
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseTooBig = 1009;

// A waitable flag for coroutines on one strand: wait() suspends until the next
// notify(). Several coroutines may wait; notify() wakes them all.
class AsyncSignal {
 public:
  explicit AsyncSignal(const boost::asio::any_io_executor& executor);
  boost::asio::awaitable<void> wait();
  void notify();
  void cancel_forever();  // wakes waiters now and makes later waits return at once

 private:
  boost::asio::steady_timer timer_;
  bool done_ = false;
};

class Connection : public Peer, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Services& services, boost::asio::any_io_executor strand);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // ---- Peer (any thread) ----
  void push_delivery(std::shared_ptr<const Delivery> delivery) override;
  void push_case_claimed(const storage::CaseId& case_id, Bytes claimed_by,
                         std::string claimed_responder_id) override;
  void push_case_closed(const storage::CaseId& case_id, protocol::CloseReason reason) override;
  void push_event(protocol::Event event) override;
  void roster_changed(std::shared_ptr<const RosterState> roster) override;
  void shut_down() override;

 protected:
  enum class Role { kAnonymous, kSurvivor, kResponder };

  // Decodes and answers one text frame; returns the reply to queue. Runs the
  // actions a handler deferred until after its reply (backlog, live pushes)
  // once the transport has queued that reply: call run_after_reply().
  boost::asio::awaitable<std::string> handle_text(const std::string& text);
  void run_after_reply();

  // The write queue. Returns false (and starts closing with 1008) when the
  // frame would take the queue past write_queue_frames or write_queue_bytes.
  bool enqueue(std::string frame);
  // Starts closing with `code`. flush: send what is queued first (shutdown);
  // otherwise drop it (slow reader, policy). After handshake_timeout the
  // transport is aborted if the close handshake has not finished.
  void begin_close(std::uint16_t code, bool flush);
  // Suspends until the largest envelope frame may be queued (envelope_room):
  // the backlog pump's turn.
  boost::asio::awaitable<void> wait_for_room();
  // Suspends until a reply fits the queue's last quarter (the reader waits
  // here before reading the next request).
  boost::asio::awaitable<void> wait_for_reply_room();
  // The writer took a frame off the queue.
  void frame_written(std::size_t bytes);
  // Arms the write-stall watchdog (limits.write_stall_timeout) if it is not.
  void watch_stall();

  // Closes the socket at once (transport-specific).
  virtual void abort_transport() = 0;
  // For the transport's limits (admission pools, the message size limit).
  bool logged_in() const { return role_ != Role::kAnonymous; }
  bool is_responder() const { return role_ == Role::kResponder; }
  bool holds_route() const { return !routes_.empty(); }
  // A survivor's vault has a case not closed (a scan of the hub's cases).
  bool vault_has_live_case() const {
    for (const auto& c : services_.hub.cases_of_vault(login_key_))
      if (!c.record.closed) return true;
    return false;
  }
  // A case of this survivor's vault was opened, closed or deleted: the
  // transport tells admission (a full survivor pool takes places from
  // vaults without a live case first).
  virtual void cases_changed() {}
  // Asked for a login challenge and has not used it yet.
  bool awaiting_login() const { return challenge_.has_value(); }
  // Logged in: who, for the per-party connection cap (the vault's login key,
  // or the responder id). In memory only, like the fields it is made of.
  std::string_view party() const {
    return role_ == Role::kResponder
               ? std::string_view(responder_id_)
               : std::string_view(reinterpret_cast<const char*>(login_key_.data()),
                                  login_key_.size());
  }
  // Called when the session ends (both loops done): unregisters from the hub.
  void finished();

  Services& services_;
  boost::asio::any_io_executor strand_;
  std::deque<std::string> out_;
  std::size_t out_bytes_ = 0;
  AsyncSignal writer_wake_;
  AsyncSignal room_;
  // When the writer last made progress (or the queue last became non-empty).
  std::chrono::steady_clock::time_point last_write_progress_{};
  boost::asio::steady_timer stall_timer_;
  bool stall_armed_ = false;
  std::optional<std::uint16_t> close_code_;
  bool draining_ = false;  // shutdown: no new frames are read
  bool handling_ = false;  // a request is being handled
  bool closed_ = false;    // the transport is done

 private:
  using Outcome = std::variant<protocol::Reply, protocol::ProtocolError>;
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
  // login_failures_per_connection the connection closes after the reply.
  // Before a login: nullopt when the server-wide budget allows it, else the
  // rate_limited reply (counted toward the connection's failures).
  std::optional<protocol::ProtocolError> login_allowed(FailedLoginBudget& budget);
  void login_failed(FailedLoginBudget& budget, const protocol::ProtocolError& e);
  // One more failed or refused login; past the limit the connection closes
  // after the reply.
  void count_login_failure();
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
  struct Cursor {
    storage::CaseId case_id;
    bool responder_side = false;
    std::int64_t delivered = 0;  // last seq queued
    bool behind = false;         // storage holds more than was queued: the pump fetches
    bool fetching = false;       // the pump is reading a page for it
    bool dirty = false;          // something arrived while fetching: fetch again
  };
  // An event that found no room, waiting for the writer (see the top).
  struct HeldEvent {
    std::size_t kind = 0;  // the Event alternative
    Bytes case_id;         // empty for events about no case
    std::string frame;
  };
  // Past this many held events the client is not reading: closed as slow.
  static constexpr std::size_t kMaxHeldEvents = 256;

  // One handler per op, in the order of protocol::Op.
  boost::asio::awaitable<Outcome> on_pow_challenge(const protocol::PowChallengeRequest& req);
  boost::asio::awaitable<Outcome> on_route(const protocol::RouteRequest& req);
  // Spends this connection's pow challenge on `req`: nullopt when its proof
  // holds, else the error to answer (pow_stale, pow_replayed, pow_insufficient).
  std::optional<protocol::ProtocolError> spend_pow_challenge(const protocol::RouteRequest& req);
  boost::asio::awaitable<Outcome> on_open_case(const protocol::OpenCaseRequest& req);
  boost::asio::awaitable<Outcome> on_challenge(const protocol::ChallengeRequest& req);
  boost::asio::awaitable<Outcome> on_vault_login(const protocol::VaultLoginRequest& req);
  // A login past the budget check, with the challenge it spent.
  boost::asio::awaitable<Outcome> vault_login_attempt(const protocol::VaultLoginRequest& req,
                                                      const Bytes& challenge);
  boost::asio::awaitable<Outcome> on_vault_get(const protocol::VaultGetRequest& req);
  boost::asio::awaitable<Outcome> on_vault_put(const protocol::VaultPutRequest& req);
  boost::asio::awaitable<Outcome> on_send(const protocol::SendRequest& req);
  boost::asio::awaitable<Outcome> on_ack(const protocol::AckRequest& req);
  boost::asio::awaitable<Outcome> on_delete_case(const protocol::DeleteCaseRequest& req);
  boost::asio::awaitable<Outcome> on_responder_login(const protocol::ResponderLoginRequest& req);
  boost::asio::awaitable<Outcome> responder_login_attempt(
      const protocol::ResponderLoginRequest& req, const Bytes& challenge);
  boost::asio::awaitable<Outcome> on_upload_prekeys(const protocol::UploadPrekeysRequest& req);
  boost::asio::awaitable<Outcome> on_presence(const protocol::PresenceRequest& req);
  boost::asio::awaitable<Outcome> on_take_next(const protocol::TakeNextRequest& req);
  boost::asio::awaitable<Outcome> on_handoff(const protocol::HandoffRequest& req);
  boost::asio::awaitable<Outcome> on_handoff_offer(const protocol::HandoffOfferRequest& req);
  // A new handoff offer for case `c` to `queue`, made the case's pending one
  // (or the one another connection made meanwhile): bundles reserved.
  boost::asio::awaitable<std::variant<PrekeyReservations::HandoffOffer, protocol::ProtocolError>>
  make_handoff_offer(const OpenCase& c, const std::string& queue, UnixSeconds now);
  boost::asio::awaitable<Outcome> on_handoff_accept(const protocol::HandoffAcceptRequest& req);
  boost::asio::awaitable<Outcome> on_handoff_decline(const protocol::HandoffDeclineRequest& req);
  boost::asio::awaitable<Outcome> on_close_case(const protocol::CloseCaseRequest& req);
  boost::asio::awaitable<Outcome> on_queue_health(const protocol::QueueHealthRequest& req);
  // dismiss_waiting lives in dismiss_waiting.cpp.
  boost::asio::awaitable<Outcome> on_dismiss_waiting(const protocol::DismissWaitingRequest& req);
  bool is_supervisor() const;
  // The case `req_id` names, checked for this party: a survivor's own case,
  // or a responder's case that they hold and that is not closed.
  Result<OpenCase> own_case(const Bytes& req_id, protocol::ProtocolError* denied) const;
  // Writes `record` over the case row (compare-and-swap on its version) with
  // `extra` storage work in the same job, then mirrors it in the hub.
  // GCC 12: callers name `record` and `extra` first (no temporaries in co_await).
  using StorageStep = std::function<Status(storage::Stores&)>;
  boost::asio::awaitable<std::optional<protocol::ProtocolError>> update_case(
      const OpenCase& c, const CaseRecord& record, const StorageStep& extra);

  boost::asio::awaitable<Outcome> dispatch(const protocol::Request& request);

  // Role checks: nullopt when allowed.
  std::optional<protocol::ProtocolError> require_survivor() const;
  std::optional<protocol::ProtocolError> require_responder() const;
  std::optional<protocol::ProtocolError> require_anonymous() const;
  std::optional<protocol::ProtocolError> require_not_responder() const;
  // A storage failure nobody expected, mapped for the client and logged.
  protocol::ProtocolError storage_failure(const Status& status);

  // `fn` is taken by reference and moved from: GCC 12 mishandles temporaries
  // with destructors inside a co_await expression (it may destroy them
  // twice), so call sites name the job first and no temporary is built here.
  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn&, storage::Stores&>> write_job(
      Fn& fn, std::size_t bytes = 0) {
    services_.metrics.storage_jobs_in_flight.fetch_add(1);
    auto result = co_await storage_write(services_.storage, fn, bytes);
    services_.metrics.storage_jobs_in_flight.fetch_sub(1);
    co_return result;
  }
  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn&, storage::Stores&>> read_job(
      Fn& fn, std::size_t bytes = 0) {
    services_.metrics.storage_jobs_in_flight.fetch_add(1);
    auto result = co_await storage_read(services_.storage, fn, bytes);
    services_.metrics.storage_jobs_in_flight.fetch_sub(1);
    co_return result;
  }

  // Delivery (strand only).
  void on_delivery(const Delivery& d);
  void watch(const storage::MailboxId& mailbox, const storage::CaseId& case_id, bool responder_side,
             bool fetch_backlog);
  void unwatch_case(const storage::CaseId& case_id);
  // Marks the mailbox's cursor behind and starts the pump if it is idle.
  void start_fetch(const storage::MailboxId& mailbox);
  // The backlog pump: one per connection, running while a cursor is behind.
  boost::asio::awaitable<void> pump();
  static std::string envelope_frame(const storage::CaseId& case_id, std::int64_t seq,
                                    bool responder_side, const Bytes& body,
                                    UnixSeconds sent_minute);
  // Whether an envelope frame of `bytes` may be queued now (see the top).
  bool envelope_room(std::size_t bytes) const;
  bool event_room(std::size_t bytes) const;
  // Queues an event that is not an envelope, or holds it (see the top).
  void send_event(protocol::Event event);
  // Moves held events into the queue while there is room for them.
  void flush_held();
  void check_roster(const RosterState& roster);
  void expire_routes();

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
  std::map<storage::MailboxId, Cursor> cursors_;
  std::optional<storage::MailboxId> last_pumped_;  // round-robin position of the pump
  bool pump_running_ = false;
  std::vector<HeldEvent> held_;
  std::vector<std::function<void()>> after_reply_;
  bool registered_ = false;
  std::size_t page_size_ = 1;
  // Where the queue's shares end (see the top), in frames and bytes.
  std::size_t envelope_frames_ = 1;
  std::size_t envelope_bytes_ = 1;
  std::size_t event_frames_ = 1;
  std::size_t event_bytes_ = 1;
};

}  // namespace hearth::server
