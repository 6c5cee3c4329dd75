// Schema migrations: ordered steps from an empty file to the current schema.
//
// The schema version is PRAGMA user_version (0 for a new file). Migration N
// brings a database from version N-1 to N inside one transaction that also sets
// user_version = N, so a crash leaves the file at N-1 or at N, never between.
// Migrations are append-only: a released one is never edited; a change is a new
// step. docs/storage.md describes every table and column they create.
//
// Thread safety: free functions on a Database owned by the calling thread.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/status.h"
#include "storage/database.h"

namespace hearth::storage {

struct Migration {
  std::int64_t version;   // the user_version after this step
  std::string_view name;  // for logs and docs
  std::string_view sql;
};

// Every migration, in order; versions are 1, 2, ... without gaps.
std::span<const Migration> migrations();

// The schema version this build writes and reads.
std::int64_t latest_schema_version();

// Applies each migration above the database's version, up to `target`.
// kUnavailable when the file's version is newer than `target` (a newer Hearth
// wrote it: refuse rather than misread it) or when a step cannot be written;
// the failing step leaves no trace.
Status migrate(Database& db, std::int64_t target);
inline Status migrate(Database& db) { return migrate(db, latest_schema_version()); }

}  // namespace hearth::storage
