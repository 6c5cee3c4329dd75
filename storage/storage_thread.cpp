#include "storage/storage_thread.h"

#include <algorithm>

namespace hearth::storage {
namespace {

using Clock = std::chrono::steady_clock;

// The latency budget: nobody waits longer than this for company.
constexpr std::chrono::microseconds kMaxGroupWait{2000};

Status not_committed(const Status& cause) {
  return error(Code::kUnavailable, "write not committed: " + cause.message());
}

}  // namespace

StorageThread::StorageThread(std::unique_ptr<Storage> storage, GroupCommitOptions options)
    : storage_(std::move(storage)), options_(std::move(options)) {
  options_.max_wait = std::clamp(options_.max_wait, std::chrono::microseconds(0), kMaxGroupWait);
  options_.max_batch = std::max<std::size_t>(options_.max_batch, 1);
  if (options_.wal_frames_before_checkpoint > 0) storage_->db().manage_checkpoints();
  // Only the batch COMMIT below may commit from now on (see restrict_commits).
  storage_->db().restrict_commits();
  thread_ = std::thread([this] { run(); });
}

StorageThread::~StorageThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StorageThread::submit(Kind kind, Work work, Done done, std::size_t bytes) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      lock.unlock();
      done(error(Code::kUnavailable, "storage is shutting down"));
      return;
    }
    if (queue_.size() >= options_.max_queue) {
      lock.unlock();
      done(error(Code::kLimitExceeded, "storage queue is full"));
      return;
    }
    // Only the storage thread lowers queued_bytes_, so the check holds.
    if (bytes > options_.max_queue_bytes ||
        queued_bytes_.load() > options_.max_queue_bytes - bytes) {
      lock.unlock();
      done(error(Code::kLimitExceeded, "storage queue is over its byte budget"));
      return;
    }
    queued_bytes_.fetch_add(bytes);
    queue_.push_back(Job{kind, std::move(work), std::move(done), Status::ok(), bytes});
  }
  cv_.notify_one();
}

void StorageThread::submit_write(Work work, Done done, std::size_t bytes) {
  submit(Kind::kWrite, std::move(work), std::move(done), bytes);
}

void StorageThread::submit_read(Work work, Done done, std::size_t bytes) {
  submit(Kind::kRead, std::move(work), std::move(done), bytes);
}

void StorageThread::complete(Job& job) {
  queued_bytes_.fetch_sub(job.bytes);
  job.bytes = 0;
  job.work = nullptr;  // frees what the job captured before its handler runs
  job.done(std::move(job.result));
}

void StorageThread::checkpoint(Done done) { submit(Kind::kCheckpoint, nullptr, std::move(done)); }

Status StorageThread::checkpoint_now() {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  checkpoint([promise](Status status) { promise->set_value(std::move(status)); });
  return future.get();
}

StorageStats StorageThread::stats() const {
  StorageStats out;
  out.write_jobs = write_jobs_.load();
  out.read_jobs = read_jobs_.load();
  out.commits = commits_.load();
  out.failed_commits = failed_commits_.load();
  out.largest_batch = largest_batch_.load();
  out.checkpoints = checkpoints_.load();
  out.passive_checkpoints = passive_checkpoints_.load();
  out.failed_checkpoints = failed_checkpoints_.load();
  out.queued_bytes = queued_bytes_.load();
  return out;
}

void StorageThread::take_writes(std::deque<Job>& out, std::size_t limit) {
  while (!queue_.empty() && out.size() < limit && queue_.front().kind == Kind::kWrite) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void StorageThread::run() {
  std::unique_lock<std::mutex> lock(mu_);
  auto has_work = [this] { return !queue_.empty() || stopping_; };
  while (true) {
    if (queue_.empty()) {
      if (stopping_) break;
      if (dirty_since_checkpoint_ && options_.idle_checkpoint_after.count() > 0) {
        if (!cv_.wait_for(lock, options_.idle_checkpoint_after, has_work)) {
          lock.unlock();
          maybe_checkpoint(/*idle=*/true);
          lock.lock();
        }
      } else {
        cv_.wait(lock, has_work);
      }
      continue;
    }
    if (queue_.front().kind == Kind::kWrite) {
      std::deque<Job> batch;
      take_writes(batch, options_.max_batch);
      lock.unlock();
      run_write_batch(batch);
      lock.lock();
      continue;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    if (job.kind == Kind::kRead) {
      run_read(job);
    } else {
      run_checkpoint(job);
    }
    lock.lock();
  }
  lock.unlock();
  // Leave a short WAL behind: deleted rows should not outlive the process in it.
  maybe_checkpoint(/*idle=*/true);
}

void StorageThread::run_read(Job& job) {
  read_jobs_.fetch_add(1);
  Database& db = storage_->db();
  // A read job sees one consistent snapshot and never changes anything: a
  // write in it fails at once (query_only) instead of running, being rolled
  // back with the savepoint below and reported as a success.
  Status status = db.set_query_only(true);
  if (status.is_ok()) {
    Savepoint snapshot(db, "read_job");
    status = snapshot.status();
    if (status.is_ok()) status = job.work(storage_->stores());
  }
  Status restored = db.set_query_only(false);
  if (status.is_ok()) status = std::move(restored);
  job.result = std::move(status);
  complete(job);
}

void StorageThread::run_checkpoint(Job& job) {
  Status status = storage_->db().checkpoint_truncate();
  if (status.is_ok()) {
    checkpoints_.fetch_add(1);
    commits_since_checkpoint_ = 0;
    dirty_since_checkpoint_ = false;
  } else {
    failed_checkpoints_.fetch_add(1);
  }
  job.result = std::move(status);
  complete(job);
}

void StorageThread::maybe_checkpoint(bool idle) {
  if (!dirty_since_checkpoint_) return;
  Database& db = storage_->db();
  if (!idle && options_.wal_frames_before_checkpoint > 0 &&
      db.wal_frames() >= options_.wal_frames_before_checkpoint) {
    // Keeps the WAL bounded under steady load; the TRUNCATE below still runs
    // by count and when idle, for remanence.
    if (db.checkpoint_passive().is_ok()) {
      passive_checkpoints_.fetch_add(1);
    } else {
      failed_checkpoints_.fetch_add(1);
    }
  }
  bool due = idle || (options_.checkpoint_every_commits > 0 &&
                      commits_since_checkpoint_ >= options_.checkpoint_every_commits);
  if (!due) return;
  if (db.checkpoint_truncate().is_ok()) {
    checkpoints_.fetch_add(1);
    commits_since_checkpoint_ = 0;
    dirty_since_checkpoint_ = false;
  } else {
    // Retried at the next interval (or when idle), not after every batch: a
    // reader in another process can hold it off for a long time. A failed
    // checkpoint loses nothing.
    failed_checkpoints_.fetch_add(1);
    commits_since_checkpoint_ = 0;
  }
}

void StorageThread::run_write_batch(std::deque<Job>& first) {
  Database& db = storage_->db();
  Stores& stores = storage_->stores();
  const Clock::time_point deadline = Clock::now() + options_.max_wait;
  // Linger only when the last batch showed concurrent writers; never for a
  // lone writer, and never beyond the size the last batch reached.
  const std::size_t target = std::min(last_batch_, options_.max_batch);

  std::vector<Job> jobs;
  jobs.reserve(first.size());
  std::vector<std::size_t> in_transaction;  // jobs whose success depends on COMMIT
  bool open = false;
  Status begin_failed;

  auto execute = [&](std::size_t i) {
    Job& job = jobs[i];
    write_jobs_.fetch_add(1);
    if (!begin_failed.is_ok()) {
      job.result = begin_failed;
      return;
    }
    if (!open) {
      Status begun = db.begin();
      if (!begun.is_ok()) {
        // A locked or failing file: fail this batch now rather than making
        // every job wait out the busy timeout again.
        begin_failed = begun;
        job.result = begun;
        return;
      }
      open = true;
    }
    Status status;
    bool worked = false;  // the job itself reported success
    const std::uint64_t rollbacks = db.rollbacks();
    {
      Savepoint unit(db, "job");
      status = unit.status();
      if (status.is_ok()) status = job.work(stores);
      worked = status.is_ok();
      if (status.is_ok()) status = unit.commit();
    }
    if (db.rollbacks() != rollbacks || !db.in_transaction()) {
      // SQLite rolls the whole transaction back on a full disk or an I/O
      // error: every job before this one in the transaction is lost too.
      // A job that went on after that may have opened a transaction of its
      // own (it could not commit it: restrict_commits); it goes as well.
      db.rollback();
      Status cause =
          worked || status.is_ok() ? error(Code::kUnavailable, "transaction rolled back") : status;
      for (std::size_t k : in_transaction) {
        if (jobs[k].result.is_ok()) jobs[k].result = not_committed(cause);
      }
      in_transaction.clear();
      open = false;
      // A job that reported success hears why its work is gone, not that its
      // savepoint vanished with the transaction.
      job.result = worked || status.is_ok() ? not_committed(cause) : status;
      return;
    }
    job.result = std::move(status);
    in_transaction.push_back(i);
  };

  for (Job& job : first) {
    jobs.push_back(std::move(job));
    execute(jobs.size() - 1);
  }

  // Keep the transaction open briefly for writers that are on their way.
  while (jobs.size() < options_.max_batch && begin_failed.is_ok()) {
    std::deque<Job> more;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.empty()) {
        if (jobs.size() >= target || stopping_) break;
        if (!cv_.wait_until(lock, deadline, [this] { return !queue_.empty() || stopping_; })) break;
      }
      if (Clock::now() >= deadline && jobs.size() >= target) break;
      take_writes(more, options_.max_batch - jobs.size());
    }
    if (more.empty()) break;  // a read or checkpoint is next: commit now to keep order
    for (Job& job : more) {
      jobs.push_back(std::move(job));
      execute(jobs.size() - 1);
    }
    if (Clock::now() >= deadline) break;
  }

  if (open) {
    const Clock::time_point start = Clock::now();
    Status committed = db.commit_batch();
    const auto took = Clock::now() - start;
    if (committed.is_ok()) {
      commits_.fetch_add(1);
      ++commits_since_checkpoint_;
      dirty_since_checkpoint_ = true;
      if (options_.on_commit) options_.on_commit(took, in_transaction.size());
    } else {
      db.rollback();
      failed_commits_.fetch_add(1);
      for (std::size_t k : in_transaction) {
        if (jobs[k].result.is_ok()) jobs[k].result = not_committed(committed);
      }
    }
  }

  last_batch_ = std::max<std::size_t>(jobs.size(), 1);
  std::uint64_t largest = largest_batch_.load();
  while (jobs.size() > largest && !largest_batch_.compare_exchange_weak(largest, jobs.size())) {
  }
  for (Job& job : jobs) complete(job);
  maybe_checkpoint(/*idle=*/false);
}

}  // namespace hearth::storage
