// Crash safety: a writer process is SIGKILLed at random points; every write it
// had acknowledged must be there afterwards, whole, and the file must be sound.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "storage/storage.h"
#include "tests/storage/crash_body.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

struct Acked {
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> puts;  // (mailbox, seq) -> n
  std::set<std::pair<std::string, std::int64_t>> deletes;
  std::set<std::pair<std::string, std::int64_t>> deleting;  // issued, maybe not done
  std::set<std::string> mailboxes;
  bool ready = false;  // the current writer has opened the database
};

// Starts the writer with stdout on a pipe; returns its pid and the read end.
std::pair<pid_t, int> spawn_writer(const std::filesystem::path& dir, int writers) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    std::string d = dir.string();
    std::string w = std::to_string(writers);
    const char* argv[] = {HEARTH_CRASH_WRITER, d.c_str(), w.c_str(), nullptr};
    ::execv(HEARTH_CRASH_WRITER, const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

void parse_lines(std::string& buffer, Acked& acked) {
  std::size_t start = 0;
  while (true) {
    auto end = buffer.find('\n', start);
    if (end == std::string::npos) break;
    std::istringstream line(buffer.substr(start, end - start));
    start = end + 1;
    std::string kind, mailbox;
    std::int64_t seq = 0;
    line >> kind;
    if (kind == "READY") {
      acked.ready = true;
    } else if (kind == "PUT") {
      std::int64_t n = 0;
      line >> mailbox >> seq >> n;
      acked.puts[{mailbox, seq}] = n;
      acked.mailboxes.insert(mailbox);
    } else if (kind == "DELETING") {
      line >> mailbox >> seq;
      acked.deleting.insert({mailbox, seq});
    } else if (kind == "DEL") {
      line >> mailbox >> seq;
      acked.deletes.insert({mailbox, seq});
    }
  }
  buffer.erase(0, start);  // keep a trailing partial line (there never is one)
}

// Reads the child's output; kills it `after` past its READY line (or past
// the spawn when `early`, to land inside opening and migrating); reads the
// rest. Returns the child's wait status.
int run_and_kill(pid_t pid, int fd, bool early, std::chrono::milliseconds after, Acked& acked) {
  std::string buffer;
  char chunk[4096];
  acked.ready = false;
  auto now = [] { return std::chrono::steady_clock::now(); };
  // Opening under a sanitizer on a loaded machine can be slow; give it time.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (early) deadline = now() + after;
  auto give_up = now() + std::chrono::seconds(20);
  while (true) {
    if (!deadline && acked.ready) deadline = now() + after;
    auto until = deadline.value_or(give_up);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready > 0) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) break;  // the writer died on its own: the checks below will say why
      buffer.append(chunk, static_cast<std::size_t>(n));
      parse_lines(buffer, acked);
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Everything it printed before dying was acknowledged.
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  parse_lines(buffer, acked);
  ::close(fd);
  return status;
}

// True when our SIGKILL ended the writer. A writer that exited by itself (a
// put or an ack failed, it could not open the database) stopped writing
// early: the round tested nothing, and its exit is itself the failure.
bool killed_by_us(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// Checks the mailboxes in `which` (all when empty): every envelope present
// opens and is whole; every acknowledged put is there unless a delete for it
// was issued; every acknowledged delete is gone.
void verify(const std::filesystem::path& dir, const Acked& acked,
            const std::set<std::string>& which) {
  auto storage = testing::open_storage(dir);
  auto check = storage->db().integrity_check();
  REQUIRE(check.is_ok());
  REQUIRE(*check == "ok");
  std::map<std::string, std::vector<std::pair<std::int64_t, std::int64_t>>> puts_by_mailbox;
  for (const auto& [key, n] : acked.puts) puts_by_mailbox[key.first].push_back({key.second, n});
  for (const std::string& hex : which.empty() ? acked.mailboxes : which) {
    MailboxId mailbox = MailboxId::from(from_hex(hex).value()).value();
    std::map<std::int64_t, Bytes> present;
    for (std::int64_t after = 0;;) {
      auto stored = storage->stores().envelopes.fetch(mailbox, after, kMaxFetch);
      REQUIRE(stored.is_ok());  // every present envelope authenticates
      if (stored->empty()) break;
      after = stored->back().seq;
      for (auto& e : stored.value()) present[e.seq] = std::move(e.ciphertext);
    }
    const std::string prefix = "crash|" + hex + "|";
    for (const auto& [seq, body] : present) {
      std::string text = to_string(body);
      auto bar = text.find('|', prefix.size());
      bool whole =
          text.rfind(prefix, 0) == 0 && bar != std::string::npos &&
          body == test::crash_body(mailbox,
                                   std::stoll(text.substr(prefix.size(), bar - prefix.size())));
      if (!whole) FAIL("torn envelope in mailbox " << hex << " seq " << seq);
    }
    for (const auto& [seq, n] : puts_by_mailbox[hex]) {
      std::pair<std::string, std::int64_t> key{hex, seq};
      bool there = present.count(seq) == 1;
      if (acked.deletes.count(key)) {
        if (there) FAIL("acknowledged delete undone: mailbox " << hex << " seq " << seq);
      } else if (acked.deleting.count(key) == 0) {
        if (!there) FAIL("acknowledged put lost: mailbox " << hex << " seq " << seq);
        if (present[seq] != test::crash_body(mailbox, n))
          FAIL("wrong body: mailbox " << hex << " seq " << seq);
      }
    }
  }
}

TEST_CASE("every acknowledged write survives SIGKILL at random points", "[storage][slow]") {
  test::TempDir dir;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(0, 200);
  std::uniform_int_distribution<int> percent(0, 99);
  constexpr int kRounds = 60;
  Acked acked;
  auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    Acked before = acked;
    auto [pid, fd] = spawn_writer(dir.path(), 8);
    bool early = percent(rng) < 10;  // some kills land while the database is being opened
    int status =
        run_and_kill(pid, fd, early,
                     std::chrono::milliseconds(early ? delay_ms(rng) / 4 : delay_ms(rng)), acked);
    INFO("writer " << describe(status));
    REQUIRE(killed_by_us(status));
    std::set<std::string> fresh;
    for (const auto& m : acked.mailboxes)
      if (before.mailboxes.count(m) == 0) fresh.insert(m);
    if (fresh.empty() && !acked.mailboxes.empty()) fresh.insert(*acked.mailboxes.begin());
    verify(dir.path(), acked, fresh);  // integrity_check every round, bodies of the new mailboxes
  }
  verify(dir.path(), acked, {});  // and everything, once more, at the end
  auto took = std::chrono::steady_clock::now() - start;
  INFO("acknowledged puts: " << acked.puts.size() << ", deletes: " << acked.deletes.size());
  WARN("crash test: " << kRounds << " kills, " << acked.puts.size() << " acknowledged puts, "
                      << acked.deletes.size() << " acknowledged deletes, "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms");
  // The kills landed while work was going on, not only before the first write.
  REQUIRE(acked.puts.size() > 100);
  REQUIRE(acked.deletes.size() > 10);
}

TEST_CASE("the crash test notices a writer that exits by itself", "[storage]") {
  test::TempDir dir;
  Acked acked;
  // With no writer threads the writer prints READY and returns 0, like a
  // writer whose put failed would exit on its own.
  auto [pid, fd] = spawn_writer(dir.path(), 0);
  // Generous: closing the database and, under ASan, the leak check at exit
  // take a while on a loaded machine; the loop ends as soon as it exits.
  int status = run_and_kill(pid, fd, false, std::chrono::seconds(60), acked);
  INFO("writer " << describe(status));
  REQUIRE(acked.ready);
  REQUIRE_FALSE(killed_by_us(status));
  REQUIRE(describe(status) == "exited with status 0");
}

}  // namespace
}  // namespace hearth::storage
