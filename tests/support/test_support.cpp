#include "tests/support/test_support.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace hearth::test {

std::optional<std::filesystem::path> vectors_dir() {
  std::filesystem::path dir = HEARTH_VECTORS_DIR;
  if (const char* env = std::getenv("HEARTH_VECTORS_DIR"); env != nullptr && *env != '\0')
    dir = env;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return dir;
}

std::filesystem::path test_data_dir() { return HEARTH_TEST_DATA_DIR; }

std::filesystem::path docs_dir() { return test_data_dir().parent_path() / "docs"; }

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "hearth-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace hearth::test
