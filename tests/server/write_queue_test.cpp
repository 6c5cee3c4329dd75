// The write queue's shares without a socket (server/write_queue.h): envelopes
// to half, events to three quarters, the last quarter for replies.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "server/write_queue.h"

namespace hearth::server {
namespace {

std::string frame(std::size_t n) { return std::string(n, 'x'); }

TEST_CASE("envelopes fill the write queue to half, events to three quarters", "[server]") {
  WriteQueue q(/*frames=*/8, /*bytes=*/1 << 20);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(q.envelope_room(10));
    REQUIRE(q.push(frame(10)));
  }
  CHECK(!q.envelope_room(10));  // half of 8 frames
  CHECK(q.event_room(10));
  CHECK(q.push_event(0, {}, frame(10)) == WriteQueue::EventResult::kQueued);
  CHECK(q.push_event(1, {}, frame(10)) == WriteQueue::EventResult::kQueued);
  CHECK(!q.event_room(10));  // three quarters: 6 frames
  CHECK(q.reply_room());     // a reply still fits: 6 + 1 < 8
  CHECK(!q.reply_room(1));   // not besides one more in flight
  CHECK(q.push(frame(10)));
  CHECK(!q.reply_room());  // 7 + 1: the reader stops reading
  CHECK(q.push(frame(10)));
  CHECK(!q.push(frame(10)));  // the hard limit: the caller closes the connection
}

TEST_CASE("the replies of reply_frames requests fit however many events arrive first", "[server]") {
  // A pipelining reader keeps at most reply_frames() requests unanswered:
  // events may fill the queue to three quarters between the read and the
  // replies, and every reply must still fit (else the client is cut off).
  for (std::size_t frames : {4u, 8u, 16u, 17u, 64u, 101u}) {
    WriteQueue q(frames, 1 << 20);
    INFO("frames " << frames);
    REQUIRE(q.reply_frames() >= 1);
    std::size_t kind = 0;
    while (q.event_room(10))
      REQUIRE(q.push_event(kind++, {}, frame(10)) == WriteQueue::EventResult::kQueued);
    for (std::size_t i = 0; i < q.reply_frames(); ++i) CHECK(q.push(frame(10)));
  }
}

TEST_CASE("a held event replaces an older one of its kind and case, and goes out first",
          "[server]") {
  WriteQueue q(/*frames=*/4, /*bytes=*/1 << 20);
  REQUIRE(q.push(frame(1)));
  REQUIRE(q.push(frame(1)));
  REQUIRE(q.push(frame(1)));  // past three quarters of 4 frames
  const Bytes case_a{1};
  const Bytes case_b{2};
  CHECK(q.push_event(5, case_a, "old a") == WriteQueue::EventResult::kHeld);
  CHECK(q.push_event(5, case_b, "b") == WriteQueue::EventResult::kHeld);
  CHECK(q.push_event(5, case_a, "new a") == WriteQueue::EventResult::kHeld);
  CHECK(q.held() == 2);
  // No envelope while an event is held, even into an emptied queue's room.
  CHECK(!q.envelope_room(1));
  CHECK(q.pop_front() == 1);  // one frame written: one held event fits
  CHECK(q.pop_front() == 1);
  CHECK(q.held() == 0);
  CHECK(q.pop_front() == 0);
  CHECK(q.front() == "b");
  CHECK(q.pop_front() == 0);
  CHECK(q.front() == "new a");
  CHECK(q.envelope_room(1));
}

TEST_CASE("past kMaxHeldEvents distinct held events the client is not reading", "[server]") {
  WriteQueue q(/*frames=*/4, /*bytes=*/1 << 20);
  for (int i = 0; i < 3; ++i) REQUIRE(q.push(frame(1)));
  for (std::size_t i = 0; i < WriteQueue::kMaxHeldEvents; ++i) {
    Bytes id{static_cast<std::uint8_t>(i & 0xff), static_cast<std::uint8_t>(i >> 8)};
    REQUIRE(q.push_event(0, id, "e") == WriteQueue::EventResult::kHeld);
  }
  CHECK(q.push_event(0, Bytes{0xee, 0xee}, "e") == WriteQueue::EventResult::kTooManyHeld);
}

TEST_CASE("a close without flush keeps only the frame being written", "[server]") {
  WriteQueue q(/*frames=*/8, /*bytes=*/1 << 20);
  REQUIRE(q.push("front"));
  REQUIRE(q.push(frame(100)));
  q.drop_unsent();
  CHECK(q.frames() == 1);
  CHECK(q.bytes() == 5);
  CHECK(q.front() == "front");
}

TEST_CASE("a backlog page fits the room left under the half mark", "[server]") {
  // Bytes allow many envelope frames; frames are the bound: half of 64 is 32.
  WriteQueue q(/*frames=*/64, /*bytes=*/64 * WriteQueue::kMaxEnvelopeFrameBytes);
  CHECK(q.page_size() == 31);
  CHECK(q.envelope_page() == 31);
  for (int i = 0; i < 30; ++i) REQUIRE(q.push(frame(1)));
  CHECK(q.envelope_page() == 2);
  for (int i = 0; i < 5; ++i) REQUIRE(q.push(frame(1)));
  CHECK(q.envelope_page() == 1);  // never below one
  // One envelope always fits an empty queue, however large.
  WriteQueue tiny(/*frames=*/4, /*bytes=*/16);
  CHECK(tiny.envelope_room(1000));
}

TEST_CASE("an empty write queue holds no memory for frames", "[server]") {
  // Every idle connection has one: it must cost nothing while empty.
  WriteQueue q(/*frames=*/64, /*bytes=*/1 << 20);
  CHECK(q.capacity() == 0);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) REQUIRE(q.push(frame(100)));
    CHECK(q.capacity() >= 40);
    while (!q.empty()) q.pop_front();
    CHECK(q.capacity() == 0);
    CHECK(q.bytes() == 0);
  }
  // A close that drops the unsent frames, then the last write.
  REQUIRE(q.push(frame(100)));
  REQUIRE(q.push(frame(100)));
  q.drop_unsent();
  q.pop_front();
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
}

TEST_CASE("the frame being written keeps its bytes in place while more are queued", "[server]") {
  // The writer hands the socket the front frame's characters; frames queued
  // meanwhile may move the string objects, never those characters, however
  // short the frame.
  WriteQueue q(/*frames=*/1024, /*bytes=*/1 << 20);
  REQUIRE(q.push("ok"));
  const char* writing = q.front().data();
  for (int i = 0; i < 500; ++i) REQUIRE(q.push(frame(i % 20)));
  CHECK(q.front().data() == writing);
  CHECK(q.front() == "ok");
  q.drop_unsent();
  CHECK(q.front().data() == writing);
  CHECK(q.front() == "ok");
}

TEST_CASE("a written frame's buffer goes at once, not when the queue empties", "[server]") {
  // The byte budget counts the queued frames: the slots of written ones must
  // hold nothing (libstdc++ keeps a string's buffer when an empty one is
  // assigned to it). Frames past the inline buffer, in every slot position:
  // before the popped slots are reclaimed (32), and after.
  constexpr std::size_t kFrame = 4096;
  for (int queued : {2, 20, 40, 100}) {
    INFO("frames queued " << queued);
    WriteQueue q(/*frames=*/128, /*bytes=*/1 << 20);
    for (int i = 0; i < queued; ++i) REQUIRE(q.push(frame(kFrame)));
    CHECK(q.heap_bytes() >= static_cast<std::size_t>(queued) * kFrame);
    // Past each queued frame's capacity (within its allocation's rounding).
    std::size_t most_held_past = 0;
    for (int written = 1; written < queued; ++written) {
      q.pop_front();
      const auto left = static_cast<std::size_t>(queued - written);
      REQUIRE(q.frames() == left);
      if (q.heap_bytes() > left * (kFrame + 64))
        most_held_past = std::max(most_held_past, q.heap_bytes() - left * kFrame);
    }
    CHECK(most_held_past == 0);
    // More queued behind the remaining one, then all written.
    for (int i = 0; i < 10; ++i) REQUIRE(q.push(frame(kFrame)));
    while (q.frames() > 1) q.pop_front();
    CHECK(q.heap_bytes() <= kFrame + 64);
    q.pop_front();
    CHECK(q.heap_bytes() == 0);
    CHECK(q.capacity() == 0);
  }
}

}  // namespace
}  // namespace hearth::server
