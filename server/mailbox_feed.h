// MailboxFeed: what one session receives from the mailboxes it reads — one
// delivery cursor per mailbox, the backlog pump, and the envelope frames.
//
// Contract:
//   - A cursor is the last seq queued for its mailbox. Live pushes and
//     backlog pages both advance it, so nothing is queued twice or out of
//     order: an envelope is queued only as cursor + 1.
//   - A live envelope is queued at once when it is the next seq, its cursor
//     is not behind and the session's queue has envelope room. Otherwise it is
//     not queued (it is in storage already: it was committed before it was
//     pushed) and the cursor is marked behind.
//   - One pump per feed serves every behind mailbox in turn (round robin), a
//     page at a time, each page sized to the envelope room left
//     (WriteQueue::envelope_page()) and queued only while that room lasts. A
//     delivery that arrives while its mailbox's page is being read marks it
//     dirty: it is fetched again.
//   - watch() with a backlog fetch, after the session registered with the
//     hub: anything committed before registering is in the backlog, anything
//     after is pushed live, and the cursor merges the two.
//   - A failed page read is logged and not retried in a loop: the next live
//     envelope for that mailbox finds the gap.
//
// Thread safety: everything on the owning session's strand. The outlet (the
// session) outlives the feed; the pump holds the outlet's keep_alive().
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "server/relay_hub.h"
#include "server/services.h"

namespace hearth::server {

// Where a feed's envelope frames go: the session's write queue.
class FeedOutlet {
 public:
  virtual ~FeedOutlet() = default;
  // The session is closing or closed: nothing more is queued or fetched.
  virtual bool closing() const = 0;
  // WriteQueue::envelope_room / envelope_page.
  virtual bool envelope_room(std::size_t bytes) const = 0;
  virtual std::size_t envelope_page() const = 0;
  // Queues an envelope frame envelope_room() allowed.
  virtual void queue_envelope(std::string frame) = 0;
  // Suspends until the largest envelope frame fits (or the session closes).
  virtual boost::asio::awaitable<void> wait_for_envelope_room() = 0;
  // Keeps the outlet (and so the feed) alive while the pump runs.
  virtual std::shared_ptr<void> keep_alive() = 0;
};

class MailboxFeed {
 public:
  MailboxFeed(Services& services, boost::asio::any_io_executor strand, FeedOutlet& outlet);
  MailboxFeed(const MailboxFeed&) = delete;
  MailboxFeed& operator=(const MailboxFeed&) = delete;

  // Starts a cursor for `mailbox` (of `case_id`, a responder's mailbox when
  // `responder_side`) unless it has one; with `fetch_backlog`, reads what
  // storage holds after the cursor.
  void watch(const storage::MailboxId& mailbox, const storage::CaseId& case_id, bool responder_side,
             bool fetch_backlog);
  // Drops the cursors of every mailbox of `case_id`.
  void unwatch_case(const storage::CaseId& case_id);
  // A committed envelope for one of this party's mailboxes (the session
  // checked the side): queued live, or left to the pump (see the top).
  void on_delivery(const Delivery& d);

  // The cursor of `mailbox`: the last seq queued, or nullopt when unwatched.
  std::optional<std::int64_t> delivered(const storage::MailboxId& mailbox) const;
  // Whether `mailbox`'s cursor waits for the pump.
  bool behind(const storage::MailboxId& mailbox) const;

  // The event frame for one envelope: seq 1 of a responder's mailbox is the
  // intake copy (seq numbers are never reused), every other one a message.
  static std::string envelope_frame(const storage::CaseId& case_id, std::int64_t seq,
                                    bool responder_side, const Bytes& body,
                                    UnixSeconds sent_minute);

 private:
  struct Cursor {
    storage::CaseId case_id;
    bool responder_side = false;
    std::int64_t delivered = 0;  // last seq queued
    bool behind = false;         // storage holds more than was queued: the pump fetches
    bool fetching = false;       // the pump is reading a page for it
    bool dirty = false;          // something arrived while fetching: fetch again
  };

  // Marks the mailbox's cursor behind and starts the pump if it is idle.
  void start_fetch(const storage::MailboxId& mailbox);
  // The backlog pump: one per feed, running while a cursor is behind.
  boost::asio::awaitable<void> pump();

  Services& services_;
  boost::asio::any_io_executor strand_;
  FeedOutlet& outlet_;
  std::map<storage::MailboxId, Cursor> cursors_;
  std::optional<storage::MailboxId> last_pumped_;  // round-robin position of the pump
  bool pump_running_ = false;
};

}  // namespace hearth::server
