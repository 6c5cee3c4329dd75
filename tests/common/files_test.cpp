// Private files: atomic, 0600, and refused when loose or linked.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/files.h"
#include "tests/support/test_support.h"

namespace hearth {
namespace {

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("a private file is written 0600 and read back", "[common]") {
  test::TempDir dir;
  const auto path = dir.path() / "key";
  const mode_t old_umask = ::umask(0);  // even with a permissive umask
  REQUIRE(write_private_file(path, to_bytes("secret")).is_ok());
  ::umask(old_umask);
  REQUIRE(mode_of(path) == 0600);
  REQUIRE(to_string(read_private_file(path, 100).value()) == "secret");
  REQUIRE(write_private_file(path, to_bytes("newer")).is_ok());
  REQUIRE(to_string(read_private_file(path, 100).value()) == "newer");
  // Nothing temporary is left beside it.
  REQUIRE(std::distance(std::filesystem::directory_iterator(dir.path()),
                        std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("a private file refuses to replace, and refuses loose or linked files", "[common]") {
  test::TempDir dir;
  const auto path = dir.path() / "key";
  REQUIRE(write_private_file(path, to_bytes("one"), Overwrite::kRefuse).is_ok());
  REQUIRE(write_private_file(path, to_bytes("two"), Overwrite::kRefuse).code() ==
          Code::kAlreadyExists);
  REQUIRE(to_string(read_private_file(path, 100).value()) == "one");
  REQUIRE(read_private_file(path, 2).status().code() == Code::kLimitExceeded);
  REQUIRE(read_private_file(dir.path() / "absent", 100).status().code() == Code::kNotFound);

  ::chmod(path.c_str(), 0644);
  REQUIRE(read_private_file(path, 100).status().code() == Code::kInvalidArgument);
  ::chmod(path.c_str(), 0600);

  const auto link = dir.path() / "link";
  std::filesystem::create_symlink(path, link);
  REQUIRE(read_private_file(link, 100).status().code() == Code::kInvalidArgument);

  REQUIRE(write_private_file(dir.path() / "no" / "such" / "dir", to_bytes("x")).code() ==
          Code::kUnavailable);
}

TEST_CASE("a private directory is created 0700", "[common]") {
  test::TempDir dir;
  const auto sub = dir.path() / "a" / "b";
  REQUIRE(make_private_directory(sub).is_ok());
  REQUIRE(mode_of(sub) == 0700);
  ::chmod(sub.c_str(), 0755);
  REQUIRE(make_private_directory(sub).is_ok());
  REQUIRE(mode_of(sub) == 0700);
}

}  // namespace
}  // namespace hearth
