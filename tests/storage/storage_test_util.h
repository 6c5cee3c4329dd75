// Helpers for the storage tests: a database and key in a temporary directory.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "storage/storage.h"
#include "tests/support/test_support.h"

namespace hearth::storage::testing {

inline StorageOptions options_in(const std::filesystem::path& dir) {
  StorageOptions options;
  options.database_path = dir / "hearth.db";
  options.key_path = dir / "storage.key";
  options.database.busy_timeout_ms = 50;
  return options;
}

inline std::unique_ptr<Storage> open_storage(const std::filesystem::path& dir) {
  auto storage = Storage::open(options_in(dir));
  INFO(storage.status().to_string());
  REQUIRE(storage.is_ok());
  return std::move(storage).value();
}

// The whole file as a string (empty when absent), for raw-byte searches.
inline std::string raw_bytes(const std::filesystem::path& path) {
  return test::read_file(path).value_or(std::string());
}

// The database file and its WAL, concatenated.
inline std::string raw_database(Storage& storage) {
  const auto& path = storage.db().path();
  return raw_bytes(path) + raw_bytes(path.string() + "-wal");
}

inline bool contains(const std::string& haystack, ByteView needle) {
  return haystack.find(to_string(needle)) != std::string::npos;
}

}  // namespace hearth::storage::testing
