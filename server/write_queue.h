// WriteQueue: a session's one bounded queue of outgoing frames, with its
// shares. No socket, no strand, no clock: the session (server/session.h)
// owns one, drains it and closes the connection when it says so; tests drive
// it directly.
//
// The queue (write_queue_frames, write_queue_bytes) is shared three ways, so
// that a client that keeps reading is never cut off:
//   - envelopes may fill it to half. A live envelope that finds no room (or a
//     gap, or the cursor already behind) is not queued: the mailbox feed
//     (server/mailbox_feed.h) marks its cursor behind and its backlog pump
//     fetches it from storage, where it already is, a page at a time, each
//     page sized to the room left under the half mark (envelope_page());
//   - other events (small) may fill it to three quarters; past that they wait
//     in a held list, one per (kind, case): a newer one of the same kind for
//     the same case replaces the older, so the list is bounded by the party's
//     cases. Held events go out first as frames are written; no envelope is
//     queued while any is held, so events keep their order against envelopes;
//   - the last quarter is for replies: the reader reads the next request only
//     while reply_room() (the queue has a frame and a quarter of its bytes to
//     spare), so replies do not overflow it either. A client that stops
//     reading is closed (1008, slow_reader_dropped) by the session's stall
//     watchdog, or when its held list would pass kMaxHeldEvents; the hard
//     limit in push() stays as a last guard.
//
// Thread safety: none; the owning session touches it on its strand only.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace hearth::server {

class WriteQueue {
 public:
  // The largest envelope event frame: a body of kMaxBodyBytes in base64 plus
  // the frame around it. Backlog pages are sized so a page fits in half.
  static const std::size_t kMaxEnvelopeFrameBytes;
  // Past this many held events the client is not reading: closed as slow.
  static constexpr std::size_t kMaxHeldEvents = 256;

  // `frames`, `bytes`: limits.write_queue_frames and write_queue_bytes.
  WriteQueue(std::size_t frames, std::size_t bytes);

  // Queues `frame` whatever its kind, unless it would take the queue past
  // either hard limit (a frame always fits an empty queue): false then, and
  // the caller closes the connection as a slow reader.
  [[nodiscard]] bool push(std::string frame);

  // Whether an envelope frame of `bytes` may be queued now: below half, and
  // no event held.
  bool envelope_room(std::size_t bytes) const;
  // Whether an event frame of `bytes` may be queued now: below three quarters.
  bool event_room(std::size_t bytes) const;
  // Whether the reader may read the next request: its reply fits, besides
  // the replies of `pending` requests already in flight.
  bool reply_room(std::size_t pending = 0) const;
  // The replies that always fit however many events arrive: the frames
  // above the events' three quarters. The reader keeps at most this many
  // requests unanswered, so a client that reads is never cut off.
  std::size_t reply_frames() const { return max_frames_ - event_frames_; }

  enum class EventResult { kQueued, kHeld, kTooManyHeld };
  // Queues an event that is not an envelope, or holds it (see the top). `kind`
  // (the Event alternative) and `case_id` (empty for none) key the held list.
  // kTooManyHeld: the list is full, the caller closes the connection.
  EventResult push_event(std::size_t kind, Bytes case_id, std::string frame);

  // The writer's side: the frame at the front (queue not empty), and its
  // removal once written; pop_front() then moves held events into the room
  // it made and returns how many it queued.
  const std::string& front() const { return frames_.front(); }
  std::size_t pop_front();

  // A close that drops what is queued: everything but the front frame (which
  // may be in the middle of being written) and every held event goes.
  void drop_unsent();
  void drop_held() { held_.clear(); }

  // How many envelopes the backlog pump may fetch for one page now: no more
  // than fit the room left under the half mark, at least 1, at most
  // page_size().
  std::size_t envelope_page() const;
  std::size_t page_size() const { return page_size_; }

  bool empty() const { return frames_.empty(); }
  std::size_t frames() const { return frames_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t held() const { return held_.size(); }
  // Frame slots the queue holds memory for: 0 while it is empty (an idle
  // connection's queue holds no heap).
  std::size_t capacity() const { return frames_.capacity(); }
  // Heap bytes the frame slots hold, popped slots included: the queued
  // frames' capacity only, as a written frame's buffer goes at once (else
  // up to half the slots would keep sent frames' memory, outside what
  // write_queue_bytes and the byte budget count). For tests and metrics: it
  // walks the slots.
  std::size_t heap_bytes() const { return frames_.heap_bytes(); }

 private:
  // Whether a frame of `bytes` stays within both hard limits.
  bool fits(std::size_t bytes) const;
  void append(std::string frame);

  struct HeldEvent {
    std::size_t kind = 0;
    Bytes case_id;
    std::string frame;
  };

  std::size_t max_frames_;
  std::size_t max_bytes_;
  // Where the shares end (see the top), in frames and bytes.
  std::size_t envelope_frames_ = 1;
  std::size_t envelope_bytes_ = 1;
  std::size_t event_frames_ = 1;
  std::size_t event_bytes_ = 1;
  std::size_t page_size_ = 1;
  // A FIFO of frames that holds no memory while empty: std::deque allocates
  // a map and a first block (about 600 bytes) even empty, on every idle
  // connection. push_back() may move the queued strings, the front one too
  // while it is being written: a moved std::string keeps its heap buffer,
  // and push_back() gives a frame short enough for the string's own inline
  // buffer a heap buffer first (drop_unsent() moves the front frame too).
  class FrameFifo {
   public:
    bool empty() const { return head_ == frames_.size(); }
    std::size_t size() const { return frames_.size() - head_; }
    const std::string& front() const { return frames_[head_]; }
    std::string& front() { return frames_[head_]; }
    void push_back(std::string frame);
    std::size_t capacity() const { return frames_.capacity(); }
    std::size_t heap_bytes() const;
    void pop_front();
    void clear() {
      std::vector<std::string>().swap(frames_);  // its capacity too
      head_ = 0;
    }

   private:
    std::vector<std::string> frames_;
    std::size_t head_ = 0;  // frames_[0, head_) were popped (and are empty)
  };
  FrameFifo frames_;
  std::size_t bytes_ = 0;
  std::vector<HeldEvent> held_;
};

}  // namespace hearth::server
