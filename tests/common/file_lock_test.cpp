// FileLock: one holder at a time, released when the holder goes (or moves
// it on), the lock file made 0600 and never reached through a link.
#include "common/file_lock.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <optional>
#include <utility>

#include "tests/support/test_support.h"

namespace hearth {
namespace {

TEST_CASE("a file lock has one holder at a time and is released with it", "[common]") {
  test::TempDir dir;
  const auto path = dir.path() / "thing.lock";
  std::optional<FileLock> first;
  {
    auto taken = FileLock::acquire(path, "busy: try later");
    REQUIRE(taken.is_ok());
    first.emplace(std::move(taken).value());
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // A second holder in this process is refused with the caller's words...
  auto second = FileLock::acquire(path, "busy: try later");
  CHECK(second.status().code() == Code::kUnavailable);
  CHECK(second.status().message() == "busy: try later");
  // ... and so is another process.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(FileLock::acquire(path, "busy").is_ok() ? 0 : 3);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WEXITSTATUS(status) == 3);

  // Moved on, it is still held; destroyed, it is free again.
  FileLock moved = std::move(*first);
  first.reset();
  CHECK_FALSE(FileLock::acquire(path, "busy").is_ok());
  { FileLock gone = std::move(moved); }
  CHECK(FileLock::acquire(path, "busy").is_ok());
}

TEST_CASE("a file lock is not taken through a symbolic link or in a missing directory",
          "[common]") {
  test::TempDir dir;
  const auto target = dir.path() / "elsewhere";
  const auto link = dir.path() / "thing.lock";
  std::filesystem::create_symlink(target, link);
  auto linked = FileLock::acquire(link, "busy");
  CHECK(linked.status().code() == Code::kUnavailable);
  CHECK(linked.status().message().find("cannot open the lock file") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(target));  // nothing was created through it
  auto missing = FileLock::acquire(dir.path() / "no" / "such.lock", "busy");
  CHECK(missing.status().code() == Code::kUnavailable);
}

}  // namespace
}  // namespace hearth
