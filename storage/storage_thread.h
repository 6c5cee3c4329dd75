// StorageThread: the one thread that runs all SQLite work, with group commit.
//
// Callers submit jobs — functions of Stores& — and a completion handler. Read
// jobs run alone, outside any write transaction, and are always rolled back.
// Write jobs that arrive together are committed in one transaction, so many
// senders share one fsync:
//
//   - the thread takes every write waiting in the queue (up to max_batch);
//   - if the previous batch had more than one job (there are concurrent
//     writers), it keeps the transaction open for up to max_wait (≤ 2 ms) or
//     until the batch is as large as the previous one, running jobs as they
//     arrive; a lone writer never waits;
//   - each job runs inside its own SAVEPOINT: a job that fails is rolled back
//     alone and gets its own error, the others are unaffected;
//   - COMMIT (fsync, synchronous=FULL) runs once, and only then is each job's
//     handler called — with Status::ok() for a committed job, or with the
//     commit's error (kUnavailable for a full disk or I/O error) for every job
//     of a batch that did not commit. Nothing is acknowledged before it is
//     durable and nothing is half-applied.
//
// Jobs run and complete in submission order. Handlers run on the storage
// thread: they must be short and must not block — post the result to your
// own executor (see deliver_via below). A handler may submit more jobs.
// Every TRUNCATE-checkpoint interval, and after a quiet spell, the thread runs
// PRAGMA wal_checkpoint(TRUNCATE) so deleted data does not linger in the WAL.
//
// Thread safety: submit*/read/write/checkpoint/stats are safe from any thread.
// Destruction runs every job already queued, checkpoints, and joins the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"
#include "storage/storage.h"
#include "storage/stores.h"

namespace hearth::storage {

struct GroupCommitOptions {
  // The longest a write waits for company before its batch commits. Bounded
  // at 2 ms by the latency budget; 0 disables lingering (batches then
  // form only from writes queued during the previous commit).
  std::chrono::microseconds max_wait{2000};
  // Most jobs in one transaction: bounds the time one fsync holds everyone.
  std::size_t max_batch = 512;
  // Most jobs waiting in the queue; past it a submit fails with kLimitExceeded
  // instead of growing memory without bound.
  std::size_t max_queue = 65536;
  // Most payload bytes held by queued and running jobs, as their submitters
  // declared them (the `bytes` argument: an envelope's ciphertext, a vault
  // blob; 0 for small jobs). Past it a submit fails with kLimitExceeded:
  // the job count alone would let 65536 queued 64 KiB envelopes hold 4 GiB.
  std::size_t max_queue_bytes = 64 * 1024 * 1024;
  // Run wal_checkpoint(PASSIVE) once the WAL holds this many frames (pages),
  // after the batch that grew it was acknowledged. This replaces SQLite's
  // automatic checkpoint, which would run inside COMMIT and delay every
  // acknowledgement of that batch.
  std::int64_t wal_frames_before_checkpoint = 1000;
  // Run wal_checkpoint(TRUNCATE) after this many commits (0 = never by count).
  std::size_t checkpoint_every_commits = 1000;
  // ... and when no job arrived for this long after a write (0 = never).
  std::chrono::milliseconds idle_checkpoint_after{1000};
  // Called on the storage thread after each COMMIT with its duration and the
  // number of jobs it made durable. For metrics and the benchmark; optional.
  std::function<void(std::chrono::nanoseconds, std::size_t)> on_commit;
};

struct StorageStats {
  std::uint64_t write_jobs = 0;
  std::uint64_t read_jobs = 0;
  std::uint64_t commits = 0;         // transactions that committed
  std::uint64_t failed_commits = 0;  // transactions rolled back as a whole
  std::uint64_t largest_batch = 0;
  std::uint64_t checkpoints = 0;  // TRUNCATE checkpoints
  std::uint64_t passive_checkpoints = 0;
  std::uint64_t failed_checkpoints = 0;
  std::uint64_t queued_bytes = 0;  // declared payload bytes of jobs not yet completed
};

class StorageThread {
 public:
  using Work = std::function<Status(Stores&)>;
  using Done = std::function<void(Status)>;

  // Takes ownership of `storage` and starts the thread.
  explicit StorageThread(std::unique_ptr<Storage> storage, GroupCommitOptions options = {});
  StorageThread(const StorageThread&) = delete;
  StorageThread& operator=(const StorageThread&) = delete;
  ~StorageThread();

  // Queues a job. `done` is called exactly once: normally on the storage
  // thread after the job ran (and, for writes, after its batch committed or
  // failed); with kLimitExceeded (queue full, or `bytes` would take the jobs
  // in flight past max_queue_bytes) or kUnavailable (shutting down) on the
  // calling thread, before submit returns. `bytes` is the payload the job
  // holds (what its closure captured); it counts until `done` is called.
  void submit_write(Work work, Done done, std::size_t bytes = 0);
  void submit_read(Work work, Done done, std::size_t bytes = 0);
  // Runs wal_checkpoint(TRUNCATE) after everything queued before it.
  void checkpoint(Done done);

  // Typed forms: `fn` returns Status or Result<T>; `done` receives the same type.
  template <typename Fn, typename Handler>
  void write(Fn fn, Handler done, std::size_t bytes = 0) {
    submit_typed(/*write=*/true, std::move(fn), std::move(done), bytes);
  }
  template <typename Fn, typename Handler>
  void read(Fn fn, Handler done, std::size_t bytes = 0) {
    submit_typed(/*write=*/false, std::move(fn), std::move(done), bytes);
  }

  // Future forms, for tests and tools; never wait on one from the storage thread.
  template <typename Fn>
  auto write_future(Fn fn, std::size_t bytes = 0) {
    return future_typed(/*write=*/true, std::move(fn), bytes);
  }
  template <typename Fn>
  auto read_future(Fn fn, std::size_t bytes = 0) {
    return future_typed(/*write=*/false, std::move(fn), bytes);
  }
  // Blocks until a checkpoint queued now has run.
  Status checkpoint_now();

  StorageStats stats() const;

 private:
  enum class Kind { kRead, kWrite, kCheckpoint };
  struct Job {
    Kind kind;
    Work work;
    Done done;
    Status result;
    std::size_t bytes = 0;
  };

  void submit(Kind kind, Work work, Done done, std::size_t bytes = 0);
  // Gives the job's bytes back to the budget and calls its handler.
  void complete(Job& job);
  void run();
  void run_read(Job& job);
  void run_checkpoint(Job& job);
  void run_write_batch(std::deque<Job>& first);
  void maybe_checkpoint(bool idle);
  // Moves queued writes (at most `limit`) from the front of queue_ into `out`.
  void take_writes(std::deque<Job>& out, std::size_t limit);

  template <typename Fn, typename Handler>
  void submit_typed(bool write, Fn fn, Handler done, std::size_t bytes);
  template <typename Fn>
  auto future_typed(bool write, Fn fn, std::size_t bytes);

  std::unique_ptr<Storage> storage_;
  GroupCommitOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  // Declared bytes of jobs submitted and not yet completed. Added under mu_,
  // given back by the storage thread.
  std::atomic<std::size_t> queued_bytes_{0};

  // Storage-thread state.
  std::size_t last_batch_ = 1;
  std::size_t commits_since_checkpoint_ = 0;
  bool dirty_since_checkpoint_ = false;

  // Counters, read by stats() from any thread.
  std::atomic<std::uint64_t> write_jobs_{0};
  std::atomic<std::uint64_t> read_jobs_{0};
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> failed_commits_{0};
  std::atomic<std::uint64_t> largest_batch_{0};
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::uint64_t> passive_checkpoints_{0};
  std::atomic<std::uint64_t> failed_checkpoints_{0};

  std::thread thread_;  // last: started after everything above is ready
};

// Wraps `handler` so it runs through `post` (any function that takes a
// std::function<void()> and schedules it: an Asio executor's post, a strand,
// a test loop). For example, with Boost.Asio:
//   deliver_via([ex](std::function<void()> f) { asio::post(ex, std::move(f)); }, handler)
template <typename Post, typename Handler>
auto deliver_via(Post post, Handler handler) {
  return [post = std::move(post), handler = std::move(handler)](auto result) mutable {
    post([handler, result = std::move(result)]() mutable { handler(std::move(result)); });
  };
}

// ---- templates ----

namespace detail {
template <typename R>
struct JobResult;
template <>
struct JobResult<Status> {
  using Value = std::monostate;
};
template <typename T>
struct JobResult<Result<T>> {
  using Value = T;
};
}  // namespace detail

template <typename Fn, typename Handler>
void StorageThread::submit_typed(bool write, Fn fn, Handler done, std::size_t bytes) {
  using R = std::invoke_result_t<Fn&, Stores&>;
  if constexpr (std::is_same_v<R, Status>) {
    Work work = std::move(fn);
    Done finish = std::move(done);
    submit(write ? Kind::kWrite : Kind::kRead, std::move(work), std::move(finish), bytes);
  } else {
    using T = typename detail::JobResult<R>::Value;
    // The job's value waits here until the batch's fate is known.
    auto slot = std::make_shared<std::optional<T>>();
    Work work = [slot, fn = std::move(fn)](Stores& stores) mutable -> Status {
      R result = fn(stores);
      if (!result.is_ok()) return result.status();
      slot->emplace(std::move(result).value());
      return Status::ok();
    };
    Done finish = [slot, done = std::move(done)](const Status& status) mutable {
      if (!status.is_ok() || !slot->has_value()) {
        done(R(status.is_ok() ? error(Code::kInternal, "job produced no value") : status));
      } else {
        done(R(std::move(**slot)));
      }
    };
    submit(write ? Kind::kWrite : Kind::kRead, std::move(work), std::move(finish), bytes);
  }
}

template <typename Fn>
auto StorageThread::future_typed(bool write, Fn fn, std::size_t bytes) {
  using R = std::invoke_result_t<Fn&, Stores&>;
  auto promise = std::make_shared<std::promise<R>>();
  std::future<R> future = promise->get_future();
  submit_typed(
      write, std::move(fn), [promise](R result) { promise->set_value(std::move(result)); }, bytes);
  return future;
}

}  // namespace hearth::storage
