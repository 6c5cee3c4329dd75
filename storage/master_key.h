// MasterKey: the server's storage master key, kept in a 0600 file outside the database.
//
// Everything the storage layer seals at rest, and every blind index it keeps,
// hangs off this one 32-byte key through crypto::derive_subkey. The key never
// enters the database, so a copy of the database file alone (a stolen backup,
// a seized disk image without the key directory) yields sealed blobs and keyed
// hashes with nothing to test guesses against (reference/crypto.md §2.7, T3).
//
// The key file is raw: exactly 32 random bytes, mode 0600 (no group or other
// bits), a regular file owned by the server's user. Anything else is refused
// with a clear error rather than "fixed", because a world-readable key has
// already leaked. The key lives in SecretBytes (locked, wiped memory).
//
// Thread safety: immutable after load; const methods are safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/status.h"
#include "crypto/secret.h"

namespace hearth::storage {

inline constexpr std::size_t kMasterKeyBytes = 32;

// What a subkey is for. The values are the crypto_kdf subkey ids under the
// context "HLSTORE1"; they are part of the storage format and never change.
enum class KeyPurpose : std::uint64_t {
  kRowSealing = 1,   // XChaCha20-Poly1305 key for sealed rows
  kBlindIndex = 2,   // keyed BLAKE2b for lookup columns (mailboxes, cases, counters)
  kVaultPepper = 3,  // keyed BLAKE2b for vault lookup ids
  kAuditChain = 4,   // keyed BLAKE2b for the audit log's hash chain
};

class MasterKey {
 public:
  // Reads the key at `path`. kNotFound when there is no file; kInvalidArgument
  // when it is not a regular file, is a symlink, is readable or writable by
  // group or others, is owned by another user, or is not exactly 32 bytes;
  // kUnavailable when it cannot be read.
  static Result<MasterKey> load(const std::filesystem::path& path);

  // Writes a fresh random key to `path` (created 0600, fsync'ed, directory
  // fsync'ed) and returns it. kAlreadyExists when the file exists: an existing
  // key is never overwritten. kUnavailable when it cannot be written; a
  // partial file is removed.
  static Result<MasterKey> create(const std::filesystem::path& path);

  // The subkey for `purpose`, 32 bytes.
  crypto::SecretBytes derive(KeyPurpose purpose) const;

 private:
  explicit MasterKey(crypto::SecretBytes key) : key_(std::move(key)) {}
  crypto::SecretBytes key_;
};

}  // namespace hearth::storage
