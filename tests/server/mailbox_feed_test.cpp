// MailboxFeed at its seam (server/mailbox_feed.h): the real feed on an
// io_context's strand, a real storage thread on a temporary SQLite file, and
// as its outlet a real WriteQueue — what the session gives it — that the test
// drains as a client would read. No socket, no process, no wall-time wait:
// every step runs the io_context until the feed has nothing left to do.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/encoding.h"
#include "crypto/keys.h"
#include "crypto/sodium_init.h"
#include "server/admission.h"
#include "server/mailbox_feed.h"
#include "server/services.h"
#include "server/session.h"
#include "server/write_queue.h"
#include "storage/storage.h"
#include "storage/storage_thread.h"
#include "tests/support/test_support.h"

namespace hearth::server {
namespace {

namespace asio = boost::asio;
using storage::CaseId;
using storage::MailboxId;

constexpr UnixSeconds kNow = 1'790'000'040;

// Everything the feed reaches through Services, real and private to the test.
struct World {
  hearth::test::TempDir dir;
  Config config;
  ManualClock clock{kNow};
  Metrics metrics;
  RelayHub hub{clock};
  PowState pow{PowConfig{}, 1000, 100, clock};
  std::atomic<bool> draining{false};
  PrekeyReservations reservations;
  FailedLoginBudget responder_failures{config.limits,
                                       std::chrono::steady_clock::now().time_since_epoch()};
  FailedLoginBudget vault_failures{config.limits,
                                   std::chrono::steady_clock::now().time_since_epoch()};
  std::unique_ptr<storage::StorageThread> storage;
  std::unique_ptr<Admission> admission;
  std::unique_ptr<Services> services;

  World() {
    crypto::ensure_initialized();
    config.data_dir = dir.path();
    storage::StorageOptions options;
    options.database_path = dir.path() / "hearth.db";
    options.key_path = dir.path() / "master.key";
    auto opened = storage::Storage::open(options);
    REQUIRE(opened.is_ok());
    storage =
        std::make_unique<storage::StorageThread>(std::move(*opened), storage::GroupCommitOptions{});
    admission = std::make_unique<Admission>(config.limits, metrics);
    services = std::make_unique<Services>(Services{
        config, hub, *storage, metrics, pow, clock, crypto::SigningKey::generate().public_key(),
        draining, reservations, responder_failures, vault_failures, *admission});
  }

  // Commits an envelope to `mailbox` the way send does; returns its seq.
  std::int64_t put(const MailboxId& mailbox, const std::string& text) {
    auto seq = storage
                   ->write_future([mailbox, text](storage::Stores& s) {
                     return s.envelopes.put(mailbox, to_bytes(text), kNow);
                   })
                   .get();
    REQUIRE(seq.is_ok());
    return *seq;
  }
};

// The session's side of the feed: a real WriteQueue the test reads from.
class QueueOutlet final : public FeedOutlet, public std::enable_shared_from_this<QueueOutlet> {
 public:
  QueueOutlet(asio::any_io_executor strand, std::size_t frames, std::size_t bytes)
      : queue_(frames, bytes), room_(strand) {}

  bool closing() const override { return closing_; }
  bool envelope_room(std::size_t bytes) const override { return queue_.envelope_room(bytes); }
  std::size_t envelope_page() const override { return queue_.envelope_page(); }
  void queue_envelope(std::string frame) override { REQUIRE(queue_.push(std::move(frame))); }
  asio::awaitable<void> wait_for_envelope_room() override {
    while (!closing_ && !queue_.envelope_room(WriteQueue::kMaxEnvelopeFrameBytes))
      co_await room_.wait();
  }
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }

  // The client reads everything queued: (seq, body) of each envelope event.
  std::vector<std::pair<std::int64_t, std::string>> read_all() {
    std::vector<std::pair<std::int64_t, std::string>> out;
    while (!queue_.empty()) {
      auto ev = nlohmann::json::parse(queue_.front());
      auto body = crypto::base64url_decode(ev.at("body").get<std::string>());
      REQUIRE(body.is_ok());
      out.emplace_back(ev.at("seq").get<std::int64_t>(), std::string(body->begin(), body->end()));
      queue_.pop_front();
    }
    room_.notify();
    return out;
  }
  std::size_t queued() const { return queue_.frames(); }
  void close() {
    closing_ = true;
    room_.cancel_forever();
  }

 private:
  WriteQueue queue_;
  AsyncSignal room_;
  bool closing_ = false;
};

// A feed on a strand of `io`, as a session holds one.
struct Fixture {
  World world;
  asio::io_context io;
  asio::any_io_executor strand = asio::make_strand(io);
  std::shared_ptr<QueueOutlet> outlet;
  std::unique_ptr<MailboxFeed> feed;
  CaseId case_id = storage::random_id<CaseId>();
  MailboxId mailbox = storage::random_id<MailboxId>();

  explicit Fixture(std::size_t frames = 64, std::size_t bytes = 2 * 1024 * 1024)
      : outlet(std::make_shared<QueueOutlet>(strand, frames, bytes)),
        feed(std::make_unique<MailboxFeed>(*world.services, strand, *outlet)) {}
  ~Fixture() {
    outlet->close();
    settle();
  }

  // Runs the strand until nothing is left to run and no storage job is out:
  // the pump's reads complete on the storage thread, then post back here.
  void settle() {
    for (int idle = 0; idle < 3;) {
      io.restart();
      const std::size_t ran = io.poll();
      if (ran == 0 && world.metrics.storage_jobs_in_flight.load() == 0) {
        ++idle;
        REQUIRE(world.storage->read_future([](storage::Stores&) { return Status::ok(); })
                    .get()
                    .is_ok());
      } else {
        idle = 0;
        if (ran == 0) io.run_one_for(std::chrono::milliseconds(50));
      }
    }
  }
  // Runs `f` on the strand, as the session would, and settles.
  template <class F>
  void on_strand(F f) {
    asio::post(strand, std::move(f));
    settle();
  }
  Delivery delivery(std::int64_t seq, const std::string& text) const {
    return Delivery{mailbox, case_id, seq, /*responder_side=*/false, to_bytes(text), kNow};
  }
};

std::vector<std::int64_t> seqs(const std::vector<std::pair<std::int64_t, std::string>>& got) {
  std::vector<std::int64_t> out;
  for (const auto& [seq, body] : got) out.push_back(seq);
  return out;
}

TEST_CASE("mailbox feed: the backlog and live envelopes merge, each once, in order", "[server]") {
  Fixture f;
  for (int i = 1; i <= 3; ++i) f.world.put(f.mailbox, "old " + std::to_string(i));
  // Registered, then the backlog fetch; a live envelope committed meanwhile
  // arrives while the page is read.
  const std::int64_t live = f.world.put(f.mailbox, "live");
  f.on_strand([&] {
    f.feed->watch(f.mailbox, f.case_id, false, /*fetch_backlog=*/true);
    f.feed->on_delivery(f.delivery(live, "live"));
  });
  auto got = f.outlet->read_all();
  CHECK(seqs(got) == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(got.front().second == "old 1");
  CHECK(got.back().second == "live");
  CHECK(f.feed->delivered(f.mailbox) == 4);
  CHECK_FALSE(f.feed->behind(f.mailbox));
  // A repeat of a delivered envelope queues nothing.
  f.on_strand([&] { f.feed->on_delivery(f.delivery(live, "live")); });
  CHECK(f.outlet->read_all().empty());
}

TEST_CASE("mailbox feed: a live envelope past a gap waits for the pump to read the gap",
          "[server]") {
  Fixture f;
  f.on_strand([&] { f.feed->watch(f.mailbox, f.case_id, false, /*fetch_backlog=*/false); });
  f.world.put(f.mailbox, "one");
  f.world.put(f.mailbox, "two");
  const std::int64_t three = f.world.put(f.mailbox, "three");
  // Only the third was pushed live: seq 1 and 2 are missing before it.
  f.on_strand([&] { f.feed->on_delivery(f.delivery(three, "three")); });
  auto got = f.outlet->read_all();
  CHECK(seqs(got) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(got[1].second == "two");
  CHECK_FALSE(f.feed->behind(f.mailbox));
}

TEST_CASE("mailbox feed: with no envelope room live pushes wait in storage, and come in order",
          "[server]") {
  // 8 frames: envelopes may fill half, 4.
  Fixture f(8);
  f.on_strand([&] { f.feed->watch(f.mailbox, f.case_id, false, /*fetch_backlog=*/false); });
  for (int i = 1; i <= 10; ++i) {
    const std::int64_t seq = f.world.put(f.mailbox, "m" + std::to_string(i));
    f.on_strand([&] { f.feed->on_delivery(f.delivery(seq, "m" + std::to_string(i))); });
  }
  // The client has not read: only half the queue holds envelopes.
  CHECK(f.outlet->queued() == 4);
  CHECK(f.feed->behind(f.mailbox));
  CHECK(f.world.metrics.envelopes_deferred.load() >= 1);
  std::vector<std::int64_t> all;
  for (int reads = 0; reads < 10 && all.size() < 10; ++reads) {
    auto got = f.outlet->read_all();
    for (auto seq : seqs(got)) all.push_back(seq);
    f.settle();  // the pump refills the room the read made
  }
  CHECK(all == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK_FALSE(f.feed->behind(f.mailbox));
}

TEST_CASE("mailbox feed: an unwatched case's envelopes are not queued from the backlog",
          "[server]") {
  Fixture f;
  f.world.put(f.mailbox, "one");
  f.on_strand([&] {
    f.feed->watch(f.mailbox, f.case_id, false, /*fetch_backlog=*/true);
    f.feed->unwatch_case(f.case_id);  // before the page comes back (deleted meanwhile)
  });
  CHECK(f.outlet->read_all().empty());
  CHECK_FALSE(f.feed->delivered(f.mailbox).has_value());
}

TEST_CASE("mailbox feed: a closing session gets nothing more", "[server]") {
  Fixture f;
  f.on_strand([&] { f.feed->watch(f.mailbox, f.case_id, false, /*fetch_backlog=*/false); });
  f.outlet->close();
  const std::int64_t one = f.world.put(f.mailbox, "one");
  f.on_strand([&] { f.feed->on_delivery(f.delivery(one, "one")); });
  CHECK(f.outlet->queued() == 0);
}

}  // namespace
}  // namespace hearth::server
