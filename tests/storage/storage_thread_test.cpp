// The storage thread: group commit, ordering, failure isolation, races, and
// what happens when the disk is full or the file is locked.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "crypto/random.h"
#include "storage/storage_thread.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

using testing::open_storage;
using testing::options_in;

constexpr UnixSeconds kNow = 1'790'000'000;

TEST_CASE("writes from many threads share commits and all land", "[storage]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  constexpr int kThreads = 16;
  constexpr int kEach = 40;
  std::vector<MailboxId> mailboxes(kThreads);
  for (auto& m : mailboxes) m = random_id<MailboxId>();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto seq = thread
                       .write_future([&, i](Stores& s) {
                         return s.envelopes.put(mailboxes[t], to_bytes(std::to_string(i)), kNow);
                       })
                       .get();
        if (!seq.is_ok() || *seq != i + 1) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures == 0);
  auto stats = thread.stats();
  REQUIRE(stats.write_jobs == kThreads * kEach);
  // Group commit: fewer transactions than writes.
  REQUIRE(stats.commits < stats.write_jobs);
  REQUIRE(stats.largest_batch > 1);
  for (auto& m : mailboxes) {
    auto pending = thread.read_future([&](Stores& s) { return s.envelopes.pending(m); }).get();
    REQUIRE(pending.value() == kEach);
  }
}

TEST_CASE("a lone writer does not wait for company", "[storage]") {
  test::TempDir dir;
  GroupCommitOptions options;
  options.max_wait = std::chrono::milliseconds(50);  // clamped to 2 ms
  StorageThread thread(open_storage(dir.path()), options);
  MailboxId m = random_id<MailboxId>();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    REQUIRE(
        thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  }
  auto took = std::chrono::steady_clock::now() - start;
  // 50 commits with a 2 ms linger each would take >= 100 ms on top of fsyncs;
  // without lingering they take what the fsyncs take.
  INFO(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  REQUIRE(thread.stats().commits == 50);
  REQUIRE(thread.stats().largest_batch == 1);
}

TEST_CASE("jobs complete in order and a read sees every earlier write", "[storage]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  MailboxId m = random_id<MailboxId>();
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::future<Status>> reads;
  for (int i = 0; i < 30; ++i) {
    thread.write([&](Stores& s) { return s.envelopes.put(m, {}, kNow); },
                 [&, i](Result<std::int64_t> r) {
                   std::lock_guard<std::mutex> lock(mu);
                   order.push_back(r.is_ok() ? i : -1);
                 });
    if (i % 10 == 9) {
      std::int64_t expect = i + 1;
      reads.push_back(thread.read_future([&, expect](Stores& s) -> Status {
        auto n = s.envelopes.pending(m);
        if (!n.is_ok()) return n.status();
        return *n == expect ? Status::ok() : error(Code::kInternal, "read missed a write");
      }));
    }
  }
  for (auto& r : reads) REQUIRE(r.get().is_ok());
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(order.size() == 30);
  for (int i = 0; i < 30; ++i) REQUIRE(order[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("a failing job rolls back alone, the rest of its batch commits", "[storage]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  MailboxId m = random_id<MailboxId>();
  // Hold the thread in a read job so the writes queue up behind it; the
  // thread then takes every queued write into one batch. (A write blocker
  // would make the batch's shape depend on the linger deadline.)
  std::promise<void> release;
  auto gate = release.get_future().share();
  auto blocker = thread.read_future([gate](Stores&) {
    gate.wait();
    return Status::ok();
  });
  std::vector<std::future<Status>> results;
  for (int i = 0; i < 10; ++i) {
    results.push_back(thread.write_future([&, i](Stores& s) -> Status {
      auto seq = s.envelopes.put(m, to_bytes(std::to_string(i)), kNow);
      if (!seq.is_ok()) return seq.status();
      // Job 4 writes, then fails: its write must vanish, nobody else's.
      if (i == 4) return error(Code::kInvalidArgument, "job 4 changed its mind");
      return Status::ok();
    }));
  }
  release.set_value();
  REQUIRE(blocker.get().is_ok());
  for (int i = 0; i < 10; ++i) {
    Status s = results[static_cast<std::size_t>(i)].get();
    if (i == 4) {
      REQUIRE(s.code() == Code::kInvalidArgument);
    } else {
      REQUIRE(s.is_ok());
    }
  }
  auto stored = thread.read_future([&](Stores& s) { return s.envelopes.fetch(m, 0, 100); }).get();
  REQUIRE(stored.value().size() == 9);
  for (const auto& e : *stored) REQUIRE(to_string(e.ciphertext) != "4");
  REQUIRE(thread.stats().largest_batch == 10);
}

TEST_CASE("a job that ignores a lost transaction and keeps writing commits nothing", "[storage]") {
  test::TempDir dir;
  MailboxId before = random_id<MailboxId>();
  MailboxId after = random_id<MailboxId>();
  MailboxId later = random_id<MailboxId>();
  {
    StorageThread thread(open_storage(dir.path()));
    // A read job holds the thread, so the three writes below form one batch
    // however long the test takes to release it.
    std::promise<void> release;
    auto gate = release.get_future().share();
    auto blocker = thread.read_future([gate](Stores&) {
      gate.wait();
      return Status::ok();
    });
    // Same batch: an earlier job's write, then the rogue job.
    auto first = thread.write_future(
        [&](Stores& s) { return s.envelopes.put(before, as_bytes("first"), kNow); });
    auto rogue = thread.write_future([&](Stores& s) -> Status {
      if (!s.envelopes.put(before, as_bytes("mine"), kNow).is_ok())
        return error(Code::kInternal, "setup");
      // What SQLite does on a full disk or an I/O error: the whole
      // transaction is rolled back. The job ignores it and goes on.
      (void)s.db.exec("ROLLBACK");
      (void)s.envelopes.put(after, as_bytes("after the rollback"), kNow);
      (void)s.db.exec(
          "INSERT INTO org_records (id, created_minute, sealed_record) "
          "VALUES (1, 0, x'00')");
      (void)s.db.exec("COMMIT");
      // ... and leaves a transaction of its own open.
      (void)s.db.savepoint("dangling");
      (void)s.envelopes.put(after, as_bytes("inside its own transaction"), kNow);
      return Status::ok();
    });
    auto next = thread.write_future(
        [&](Stores& s) { return s.envelopes.put(later, as_bytes("next"), kNow); });
    release.set_value();
    REQUIRE(blocker.get().is_ok());
    REQUIRE(first.get().status().code() == Code::kUnavailable);
    REQUIRE(rogue.get().code() == Code::kUnavailable);
    REQUIRE(next.get().value() == 1);  // the thread carries on with a fresh transaction
  }
  auto storage = open_storage(dir.path());
  REQUIRE(storage->stores().envelopes.pending(before).value() == 0);
  REQUIRE(storage->stores().envelopes.pending(after).value() == 0);
  REQUIRE(storage->stores().records.list(10).value().empty());
  REQUIRE(storage->stores().envelopes.pending(later).value() == 1);
}

TEST_CASE("once a storage thread owns the connection, a job cannot commit by itself", "[storage]") {
  test::TempDir dir;
  MailboxId m = random_id<MailboxId>();
  {
    StorageThread thread(open_storage(dir.path()));
    Status own = thread
                     .write_future([&](Stores& s) -> Status {
                       (void)s.db.exec("ROLLBACK");
                       return s.db.exec(
                           "INSERT INTO org_records (id, created_minute, sealed_record) "
                           "VALUES (1, 0, x'00')");
                     })
                     .get();
    REQUIRE(own.code() == Code::kUnavailable);
    REQUIRE(own.message().find("commit refused") != std::string::npos);
    REQUIRE(
        thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  }
  auto storage = open_storage(dir.path());
  REQUIRE(storage->stores().records.list(10).value().empty());
  REQUIRE(storage->stores().envelopes.pending(m).value() == 1);
}

TEST_CASE("a write inside a read job fails instead of vanishing as a success", "[storage]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  MailboxId m = random_id<MailboxId>();
  auto wrote =
      thread.read_future([&](Stores& s) { return s.envelopes.put(m, as_bytes("lost"), kNow); })
          .get();
  INFO(wrote.status().to_string());
  REQUIRE(wrote.status().code() == Code::kInternal);
  REQUIRE(wrote.status().message().find("read-only job") != std::string::npos);
  Status raw = thread
                   .read_future([](Stores& s) {
                     return s.db.exec(
                         "INSERT INTO org_records (id, created_minute, sealed_record) "
                         "VALUES (1, 0, x'00')");
                   })
                   .get();
  REQUIRE(raw.code() == Code::kInternal);
  // Reads still work in a read job, and writes work again in write jobs.
  REQUIRE(thread.read_future([&](Stores& s) { return s.envelopes.pending(m); }).get().value() == 0);
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().value() ==
      1);
}

TEST_CASE("vault compare-and-swap: of two racing writers exactly one wins", "[storage]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  for (int round = 0; round < 20; ++round) {
    Bytes login = crypto::random_bytes(32);
    REQUIRE(thread
                .write_future([&](Stores& s) {
                  return s.vaults.create(login, crypto::random_bytes(32), as_bytes("v1"));
                })
                .get()
                .is_ok());
    std::promise<void> go;
    auto start = go.get_future().share();
    std::vector<Result<std::int64_t>> results(2, error(Code::kInternal, "not run"));
    std::vector<std::thread> racers;
    for (int w = 0; w < 2; ++w) {
      racers.emplace_back([&, w] {
        start.wait();
        results[static_cast<std::size_t>(w)] =
            thread
                .write_future([&, w](Stores& s) {
                  return s.vaults.put(login, 1, to_bytes("writer " + std::to_string(w)));
                })
                .get();
      });
    }
    go.set_value();
    for (auto& r : racers) r.join();
    int wins = 0;
    int conflicts = 0;
    std::string winner;
    for (int w = 0; w < 2; ++w) {
      auto& r = results[static_cast<std::size_t>(w)];
      if (r.is_ok()) {
        wins++;
        REQUIRE(*r == 2);
        winner = "writer " + std::to_string(w);
      } else if (r.status().code() == Code::kConflict) {
        conflicts++;
      }
    }
    REQUIRE(wins == 1);
    REQUIRE(conflicts == 1);
    auto stored = thread.read_future([&](Stores& s) { return s.vaults.get(login); }).get();
    REQUIRE(stored.value().version == 2);
    REQUIRE(to_string(stored->blob) == winner);
  }
}

TEST_CASE("a one-time prekey is never handed out twice under concurrent claims",
          "[storage][slow]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  Bytes responder = to_bytes("responder-under-load");
  constexpr std::uint32_t kPrekeys = 500;
  std::vector<PrekeyRecord> batch;
  for (std::uint32_t i = 0; i < kPrekeys; ++i)
    batch.push_back({i, to_bytes("opk-" + std::to_string(i))});
  REQUIRE(
      thread
          .write_future([&](Stores& s) { return s.prekeys.add_one_time_prekeys(responder, batch); })
          .get()
          .is_ok());

  constexpr int kClaimers = 24;
  constexpr int kEach = 30;  // 720 claims for 500 prekeys
  std::mutex mu;
  std::multiset<std::uint32_t> handed_out;
  int empty = 0;
  int errors = 0;
  std::vector<std::thread> claimers;
  for (int c = 0; c < kClaimers; ++c) {
    claimers.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto claimed =
            thread
                .write_future([&](Stores& s) { return s.prekeys.claim_one_time_prekey(responder); })
                .get();
        std::lock_guard<std::mutex> lock(mu);
        if (!claimed.is_ok()) {
          errors++;
        } else if (claimed->has_value()) {
          handed_out.insert((*claimed)->id);
        } else {
          empty++;
        }
      }
    });
  }
  for (auto& t : claimers) t.join();
  REQUIRE(errors == 0);
  REQUIRE(handed_out.size() == kPrekeys);
  REQUIRE(std::set<std::uint32_t>(handed_out.begin(), handed_out.end()).size() == kPrekeys);
  REQUIRE(empty == kClaimers * kEach - static_cast<int>(kPrekeys));
}

TEST_CASE("a full disk is a clear kUnavailable, nothing partial, reads keep working", "[storage]") {
  test::TempDir dir;
  GroupCommitOptions options;
  options.idle_checkpoint_after = std::chrono::milliseconds(0);
  StorageThread thread(open_storage(dir.path()), options);
  MailboxId kept = random_id<MailboxId>();
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(kept, as_bytes("kept"), kNow); })
          .get()
          .is_ok());
  // Pin the file at its current size: any write that needs a new page fails
  // the way a full disk does (SQLITE_FULL).
  REQUIRE(thread
              .read_future([](Stores& s) -> Status {
                auto pages = s.db.prepare("PRAGMA page_count");
                if (!pages.is_ok()) return pages.status();
                if (!pages->step().value()) return error(Code::kInternal, "no page_count");
                return s.db.exec("PRAGMA max_page_count = " +
                                 std::to_string(pages->column_int64(0)));
              })
              .get()
              .is_ok());

  // A batch of writers, several with bodies too large for the pinned file.
  std::promise<void> release;
  auto gate = release.get_future().share();
  auto blocker = thread.write_future([gate](Stores&) {
    gate.wait();
    return Status::ok();
  });
  struct Attempt {
    MailboxId mailbox;
    std::future<Result<std::int64_t>> result;
  };
  std::vector<Attempt> attempts;
  for (int i = 0; i < 12; ++i) {
    MailboxId m = random_id<MailboxId>();
    std::size_t size = i % 3 == 0 ? 60'000 : 10;
    attempts.push_back({m, thread.write_future([m, size](Stores& s) {
                          return s.envelopes.put(m, Bytes(size, 0x5a), kNow);
                        })});
  }
  release.set_value();
  // The blocker shares a transaction with the first failing write; SQLite
  // rolls the whole transaction back on SQLITE_FULL, so it may be refused too.
  Status blocked = blocker.get();
  REQUIRE((blocked.is_ok() || blocked.code() == Code::kUnavailable));

  int unavailable = 0;
  for (auto& a : attempts) {
    auto r = a.result.get();
    auto present =
        thread.read_future([&](Stores& s) { return s.envelopes.pending(a.mailbox); }).get();
    REQUIRE(present.is_ok());  // reads still work
    if (r.is_ok()) {
      REQUIRE(*present == 1);  // acknowledged: durable
    } else {
      INFO(r.status().to_string());
      REQUIRE(r.status().code() == Code::kUnavailable);
      REQUIRE(r.status().message().find("full") != std::string::npos);
      REQUIRE(*present == 0);  // refused: no trace
      unavailable++;
    }
  }
  REQUIRE(unavailable >= 4);

  // Earlier data is intact and the file is sound.
  auto old = thread.read_future([&](Stores& s) { return s.envelopes.fetch(kept, 0, 10); }).get();
  REQUIRE(to_string(old.value().at(0).ciphertext) == "kept");
  auto check = thread.read_future([](Stores& s) -> Status {
    auto ok = s.db.integrity_check();
    if (!ok.is_ok()) return ok.status();
    return *ok == "ok" ? Status::ok() : error(Code::kCorrupt, *ok);
  });
  REQUIRE(check.get().is_ok());

  // Space comes back: writes work again.
  REQUIRE(
      thread.read_future([](Stores& s) { return s.db.exec("PRAGMA max_page_count = 1073741823"); })
          .get()
          .is_ok());
  REQUIRE(thread.write_future([&](Stores& s) { return s.envelopes.put(kept, Bytes(60'000), kNow); })
              .get()
              .is_ok());
}

TEST_CASE("a file locked by another connection is a clear kUnavailable", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  StorageThread thread(open_storage(dir.path()));
  MailboxId m = random_id<MailboxId>();
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  {
    // Someone else (a stray sqlite3 shell) holds the write lock.
    auto other = Database::open(options.database_path);
    REQUIRE(other.is_ok());
    REQUIRE((*other)->begin().is_ok());
    auto r = thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get();
    REQUIRE(r.status().code() == Code::kUnavailable);
    REQUIRE(r.status().message().find("locked") != std::string::npos);
    // Reads are not blocked by a writer in WAL mode.
    REQUIRE(thread.read_future([&](Stores& s) { return s.envelopes.pending(m); }).get().value() ==
            1);
    (*other)->rollback();
  }
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().value() ==
      2);
}

TEST_CASE("the queue is bounded and shutdown drains what was queued", "[storage]") {
  test::TempDir dir;
  MailboxId m = random_id<MailboxId>();
  std::atomic<int> committed{0};
  std::atomic<int> refused{0};
  {
    GroupCommitOptions options;
    options.max_queue = 8;
    StorageThread thread(open_storage(dir.path()), options);
    std::promise<void> release;
    auto gate = release.get_future().share();
    auto blocker = thread.write_future([gate](Stores&) {
      gate.wait();
      return Status::ok();
    });
    while (thread.stats().write_jobs == 0) std::this_thread::yield();  // blocker is running
    for (int i = 0; i < 20; ++i) {
      thread.write([&](Stores& s) { return s.envelopes.put(m, {}, kNow); },
                   [&](Result<std::int64_t> r) {
                     if (r.is_ok()) {
                       committed++;
                     } else if (r.status().code() == Code::kLimitExceeded) {
                       refused++;
                     }
                   });
    }
    release.set_value();
    REQUIRE(blocker.get().is_ok());
  }  // destructor drains the queue
  REQUIRE(committed == 8);
  REQUIRE(refused == 12);
  auto storage = open_storage(dir.path());
  REQUIRE(storage->stores().envelopes.pending(m).value() == 8);
}

TEST_CASE("the queue is bounded by the bytes its jobs hold, not only by their number",
          "[storage]") {
  test::TempDir dir;
  GroupCommitOptions options;
  options.max_queue_bytes = 1000;
  StorageThread thread(open_storage(dir.path()), options);
  MailboxId m = random_id<MailboxId>();
  std::promise<void> release;
  auto gate = release.get_future().share();
  auto blocker = thread.write_future([gate](Stores&) {
    gate.wait();
    return Status::ok();
  });
  auto put = [&](std::size_t size) {
    Bytes body(size, 0x42);
    return thread.write_future(
        [&m, body = std::move(body)](Stores& s) { return s.envelopes.put(m, body, kNow); }, size);
  };
  auto first = put(600);
  auto second = put(600);  // 1200 > 1000: refused at once
  REQUIRE(second.get().status().code() == Code::kLimitExceeded);
  auto third = put(400);  // exactly 1000
  REQUIRE(thread.stats().queued_bytes == 1000);
  REQUIRE(put(1).get().status().code() == Code::kLimitExceeded);
  REQUIRE(put(1001).get().status().code() == Code::kLimitExceeded);  // never fits
  release.set_value();
  REQUIRE(blocker.get().is_ok());
  REQUIRE(first.get().is_ok());
  REQUIRE(third.get().is_ok());
  // Completed jobs give their bytes back.
  REQUIRE(thread.stats().queued_bytes == 0);
  REQUIRE(put(1000).get().is_ok());
  REQUIRE(thread.read_future([&](Stores& s) { return s.envelopes.pending(m); }).get().value() == 3);
}

TEST_CASE("checkpoints run on demand, by count, and leave the WAL empty", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  GroupCommitOptions group;
  group.checkpoint_every_commits = 5;
  group.idle_checkpoint_after = std::chrono::milliseconds(0);
  StorageThread thread(open_storage(dir.path()), group);
  MailboxId m = random_id<MailboxId>();
  for (int i = 0; i < 12; ++i)
    REQUIRE(
        thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  REQUIRE(thread.stats().checkpoints == 2);
  REQUIRE(thread.checkpoint_now().is_ok());
  REQUIRE(thread.stats().checkpoints == 3);
  REQUIRE(std::filesystem::file_size(options.database_path.string() + "-wal") == 0);
}

TEST_CASE("an outside reader holding the WAL does not stall writes behind checkpoints",
          "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  // Long enough that a single wait for the reader stands out from any
  // slowness of a loaded CI disk.
  options.database.busy_timeout_ms = 10'000;
  GroupCommitOptions group;
  group.checkpoint_every_commits = 1;
  group.idle_checkpoint_after = std::chrono::milliseconds(0);
  auto storage = Storage::open(options);
  REQUIRE(storage.is_ok());
  StorageThread thread(std::move(storage).value(), group);
  MailboxId m = random_id<MailboxId>();
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  // A backup tool or a stray sqlite3 shell with an open read transaction: a
  // TRUNCATE checkpoint cannot finish while it lasts.
  auto reader = Database::open(options.database_path);
  REQUIRE(reader.is_ok());
  REQUIRE((*reader)->exec("BEGIN; SELECT count(*) FROM envelopes;").is_ok());
  const std::uint64_t failed_before = thread.stats().failed_checkpoints;
  constexpr int kWrites = 10;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kWrites; ++i) {
    REQUIRE(
        thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  }
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(thread.stats().failed_checkpoints > failed_before);  // it did try, and was refused
  // Waiting out the busy timeout for the reader even once would take 10 s.
  INFO(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  REQUIRE(took < std::chrono::seconds(10));
  (*reader)->rollback();
  REQUIRE(thread.checkpoint_now().is_ok());
  REQUIRE(std::filesystem::file_size(options.database_path.string() + "-wal") == 0);
}

TEST_CASE("after a failed checkpoint the next one waits for the next interval", "[storage]") {
  test::TempDir dir;
  auto options = options_in(dir.path());
  GroupCommitOptions group;
  group.checkpoint_every_commits = 5;
  group.idle_checkpoint_after = std::chrono::milliseconds(0);
  StorageThread thread(open_storage(dir.path()), group);
  MailboxId m = random_id<MailboxId>();
  auto reader = Database::open(options.database_path);
  REQUIRE(reader.is_ok());
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  REQUIRE((*reader)->exec("BEGIN; SELECT count(*) FROM envelopes;").is_ok());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(
        thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  }
  // Commits 5, 10, 15 and 20 tried and failed; not every commit after the 5th.
  REQUIRE(thread.stats().failed_checkpoints == 4);
  (*reader)->rollback();
}

TEST_CASE("an idle storage thread checkpoints by itself", "[storage]") {
  test::TempDir dir;
  GroupCommitOptions group;
  group.checkpoint_every_commits = 0;
  group.idle_checkpoint_after = std::chrono::milliseconds(20);
  StorageThread thread(open_storage(dir.path()), group);
  MailboxId m = random_id<MailboxId>();
  REQUIRE(
      thread.write_future([&](Stores& s) { return s.envelopes.put(m, {}, kNow); }).get().is_ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (thread.stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(thread.stats().checkpoints >= 1);
}

TEST_CASE("deliver_via posts completions to the caller's executor", "[storage]") {
  test::TempDir dir;
  StorageThread thread(open_storage(dir.path()));
  // A one-thread "executor": a queue drained by the test thread.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> posted;
  auto post = [&](std::function<void()> f) {
    std::lock_guard<std::mutex> lock(mu);
    posted.push_back(std::move(f));
    cv.notify_one();
  };
  std::thread::id ran_on;
  bool done = false;
  MailboxId m = random_id<MailboxId>();
  thread.write([&](Stores& s) { return s.envelopes.put(m, {}, kNow); },
               deliver_via(post, [&](Result<std::int64_t> r) {
                 REQUIRE(r.value() == 1);
                 ran_on = std::this_thread::get_id();
                 done = true;
               }));
  std::function<void()> f;
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !posted.empty(); });
    f = std::move(posted.front());
  }
  f();
  REQUIRE(done);
  REQUIRE(ran_on == std::this_thread::get_id());
}

}  // namespace
}  // namespace hearth::storage

namespace hearth::storage {
namespace {

TEST_CASE("under steady writes the WAL stays bounded, checkpointed after acknowledging",
          "[storage]") {
  test::TempDir dir;
  auto options = testing::options_in(dir.path());
  GroupCommitOptions group;
  group.wal_frames_before_checkpoint = 50;
  group.checkpoint_every_commits = 0;
  group.idle_checkpoint_after = std::chrono::milliseconds(0);
  StorageThread thread(testing::open_storage(dir.path()), group);
  MailboxId m = random_id<MailboxId>();
  std::uintmax_t largest_wal = 0;
  for (int i = 0; i < 300; ++i) {
    REQUIRE(thread.write_future([&](Stores& s) { return s.envelopes.put(m, Bytes(3000), kNow); })
                .get()
                .is_ok());
    largest_wal =
        std::max(largest_wal, std::filesystem::file_size(options.database_path.string() + "-wal"));
  }
  REQUIRE(thread.stats().passive_checkpoints > 0);
  // 300 envelopes of 3 KB need ~300 pages; the WAL is reused instead of growing past
  // roughly the threshold (50 frames of 4 KiB, plus one commit's worth).
  INFO("largest WAL " << largest_wal);
  REQUIRE(largest_wal < 120 * 4096);
}

}  // namespace
}  // namespace hearth::storage
