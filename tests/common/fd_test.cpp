// Fd: the one owner of a file descriptor; closed on every path, moved not copied.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "common/fd.h"

namespace hearth {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int open_null() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST_CASE("Fd closes its descriptor when it goes, and a failed open holds none", "[common]") {
  int raw = -1;
  {
    Fd fd(open_null());
    REQUIRE(fd.valid());
    raw = fd.get();
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
  Fd failed(::open("/nonexistent/hearth", O_RDONLY | O_CLOEXEC));
  CHECK_FALSE(failed.valid());
  CHECK_FALSE(Fd().valid());
}

TEST_CASE("Fd moves ownership, reset closes, release gives it up", "[common]") {
  Fd a(open_null());
  const int raw = a.get();
  Fd b(std::move(a));
  CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  CHECK(b.get() == raw);
  Fd c(open_null());
  const int other = c.get();
  c = std::move(b);  // closes what c held
  CHECK_FALSE(is_open(other));
  CHECK(c.get() == raw);
  c.reset();
  CHECK_FALSE(is_open(raw));
  Fd d(open_null());
  const int kept = d.release();
  CHECK_FALSE(d.valid());
  CHECK(is_open(kept));
  ::close(kept);
}

}  // namespace
}  // namespace hearth
