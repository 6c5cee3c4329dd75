#include "server/write_queue.h"

#include <algorithm>

#include "protocol/messages.h"
#include "storage/types.h"

namespace hearth::server {

namespace {

// Whether `s` keeps its characters inside the object (no heap buffer).
bool is_inline(const std::string& s) {
  const auto* object = reinterpret_cast<const char*>(&s);
  return s.data() >= object && s.data() < object + sizeof(std::string);
}

}  // namespace

const std::size_t WriteQueue::kMaxEnvelopeFrameBytes = (protocol::kMaxBodyBytes + 2) / 3 * 4 + 512;

WriteQueue::WriteQueue(std::size_t frames, std::size_t bytes)
    : max_frames_(frames), max_bytes_(bytes) {
  std::size_t by_frames = frames / 2 > 1 ? frames / 2 - 1 : 1;
  std::size_t by_bytes = std::max<std::size_t>(1, (bytes / 2) / kMaxEnvelopeFrameBytes);
  page_size_ = std::clamp<std::size_t>(std::min(by_frames, by_bytes), 1, storage::kMaxFetch);
  // The shares: envelopes to half, other events to three quarters, the rest
  // for replies.
  envelope_frames_ = std::max<std::size_t>(1, frames / 2);
  envelope_bytes_ = std::max<std::size_t>(1, bytes / 2);
  event_frames_ = std::max(envelope_frames_ + 1, frames - std::max<std::size_t>(1, frames / 4));
  event_bytes_ = bytes - bytes / 4;
}

bool WriteQueue::push(std::string frame) {
  if (!fits(frame.size())) return false;
  append(std::move(frame));
  return true;
}

bool WriteQueue::fits(std::size_t bytes) const {
  // A client that does not read its replies and events must not make the
  // server hold an unbounded queue for it: past either limit it is closed.
  return frames_.empty() || (frames_.size() < max_frames_ && bytes_ + bytes <= max_bytes_);
}

void WriteQueue::append(std::string frame) {
  bytes_ += frame.size();
  frames_.push_back(std::move(frame));
}

bool WriteQueue::envelope_room(std::size_t bytes) const {
  if (!held_.empty()) return false;
  // One envelope always fits an empty queue, however large.
  return frames_.empty() ||
         (frames_.size() < envelope_frames_ && bytes_ + bytes <= envelope_bytes_);
}

bool WriteQueue::event_room(std::size_t bytes) const {
  return frames_.empty() || (frames_.size() < event_frames_ && bytes_ + bytes <= event_bytes_);
}

bool WriteQueue::reply_room(std::size_t pending) const {
  return (frames_.empty() && pending == 0) ||
         (frames_.size() + pending + 1 < max_frames_ && bytes_ < event_bytes_);
}

WriteQueue::EventResult WriteQueue::push_event(std::size_t kind, Bytes case_id, std::string frame) {
  // (Checked before the frame is moved: a held event keeps its frame.)
  if (held_.empty() && event_room(frame.size()) && fits(frame.size())) {
    append(std::move(frame));
    return EventResult::kQueued;
  }
  // No room: hold it. Events are state (a place in line, a claim, a close):
  // the newest of a kind for a case is all the client needs, and it goes
  // after the others, where it arrived.
  std::erase_if(held_, [&](const HeldEvent& h) { return h.kind == kind && h.case_id == case_id; });
  // Hundreds of distinct cases' events unread: this client is not reading.
  if (held_.size() >= kMaxHeldEvents) return EventResult::kTooManyHeld;
  held_.push_back({kind, std::move(case_id), std::move(frame)});
  return EventResult::kHeld;
}

std::size_t WriteQueue::pop_front() {
  bytes_ -= std::min(frames_.front().size(), bytes_);
  frames_.pop_front();
  std::size_t n = 0;
  while (n < held_.size() && event_room(held_[n].frame.size()) && fits(held_[n].frame.size()))
    append(std::move(held_[n++].frame));
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(n));
  if (held_.empty()) std::vector<HeldEvent>().swap(held_);  // nothing held while idle
  return n;
}

void WriteQueue::drop_unsent() {
  held_.clear();
  if (frames_.empty()) return;
  std::string front = std::move(frames_.front());
  frames_.clear();
  bytes_ = front.size();
  frames_.push_back(std::move(front));
}

void WriteQueue::FrameFifo::push_back(std::string frame) {
  // A short string keeps its characters inside the object: a move would
  // move them, under a write in progress. On the heap they stay put.
  if (is_inline(frame)) frame.reserve(sizeof(std::string));
  frames_.push_back(std::move(frame));
}

void WriteQueue::FrameFifo::pop_front() {
  // Its memory goes now: assigning an empty string would keep the buffer
  // (libstdc++ copies a short string into the capacity it has).
  std::string().swap(frames_[head_]);
  if (++head_ == frames_.size()) {
    clear();  // empty: nothing held while the connection is idle
    return;
  }
  // The popped slots are reclaimed once they are half the vector.
  if (head_ >= 32 && head_ * 2 >= frames_.size()) {
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

std::size_t WriteQueue::FrameFifo::heap_bytes() const {
  std::size_t total = 0;
  for (const std::string& frame : frames_)
    if (!is_inline(frame)) total += frame.capacity();
  return total;
}

std::size_t WriteQueue::envelope_page() const {
  // A page no larger than the room left under the half mark.
  std::size_t free_frames =
      max_frames_ / 2 > frames_.size() ? max_frames_ / 2 - frames_.size() : std::size_t{1};
  std::size_t free_bytes =
      max_bytes_ / 2 > bytes_ ? (max_bytes_ / 2 - bytes_) / kMaxEnvelopeFrameBytes : std::size_t{0};
  return std::clamp<std::size_t>(std::min(free_frames, std::max<std::size_t>(1, free_bytes)), 1,
                                 page_size_);
}

}  // namespace hearth::server
