// Session: one client's WebSocket session — its one bounded write queue
// (server/write_queue.h: the shares, the held events), the stall watchdog,
// the close, its mailbox feed (server/mailbox_feed.h) and its protocol state
// (server/client_state.h). It is the client's Peer: the hub reaches it from
// any thread, and it posts to its strand.
//
// The session is one class split in two only because the stream is a
// template parameter: WsSession<Stream> (ws_session.h) is the transport half
// (HTTP, the upgrade, the read and write loops) and reaches the queue and the
// close state through the methods below only.
//
// How a request flows: the reader waits for reply_room() (a client that does
// not read its replies is not read from), hands the frame to handle_text(),
// queues the reply with send_reply(), which then applies the handler's
// follow-ups (server/follow_up.h) in order. Pipelining (docs/protocol.md):
// up to kMaxRequestsInFlight requests whose ops ClientState::may_overlap()
// (send, ack, vault_put) run together, their replies queued in request order
// as the oldest completes; any other frame is a barrier that first waits
// until none is in flight. How a frame leaves: enqueue()
// (replies), send_event() (events: queued or held), queue_envelope() (the
// feed's envelopes, within envelope room); the writer takes next_frame() and
// calls frame_written(). A client that stops reading is closed (1008,
// slow_reader_dropped) when nothing has been written for
// limits.write_stall_timeout, when its held list would pass
// WriteQueue::kMaxHeldEvents, or past the queue's hard limit.
//
// Thread safety: all state is touched only on the strand. The Peer methods
// may be called from any thread: they post to the strand.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/client_state.h"
#include "server/follow_up.h"
#include "server/mailbox_feed.h"
#include "server/relay_hub.h"
#include "server/services.h"
#include "server/write_queue.h"

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

class Session : public Peer, private FeedOutlet, public std::enable_shared_from_this<Session> {
 public:
  // Requests one session may have in flight at once (send, ack, vault_put):
  // enough for a burst of acks or sends to share one storage commit; past
  // it the reader stops reading until the oldest is answered.
  static constexpr std::size_t kMaxRequestsInFlight = 8;

  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // ---- Peer (any thread) ----
  void push_delivery(std::shared_ptr<const Delivery> delivery) override;
  void push_case_claimed(const storage::CaseId& case_id, Bytes claimed_by,
                         std::string claimed_responder_id) override;
  void push_case_closed(const storage::CaseId& case_id, protocol::CloseReason reason) override;
  void push_event(protocol::Event event) override;
  void roster_changed(std::shared_ptr<const RosterState> roster) override;
  void shut_down() override;

 protected:
  Session(Services& services, boost::asio::any_io_executor strand);

  // ---- For the transport half (strand only) ----
  // Decodes and answers one text frame: the answer to queue now, or nullopt
  // when the request went in flight (its reply is queued, in request order,
  // once it and every request before it are done). A frame that may not
  // overlap waits until none is in flight (handling() meanwhile).
  boost::asio::awaitable<std::optional<ClientState::Answer>> handle_text(const std::string& text);
  // A binary frame: refused (malformed), after the replies of the requests
  // in flight; nullopt when the session closed meanwhile.
  boost::asio::awaitable<std::optional<ClientState::Answer>> handle_binary();
  // Suspends until no request is in flight.
  boost::asio::awaitable<void> settle();
  // Queues `answer`'s reply, then applies its follow-ups in order.
  void send_reply(ClientState::Answer answer);
  // Queues a frame. Returns false (and starts closing with 1008) when the
  // frame would take the queue past write_queue_frames or write_queue_bytes.
  bool enqueue(std::string frame);
  // Starts closing with `code`. flush: send what is queued first (shutdown);
  // otherwise drop it (slow reader, policy). After handshake_timeout the
  // transport is aborted if the close handshake has not finished.
  void begin_close(std::uint16_t code, bool flush);
  // Suspends until a reply fits the queue's last quarter (the reader waits
  // here before reading the next request).
  boost::asio::awaitable<void> wait_for_reply_room();
  // The writer's side: the frame to write next (nullptr: none, closed, or
  // the close frame sent), then frame_written() once it is out.
  // wake_writer() is called when something is queued or the close begins:
  // the transport starts its writer then if none is running (an idle
  // connection keeps no writer alive).
  const std::string* next_frame() const;
  void frame_written();
  virtual void wake_writer() = 0;
  std::size_t queued_bytes() const { return queue_.bytes(); }

  // The close: its code once begun; closed() once the transport is done.
  const std::optional<std::uint16_t>& close_code() const { return close_code_; }
  bool closed() const { return closed_; }
  void mark_closed() { closed_ = true; }
  // A close frame is on its way (the writer's, or the one Beast sends itself
  // answering the peer's close or refusing a message too big), or the
  // stream failed: nothing more is queued or written, and no writer starts.
  // What is queued is dropped, but for the front frame while `writing` (the
  // writer is in the middle of it; it leaves once written). The transport
  // then reports the queue (its bytes leave the byte budget).
  void mark_close_sent(bool writing);
  bool close_sent() const { return close_sent_; }
  bool draining() const { return draining_; }  // shutdown: no new frames are read
  // A request is being handled or is in flight.
  bool handling() const { return handling_ || !in_flight_.empty(); }
  // Most requests unanswered at once: kMaxRequestsInFlight, or fewer when
  // the write queue's reply share is smaller (a small write_queue_frames).
  std::size_t max_in_flight() const {
    return std::max<std::size_t>(1, std::min(kMaxRequestsInFlight, queue_.reply_frames()));
  }

  const ClientState& client() const { return client_; }
  // Closes the socket at once (transport-specific).
  virtual void abort_transport() = 0;
  // A case of this survivor's vault was opened, closed or deleted: the
  // transport tells admission (a full survivor pool takes places from
  // vaults without a live case first).
  virtual void cases_changed() {}
  // The requests in flight hold `bytes` now: the transport tells admission
  // (limits.max_buffered_bytes counts them). False when an increase would
  // pass the budget (nothing changed).
  virtual bool hold_in_flight(std::size_t bytes) = 0;
  // Called when the session ends (both loops done): unregisters from the hub.
  void finished();

  Services& services_;
  const boost::asio::any_io_executor strand_;

 private:
  // ---- FeedOutlet ----
  bool closing() const override { return close_code_.has_value() || closed_ || close_sent_; }
  bool envelope_room(std::size_t bytes) const override { return queue_.envelope_room(bytes); }
  std::size_t envelope_page() const override { return queue_.envelope_page(); }
  void queue_envelope(std::string frame) override;
  boost::asio::awaitable<void> wait_for_envelope_room() override;
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }

  // A frame was queued (`was_empty`: into an empty queue): wake the writer,
  // watch for a stall.
  void queued(bool was_empty);
  // Queues an event that is not an envelope, or holds it.
  void send_event(protocol::Event event);
  void apply(const FollowUp& next);
  // A request in flight, the bytes of its frame, and once done its answer.
  struct InFlight {
    protocol::RequestFrame frame;
    std::size_t bytes = 0;
    std::optional<ClientState::Answer> answer;
  };
  // Whether a request of `bytes` may go in flight now: a place, together at
  // most limits.max_frame_bytes (what one request handled alone may hold),
  // and room in limits.max_buffered_bytes. Takes the bytes when it may.
  bool admit_in_flight(std::size_t bytes);
  boost::asio::awaitable<void> run_in_flight(std::shared_ptr<Session> self,
                                             std::shared_ptr<InFlight> slot);
  // Queues the replies of the oldest requests in flight that are done.
  void flush_in_flight();
  void tell(Peer& peer, const follow::Notice& notice);
  // Arms the write-stall watchdog (limits.write_stall_timeout) if it is not.
  void watch_stall();
  void slow_reader();

  WriteQueue queue_;
  MailboxFeed feed_;
  ClientState client_;
  AsyncSignal room_;
  // In request order; at most kMaxRequestsInFlight (a vector: a deque would
  // allocate even empty).
  std::vector<std::shared_ptr<InFlight>> in_flight_;
  std::size_t in_flight_bytes_ = 0;  // their frames' bytes
  AsyncSignal settled_;              // in_flight_ became empty
  // When the writer last made progress (or the queue last became non-empty).
  std::chrono::steady_clock::time_point last_write_progress_{};
  boost::asio::steady_timer stall_timer_;
  bool stall_armed_ = false;
  std::optional<std::uint16_t> close_code_;
  bool draining_ = false;
  bool handling_ = false;
  bool closed_ = false;
  bool close_sent_ = false;
};

}  // namespace hearth::server
