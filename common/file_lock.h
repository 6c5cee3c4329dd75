// FileLock: "only one program at a time" for a directory or file, by an
// exclusive flock() on a lock file next to it.
//
//   auto lock = FileLock::acquire(dir / "store.lock", "the store is in use by another program");
//   if (!lock.is_ok()) return lock.status();   // kUnavailable, with that message
//   ... work ...                                // released when `lock` goes
//
// The lock file is created 0600 if missing, never through a symbolic link,
// and left in place (its presence means nothing; only the flock does). The
// kernel drops the lock when the process dies, however it dies. flock locks
// belong to an open file, so two FileLocks on one path exclude each other
// within one process too.
//
// Thread safety: a FileLock is a move-only value; acquire() may be called
// from any thread.
#pragma once

#include <filesystem>
#include <string_view>
#include <utility>

#include "common/fd.h"
#include "common/status.h"

namespace hearth {

class FileLock {
 public:
  // kUnavailable `busy` when another holder has it; kUnavailable naming the
  // path when the lock file cannot be opened (a missing directory, no rights).
  static Result<FileLock> acquire(const std::filesystem::path& path, std::string_view busy);

  // Move-only; destroying a FileLock closes the lock file, which releases the lock.

 private:
  explicit FileLock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace hearth
