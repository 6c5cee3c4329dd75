#include "server/session.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "protocol/codec.h"

namespace hearth::server {

namespace asio = boost::asio;
using storage::CaseId;

namespace {

// How long a closing connection may take to flush and finish the close
// handshake while the server shuts down.
constexpr std::chrono::seconds kShutdownGrace{2};

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

// ---- Lifetime and the write queue ----

Session::Session(Services& services, asio::any_io_executor strand)
    : services_(services),
      strand_(std::move(strand)),
      queue_(services.config.limits.write_queue_frames, services.config.limits.write_queue_bytes),
      feed_(services, strand_, *this),
      client_(services, feed_),
      room_(strand_),
      settled_(strand_),
      stall_timer_(strand_) {}

Session::~Session() = default;

void Session::finished() {
  closed_ = true;
  queue_.drop_held();
  // Whatever this client still reserved goes back at once.
  client_.release();
  room_.cancel_forever();
  stall_timer_.cancel();
  services_.hub.remove_peer(this);
}

void Session::slow_reader() {
  services_.metrics.slow_readers_dropped.fetch_add(1);
  log::logger().warn("slow_reader_dropped",
                     {{"queued_frames", queue_.frames()}, {"queued_bytes", queue_.bytes()}});
  begin_close(kClosePolicyViolation, /*flush=*/false);
}

bool Session::enqueue(std::string frame) {
  if (closing()) return false;
  const bool was_empty = queue_.empty();
  if (!queue_.push(std::move(frame))) {
    slow_reader();
    return false;
  }
  queued(was_empty);
  return true;
}

void Session::queued(bool was_empty) {
  if (was_empty) last_write_progress_ = std::chrono::steady_clock::now();
  wake_writer();
  watch_stall();
}

void Session::queue_envelope(std::string frame) {
  if (enqueue(std::move(frame))) services_.metrics.events_pushed.fetch_add(1);
}

void Session::watch_stall() {
  if (stall_armed_ || closing()) return;
  stall_armed_ = true;
  stall_timer_.expires_at(last_write_progress_ + services_.config.limits.write_stall_timeout);
  std::weak_ptr<Session> weak = weak_from_this();
  stall_timer_.async_wait([weak](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self) return;
    self->stall_armed_ = false;
    if (ec || self->closing() || self->queue_.empty()) return;
    auto stalled = std::chrono::steady_clock::now() - self->last_write_progress_;
    if (stalled < self->services_.config.limits.write_stall_timeout) {
      self->watch_stall();  // progress since: wait out the rest
      return;
    }
    // Frames queued and not one written for the whole timeout: the client
    // stopped reading. Its envelopes stay in storage for its next login.
    self->slow_reader();
  });
}

void Session::begin_close(std::uint16_t code, bool flush) {
  if (closing()) return;
  close_code_ = code;
  if (flush) {
    queue_.drop_held();
  } else {
    // The frame at the front may be in the middle of being written: kept.
    queue_.drop_unsent();
  }
  wake_writer();
  room_.cancel_forever();
  // A peer that does not answer the close (or does not read at all) is cut
  // off: after the handshake timeout, or sooner when the server is shutting
  // down (a drain must end within seconds, not wait on silent clients).
  auto timer = std::make_shared<asio::steady_timer>(strand_);
  timer->expires_after(code == kCloseGoingAway
                           ? std::min<std::chrono::steady_clock::duration>(
                                 services_.config.limits.handshake_timeout, kShutdownGrace)
                           : services_.config.limits.handshake_timeout);
  std::weak_ptr<Session> weak = weak_from_this();
  timer->async_wait([timer, weak](boost::system::error_code) {
    if (auto self = weak.lock(); self && !self->closed_) self->abort_transport();
  });
}

asio::awaitable<void> Session::wait_for_envelope_room() {
  // Room for the largest envelope: the first of the page then fits, unless
  // live pushes took the room meanwhile (and then the pump waits again).
  while (!closing() && !queue_.envelope_room(WriteQueue::kMaxEnvelopeFrameBytes))
    co_await room_.wait();
}

asio::awaitable<void> Session::wait_for_reply_room() {
  // room_ fires once envelopes may flow again (below half), which is always
  // room for a reply too, and when a request in flight is answered.
  while (!closing() &&
         (in_flight_.size() >= max_in_flight() || !queue_.reply_room(in_flight_.size())))
    co_await room_.wait();
}

const std::string* Session::next_frame() const {
  if (queue_.empty() || closed_ || close_sent_) return nullptr;
  return &queue_.front();
}

void Session::mark_close_sent(bool writing) {
  close_sent_ = true;    // again once the front frame's write is done
  queue_.drop_unsent();  // the held events too
  if (!writing && !queue_.empty()) queue_.pop_front();
  room_.cancel_forever();
}

void Session::frame_written() {
  // Held events go out first, into the room the written frame left.
  const std::size_t flushed = queue_.pop_front();
  last_write_progress_ = std::chrono::steady_clock::now();
  if (flushed > 0) {
    services_.metrics.events_pushed.fetch_add(flushed);
    queued(/*was_empty=*/false);
  }
  if (queue_.envelope_room(WriteQueue::kMaxEnvelopeFrameBytes)) room_.notify();
}

void Session::send_event(protocol::Event event) {
  if (closing()) return;
  const std::size_t kind = event.index();
  Bytes case_id = case_of(event);
  std::string frame = protocol::encode(protocol::EventFrame{std::move(event)});
  const bool was_empty = queue_.empty();
  switch (queue_.push_event(kind, std::move(case_id), std::move(frame))) {
    case WriteQueue::EventResult::kQueued:
      services_.metrics.events_pushed.fetch_add(1);
      queued(was_empty);
      return;
    case WriteQueue::EventResult::kHeld:
      services_.metrics.events_held.fetch_add(1);
      return;
    case WriteQueue::EventResult::kTooManyHeld:
      // Hundreds of distinct cases' events unread: this client is not reading.
      services_.metrics.events_held.fetch_add(1);
      services_.metrics.slow_readers_dropped.fetch_add(1);
      log::logger().warn("slow_reader_dropped",
                         {{"queued_frames", queue_.frames()}, {"held_events", queue_.held()}});
      begin_close(kClosePolicyViolation, /*flush=*/false);
      return;
  }
}

// ---- Requests ----

asio::awaitable<std::optional<ClientState::Answer>> Session::handle_text(const std::string& text) {
  auto decoded = client_.decode(text);
  auto* frame = std::get_if<protocol::RequestFrame>(&decoded);
  if (frame != nullptr && ClientState::may_overlap(protocol::op_of(frame->request)) &&
      admit_in_flight(text.size())) {
    // co_spawn starts it through the strand's queue, after the requests read
    // before it: their storage jobs are submitted in request order.
    auto slot = std::make_shared<InFlight>(InFlight{std::move(*frame), text.size(), std::nullopt});
    in_flight_.push_back(slot);
    asio::co_spawn(strand_, run_in_flight(shared_from_this(), slot), asio::detached);
    co_return std::nullopt;
  }
  // A barrier: it sees the effects of every request before it, and its
  // reply follows theirs. (So is a send, ack or vault_put that found no
  // room in flight: its frame stays in the read budget meanwhile.)
  handling_ = true;
  co_await settle();
  if (closing()) {
    // Closed while the requests before it committed (replaced by a newer
    // login, a slow reader): its reply could not go out, so it must not act.
    handling_ = false;
    co_return std::nullopt;
  }
  std::optional<ClientState::Answer> answer;
  if (frame != nullptr) {
    answer = co_await client_.answer(*frame);
  } else {
    answer = std::move(std::get<ClientState::Answer>(decoded));
  }
  handling_ = false;
  co_return answer;
}

asio::awaitable<std::optional<ClientState::Answer>> Session::handle_binary() {
  handling_ = true;  // a shutdown meanwhile waits for this reply
  co_await settle();
  handling_ = false;
  services_.metrics.count_error(protocol::ErrorCode::kMalformed);
  if (closing()) co_return std::nullopt;
  co_return ClientState::Answer{
      protocol::encode(protocol::ReplyFrame{
          std::nullopt,
          protocol::ProtocolError{protocol::ErrorCode::kMalformed, "binary frames are refused"}}),
      {}};
}

bool Session::admit_in_flight(std::size_t bytes) {
  // A frame alone never passes max_frame_bytes (the read limit), so the
  // first request in flight passes the first test.
  const std::size_t total = in_flight_bytes_ + bytes;
  if (total > services_.config.limits.max_frame_bytes || !hold_in_flight(total)) {
    services_.metrics.requests_not_pipelined.fetch_add(1);
    return false;  // the barrier path
  }
  in_flight_bytes_ = total;
  return true;
}

asio::awaitable<void> Session::settle() {
  while (!in_flight_.empty()) co_await settled_.wait();
}

asio::awaitable<void> Session::run_in_flight(std::shared_ptr<Session> self,
                                             std::shared_ptr<InFlight> slot) {
  (void)self;  // keeps the session alive until the answer is in
  try {
    slot->answer = co_await client_.answer(slot->frame);
  } catch (const std::exception&) {
    // answer() catches a handler's exceptions; this is encoding the reply
    // running out of memory. The slot must still be answered, or the reader
    // and the session's end would wait for it forever.
    log::logger().error("in_flight_exception");
    slot->answer = ClientState::Answer{
        protocol::encode(protocol::ReplyFrame{
            slot->frame.id,
            protocol::ProtocolError{protocol::ErrorCode::kInternal, "internal error"}}),
        {}};
  }
  flush_in_flight();
}

void Session::flush_in_flight() {
  while (!in_flight_.empty() && in_flight_.front()->answer) {
    ClientState::Answer answer = std::move(*in_flight_.front()->answer);
    // Its bytes leave the budget before its reply enters it.
    in_flight_bytes_ -= in_flight_.front()->bytes;
    (void)hold_in_flight(in_flight_bytes_);  // a decrease: always taken
    in_flight_.erase(in_flight_.begin());
    send_reply(std::move(answer));
  }
  room_.notify();  // the reader may wait for a place in flight
  if (!in_flight_.empty()) return;
  settled_.notify();
  // Shutting down with the reader idle: the last reply is queued, close now.
  if (draining_ && !handling_) begin_close(kCloseGoingAway, /*flush=*/true);
}

void Session::send_reply(ClientState::Answer answer) {
  enqueue(std::move(answer.reply));
  for (const auto& next : answer.next) apply(next);
}

void Session::tell(Peer& peer, const follow::Notice& notice) {
  if (const auto* claimed = std::get_if<follow::CaseClaimed>(&notice)) {
    peer.push_case_claimed(claimed->case_id, claimed->claimed_by, claimed->responder_id);
  } else if (const auto* closed = std::get_if<follow::CaseClosed>(&notice)) {
    peer.push_case_closed(closed->case_id, closed->reason);
  } else {
    peer.push_event(std::get<protocol::Event>(notice));
  }
}

void Session::apply(const FollowUp& next) {
  RelayHub& hub = services_.hub;
  if (const auto* reg = std::get_if<follow::Register>(&next)) {
    if (client_.is_responder()) {
      const std::string& rid = client_.responder_id();
      hub.register_responder(rid, shared_from_this());
      hub.responder_online(rid);
      if (reg->watch_cases) {
        for (const auto& c : hub.cases_of_responder(rid))
          feed_.watch(responder_mailbox(c.id, rid), c.id, /*responder_side=*/true,
                      /*fetch_backlog=*/true);
      }
    } else {
      hub.register_survivor(client_.login_key(), shared_from_this());
      if (reg->watch_cases) {
        for (const auto& c : hub.cases_of_vault(client_.login_key()))
          feed_.watch(survivor_mailbox(c.id), c.id, /*responder_side=*/false,
                      /*fetch_backlog=*/true);
      }
    }
  } else if (const auto* watch = std::get_if<follow::Watch>(&next)) {
    feed_.watch(watch->mailbox, watch->case_id, watch->responder_side, /*fetch_backlog=*/true);
  } else if (std::holds_alternative<follow::CasesChanged>(next)) {
    cases_changed();
  } else if (std::holds_alternative<follow::RefreshWaitingRoom>(next)) {
    hub.refresh();
  } else if (std::holds_alternative<follow::CloseAfterReply>(next)) {
    begin_close(kClosePolicyViolation, /*flush=*/true);
  } else if (const auto* vault = std::get_if<follow::TellVault>(&next)) {
    hub.for_vault(vault->login_key, [&](Peer& p) {
      if (!vault->skip_self || &p != this) tell(p, vault->notice);
    });
  } else if (const auto* responder = std::get_if<follow::TellResponder>(&next)) {
    hub.for_responder(responder->responder_id, [&](Peer& p) { tell(p, responder->notice); });
  }
}

// ---- Peer ----

void Session::push_delivery(std::shared_ptr<const Delivery> delivery) {
  asio::post(strand_, [self = shared_from_this(), delivery = std::move(delivery)] {
    // Only a party's own mailboxes reach it (the hub routes by party), but a
    // delivery can race a logout-free role check: accept only the right side.
    const ClientState::Role role = self->client_.role();
    if (role == ClientState::Role::kAnonymous) return;
    if ((role == ClientState::Role::kResponder) != delivery->responder_side) return;
    self->feed_.on_delivery(*delivery);
  });
}

void Session::push_case_claimed(const CaseId& case_id, Bytes claimed_by,
                                std::string claimed_responder_id) {
  asio::post(strand_, [self = shared_from_this(), case_id, claimed_by = std::move(claimed_by),
                       rid = std::move(claimed_responder_id)] {
    if (self->client_.is_responder() && self->client_.responder_id() != rid) {
      // Another responder took it: this one's copy is gone, stop watching.
      self->feed_.unwatch_case(case_id);
    }
    self->send_event(
        protocol::CaseClaimedEvent{Bytes(case_id.bytes.begin(), case_id.bytes.end()), claimed_by});
  });
}

void Session::push_case_closed(const CaseId& case_id, protocol::CloseReason reason) {
  asio::post(strand_, [self = shared_from_this(), case_id, reason] {
    // A survivor keeps watching a case its responder closed: the replies
    // sent before the close are still theirs to read.
    if (self->client_.is_responder() || reason != protocol::CloseReason::kClosed)
      self->feed_.unwatch_case(case_id);
    if (self->client_.role() == ClientState::Role::kSurvivor) self->cases_changed();
    self->send_event(
        protocol::CaseClosedEvent{Bytes(case_id.bytes.begin(), case_id.bytes.end()), reason});
  });
}

void Session::push_event(protocol::Event event) {
  asio::post(strand_, [self = shared_from_this(), event = std::move(event)]() mutable {
    if (self->closing()) return;
    self->send_event(std::move(event));
  });
}

void Session::roster_changed(std::shared_ptr<const RosterState> roster) {
  asio::post(strand_, [self = shared_from_this(), roster = std::move(roster)] {
    if (self->client_.roster_admits(*roster)) return;
    log::logger().info("responder_disconnected", {{"reason", "roster"}});
    self->begin_close(kClosePolicyViolation, /*flush=*/false);
  });
}

void Session::shut_down() {
  asio::post(strand_, [self = shared_from_this()] {
    self->draining_ = true;
    // Requests in hand finish first; the reader (or the last request in
    // flight) closes after their replies.
    if (!self->handling()) self->begin_close(kCloseGoingAway, /*flush=*/true);
  });
}

}  // namespace hearth::server
