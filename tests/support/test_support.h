// Helpers shared by Hearth's test binaries.
//
// Thread safety: TempDir is a value; the path functions are pure.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace hearth::test {

// The shared test-vector folder: $HEARTH_VECTORS_DIR if set, else the
// ../shared/vectors beside the checkout. nullopt when it does not exist.
std::optional<std::filesystem::path> vectors_dir();

// tests/ in the source tree (for checked-in fixtures such as tests/vectors/).
std::filesystem::path test_data_dir();

// docs/ in the source tree (the documents some tests hold the code to).
std::filesystem::path docs_dir();

// Reads a whole file; nullopt when it cannot be read.
std::optional<std::string> read_file(const std::filesystem::path& path);

// A fresh private directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hearth::test
