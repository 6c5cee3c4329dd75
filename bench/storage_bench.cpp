// storage_bench: durable envelope insert + acknowledge-delete, group commit vs. a bare loop.
//
// Runs, in one process and on real files under a temporary directory:
//   1. baseline: a bare SQLite loop, one transaction (one fsync) per insert, with the same
//      pragmas Hearth uses (WAL, synchronous=FULL, secure_delete) and the same body size;
//   2. the same bare loop with the acknowledge-delete as a second transaction;
//   3. Hearth's StorageThread with group commit at 1, 16 and 256 concurrent writers. Each
//      writer puts an envelope (sealed at rest), waits for the acknowledgement, deletes it
//      (acknowledge-delete), waits, and repeats. Completions are posted to a separate
//      "I/O" thread, as the server does, which submits the writer's next operation.
// Prints messages per second (one message = a durable insert and a durable delete; the
// baselines count their own unit, as labelled), acknowledgement latency (submit to handler)
// p50/p99, and COMMIT duration p50/p99. docs/performance.md explains the method.
//
// The five runs are repeated --repeat times (default 3), interleaved, so a change in disk
// load hits baseline and group commit alike; the summary shows each configuration's median
// run by throughput.
//
// Usage: storage_bench [--quick] [--seconds N] [--repeat N] [--dir PATH]
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/random.h"
#include "storage/storage_thread.h"

namespace {

using namespace hearth;
using namespace hearth::storage;
using Clock = std::chrono::steady_clock;
using Micros = std::chrono::duration<double, std::micro>;

constexpr std::size_t kBodyBytes = 1024;  // a 1 KiB padding bucket
constexpr UnixSeconds kNow = 1'790'000'000;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Row {
  std::string mode;
  int writers = 0;
  std::uint64_t messages = 0;
  double seconds = 0;
  double ack_p50_us = 0, ack_p99_us = 0;
  double commit_p50_us = 0, commit_p99_us = 0;
  double jobs_per_commit = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(messages) / seconds : 0; }
};

void print_header() {
  std::printf("%-34s %7s %8s %10s %9s %9s %10s %10s %8s\n", "mode", "writers", "msgs", "msgs/s",
              "ack p50", "ack p99", "commit p50", "commit p99", "jobs/tx");
}

void print_row(const Row& r) {
  std::printf("%-34s %7d %8llu %10.0f %7.2fms %7.2fms %8.2fms %8.2fms %8.1f\n", r.mode.c_str(),
              r.writers, static_cast<unsigned long long>(r.messages), r.rate(), r.ack_p50_us / 1000,
              r.ack_p99_us / 1000, r.commit_p50_us / 1000, r.commit_p99_us / 1000,
              r.jobs_per_commit);
  std::fflush(stdout);
}

// ---- baseline: bare SQLite, one transaction per statement ----

bool exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s\n", err ? err : "?");
    sqlite3_free(err);
    return false;
  }
  return true;
}

Row run_baseline(const std::filesystem::path& path, double seconds, bool with_delete) {
  Row row;
  row.mode = with_delete ? "baseline: 1 txn/insert + 1 txn/delete" : "baseline: 1 txn per insert";
  row.writers = 1;
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) std::exit(1);
  exec(db,
       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
       "CREATE TABLE envelopes (id INTEGER PRIMARY KEY, mailbox BLOB NOT NULL, seq INTEGER "
       "NOT NULL, created_minute INTEGER NOT NULL, body BLOB NOT NULL, UNIQUE (mailbox, seq));");
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* del = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO envelopes VALUES (?1, ?2, ?3, ?4, ?5)", -1, &insert, nullptr);
  sqlite3_prepare_v2(db, "DELETE FROM envelopes WHERE mailbox = ?1 AND seq = ?2", -1, &del,
                     nullptr);
  Bytes mailbox = crypto::random_bytes(32);
  Bytes body = crypto::random_bytes(kBodyBytes);
  std::vector<double> commits;
  auto start = Clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  std::int64_t seq = 0;
  while (Clock::now() < end) {
    ++seq;
    auto t0 = Clock::now();
    sqlite3_bind_int64(insert, 1, seq * 7919);
    sqlite3_bind_blob(insert, 2, mailbox.data(), static_cast<int>(mailbox.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 3, seq);
    sqlite3_bind_int64(insert, 4, kNow);
    sqlite3_bind_blob(insert, 5, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    if (sqlite3_step(insert) != SQLITE_DONE) std::exit(1);
    sqlite3_reset(insert);
    commits.push_back(Micros(Clock::now() - t0).count());
    if (with_delete) {
      auto t1 = Clock::now();
      sqlite3_bind_blob(del, 1, mailbox.data(), static_cast<int>(mailbox.size()), SQLITE_STATIC);
      sqlite3_bind_int64(del, 2, seq);
      if (sqlite3_step(del) != SQLITE_DONE) std::exit(1);
      sqlite3_reset(del);
      commits.push_back(Micros(Clock::now() - t1).count());
    }
  }
  row.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  row.messages = static_cast<std::uint64_t>(seq);
  row.ack_p50_us = row.commit_p50_us = percentile(commits, 0.50);
  row.ack_p99_us = row.commit_p99_us = percentile(commits, 0.99);
  row.jobs_per_commit = 1;
  sqlite3_finalize(insert);
  sqlite3_finalize(del);
  sqlite3_close(db);
  return row;
}

// ---- group commit through the StorageThread ----

// A one-thread executor standing in for the server's I/O threads.
class Executor {
 public:
  Executor() : thread_([this] { loop(); }) {}
  ~Executor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(f));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto f = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      f();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

struct GroupRun {
  StorageThread* storage = nullptr;
  Executor* executor = nullptr;
  Bytes body;
  std::atomic<bool> stop{false};
  std::atomic<int> in_flight{0};
  std::atomic<int> errors{0};
  // Touched only on the executor thread.
  std::uint64_t messages = 0;
  std::vector<double> ack_us;
};

void writer_put(GroupRun& run, MailboxId mailbox);

void writer_ack(GroupRun& run, MailboxId mailbox, std::int64_t seq) {
  auto t0 = Clock::now();
  run.storage->write(
      [mailbox, seq](Stores& s) { return s.envelopes.ack(mailbox, seq); },
      deliver_via([&run](std::function<void()> f) { run.executor->post(std::move(f)); },
                  [&run, mailbox, t0](Result<bool> r) {
                    run.ack_us.push_back(Micros(Clock::now() - t0).count());
                    if (!r.is_ok() || !*r) run.errors++;
                    run.messages++;
                    if (run.stop) {
                      run.in_flight--;
                      return;
                    }
                    writer_put(run, mailbox);
                  }));
}

void writer_put(GroupRun& run, MailboxId mailbox) {
  auto t0 = Clock::now();
  run.storage->write(
      [mailbox, &run](Stores& s) { return s.envelopes.put(mailbox, run.body, kNow); },
      deliver_via([&run](std::function<void()> f) { run.executor->post(std::move(f)); },
                  [&run, mailbox, t0](Result<std::int64_t> r) {
                    run.ack_us.push_back(Micros(Clock::now() - t0).count());
                    if (!r.is_ok()) {
                      run.errors++;
                      run.in_flight--;
                      return;
                    }
                    writer_ack(run, mailbox, *r);
                  }));
}

Row run_group(const std::filesystem::path& dir, int writers, double seconds) {
  std::filesystem::create_directories(dir);
  StorageOptions options;
  options.database_path = dir / "hearth.db";
  options.key_path = dir / "storage.key";
  auto storage = Storage::open(options);
  if (!storage.is_ok()) {
    std::fprintf(stderr, "open: %s\n", storage.status().to_string().c_str());
    std::exit(1);
  }
  std::mutex commit_mu;
  std::vector<double> commit_us;
  std::uint64_t committed_jobs = 0;
  GroupCommitOptions group;
  group.on_commit = [&](std::chrono::nanoseconds took, std::size_t jobs) {
    std::lock_guard<std::mutex> lock(commit_mu);
    commit_us.push_back(Micros(took).count());
    committed_jobs += jobs;
  };

  Row row;
  row.mode = "group commit (Hearth, sealed)";
  row.writers = writers;
  {
    Executor executor;
    StorageThread thread(std::move(storage).value(), group);
    GroupRun run;
    run.storage = &thread;
    run.executor = &executor;
    run.body = crypto::random_bytes(kBodyBytes);
    auto start = Clock::now();
    run.in_flight = writers;
    for (int w = 0; w < writers; ++w) {
      MailboxId mailbox = random_id<MailboxId>();
      executor.post([&run, mailbox] { writer_put(run, mailbox); });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    run.stop = true;
    while (run.in_flight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    row.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    // Read the executor-thread state from the executor thread.
    std::promise<void> done;
    executor.post([&] {
      row.messages = run.messages;
      row.ack_p50_us = percentile(run.ack_us, 0.50);
      row.ack_p99_us = percentile(run.ack_us, 0.99);
      done.set_value();
    });
    done.get_future().wait();
    if (run.errors > 0) std::fprintf(stderr, "warning: %d failed operations\n", run.errors.load());
  }
  std::lock_guard<std::mutex> lock(commit_mu);
  row.commit_p50_us = percentile(commit_us, 0.50);
  row.commit_p99_us = percentile(commit_us, 0.99);
  row.jobs_per_commit =
      commit_us.empty() ? 0 : static_cast<double>(committed_jobs) / commit_us.size();
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  double seconds = 5;
  int repeat = 3;
  std::filesystem::path base;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
      seconds = 0.5;
      repeat = 1;
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: storage_bench [--quick] [--seconds N] [--repeat N] [--dir PATH]\n");
      return 2;
    }
  }
  // A real file on the temp directory's filesystem (not tmpfs unless TMPDIR is one).
  if (base.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "hearth-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return 1;
    base = pattern;
  } else {
    std::filesystem::create_directories(base);
  }
  std::printf("storage_bench: %s, SQLite %s, %u hardware threads, %.1f s per run%s\n", base.c_str(),
              sqlite3_libversion(), std::thread::hardware_concurrency(), seconds,
              quick ? " (--quick)" : "");
  std::printf("body %zu bytes; WAL, synchronous=FULL, secure_delete=ON everywhere\n\n", kBodyBytes);
  print_header();
  constexpr int kConfigs = 5;
  std::vector<std::vector<Row>> runs(kConfigs);
  for (int r = 0; r < repeat; ++r) {
    std::string tag = "-" + std::to_string(r);
    runs[0].push_back(run_baseline(base / ("baseline-insert" + tag + ".db"), seconds, false));
    print_row(runs[0].back());
    runs[1].push_back(run_baseline(base / ("baseline-delete" + tag + ".db"), seconds, true));
    print_row(runs[1].back());
    int c = 2;
    for (int writers : {1, 16, 256}) {
      runs[static_cast<std::size_t>(c)].push_back(
          run_group(base / ("group-" + std::to_string(writers) + tag), writers, seconds));
      print_row(runs[static_cast<std::size_t>(c)].back());
      ++c;
    }
  }
  std::vector<Row> median;
  for (auto& config : runs) {
    std::sort(config.begin(), config.end(),
              [](const Row& a, const Row& b) { return a.rate() < b.rate(); });
    median.push_back(config[config.size() / 2]);
  }
  if (repeat > 1) {
    std::printf("\nmedian of %d runs:\n", repeat);
    print_header();
    for (const Row& row : median) print_row(row);
  }
  const Row& insert_only = median[0];
  const Row& insert_delete = median[1];
  const Row& top = median[4];
  std::printf(
      "\nat 256 writers: %.1fx the 1-txn-per-insert baseline, %.1fx the insert+delete "
      "baseline; commit p99 %.2f ms, ack p99 %.2f ms\n",
      top.rate() / insert_only.rate(), top.rate() / insert_delete.rate(), top.commit_p99_us / 1000,
      top.ack_p99_us / 1000);
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  return 0;
}
