// storage_crash_writer <dir> <writers>: the process the crash test kills.
//
// Opens <dir>/hearth.db (key <dir>/storage.key) and runs <writers> threads,
// each putting envelopes into its own fresh mailbox through the storage
// thread and acknowledging (deleting) every third one. After each write is
// acknowledged by storage — committed — it prints one line to stdout, in a
// single write() so a kill never leaves half a line:
//   PUT <mailbox hex> <seq> <n>     envelope n of this mailbox stored as seq
//   DELETING <mailbox hex> <seq>    about to delete envelope seq (it may vanish now)
//   DEL <mailbox hex> <seq>         envelope seq acknowledged and deleted
// The body of envelope n is crash_body(mailbox, n) (tests/storage/crash_body.h).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "storage/storage_thread.h"
#include "tests/storage/crash_body.h"

namespace {

using namespace hearth;
using namespace hearth::storage;

void say(const std::string& line) {
  std::string out = line + "\n";
  // One write per line: atomic on a pipe for lines under PIPE_BUF.
  if (::write(STDOUT_FILENO, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
    std::_Exit(3);
}

void writer(StorageThread& thread) {
  MailboxId mailbox = random_id<MailboxId>();
  std::string hex = to_hex(mailbox.view());
  SystemClock clock;
  for (std::int64_t n = 1;; ++n) {
    Bytes body = test::crash_body(mailbox, n);
    auto put = thread
                   .write_future([&](Stores& s) -> Result<std::int64_t> {
                     return s.envelopes.put(mailbox, body, clock.now());
                   })
                   .get();
    if (!put.is_ok()) {
      std::fprintf(stderr, "put failed: %s\n", put.status().to_string().c_str());
      std::_Exit(4);
    }
    say("PUT " + hex + " " + std::to_string(*put) + " " + std::to_string(n));
    if (n % 3 == 0) {
      std::int64_t seq = *put - 1;
      say("DELETING " + hex + " " + std::to_string(seq));  // from here on it may be gone
      auto del = thread
                     .write_future(
                         [&](Stores& s) -> Result<bool> { return s.envelopes.ack(mailbox, seq); })
                     .get();
      if (!del.is_ok()) std::_Exit(5);
      say("DEL " + hex + " " + std::to_string(seq));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: storage_crash_writer <dir> <writers>\n");
    return 2;
  }
  std::string dir = argv[1];
  int writers = std::atoi(argv[2]);
  StorageOptions options;
  options.database_path = dir + "/hearth.db";
  options.key_path = dir + "/storage.key";
  auto storage = Storage::open(options);
  if (!storage.is_ok()) {
    std::fprintf(stderr, "open failed: %s\n", storage.status().to_string().c_str());
    return 1;
  }
  GroupCommitOptions group;
  group.checkpoint_every_commits = 16;  // so kills also land inside checkpoints
  group.idle_checkpoint_after = std::chrono::milliseconds(20);
  StorageThread thread(std::move(storage).value(), group);
  say("READY");
  std::vector<std::thread> threads;
  for (int i = 0; i < writers; ++i) threads.emplace_back([&thread] { writer(thread); });
  for (auto& t : threads) t.join();  // never: the test kills us
  return 0;
}
