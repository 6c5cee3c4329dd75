#include "server/connection.h"

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "crypto/encoding.h"
#include "crypto/pow.h"
#include "crypto/prekeys.h"
#include "crypto/random.h"
#include "crypto/vault.h"
#include "protocol/codec.h"
#include "protocol/log_names.h"

namespace hearth::server {

namespace asio = boost::asio;
using protocol::ErrorCode;
using protocol::ProtocolError;
using storage::CaseId;
using storage::MailboxId;
using storage::Stores;

namespace {

// The largest envelope event frame: a body of kMaxBodyBytes in base64 plus the
// frame around it. Backlog pages are sized so a page fits in half the queue.
// How long a closing connection may take to flush and finish the close
// handshake while the server shuts down.
constexpr std::chrono::seconds kShutdownGrace{2};

constexpr std::size_t kMaxEnvelopeFrameBytes = (protocol::kMaxBodyBytes + 2) / 3 * 4 + 512;

ProtocolError perr(ErrorCode code, std::string message) { return {code, std::move(message)}; }

// The waiting room has no place for this case (limits.max_waiting_cases).
ProtocolError room_full() {
  return perr(ErrorCode::kUnavailable,
              "too many requests are waiting right now; try again in a few minutes");
}

template <typename T>
std::variant<protocol::Reply, ProtocolError> ok(T reply) {
  return std::variant<protocol::Reply, ProtocolError>(std::in_place_index<0>,
                                                      protocol::Reply(std::move(reply)));
}

// The one answer for a case that does not exist and for a case that is not
// the caller's: no reply may tell anyone whether someone else's case exists.
ProtocolError no_such_case() { return perr(ErrorCode::kNotFound, "no such case"); }

Result<CaseId> case_id_of(const Bytes& b) {
  auto id = CaseId::from(b);
  if (!id.is_ok()) return error(Code::kInvalidArgument, "case: wrong length");
  return id;
}

// A verdict a storage job reaches about the request (not a storage failure):
// set on the storage thread, read on the strand after the job completed.
using Verdict = std::shared_ptr<std::optional<ProtocolError>>;
Verdict make_verdict() { return std::make_shared<std::optional<ProtocolError>>(); }

// The roster queue whose responders may see queue health (docs/routing.md).
constexpr std::string_view kSupervisorQueue = "supervisor";

}  // namespace

// ---- AsyncSignal ----

AsyncSignal::AsyncSignal(const asio::any_io_executor& executor) : timer_(executor) {
  timer_.expires_at(asio::steady_timer::time_point::max());
}

asio::awaitable<void> AsyncSignal::wait() {
  if (done_) co_return;
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void AsyncSignal::notify() { timer_.cancel(); }

void AsyncSignal::cancel_forever() {
  done_ = true;
  timer_.cancel();
}

// ---- Connection: lifetime and the write queue ----

Connection::Connection(Services& services, asio::any_io_executor strand)
    : services_(services),
      strand_(std::move(strand)),
      writer_wake_(strand_),
      room_(strand_),
      stall_timer_(strand_) {
  const Limits& l = services_.config.limits;
  std::size_t by_frames = l.write_queue_frames / 2 > 1 ? l.write_queue_frames / 2 - 1 : 1;
  std::size_t by_bytes =
      std::max<std::size_t>(1, (l.write_queue_bytes / 2) / kMaxEnvelopeFrameBytes);
  page_size_ = std::clamp<std::size_t>(std::min(by_frames, by_bytes), 1, storage::kMaxFetch);
  // The queue's shares (connection.h): envelopes to half, other events to
  // three quarters, the rest for replies.
  envelope_frames_ = std::max<std::size_t>(1, l.write_queue_frames / 2);
  envelope_bytes_ = std::max<std::size_t>(1, l.write_queue_bytes / 2);
  event_frames_ =
      std::max(envelope_frames_ + 1,
               l.write_queue_frames - std::max<std::size_t>(1, l.write_queue_frames / 4));
  event_bytes_ = l.write_queue_bytes - l.write_queue_bytes / 4;
}

Connection::~Connection() = default;

void Connection::finished() {
  closed_ = true;
  held_.clear();
  // Whatever this connection still reserved goes back at once.
  drop_routes([](const PendingRoute&) { return true; });
  if (pow_challenge_) services_.pow.release(*std::exchange(pow_challenge_, std::nullopt));
  writer_wake_.cancel_forever();
  room_.cancel_forever();
  stall_timer_.cancel();
  services_.hub.remove_peer(this);
}

bool Connection::enqueue(std::string frame) {
  if (close_code_ || closed_) return false;
  const Limits& l = services_.config.limits;
  // A client that does not read its replies and events must not make the
  // server hold an unbounded queue for it: past either limit it is closed.
  if (!out_.empty() &&
      (out_.size() >= l.write_queue_frames || out_bytes_ + frame.size() > l.write_queue_bytes)) {
    services_.metrics.slow_readers_dropped.fetch_add(1);
    log::logger().warn("slow_reader_dropped",
                       {{"queued_frames", out_.size()}, {"queued_bytes", out_bytes_}});
    begin_close(kClosePolicyViolation, /*flush=*/false);
    return false;
  }
  if (out_.empty()) last_write_progress_ = std::chrono::steady_clock::now();
  out_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  writer_wake_.notify();
  watch_stall();
  return true;
}

void Connection::watch_stall() {
  if (stall_armed_ || close_code_ || closed_) return;
  stall_armed_ = true;
  stall_timer_.expires_at(last_write_progress_ + services_.config.limits.write_stall_timeout);
  std::weak_ptr<Connection> weak = weak_from_this();
  stall_timer_.async_wait([weak](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self) return;
    self->stall_armed_ = false;
    if (ec || self->close_code_ || self->closed_ || self->out_.empty()) return;
    auto stalled = std::chrono::steady_clock::now() - self->last_write_progress_;
    if (stalled < self->services_.config.limits.write_stall_timeout) {
      self->watch_stall();  // progress since: wait out the rest
      return;
    }
    // Frames queued and not one written for the whole timeout: the client
    // stopped reading. Its envelopes stay in storage for its next login.
    self->services_.metrics.slow_readers_dropped.fetch_add(1);
    log::logger().warn("slow_reader_dropped",
                       {{"queued_frames", self->out_.size()}, {"queued_bytes", self->out_bytes_}});
    self->begin_close(kClosePolicyViolation, /*flush=*/false);
  });
}

void Connection::begin_close(std::uint16_t code, bool flush) {
  if (close_code_ || closed_) return;
  close_code_ = code;
  held_.clear();
  if (!flush && !out_.empty()) {
    // The frame at the front may be in the middle of being written: keep it.
    std::string front = std::move(out_.front());
    out_.clear();
    out_bytes_ = front.size();
    out_.push_back(std::move(front));
  }
  writer_wake_.notify();
  room_.cancel_forever();
  // A peer that does not answer the close (or does not read at all) is cut
  // off: after the handshake timeout, or sooner when the server is shutting
  // down (a drain must end within seconds, not wait on silent clients).
  auto timer = std::make_shared<asio::steady_timer>(strand_);
  timer->expires_after(code == kCloseGoingAway
                           ? std::min<std::chrono::steady_clock::duration>(
                                 services_.config.limits.handshake_timeout, kShutdownGrace)
                           : services_.config.limits.handshake_timeout);
  std::weak_ptr<Connection> weak = weak_from_this();
  timer->async_wait([timer, weak](boost::system::error_code) {
    if (auto self = weak.lock(); self && !self->closed_) self->abort_transport();
  });
}

asio::awaitable<void> Connection::wait_for_room() {
  // Room for the largest envelope: the first of the page then fits, unless
  // live pushes took the room meanwhile (and then the pump waits again).
  while (!close_code_ && !closed_ && !envelope_room(kMaxEnvelopeFrameBytes)) co_await room_.wait();
}

asio::awaitable<void> Connection::wait_for_reply_room() {
  const Limits& l = services_.config.limits;
  // room_ fires only once envelopes may flow again (below half), which is
  // always room for a reply too.
  while (!close_code_ && !closed_ && !out_.empty() &&
         (out_.size() + 1 >= l.write_queue_frames || out_bytes_ >= event_bytes_))
    co_await room_.wait();
}

void Connection::frame_written(std::size_t bytes) {
  out_bytes_ -= std::min(bytes, out_bytes_);
  last_write_progress_ = std::chrono::steady_clock::now();
  flush_held();
  if (envelope_room(kMaxEnvelopeFrameBytes)) room_.notify();
}

bool Connection::envelope_room(std::size_t bytes) const {
  if (!held_.empty()) return false;
  // One envelope always fits an empty queue, however large.
  return out_.empty() || (out_.size() < envelope_frames_ && out_bytes_ + bytes <= envelope_bytes_);
}

bool Connection::event_room(std::size_t bytes) const {
  return out_.empty() || (out_.size() < event_frames_ && out_bytes_ + bytes <= event_bytes_);
}

void Connection::flush_held() {
  std::size_t n = 0;
  while (n < held_.size() && !close_code_ && !closed_ && event_room(held_[n].frame.size())) {
    if (enqueue(std::move(held_[n].frame))) services_.metrics.events_pushed.fetch_add(1);
    ++n;
  }
  // enqueue() cannot close here (events stay below the hard limit), but a
  // close clears held_: never erase past its end.
  held_.erase(held_.begin(),
              held_.begin() + static_cast<std::ptrdiff_t>(std::min(n, held_.size())));
}

// ---- Peer ----

void Connection::push_delivery(std::shared_ptr<const Delivery> delivery) {
  asio::post(strand_, [self = shared_from_this(), delivery = std::move(delivery)] {
    self->on_delivery(*delivery);
  });
}

void Connection::push_case_claimed(const CaseId& case_id, Bytes claimed_by,
                                   std::string claimed_responder_id) {
  asio::post(strand_, [self = shared_from_this(), case_id, claimed_by = std::move(claimed_by),
                       rid = std::move(claimed_responder_id)] {
    if (self->role_ == Role::kResponder && self->responder_id_ != rid) {
      // Another responder took it: this one's copy is gone, stop watching.
      self->unwatch_case(case_id);
    }
    self->send_event(
        protocol::CaseClaimedEvent{Bytes(case_id.bytes.begin(), case_id.bytes.end()), claimed_by});
  });
}

void Connection::push_case_closed(const CaseId& case_id, protocol::CloseReason reason) {
  asio::post(strand_, [self = shared_from_this(), case_id, reason] {
    // A survivor keeps watching a case its responder closed: the replies
    // sent before the close are still theirs to read.
    if (self->role_ == Role::kResponder || reason != protocol::CloseReason::kClosed)
      self->unwatch_case(case_id);
    if (self->role_ == Role::kSurvivor) self->cases_changed();
    self->send_event(
        protocol::CaseClosedEvent{Bytes(case_id.bytes.begin(), case_id.bytes.end()), reason});
  });
}

void Connection::push_event(protocol::Event event) {
  asio::post(strand_, [self = shared_from_this(), event = std::move(event)]() mutable {
    if (self->close_code_ || self->closed_) return;
    self->send_event(std::move(event));
  });
}

void Connection::roster_changed(std::shared_ptr<const RosterState> roster) {
  asio::post(strand_, [self = shared_from_this(), roster = std::move(roster)] {
    self->check_roster(*roster);
  });
}

void Connection::shut_down() {
  asio::post(strand_, [self = shared_from_this()] {
    self->draining_ = true;
    // A request in hand finishes first; the reader closes after its reply.
    if (!self->handling_) self->begin_close(kCloseGoingAway, /*flush=*/true);
  });
}

void Connection::check_roster(const RosterState& roster) {
  if (role_ != Role::kResponder || !certificate_) return;
  const auto& v = roster.verified;
  bool ok = !v.is_revoked(certificate_hash_) && !v.queues_of(certificate_hash_).empty() &&
            v.check_certificate(*certificate_, services_.clock.now()).is_ok();
  if (ok) return;
  log::logger().info("responder_disconnected", {{"reason", "roster"}});
  begin_close(kClosePolicyViolation, /*flush=*/false);
}

// ---- Delivery ----

namespace {

// The case an event is about, or empty: with the event's kind, the key under
// which a newer held event replaces an older one.
Bytes case_of(const protocol::Event& event) {
  return std::visit(
      [](const auto& e) -> Bytes {
        if constexpr (requires { e.case_id; }) {
          return e.case_id;
        } else {
          return {};
        }
      },
      event);
}

}  // namespace

void Connection::send_event(protocol::Event event) {
  if (close_code_ || closed_) return;
  const std::size_t kind = event.index();
  Bytes case_id = case_of(event);
  std::string frame = protocol::encode(protocol::EventFrame{std::move(event)});
  if (held_.empty() && event_room(frame.size())) {
    if (enqueue(std::move(frame))) services_.metrics.events_pushed.fetch_add(1);
    return;
  }
  // No room: hold it. Events are state (a place in line, a claim, a close):
  // the newest of a kind for a case is all the client needs, and it goes
  // after the others, where it arrived.
  services_.metrics.events_held.fetch_add(1);
  std::erase_if(held_, [&](const HeldEvent& h) { return h.kind == kind && h.case_id == case_id; });
  if (held_.size() >= kMaxHeldEvents) {
    // Hundreds of distinct cases' events unread: this client is not reading.
    services_.metrics.slow_readers_dropped.fetch_add(1);
    log::logger().warn("slow_reader_dropped",
                       {{"queued_frames", out_.size()}, {"held_events", held_.size()}});
    begin_close(kClosePolicyViolation, /*flush=*/false);
    return;
  }
  held_.push_back({kind, std::move(case_id), std::move(frame)});
}

std::string Connection::envelope_frame(const CaseId& case_id, std::int64_t seq, bool responder_side,
                                       const Bytes& body, UnixSeconds sent_minute) {
  protocol::EnvelopeEvent e;
  e.case_id.assign(case_id.bytes.begin(), case_id.bytes.end());
  e.seq = seq;
  // Every mailbox a responder has for a case starts with the intake copy; seq
  // numbers are never reused, so seq 1 there is always it.
  e.kind = responder_side && seq == 1 ? protocol::EnvelopeKind::kIntake
                                      : protocol::EnvelopeKind::kMessage;
  e.body = body;
  e.sent_minute = sent_minute;
  return protocol::encode(protocol::EventFrame{std::move(e)});
}

void Connection::watch(const MailboxId& mailbox, const CaseId& case_id, bool responder_side,
                       bool fetch_backlog) {
  auto [it, inserted] = cursors_.try_emplace(mailbox);
  if (inserted) {
    it->second.case_id = case_id;
    it->second.responder_side = responder_side;
  }
  if (fetch_backlog) start_fetch(mailbox);
}

void Connection::unwatch_case(const CaseId& case_id) {
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    it = it->second.case_id == case_id ? cursors_.erase(it) : std::next(it);
  }
}

void Connection::on_delivery(const Delivery& d) {
  if (close_code_ || closed_) return;
  // Only a party's own mailboxes reach it (the hub routes by party), but a
  // delivery can race a logout-free role check: accept only the right side.
  if ((role_ == Role::kResponder) != d.responder_side) return;
  if (role_ == Role::kAnonymous) return;
  watch(d.mailbox, d.case_id, d.responder_side, /*fetch_backlog=*/false);
  Cursor& c = cursors_.at(d.mailbox);
  if (c.fetching) {
    c.dirty = true;  // the page being fetched may or may not hold it: fetch again
    return;
  }
  if (d.seq <= c.delivered) return;  // already queued from the backlog
  if (!c.behind && d.seq == c.delivered + 1) {
    std::string frame = envelope_frame(d.case_id, d.seq, d.responder_side, d.body, d.sent_minute);
    if (envelope_room(frame.size())) {
      c.delivered = d.seq;
      if (enqueue(std::move(frame))) services_.metrics.events_pushed.fetch_add(1);
      return;
    }
    // No room: it is in storage already; the pump fetches it when there is.
    services_.metrics.envelopes_deferred.fetch_add(1);
  }
  start_fetch(d.mailbox);  // a gap, or behind already: read what is missing, in order
}

void Connection::start_fetch(const MailboxId& mailbox) {
  auto it = cursors_.find(mailbox);
  if (it == cursors_.end()) return;
  it->second.behind = true;
  if (it->second.fetching) it->second.dirty = true;
  if (pump_running_ || close_code_ || closed_) return;
  pump_running_ = true;
  asio::co_spawn(strand_, pump(), asio::detached);
}

asio::awaitable<void> Connection::pump() {
  auto self = shared_from_this();
  const Limits& l = services_.config.limits;
  for (;;) {
    auto behind = [](const auto& entry) { return entry.second.behind; };
    if (close_code_ || closed_ || std::none_of(cursors_.begin(), cursors_.end(), behind)) break;
    co_await wait_for_room();
    if (close_code_ || closed_) break;
    // Round robin: the first behind mailbox after the last one served, so
    // every mailbox gets a page in turn, however deep another's backlog.
    auto it = last_pumped_ ? cursors_.upper_bound(*last_pumped_) : cursors_.begin();
    it = std::find_if(it, cursors_.end(), behind);
    if (it == cursors_.end()) it = std::find_if(cursors_.begin(), cursors_.end(), behind);
    if (it == cursors_.end()) continue;
    const MailboxId mailbox = it->first;
    last_pumped_ = mailbox;
    it->second.fetching = true;
    it->second.dirty = false;
    std::int64_t after = it->second.delivered;
    // A page no larger than the room left under the half mark.
    std::size_t free_frames = l.write_queue_frames / 2 > out_.size()
                                  ? l.write_queue_frames / 2 - out_.size()
                                  : std::size_t{1};
    std::size_t free_bytes = l.write_queue_bytes / 2 > out_bytes_
                                 ? (l.write_queue_bytes / 2 - out_bytes_) / kMaxEnvelopeFrameBytes
                                 : std::size_t{0};
    std::size_t limit = std::clamp<std::size_t>(
        std::min(free_frames, std::max<std::size_t>(1, free_bytes)), 1, page_size_);
    auto fetch = [mailbox, after, limit](Stores& s) {
      return s.envelopes.fetch(mailbox, after, limit);
    };
    auto page = co_await read_job(fetch);
    it = cursors_.find(mailbox);
    if (close_code_ || closed_) break;
    if (it == cursors_.end()) continue;  // unwatched meanwhile
    Cursor& c = it->second;
    c.fetching = false;
    if (!page.is_ok()) {
      // Not retried in a loop: the next live envelope finds the gap.
      log::logger().warn("backlog_fetch_failed", {{"status", page.status()}});
      c.behind = false;
      continue;
    }
    bool all_queued = true;
    for (const auto& env : *page) {
      if (env.seq <= c.delivered) continue;
      std::string frame =
          envelope_frame(c.case_id, env.seq, c.responder_side, env.ciphertext, env.created_minute);
      if (!envelope_room(frame.size())) {
        all_queued = false;  // live pushes took the room meanwhile: fetched again later
        break;
      }
      c.delivered = env.seq;
      if (enqueue(std::move(frame))) services_.metrics.events_pushed.fetch_add(1);
    }
    if (all_queued && page->size() < limit && !c.dirty) c.behind = false;
  }
  pump_running_ = false;
}

// ---- Requests ----

asio::awaitable<std::string> Connection::handle_text(const std::string& text) {
  auto decoded = protocol::decode_request(text);
  if (auto* bad = std::get_if<protocol::RequestError>(&decoded)) {
    services_.metrics.count_error(bad->error.code);
    co_return protocol::encode(protocol::ReplyFrame{bad->id, bad->error});
  }
  auto& frame = std::get<protocol::RequestFrame>(decoded);
  protocol::Op op = protocol::op_of(frame.request);
  services_.metrics.count_request(op);
  Outcome outcome = perr(ErrorCode::kInternal, "internal error");
  try {
    outcome = co_await dispatch(frame.request);
  } catch (const std::exception&) {
    // A bug or an allocation failure: the connection stays usable.
    log::logger().error("handler_exception", {{"op", protocol::op_log_name(op)}});
    after_reply_.clear();
  }
  if (auto* e = std::get_if<ProtocolError>(&outcome)) services_.metrics.count_error(e->code);
  co_return protocol::encode(protocol::ReplyFrame{frame.id, std::move(outcome)});
}

void Connection::run_after_reply() {
  auto actions = std::move(after_reply_);
  after_reply_.clear();
  for (auto& action : actions) action();
}

asio::awaitable<Connection::Outcome> Connection::dispatch(const protocol::Request& request) {
  switch (protocol::op_of(request)) {
    case protocol::Op::kPowChallenge:
      co_return co_await on_pow_challenge(std::get<protocol::PowChallengeRequest>(request));
    case protocol::Op::kRoute:
      co_return co_await on_route(std::get<protocol::RouteRequest>(request));
    case protocol::Op::kOpenCase:
      co_return co_await on_open_case(std::get<protocol::OpenCaseRequest>(request));
    case protocol::Op::kChallenge:
      co_return co_await on_challenge(std::get<protocol::ChallengeRequest>(request));
    case protocol::Op::kVaultLogin:
      co_return co_await on_vault_login(std::get<protocol::VaultLoginRequest>(request));
    case protocol::Op::kVaultGet:
      co_return co_await on_vault_get(std::get<protocol::VaultGetRequest>(request));
    case protocol::Op::kVaultPut:
      co_return co_await on_vault_put(std::get<protocol::VaultPutRequest>(request));
    case protocol::Op::kSend:
      co_return co_await on_send(std::get<protocol::SendRequest>(request));
    case protocol::Op::kAck:
      co_return co_await on_ack(std::get<protocol::AckRequest>(request));
    case protocol::Op::kDeleteCase:
      co_return co_await on_delete_case(std::get<protocol::DeleteCaseRequest>(request));
    case protocol::Op::kResponderLogin:
      co_return co_await on_responder_login(std::get<protocol::ResponderLoginRequest>(request));
    case protocol::Op::kUploadPrekeys:
      co_return co_await on_upload_prekeys(std::get<protocol::UploadPrekeysRequest>(request));
    case protocol::Op::kPresence:
      co_return co_await on_presence(std::get<protocol::PresenceRequest>(request));
    case protocol::Op::kTakeNext:
      co_return co_await on_take_next(std::get<protocol::TakeNextRequest>(request));
    case protocol::Op::kHandoff:
      co_return co_await on_handoff(std::get<protocol::HandoffRequest>(request));
    case protocol::Op::kHandoffOffer:
      co_return co_await on_handoff_offer(std::get<protocol::HandoffOfferRequest>(request));
    case protocol::Op::kHandoffAccept:
      co_return co_await on_handoff_accept(std::get<protocol::HandoffAcceptRequest>(request));
    case protocol::Op::kHandoffDecline:
      co_return co_await on_handoff_decline(std::get<protocol::HandoffDeclineRequest>(request));
    case protocol::Op::kCloseCase:
      co_return co_await on_close_case(std::get<protocol::CloseCaseRequest>(request));
    case protocol::Op::kQueueHealth:
      co_return co_await on_queue_health(std::get<protocol::QueueHealthRequest>(request));
    case protocol::Op::kDismissWaiting:
      co_return co_await on_dismiss_waiting(std::get<protocol::DismissWaitingRequest>(request));
  }
  co_return perr(ErrorCode::kUnknownOp, "unknown op");
}

std::optional<ProtocolError> Connection::require_survivor() const {
  if (role_ == Role::kAnonymous)
    return perr(ErrorCode::kNotAuthenticated, "log into a vault first");
  if (role_ != Role::kSurvivor) return perr(ErrorCode::kForbidden, "survivors only");
  return std::nullopt;
}

std::optional<ProtocolError> Connection::require_responder() const {
  if (role_ == Role::kAnonymous)
    return perr(ErrorCode::kNotAuthenticated, "log in as a responder first");
  if (role_ != Role::kResponder) return perr(ErrorCode::kForbidden, "responders only");
  return std::nullopt;
}

std::optional<ProtocolError> Connection::require_anonymous() const {
  if (role_ != Role::kAnonymous)
    return perr(ErrorCode::kForbidden, "this connection is already logged in");
  return std::nullopt;
}

std::optional<ProtocolError> Connection::require_not_responder() const {
  if (role_ == Role::kResponder) return perr(ErrorCode::kForbidden, "not for responders");
  return std::nullopt;
}

ProtocolError Connection::storage_failure(const Status& status) {
  switch (status.code()) {
    case Code::kLimitExceeded:  // the storage queue is full
    case Code::kUnavailable:    // disk full, I/O error, shutting down
      log::logger().warn("storage_unavailable", {{"status", status}});
      return perr(ErrorCode::kUnavailable, "the server cannot store this now; try again later");
    default:
      log::logger().error("storage_error", {{"status", status}});
      return perr(ErrorCode::kInternal, "internal error");
  }
}

void Connection::expire_routes() {
  UnixSeconds now = services_.clock.now();
  drop_routes([now](const PendingRoute& r) { return r.expires <= now; });
}

void Connection::drop_routes(const std::function<bool(const PendingRoute&)>& drop) {
  std::vector<PrekeyReservations::Held> released;
  std::erase_if(routes_, [&](const PendingRoute& r) {
    if (!drop(r)) return false;
    released.insert(released.end(), r.reserved.begin(), r.reserved.end());
    return true;
  });
  if (!released.empty()) services_.reservations.release(released);
}

// pow_challenge: anonymous or survivor. One live challenge per connection,
// priced now: a new one replaces (and releases) the previous.
asio::awaitable<Connection::Outcome> Connection::on_pow_challenge(
    const protocol::PowChallengeRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  if (pow_challenge_) services_.pow.release(*std::exchange(pow_challenge_, std::nullopt));
  pow_challenge_ = services_.pow.issue(req.urgency == protocol::Urgency::kDangerNow,
                                       services_.hub.waiting_count());
  const auto ttl = static_cast<std::uint32_t>(services_.config.pow.challenge_ttl.count());
  co_return ok(protocol::PowChallengeReply{pow_challenge_->challenge, pow_challenge_->effort, ttl});
}

std::optional<ProtocolError> Connection::spend_pow_challenge(const protocol::RouteRequest& req) {
  auto refused = [&](std::size_t reason, ErrorCode code, std::string_view message) {
    services_.metrics.pow_refused[reason].fetch_add(1, std::memory_order_relaxed);
    return std::optional<ProtocolError>(perr(code, std::string(message)));
  };
  // Taken out first: whatever happens below, this route spends it.
  std::optional<PowState::Issued> issued = std::exchange(pow_challenge_, std::nullopt);
  const bool same = issued && issued->challenge == req.pow.challenge;
  if (!same) {
    if (issued) services_.pow.release(*issued);
    if (!spent_pow_challenge_.empty() && spent_pow_challenge_ == req.pow.challenge)
      return refused(1, ErrorCode::kPowReplayed, "this challenge was already spent");
    return refused(0, ErrorCode::kPowStale, "no such challenge here; ask for a new one");
  }
  spent_pow_challenge_ = issued->challenge;
  const bool danger_now = req.envelope.urgency == protocol::Urgency::kDangerNow;
  if (services_.clock.now() >= issued->expires || danger_now != issued->danger_now) {
    services_.pow.release(*issued);
    return refused(0, ErrorCode::kPowStale,
                   "the challenge expired or was asked for another urgency; ask again");
  }
  Bytes request_hash =
      crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(req.envelope)));
  Status pow = services_.pow.spend(*issued, req.pow.nonce, "route", request_hash);
  if (pow.is_ok()) return std::nullopt;
  if (pow.code() == Code::kAuthFailed)
    return refused(2, ErrorCode::kPowInsufficient, "the proof of work does not meet the effort");
  return perr(ErrorCode::kBadField, "pow: malformed");
}

// route: anonymous or survivor.
asio::awaitable<Connection::Outcome> Connection::on_route(const protocol::RouteRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  // The challenge is spent first, whatever the outcome: one challenge buys
  // one attempt, never a proof kept for later.
  if (auto e = spend_pow_challenge(req)) co_return *e;
  expire_routes();
  if (routes_.size() >= services_.config.limits.max_routes_per_connection)
    co_return perr(ErrorCode::kLimitExceeded, "too many unused routes on this connection");
  // Checked again when the case commits (open_case); here it spares the
  // prekeys. danger-now may use the reserved share.
  if (!services_.hub.has_room(req.envelope)) co_return room_full();

  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  triage::Decision decision = services_.hub.preview(req.envelope);
  // The decision's candidates, best first, with the certificate each is
  // routed under (responders who never logged in have no prekeys anyway).
  std::vector<KnownCertificate> candidates;
  {
    auto current = services_.hub.current_certificates();
    for (const auto& rid : decision.candidates) {
      auto it = std::find_if(current.begin(), current.end(), [&](const KnownCertificate& k) {
        return k.certificate.fields.responder_id == rid;
      });
      if (it != current.end()) candidates.push_back(*it);
      if (candidates.size() >= protocol::kMaxBundles) break;
    }
  }
  // The one-time prekeys shown are only reserved, for as long as the route
  // lives: an unused route costs the responders none.
  const std::uint64_t token = services_.reservations.new_token();
  const UnixSeconds reserved_until =
      now + services_.config.limits.route_ttl.count() + PrekeyReservations::kGrace;
  auto offered = co_await claim_bundles(candidates, token, reserved_until);
  if (!offered.is_ok()) co_return storage_failure(offered.status());
  if (offered->empty())
    co_return perr(ErrorCode::kNoResponder, "nobody can take this request's queue now");
  log::logger().debug("routed", {{"rules_version", decision.rules_version},
                                 {"target", decision.placement.target},
                                 {"offers", offered->size()}});

  PendingRoute route;
  route.id = storage::random_id<CaseId>();
  route.queue = decision.queue;
  route.expires = now + services_.config.limits.route_ttl.count();
  route.envelope = req.envelope;
  route.decision = decision;
  route.routed_at = now;
  protocol::RouteReply reply;
  reply.case_id.assign(route.id.bytes.begin(), route.id.bytes.end());
  reply.queue = decision.queue;
  reply.roster = roster->encoded;
  for (auto& o : *offered) {
    route.offers.push_back(o.party);
    reply.bundles.push_back(std::move(o.bundle));
    if (o.reserved) route.reserved.push_back(std::move(*o.reserved));
  }
  routes_.push_back(std::move(route));
  co_return ok(std::move(reply));
}

std::optional<ProtocolError> Connection::match_copies(
    const PendingRoute& route, const std::vector<protocol::IntakeCopy>& intake,
    std::vector<Copy>& copies) {
  std::set<Bytes> seen;
  for (const auto& copy : intake) {
    auto offer = std::find_if(route.offers.begin(), route.offers.end(), [&](const CaseParty& p) {
      return p.certificate_hash == copy.certificate_hash;
    });
    if (offer == route.offers.end())
      return perr(ErrorCode::kBadField, "intake: a copy for a certificate that was not offered");
    if (!seen.insert(copy.certificate_hash).second)
      return perr(ErrorCode::kBadField, "intake: two copies for one certificate");
    copies.push_back({*offer, copy.body});
  }
  if (copies.empty()) return perr(ErrorCode::kMissingField, "intake: at least one copy");
  return std::nullopt;
}

asio::awaitable<Result<std::vector<Connection::Offered>>> Connection::claim_bundles(
    const std::vector<KnownCertificate>& candidates, std::uint64_t token, UnixSeconds expires) {
  UnixSeconds now = services_.clock.now();
  PrekeyReservations* reservations = &services_.reservations;
  // A write job although it writes nothing: jobs on the writer run in order,
  // so a prekey a commit consumed (and then released) is never found again.
  auto claim_prekeys = [candidates, now, token, expires,
                        reservations](Stores& s) -> Result<std::vector<Offered>> {
    std::vector<Offered> out;
    std::vector<PrekeyReservations::Held> held;
    auto fail = [&](Status status) -> Result<std::vector<Offered>> {
      reservations->release(held);
      return status;
    };
    for (const auto& c : candidates) {
      const std::string& rid = c.certificate.fields.responder_id;
      auto spk = s.prekeys.current_signed_prekey(as_bytes(rid));
      if (!spk.is_ok()) {
        if (spk.status().code() == Code::kNotFound) continue;
        return fail(spk.status());
      }
      auto parsed = crypto::SignedPrekey::decode(spk->record);
      if (!parsed.is_ok() || parsed->expires_at <= now) continue;
      auto opk = s.prekeys.find_one_time_prekey(as_bytes(rid), [&](std::uint32_t id) {
        return reservations->try_reserve(rid, id, token, now, expires);
      });
      if (!opk.is_ok()) return fail(opk.status());
      protocol::Bundle b{c.encoded, spk->record, std::nullopt};
      std::optional<PrekeyReservations::Held> reserved;
      if (opk->has_value()) {
        b.one_time_prekey = (*opk)->record;
        reserved = PrekeyReservations::Held{rid, (*opk)->id, token};
        held.push_back(*reserved);
      }
      out.push_back({CaseParty{c.hash, rid}, std::move(b), std::move(reserved)});
    }
    return out;
  };
  auto offered = co_await write_job(claim_prekeys);
  if (offered.is_ok()) {
    for (const auto& o : *offered)
      if (o.reserved) services_.metrics.prekeys_reserved.fetch_add(1);
  }
  co_return offered;
}

Status Connection::consume_prekeys(Stores& s, const std::vector<PrekeyReservations::Held>& reserved,
                                   const std::vector<Copy>& copies) {
  for (const auto& h : reserved) {
    // A bundle the survivor made no copy for was not used: its prekey stays.
    if (std::none_of(copies.begin(), copies.end(),
                     [&](const Copy& c) { return c.party.responder_id == h.responder_id; }))
      continue;
    auto gone = s.prekeys.consume_one_time_prekey(as_bytes(h.responder_id), h.prekey_id);
    if (!gone.is_ok()) return gone.status();
  }
  return Status::ok();
}

// open_case: anonymous (with a new vault) or survivor (without).
asio::awaitable<Connection::Outcome> Connection::on_open_case(
    const protocol::OpenCaseRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  // Single use: an open_case that brings a vault spends the challenge whatever
  // comes of it, so each guess at a proof costs a round trip.
  std::optional<Bytes> challenge;
  if (req.vault) challenge.swap(challenge_);
  expire_routes();
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto route_it = std::find_if(routes_.begin(), routes_.end(),
                               [&](const PendingRoute& r) { return r.id == *id && !r.handoff; });
  if (route_it == routes_.end())
    co_return perr(ErrorCode::kNotFound, "no such route on this connection, or it expired");
  if (role_ == Role::kAnonymous && !req.vault)
    co_return perr(ErrorCode::kBadField, "vault: required to open a case without a vault login");
  if (role_ == Role::kSurvivor && req.vault)
    co_return perr(ErrorCode::kBadField, "vault: not allowed once logged into a vault");
  // A new vault's login key becomes the survivor's identity for every later
  // check (send, ack, delete_case, delivery), and it is public: the caller
  // must prove it holds the key, for this challenge, case and login id.
  if (req.vault) {
    if (!challenge) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
    auto key = crypto::SigningPublicKey::from(req.vault->login_key);
    auto sig = crypto::Signature::from(req.vault->signature);
    if (!key.is_ok() || !sig.is_ok() ||
        !crypto::verify_open_case(*key, *challenge, req.case_id, req.vault->login_id, *sig).is_ok())
      co_return perr(ErrorCode::kAuthFailed, "vault: the login key proof does not verify");
  }

  std::vector<Copy> copies;
  if (auto bad = match_copies(*route_it, req.intake, copies)) co_return *bad;

  const bool new_vault = req.vault.has_value();
  Bytes login_id = new_vault ? req.vault->login_id : login_id_;
  Bytes login_key = new_vault ? req.vault->login_key : login_key_;
  if (!services_.hub.reserve_case_slot(login_key, services_.config.limits.max_open_cases_per_vault))
    co_return perr(ErrorCode::kLimitExceeded, "this vault has as many open cases as allowed");
  // The waiting room's cap holds at commit: a place is held until the case
  // is in (the route stays usable until its TTL, to try again).
  RelayHub::PlaceHold place = services_.hub.hold_place(route_it->envelope);
  if (!place) {
    services_.hub.release_case_slot(login_key);
    co_return room_full();
  }

  UnixSeconds now = services_.clock.now();
  const triage::Decision& decision = route_it->decision;
  CaseRecord record;
  record.queue = route_it->queue;
  record.vault_login_key = login_key;
  for (const auto& c : copies) record.offers.push_back(c.party);
  CaseRouting routing;
  routing.envelope = route_it->envelope;
  routing.rules_version = decision.rules_version;
  routing.filter = decision.placement.filter == triage::kDefaultChain
                       ? 0xffffffffU
                       : static_cast<std::uint32_t>(decision.placement.filter);
  routing.target = static_cast<std::uint32_t>(decision.placement.target);
  routing.arrived = to_minute(route_it->routed_at);
  record.routing = routing;
  const UnixSeconds arrived = route_it->routed_at;
  Bytes fields = encode_case_record(record);
  std::size_t bytes = new_vault ? req.vault->blob.size() : 0;
  for (const auto& c : copies) bytes += c.body.size();

  struct Opened {
    std::int64_t vault_version = 0;
    std::vector<std::int64_t> seqs;
  };
  Verdict verdict = make_verdict();
  const std::vector<PrekeyReservations::Held> reserved = route_it->reserved;
  auto job = [id = *id, fields, vault = req.vault, login_id, copies, now, verdict,
              reserved](Stores& s) -> Result<Opened> {
    Opened out;
    if (vault) {
      Status st = s.vaults.create(vault->login_id, vault->login_key, vault->blob);
      if (st.code() == Code::kAlreadyExists) {
        *verdict = perr(ErrorCode::kConflict, "vault: this login id is taken");
      } else if (st.code() == Code::kConflict) {
        // Only the key's holder gets here (the proof above): no one learns
        // of another's vault.
        *verdict = perr(ErrorCode::kConflict, "vault: this login key has a vault; log into it");
      } else if (st.code() == Code::kInvalidArgument || st.code() == Code::kLimitExceeded) {
        *verdict = perr(ErrorCode::kBadField, "vault: login id or blob out of range");
      }
      HEARTH_TRY(st);
      out.vault_version = 1;
    } else {
      auto v = s.vaults.get(login_id);
      if (v.status().code() == Code::kNotFound)
        *verdict = perr(ErrorCode::kNotFound, "vault: it was deleted");
      if (!v.is_ok()) return v.status();
      out.vault_version = v->version;
    }
    HEARTH_TRY(s.cases.create(id, fields, now));
    // The one-time prekeys the copies were sealed to go now, with the case.
    HEARTH_TRY(consume_prekeys(s, reserved, copies));
    for (const auto& c : copies) {
      HEARTH_ASSIGN_OR_RETURN(
          std::int64_t seq,
          s.envelopes.put(responder_mailbox(id, c.party.responder_id), c.body, now));
      out.seqs.push_back(seq);
    }
    return out;
  };
  auto opened = co_await write_job(job, bytes);
  if (!opened.is_ok()) {
    services_.hub.release_case_slot(login_key);
    co_return verdict->has_value() ? **verdict : storage_failure(opened.status());
  }
  UnixSeconds minute = to_minute(now);
  OpenCase opened_case{*id, 1, minute, record};
  services_.hub.add_case(opened_case);
  services_.hub.release_case_slot(login_key);
  for (const auto& h : reserved) {
    if (std::any_of(copies.begin(), copies.end(),
                    [&](const Copy& c) { return c.party.responder_id == h.responder_id; }))
      services_.metrics.prekeys_consumed.fetch_add(1);
  }
  // The route goes; its reservations end (the used prekeys are deleted).
  drop_routes([&](const PendingRoute& r) { return r.id == *id; });
  services_.metrics.messages_relayed.fetch_add(copies.size());
  if (new_vault) {
    role_ = Role::kSurvivor;
    login_id_ = login_id;
    login_key_ = login_key;
  }
  watch(survivor_mailbox(*id), *id, /*responder_side=*/false, /*fetch_backlog=*/false);
  // The case waits from before the reply, so a responder told of it can take
  // it at once. The intake copies wait in their mailboxes: each is pushed
  // only to the responder take_next hands the case to.
  services_.hub.track_case(opened_case, arrived);
  after_reply_.push_back([this, new_vault] {
    if (new_vault) services_.hub.register_survivor(login_key_, shared_from_this());
    cases_changed();
    services_.hub.refresh();
  });
  co_return ok(protocol::OpenCaseReply{opened->vault_version});
}

// challenge: anyone; replaces the previous one.
asio::awaitable<Connection::Outcome> Connection::on_challenge(const protocol::ChallengeRequest&) {
  challenge_ = crypto::random_bytes(protocol::kChallengeBytes);
  co_return ok(protocol::ChallengeReply{*challenge_});
}

// vault_login: anonymous.
asio::awaitable<Connection::Outcome> Connection::on_vault_login(
    const protocol::VaultLoginRequest& req) {
  if (auto e = require_anonymous()) co_return *e;
  if (!challenge_) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
  // Single use: a failed attempt spends it too, so each guess costs a round trip.
  Bytes challenge = std::move(*challenge_);
  challenge_.reset();
  // Past the server-wide budget for failures, no storage read and no
  // signature check: the client tries again shortly.
  FailedLoginBudget& budget = services_.vault_login_failures;
  if (auto refused = login_allowed(budget)) co_return *refused;
  Outcome outcome = co_await vault_login_attempt(req, challenge);
  if (auto* e = std::get_if<ProtocolError>(&outcome)) login_failed(budget, *e);
  co_return outcome;
}

asio::awaitable<Connection::Outcome> Connection::vault_login_attempt(
    const protocol::VaultLoginRequest& req, const Bytes& challenge) {
  auto get = [login_id = req.login_id](Stores& s) { return s.vaults.get(login_id); };
  auto vault = co_await read_job(get);
  // No such vault and a bad signature answer alike: the reply must not say
  // whether a login id exists.
  const ProtocolError failed = perr(ErrorCode::kAuthFailed, "vault login failed");
  if (!vault.is_ok()) {
    if (vault.status().code() == Code::kNotFound || vault.status().code() == Code::kInvalidArgument)
      co_return failed;
    co_return storage_failure(vault.status());
  }
  auto key = crypto::SigningPublicKey::from(vault->login_public_key);
  auto sig = crypto::Signature::from(req.signature);
  if (!key.is_ok() || !sig.is_ok() ||
      !crypto::verify_login_challenge(*key, challenge, *sig).is_ok())
    co_return failed;

  role_ = Role::kSurvivor;
  login_id_ = req.login_id;
  login_key_ = vault->login_public_key;
  protocol::VaultLoginReply reply;
  reply.version = vault->version;
  reply.blob = std::move(vault->blob);
  for (const auto& c : services_.hub.cases_of_vault(login_key_)) {
    protocol::CaseSummary summary;
    summary.case_id.assign(c.id.bytes.begin(), c.id.bytes.end());
    summary.queue = c.record.queue;
    if (c.record.claimed_by) summary.claimed_by = c.record.claimed_by->certificate_hash;
    summary.handoff_queue = c.record.handoff_queue;
    summary.closed = c.record.closed;
    reply.cases.push_back(std::move(summary));
  }
  after_reply_.push_back([this] {
    // Register first, then fetch: anything committed before registering is in
    // the backlog; anything after is pushed live (the cursor merges the two).
    services_.hub.register_survivor(login_key_, shared_from_this());
    for (const auto& c : services_.hub.cases_of_vault(login_key_))
      watch(survivor_mailbox(c.id), c.id, /*responder_side=*/false, /*fetch_backlog=*/true);
    services_.hub.refresh();
  });
  co_return ok(std::move(reply));
}

// vault_get: survivor.
asio::awaitable<Connection::Outcome> Connection::on_vault_get(const protocol::VaultGetRequest&) {
  if (auto e = require_survivor()) co_return *e;
  auto get = [login_id = login_id_](Stores& s) { return s.vaults.get(login_id); };
  auto vault = co_await read_job(get);
  if (!vault.is_ok()) {
    if (vault.status().code() == Code::kNotFound)
      co_return perr(ErrorCode::kNotFound, "vault: it was deleted");
    co_return storage_failure(vault.status());
  }
  co_return ok(protocol::VaultGetReply{vault->version, std::move(vault->blob)});
}

// vault_put: survivor.
asio::awaitable<Connection::Outcome> Connection::on_vault_put(
    const protocol::VaultPutRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  Verdict verdict = make_verdict();
  std::size_t bytes = req.put.blob.size();
  auto put_job = [login_id = login_id_, put = req.put, verdict](Stores& s) -> Result<std::int64_t> {
    auto v = s.vaults.put(login_id, put.version, put.blob);
    if (!v.is_ok()) {
      switch (v.status().code()) {
        case Code::kConflict:
          *verdict = perr(ErrorCode::kConflict, "vault: the version moved on; get and merge");
          break;
        case Code::kNotFound:
          *verdict = perr(ErrorCode::kNotFound, "vault: it was deleted");
          break;
        case Code::kLimitExceeded:
          *verdict = perr(ErrorCode::kBadField, "blob: too large");
          break;
        default:
          break;
      }
    }
    return v;
  };
  auto version = co_await write_job(put_job, bytes);
  if (!version.is_ok())
    co_return verdict->has_value() ? **verdict : storage_failure(version.status());
  co_return ok(protocol::VaultPutReply{*version});
}

// send: survivor (to the responder who claimed the case) or responder (to the
// survivor of a case they claimed).
asio::awaitable<Connection::Outcome> Connection::on_send(const protocol::SendRequest& req) {
  if (role_ == Role::kAnonymous) co_return perr(ErrorCode::kNotAuthenticated, "log in first");
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  if (role_ == Role::kResponder && req.vault)
    co_return perr(ErrorCode::kForbidden, "vault: survivors only");
  // Whose the case is comes first: `closed` is for the case's own parties.
  auto c = services_.hub.get_case(*id);
  if (!c) co_return no_such_case();
  const bool mine =
      role_ == Role::kSurvivor
          ? c->record.vault_login_key == login_key_
          : c->record.claimed_by && c->record.claimed_by->responder_id == responder_id_;
  if (!mine) co_return no_such_case();
  if (c->record.closed) co_return perr(ErrorCode::kClosed, "the responder closed this case");

  MailboxId target;
  std::string to_responder;  // set when the recipient is a responder
  if (role_ == Role::kSurvivor) {
    if (!c->record.claimed_by)
      co_return perr(ErrorCode::kNotClaimed, "no responder has taken this case yet");
    to_responder = c->record.claimed_by->responder_id;
    target = responder_mailbox(*id, to_responder);
  } else {
    target = survivor_mailbox(*id);
  }

  struct Sent {
    std::int64_t seq = 0;
    std::optional<std::int64_t> vault_version;
  };
  Verdict verdict = make_verdict();
  UnixSeconds now = services_.clock.now();
  std::size_t bytes = req.body.size() + (req.vault ? req.vault->blob.size() : 0);
  std::int64_t max_pending = services_.config.limits.max_pending_per_mailbox;
  auto job = [id = *id, target, body = req.body, vault = req.vault, login_id = login_id_, now,
              max_pending, verdict](Stores& s) -> Result<Sent> {
    // The case may have been deleted since the check above: nothing may be
    // stored for a mailbox that delete_case already dropped.
    auto row = s.cases.get(id);
    if (row.status().code() == Code::kNotFound) *verdict = no_such_case();
    if (!row.is_ok()) return row.status();
    HEARTH_ASSIGN_OR_RETURN(std::int64_t pending, s.envelopes.pending(target));
    if (pending >= max_pending) {
      *verdict = perr(ErrorCode::kLimitExceeded, "the recipient's mailbox is full");
      return error(Code::kLimitExceeded, "mailbox full");
    }
    Sent out;
    HEARTH_ASSIGN_OR_RETURN(out.seq, s.envelopes.put(target, body, now));
    if (vault) {
      // In the same job: the message and the vault that records it commit
      // together or not at all.
      auto v = s.vaults.put(login_id, vault->version, vault->blob);
      if (v.status().code() == Code::kConflict)
        *verdict = perr(ErrorCode::kConflict, "vault: the version moved on; get and merge");
      else if (v.status().code() == Code::kNotFound)
        *verdict = perr(ErrorCode::kNotFound, "vault: it was deleted");
      else if (v.status().code() == Code::kLimitExceeded)
        *verdict = perr(ErrorCode::kBadField, "vault.blob: too large");
      if (!v.is_ok()) return v.status();
      out.vault_version = *v;
    }
    return out;
  };
  auto sent = co_await write_job(job, bytes);
  if (!sent.is_ok()) co_return verdict->has_value() ? **verdict : storage_failure(sent.status());
  services_.metrics.messages_relayed.fetch_add(1);

  // Committed: only now is it pushed to the recipient.
  auto d = std::make_shared<Delivery>(
      Delivery{target, *id, sent->seq, !to_responder.empty(), req.body, to_minute(now)});
  if (!to_responder.empty()) {
    services_.hub.deliver_to_responder(to_responder, d);
  } else {
    services_.hub.deliver_to_vault(c->record.vault_login_key, d);
  }
  co_return ok(protocol::SendReply{sent->seq, sent->vault_version});
}

// ack: survivor or responder, for their own mailbox of the case.
asio::awaitable<Connection::Outcome> Connection::on_ack(const protocol::AckRequest& req) {
  if (role_ == Role::kAnonymous) co_return perr(ErrorCode::kNotAuthenticated, "log in first");
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c) co_return no_such_case();
  MailboxId mailbox;
  if (role_ == Role::kSurvivor) {
    if (c->record.vault_login_key != login_key_) co_return no_such_case();
    mailbox = survivor_mailbox(*id);
  } else {
    if (!c->record.claimed_by || c->record.claimed_by->responder_id != responder_id_)
      co_return no_such_case();
    mailbox = responder_mailbox(*id, responder_id_);
  }
  auto ack = [mailbox, seq = req.seq](Stores& s) { return s.envelopes.ack(mailbox, seq); };
  auto acked = co_await write_job(ack);
  if (!acked.is_ok()) co_return storage_failure(acked.status());
  co_return ok(protocol::AckReply{});
}

// delete_case: survivor, for a case of their vault.
asio::awaitable<Connection::Outcome> Connection::on_delete_case(
    const protocol::DeleteCaseRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c || c->record.vault_login_key != login_key_) co_return no_such_case();
  const bool last = services_.hub.cases_of_vault(login_key_).size() <= 1;
  std::vector<MailboxId> mailboxes{survivor_mailbox(*id)};
  for (const auto& offer : c->record.offers)
    mailboxes.push_back(responder_mailbox(*id, offer.responder_id));
  auto remove = [id = *id, mailboxes, last, login_id = login_id_](Stores& s) -> Status {
    HEARTH_TRY(s.cases.remove(id));
    for (const auto& m : mailboxes) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    if (last) HEARTH_TRY(s.vaults.remove(login_id));
    return Status::ok();
  };
  Status done = co_await write_job(remove);
  if (!done.is_ok()) co_return storage_failure(done);
  auto removed = services_.hub.remove_case(*id);
  services_.hub.untrack_case(*id);
  unwatch_case(*id);
  after_reply_.push_back([this] { cases_changed(); });
  if (removed) {
    after_reply_.push_back([this, id = *id, holder = removed->record.claimed_by] {
      constexpr auto kDeleted = protocol::CloseReason::kDeleted;
      if (holder) {
        services_.hub.for_responder(holder->responder_id,
                                    [&](Peer& p) { p.push_case_closed(id, kDeleted); });
      }
      services_.hub.for_vault(login_key_, [&](Peer& p) {
        if (&p != this) p.push_case_closed(id, kDeleted);
      });
      services_.hub.refresh();
    });
  }
  co_return ok(protocol::DeleteCaseReply{});
}

// responder_login: anonymous.
asio::awaitable<Connection::Outcome> Connection::on_responder_login(
    const protocol::ResponderLoginRequest& req) {
  if (auto e = require_anonymous()) co_return *e;
  if (!challenge_) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
  Bytes challenge = std::move(*challenge_);
  challenge_.reset();
  // Past the server-wide budget for failures, no signature check at all.
  FailedLoginBudget& budget = services_.responder_login_failures;
  if (auto refused = login_allowed(budget)) co_return *refused;
  Outcome outcome = co_await responder_login_attempt(req, challenge);
  if (auto* e = std::get_if<ProtocolError>(&outcome)) login_failed(budget, *e);
  co_return outcome;
}

std::optional<ProtocolError> Connection::login_allowed(FailedLoginBudget& budget) {
  // A connection's first attempt and its later ones have separate budgets, so
  // a storm on kept connections cannot refuse a fresh connection's first try.
  if (budget.allow(login_failures_ > 0, std::chrono::steady_clock::now().time_since_epoch()))
    return std::nullopt;
  (&budget == &services_.responder_login_failures ? services_.metrics.responder_logins_rate_limited
                                                  : services_.metrics.vault_logins_rate_limited)
      .fetch_add(1);
  // A refusal counts toward the connection's limit like a failure: spinning
  // on one connection ends in its close all the same.
  count_login_failure();
  return perr(ErrorCode::kRateLimited, "too many failed logins right now; try again shortly");
}

void Connection::login_failed(FailedLoginBudget& budget, const ProtocolError& e) {
  // A storage failure is the server's, not a guess.
  if (e.code == ErrorCode::kInternal || e.code == ErrorCode::kUnavailable) return;
  budget.spend(login_failures_ > 0, std::chrono::steady_clock::now().time_since_epoch());
  (&budget == &services_.responder_login_failures ? services_.metrics.responder_login_failures
                                                  : services_.metrics.vault_login_failures)
      .fetch_add(1);
  count_login_failure();
}

void Connection::count_login_failure() {
  if (++login_failures_ <= services_.config.limits.login_failures_per_connection) return;
  // Past the limit: the reply goes out, then the connection closes, so each
  // further guess costs a new connection.
  services_.metrics.login_failure_closes.fetch_add(1);
  log::logger().info("login_failures_closed", {{"failures", login_failures_}});
  after_reply_.push_back([this] { begin_close(kClosePolicyViolation, /*flush=*/true); });
}

asio::awaitable<Connection::Outcome> Connection::responder_login_attempt(
    const protocol::ResponderLoginRequest& req, const Bytes& challenge) {
  auto cert = crypto::ResponderCertificate::decode(req.certificate);
  if (!cert.is_ok())
    co_return perr(ErrorCode::kBadField, "certificate: not a responder certificate");
  Bytes hash = cert->hash();
  auto roster = services_.hub.roster();
  const auto& v = roster->verified;
  UnixSeconds now = services_.clock.now();
  // Revocation first: a revoked certificate may still be listed on a queue.
  if (v.is_revoked(hash)) co_return perr(ErrorCode::kRevoked, "this certificate is revoked");
  if (v.queues_of(hash).empty())
    co_return perr(ErrorCode::kNotOnRoster, "this certificate is not on the current roster");
  // The certificate's signature is checked once per roster (RelayHub).
  bool cached = false;
  Status checked =
      services_.hub.check_certificate(*roster, *cert, hash, now, std::nullopt, &cached);
  if (cached) services_.metrics.certificate_checks_cached.fetch_add(1);
  if (!checked.is_ok()) {
    switch (checked.code()) {
      case Code::kExpired:
        co_return perr(ErrorCode::kCertificateExpired, "the certificate is outside its validity");
      case Code::kNotFound:
        co_return perr(ErrorCode::kNotOnRoster, "this certificate is not on the current roster");
      default:
        co_return perr(ErrorCode::kAuthFailed, "the certificate does not verify");
    }
  }
  auto sig = crypto::Signature::from(req.signature);
  if (!sig.is_ok() || !crypto::verify_responder_login(*cert, challenge, *sig).is_ok())
    co_return perr(ErrorCode::kAuthFailed, "the login signature does not verify");

  std::string rid = cert->fields.responder_id;
  struct Held {
    std::int64_t one_time_prekeys = 0;
    bool has_signed_prekey = false;
  };
  auto store_cert = [rid, encoded = req.certificate](Stores& s) -> Result<Held> {
    HEARTH_TRY(s.roster.put_certificate(as_bytes(rid), encoded));
    Held out;
    HEARTH_ASSIGN_OR_RETURN(out.one_time_prekeys, s.prekeys.one_time_prekey_count(as_bytes(rid)));
    auto spk = s.prekeys.current_signed_prekey(as_bytes(rid));
    if (!spk.is_ok() && spk.status().code() != Code::kNotFound) return spk.status();
    out.has_signed_prekey = spk.is_ok();
    return out;
  };
  auto held = co_await write_job(store_cert);
  if (!held.is_ok()) co_return storage_failure(held.status());

  role_ = Role::kResponder;
  responder_id_ = rid;
  certificate_hash_ = hash;
  certificate_ = *cert;
  services_.hub.remember_certificate(KnownCertificate{*cert, req.certificate, hash});
  protocol::ResponderLoginReply reply;
  reply.responder_id = rid;
  reply.queues = v.queues_of(hash);
  reply.roster = roster->encoded;
  reply.outcomes = services_.hub.rules().outcomes;
  reply.one_time_prekeys = held->one_time_prekeys;
  reply.has_signed_prekey = held->has_signed_prekey;
  after_reply_.push_back([this] {
    services_.hub.register_responder(responder_id_, shared_from_this());
    services_.hub.responder_online(responder_id_);
    for (const auto& c : services_.hub.cases_of_responder(responder_id_))
      watch(responder_mailbox(c.id, responder_id_), c.id, /*responder_side=*/true,
            /*fetch_backlog=*/true);
    services_.hub.refresh();
  });
  co_return ok(std::move(reply));
}

// upload_prekeys: responder; every prekey signed by the certificate's key.
asio::awaitable<Connection::Outcome> Connection::on_upload_prekeys(
    const protocol::UploadPrekeysRequest& req) {
  if (auto e = require_responder()) co_return *e;
  const auto& signing_key = certificate_->fields.signing_key;
  UnixSeconds now = services_.clock.now();
  std::optional<storage::PrekeyRecord> spk;
  if (req.signed_prekey) {
    auto parsed = crypto::SignedPrekey::decode(*req.signed_prekey);
    if (!parsed.is_ok()) co_return perr(ErrorCode::kBadField, "signed_prekey: not a signed prekey");
    if (!crypto::verify_signature(signing_key, parsed->signed_part(), parsed->signature).is_ok())
      co_return perr(ErrorCode::kAuthFailed, "signed_prekey: the signature does not verify");
    if (parsed->expires_at <= now) co_return perr(ErrorCode::kBadField, "signed_prekey: expired");
    spk = storage::PrekeyRecord{parsed->id, *req.signed_prekey};
  }
  std::vector<storage::PrekeyRecord> opks;
  for (const auto& bytes : req.one_time_prekeys) {
    auto parsed = crypto::OneTimePrekey::decode(bytes);
    if (!parsed.is_ok())
      co_return perr(ErrorCode::kBadField, "one_time_prekeys: not a one-time prekey");
    if (!crypto::verify_signature(signing_key, parsed->signed_part(), parsed->signature).is_ok())
      co_return perr(ErrorCode::kAuthFailed, "one_time_prekeys: a signature does not verify");
    opks.push_back({parsed->id, bytes});
  }
  Verdict verdict = make_verdict();
  auto store = [rid = responder_id_, spk, opks, now, verdict](Stores& s) -> Result<std::int64_t> {
    if (spk) HEARTH_TRY(s.prekeys.put_signed_prekey(as_bytes(rid), *spk, now));
    if (!opks.empty()) {
      Status st = s.prekeys.add_one_time_prekeys(as_bytes(rid), opks);
      if (st.code() == Code::kAlreadyExists)
        *verdict = perr(ErrorCode::kConflict, "one_time_prekeys: an id is already stored");
      else if (st.code() == Code::kLimitExceeded)
        *verdict = perr(ErrorCode::kLimitExceeded, "one_time_prekeys: over the server's limit");
      HEARTH_TRY(st);
    }
    return s.prekeys.one_time_prekey_count(as_bytes(rid));
  };
  auto count = co_await write_job(store);
  if (!count.is_ok()) co_return verdict->has_value() ? **verdict : storage_failure(count.status());
  co_return ok(protocol::UploadPrekeysReply{*count});
}

// presence: responder; kept in memory for routing (docs/routing.md).
asio::awaitable<Connection::Outcome> Connection::on_presence(const protocol::PresenceRequest& req) {
  if (auto e = require_responder()) co_return *e;
  if (req.capacity < 1 || req.capacity > 50)
    co_return perr(ErrorCode::kBadField, "capacity: must be between 1 and 50");
  services_.hub.set_presence(responder_id_, PresenceState{req.status, req.capacity});
  after_reply_.push_back([this] { services_.hub.refresh(); });
  co_return ok(protocol::PresenceReply{});
}

Result<OpenCase> Connection::own_case(const Bytes& req_id, ProtocolError* denied) const {
  auto id = case_id_of(req_id);
  if (!id.is_ok()) {
    *denied = perr(ErrorCode::kBadField, "case: wrong length");
    return id.status();
  }
  // Not there and not yours answer alike (no_such_case), and before `closed`.
  auto c = services_.hub.get_case(*id);
  const bool mine =
      c && (role_ == Role::kSurvivor
                ? c->record.vault_login_key == login_key_
                : c->record.claimed_by && c->record.claimed_by->responder_id == responder_id_);
  if (!mine) {
    *denied = no_such_case();
    return error(Code::kNotFound, "no such case");
  }
  if (c->record.closed) {
    *denied = perr(ErrorCode::kClosed, "the responder closed this case");
    return error(Code::kConflict, "closed");
  }
  return *c;
}

asio::awaitable<std::optional<ProtocolError>> Connection::update_case(const OpenCase& c,
                                                                      const CaseRecord& record,
                                                                      const StorageStep& extra) {
  Verdict verdict = make_verdict();
  UnixSeconds now = services_.clock.now();
  auto update = [id = c.id, expected = c.version, fields = encode_case_record(record), extra, now,
                 verdict](Stores& s) -> Result<std::int64_t> {
    auto v = s.cases.update(id, expected, fields, now);
    if (v.status().code() == Code::kConflict)
      *verdict = perr(ErrorCode::kConflict, "the case changed meanwhile; try again");
    else if (v.status().code() == Code::kNotFound)
      *verdict = no_such_case();
    if (!v.is_ok()) return v.status();
    if (extra) HEARTH_TRY(extra(s));
    return v;
  };
  auto version = co_await write_job(update);
  if (!version.is_ok()) {
    if (verdict->has_value()) co_return **verdict;
    co_return storage_failure(version.status());
  }
  services_.hub.update_case(c.id, *version, record);
  co_return std::nullopt;
}

// take_next: responder. The dispatcher picks (exclusively, in memory), then
// the claim commits; if it cannot, the case goes back to waiting.
asio::awaitable<Connection::Outcome> Connection::on_take_next(const protocol::TakeNextRequest&) {
  if (auto e = require_responder()) co_return *e;
  auto view = services_.hub.responder_view(responder_id_);
  if (view && !view->available)
    co_return perr(ErrorCode::kForbidden, "you are away: set presence to available first");
  if (view && view->load >= view->capacity)
    co_return perr(ErrorCode::kLimitExceeded,
                   "you hold as many cases as your capacity; close one or raise it");
  protocol::TakeNextReply reply;
  auto taken = services_.hub.take_next(responder_id_);
  if (!taken) co_return ok(std::move(reply));
  auto id = CaseId::from(taken->key);
  std::optional<OpenCase> c;
  if (id.is_ok()) c = services_.hub.get_case(*id);
  const CaseParty* offer = c ? c->record.offer_for(responder_id_) : nullptr;
  if (offer == nullptr) {
    // The dispatcher only hands out cases offered to this responder whose
    // record exists; anything else is a bug. Drop it from the room.
    if (id.is_ok()) services_.hub.untrack_case(*id);
    log::logger().error("take_next_inconsistent");
    co_return perr(ErrorCode::kInternal, "internal error");
  }
  CaseRecord record = c->record;
  record.claimed_by = *offer;
  record.queue = taken->queue;  // where it was taken, after any escalation
  std::vector<MailboxId> others;
  for (const auto& o : record.offers) {
    if (o.responder_id != responder_id_) others.push_back(responder_mailbox(*id, o.responder_id));
  }
  // The other responders' intake copies were never delivered: they go now.
  StorageStep drop_others = [others](Stores& s) -> Status {
    for (const auto& m : others) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    return Status::ok();
  };
  auto failed = co_await update_case(*c, record, drop_others);
  if (failed) {
    services_.hub.untake(*c);
    services_.hub.refresh();
    co_return *failed;
  }
  const triage::Rules rules = services_.hub.rules();
  protocol::TakenCase out;
  out.case_id = taken->key;
  out.queue = taken->queue;
  out.priority_class = taken->priority_class < rules.classes.size()
                           ? rules.classes[taken->priority_class].name
                           : std::string("unknown");
  out.envelope = taken->envelope;
  out.interpreter = taken->interpreter;
  out.waited_s = taken->waited;
  after_reply_.push_back([this, id = *id, record] {
    // The intake copy (seq 1 of this responder's mailbox) comes from storage.
    watch(responder_mailbox(id, responder_id_), id, /*responder_side=*/true,
          /*fetch_backlog=*/true);
    const CaseParty& by = *record.claimed_by;
    services_.hub.for_vault(record.vault_login_key, [&](Peer& p) {
      p.push_case_claimed(id, by.certificate_hash, by.responder_id);
    });
    services_.hub.refresh();
  });
  reply.taken = std::move(out);
  co_return ok(std::move(reply));
}

// handoff: responder, for a case they hold.
asio::awaitable<Connection::Outcome> Connection::on_handoff(const protocol::HandoffRequest& req) {
  if (auto e = require_responder()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  auto queues = services_.hub.rules().queues();
  if (std::find(queues.begin(), queues.end(), req.queue) == queues.end())
    co_return perr(ErrorCode::kBadField, "queue: not a queue of the routing rules");
  if (req.queue == c->record.queue)
    co_return perr(ErrorCode::kBadField, "queue: the case is already in this queue");
  // The survivor is asked only when someone else could take it there.
  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  auto current = services_.hub.current_certificates();
  if (std::none_of(current.begin(), current.end(), [&](const KnownCertificate& k) {
        return k.certificate.fields.responder_id != responder_id_ &&
               roster->verified.check_certificate(k.certificate, now, req.queue).is_ok();
      }))
    co_return perr(ErrorCode::kNoResponder, "nobody else can take cases in that queue");
  CaseRecord record = c->record;
  record.handoff_queue = req.queue;
  StorageStep none;
  auto failed = co_await update_case(*c, record, none);
  if (failed) co_return *failed;
  after_reply_.push_back([this, id = c->id, record] {
    protocol::HandoffProposedEvent event{Bytes(id.bytes.begin(), id.bytes.end()),
                                         *record.handoff_queue};
    services_.hub.for_vault(record.vault_login_key, [&](Peer& p) { p.push_event(event); });
  });
  co_return ok(protocol::HandoffReply{});
}

// handoff_offer: survivor, for their case with a handoff proposed.
asio::awaitable<Connection::Outcome> Connection::on_handoff_offer(
    const protocol::HandoffOfferRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  if (!c->record.handoff_queue || !c->record.routing)
    co_return perr(ErrorCode::kNotFound, "no handoff is proposed for this case");
  expire_routes();
  drop_routes([&](const PendingRoute& r) { return r.id == c->id; });
  if (routes_.size() >= services_.config.limits.max_routes_per_connection)
    co_return perr(ErrorCode::kLimitExceeded, "too many unused routes on this connection");
  const std::string& queue = *c->record.handoff_queue;
  const auto& envelope = c->record.routing->envelope;
  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  // While an offer for this case and queue is pending (asked on any of the
  // vault's connections), it is the answer again: asking twice reserves
  // nothing new.
  auto pending = services_.reservations.handoff_offer(c->id, queue, now);
  if (!pending) {
    auto made = co_await make_handoff_offer(*c, queue, now);
    if (auto* e = std::get_if<ProtocolError>(&made)) co_return *e;
    pending = std::move(std::get<PrekeyReservations::HandoffOffer>(made));
  }
  PendingRoute route;
  route.id = c->id;
  route.handoff = true;
  route.offer_token = pending->token;
  route.queue = queue;
  route.offers = pending->offers;
  route.expires = pending->expires;
  route.envelope = envelope;
  route.routed_at = now;
  protocol::HandoffOfferReply reply;
  reply.queue = queue;
  reply.roster = roster->encoded;
  reply.bundles = pending->bundles;
  routes_.push_back(std::move(route));
  co_return ok(std::move(reply));
}

asio::awaitable<std::variant<PrekeyReservations::HandoffOffer, ProtocolError>>
Connection::make_handoff_offer(const OpenCase& c, const std::string& queue, UnixSeconds now) {
  using Made = std::variant<PrekeyReservations::HandoffOffer, ProtocolError>;
  auto roster = services_.hub.roster();
  const auto& envelope = c.record.routing->envelope;
  // Everyone the roster lists under the new queue except the responder who
  // proposed it, language matches first.
  std::vector<KnownCertificate> matched;
  std::vector<KnownCertificate> others;
  for (auto& k : services_.hub.current_certificates()) {
    const auto& f = k.certificate.fields;
    if (c.record.claimed_by && f.responder_id == c.record.claimed_by->responder_id) continue;
    if (!services_.hub.check_certificate(*roster, k.certificate, k.hash, now, queue).is_ok())
      continue;
    bool shares = std::any_of(
        envelope.languages.begin(), envelope.languages.end(), [&](const std::string& l) {
          return std::find(f.languages.begin(), f.languages.end(), l) != f.languages.end();
        });
    (shares ? matched : others).push_back(std::move(k));
  }
  for (auto& k : others) matched.push_back(std::move(k));
  if (matched.size() > protocol::kMaxBundles) matched.resize(protocol::kMaxBundles);
  PrekeyReservations::HandoffOffer offer;
  offer.token = services_.reservations.new_token();
  offer.queue = queue;
  offer.expires = now + services_.config.limits.route_ttl.count();
  const UnixSeconds reserved_until = offer.expires + PrekeyReservations::kGrace;
  auto offered = co_await claim_bundles(matched, offer.token, reserved_until);
  if (!offered.is_ok()) co_return Made(storage_failure(offered.status()));
  if (offered->empty())
    co_return Made(perr(ErrorCode::kNoResponder, "nobody can take the proposed queue now"));
  for (auto& o : *offered) {
    offer.offers.push_back(o.party);
    offer.bundles.push_back(std::move(o.bundle));
    if (o.reserved) offer.reserved.push_back(std::move(*o.reserved));
  }
  std::vector<PrekeyReservations::Held> mine = offer.reserved;
  const std::uint64_t token = offer.token;
  auto in_force = services_.reservations.put_handoff_offer(c.id, std::move(offer), now);
  // Another connection of the vault made one meanwhile: theirs stands.
  if (in_force.token != token) services_.reservations.release(mine);
  co_return Made(std::move(in_force));
}

// handoff_accept: survivor, with new intake copies for the offered bundles.
asio::awaitable<Connection::Outcome> Connection::on_handoff_accept(
    const protocol::HandoffAcceptRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  expire_routes();
  auto route_it = std::find_if(routes_.begin(), routes_.end(),
                               [&](const PendingRoute& r) { return r.id == c->id && r.handoff; });
  if (route_it == routes_.end() || !c->record.routing || c->record.handoff_queue != route_it->queue)
    co_return perr(ErrorCode::kNotFound, "no handoff offer on this connection, or it expired");
  std::vector<Copy> copies;
  if (auto bad = match_copies(*route_it, req.intake, copies)) co_return *bad;

  CaseRecord record = c->record;
  std::vector<MailboxId> old_mailboxes;
  for (const auto& o : record.offers)
    old_mailboxes.push_back(responder_mailbox(c->id, o.responder_id));
  const std::optional<CaseParty> old_holder = record.claimed_by;
  record.queue = route_it->queue;
  record.offers.clear();
  for (const auto& copy : copies) record.offers.push_back(copy.party);
  record.claimed_by.reset();
  record.handoff_queue.reset();
  record.routing->forced_queue = route_it->queue;
  UnixSeconds now = services_.clock.now();
  // It waits again: the waiting room's cap holds here too (a case still
  // waiting already has its place).
  RelayHub::PlaceHold place;
  if (old_holder) {
    place = services_.hub.hold_place(record.routing->envelope);
    if (!place) co_return room_full();
  }
  // In the same commit: the old mailboxes go (the old responder's access
  // ends), the new intake copies wait for whoever takes the case next.
  // The offer's reserved prekeys the copies were sealed to go in the commit.
  auto offer = services_.reservations.handoff_offer(c->id, route_it->queue, now);
  if (!offer || offer->token != route_it->offer_token)
    co_return perr(ErrorCode::kNotFound, "no handoff offer on this connection, or it expired");
  StorageStep move = [id = c->id, old_mailboxes, copies, now,
                      reserved = offer->reserved](Stores& s) -> Status {
    HEARTH_TRY(consume_prekeys(s, reserved, copies));
    for (const auto& m : old_mailboxes) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    for (const auto& copy : copies) {
      auto seq = s.envelopes.put(responder_mailbox(id, copy.party.responder_id), copy.body, now);
      if (!seq.is_ok()) return seq.status();
    }
    return Status::ok();
  };
  auto failed = co_await update_case(*c, record, move);
  if (failed) co_return *failed;
  if (auto done = services_.reservations.take_handoff_offer(c->id, offer->token)) {
    services_.reservations.release(done->reserved);
    for (const auto& h : done->reserved) {
      if (std::any_of(copies.begin(), copies.end(),
                      [&](const Copy& cp) { return cp.party.responder_id == h.responder_id; }))
        services_.metrics.prekeys_consumed.fetch_add(1);
    }
  }
  drop_routes([&](const PendingRoute& r) { return r.id == c->id && r.handoff; });
  services_.metrics.messages_relayed.fetch_add(copies.size());
  // It waits in the new queue from before the reply, as a new case does.
  services_.hub.untrack_case(c->id);
  services_.hub.track_case(OpenCase{c->id, 0, c->opened_minute, record});
  after_reply_.push_back([this, id = c->id, old_holder] {
    if (old_holder) {
      services_.hub.for_responder(old_holder->responder_id, [&](Peer& p) {
        p.push_case_closed(id, protocol::CloseReason::kHandedOff);
      });
    }
    services_.hub.refresh();
  });
  co_return ok(protocol::HandoffAcceptReply{});
}

// handoff_decline: survivor.
asio::awaitable<Connection::Outcome> Connection::on_handoff_decline(
    const protocol::HandoffDeclineRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  if (!c->record.handoff_queue)
    co_return perr(ErrorCode::kNotFound, "no handoff is proposed for this case");
  CaseRecord record = c->record;
  record.handoff_queue.reset();
  StorageStep none;
  auto failed = co_await update_case(*c, record, none);
  if (failed) co_return *failed;
  drop_routes([&](const PendingRoute& r) { return r.id == c->id && r.handoff; });
  // The pending offer ends with the proposal: its prekeys go back.
  if (auto done = services_.reservations.take_handoff_offer(c->id, 0))
    services_.reservations.release(done->reserved);
  if (record.claimed_by) {
    after_reply_.push_back([this, id = c->id, holder = record.claimed_by->responder_id] {
      protocol::HandoffDeclinedEvent event{Bytes(id.bytes.begin(), id.bytes.end())};
      services_.hub.for_responder(holder, [&](Peer& p) { p.push_event(event); });
    });
  }
  co_return ok(protocol::HandoffDeclineReply{});
}

// close_case: responder, for a case they hold, with an outcome of the rules.
asio::awaitable<Connection::Outcome> Connection::on_close_case(
    const protocol::CloseCaseRequest& req) {
  if (auto e = require_responder()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  if (!services_.hub.rules().has_outcome(req.outcome))
    co_return perr(ErrorCode::kBadField, "outcome: not an outcome of the routing rules");
  UnixSeconds now = services_.clock.now();
  // What the case shrinks to: one count in a sealed aggregate cell.
  storage::CounterKey cell;
  cell.month = storage::month_of(now);
  cell.outcome = req.outcome;
  if (c->record.routing) {
    cell.need = std::string(protocol::need_name(c->record.routing->envelope.needs.front()));
    cell.language_group = c->record.routing->envelope.languages.front();
  } else {
    cell.need = "unknown";
    cell.language_group = "unknown";
  }
  CaseRecord record = c->record;
  record.closed = true;
  record.routing.reset();
  record.handoff_queue.reset();
  StorageStep close = [mailbox = responder_mailbox(c->id, responder_id_), cell](Stores& s) {
    HEARTH_TRY(s.envelopes.drop_mailbox(mailbox));
    return s.counters.increment(cell);
  };
  auto failed = co_await update_case(*c, record, close);
  if (failed) co_return *failed;
  services_.hub.untrack_case(c->id);
  unwatch_case(c->id);
  after_reply_.push_back([this, id = c->id, login_key = record.vault_login_key] {
    services_.hub.for_vault(
        login_key, [&](Peer& p) { p.push_case_closed(id, protocol::CloseReason::kClosed); });
    services_.hub.refresh();
  });
  co_return ok(protocol::CloseCaseReply{});
}

// queue_health: responders listed under the roster queue "supervisor".
asio::awaitable<Connection::Outcome> Connection::on_queue_health(
    const protocol::QueueHealthRequest&) {
  if (auto e = require_responder()) co_return *e;
  auto queues = services_.hub.roster()->verified.queues_of(certificate_hash_);
  if (std::find(queues.begin(), queues.end(), kSupervisorQueue) == queues.end())
    co_return perr(ErrorCode::kForbidden, "supervisors only");
  protocol::QueueHealthReply reply;
  for (const auto& q : services_.hub.health()) {
    protocol::QueueHealthEntry entry;
    entry.queue = q.queue;
    for (const auto& k : q.classes)
      entry.classes.push_back(
          {k.name, static_cast<std::int64_t>(k.waiting), k.longest_wait, k.target});
    entry.responders_available = static_cast<std::int64_t>(q.responders_available);
    entry.responders_away = static_cast<std::int64_t>(q.responders_away);
    entry.load = q.load;
    entry.capacity = q.capacity;
    reply.queues.push_back(std::move(entry));
  }
  co_return ok(std::move(reply));
}

}  // namespace hearth::server
