// Private files: written whole or not at all, readable only by their owner.
//
// Key files, keystores and state files go through write_private_file(): the
// bytes are written to a temporary name in the same directory (mode 0600
// whatever the umask), fsync'ed, renamed over the target and the directory
// fsync'ed, so a crash leaves the old file or the new one, never a mix or a
// short file. read_private_file() refuses a symbolic link, a file others can
// read or write, and anything larger than the caller's bound.
//
// Thread safety: free functions; two writers of one path race (last rename wins).
#pragma once

#include <cstddef>
#include <filesystem>

#include "common/bytes.h"
#include "common/status.h"

namespace hearth {

enum class Overwrite { kAllow, kRefuse };

// Writes `contents` to `path` atomically with mode 0600. With Overwrite::kRefuse
// an existing file is left alone and kAlreadyExists returned. kUnavailable when
// the directory cannot be written or the disk is full (nothing is left behind).
Status write_private_file(const std::filesystem::path& path, ByteView contents,
                          Overwrite overwrite = Overwrite::kAllow);

// Reads a private file of at most `max_bytes`. kNotFound when it does not
// exist; kInvalidArgument when it is a symbolic link, not a regular file, or
// readable or writable by group or others (the message says to chmod 600);
// kLimitExceeded when larger than `max_bytes`; kUnavailable on an I/O error.
Result<Bytes> read_private_file(const std::filesystem::path& path, std::size_t max_bytes);

// Creates `dir` (and missing parents) mode 0700; an existing directory is
// tightened to 0700 when it is ours. kUnavailable when it cannot be created.
Status make_private_directory(const std::filesystem::path& dir);

}  // namespace hearth
