// VaultStore: survivors' encrypted vaults, written by compare-and-swap.
//
// A vault is found by the survivor's login id, which the server never keeps:
// the lookup column is BLAKE2b-256 keyed with the vault pepper (a subkey of the
// master key, outside the database; reference/crypto.md §2.6). The login public
// key and the client's already-encrypted blob are sealed again at rest, bound
// to the lookup and the version, so a row cannot be swapped for an older one
// without failing to open. Each put() replaces the row in place; with
// secure_delete the old version's bytes are overwritten, not kept. A blind
// index of the login public key is unique: two vaults never share a login
// key, so on the server a login key stands for exactly one vault.
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "storage/database.h"
#include "storage/sealer.h"
#include "storage/types.h"

namespace hearth::storage {

inline constexpr std::size_t kMinLoginIdBytes = 16;
inline constexpr std::size_t kMaxLoginIdBytes = 64;

struct VaultRecord {
  Bytes login_public_key;
  Bytes blob;
  std::int64_t version = 0;
};

class VaultStore {
 public:
  // Both must outlive the store.
  VaultStore(Database& db, const Sealer& sealer) : db_(db), sealer_(sealer) {}

  // Creates a vault at version 1. kAlreadyExists when the login id is taken;
  // kConflict when another vault has this login public key; kInvalidArgument
  // on a bad login id or key length; kLimitExceeded on a blob over
  // kMaxVaultBlobBytes.
  Status create(ByteView login_id, ByteView login_public_key, ByteView blob);

  // kNotFound when there is no vault for `login_id`; kCorrupt when the row
  // fails to open.
  Result<VaultRecord> get(ByteView login_id);

  // Replaces the blob if the stored version is still `expected_version` and
  // returns the new version (expected_version + 1). kConflict when another
  // write got there first; kNotFound when there is no vault.
  Result<std::int64_t> put(ByteView login_id, std::int64_t expected_version, ByteView blob);

  // Deletes the vault (panic or codename rotation). Ok if it was not there.
  Status remove(ByteView login_id);

  // Deletes every vault whose login public key is not in `in_use` (the
  // login keys that still have a case), found by the blind index of the key:
  // the sweep that forgets vaults left without a case. A vault whose key is
  // not indexed (index_login_keys() left it) is kept. Returns how many went.
  Result<std::int64_t> remove_all_but(const std::vector<Bytes>& in_use);

  // Fills the login-key index of vaults written before schema version 3, in
  // one transaction; run at open, it does nothing once every row is indexed.
  // A row whose key another vault already has (only an attack on the old
  // open_case could write one) or that fails to open is left unindexed and
  // counted. Returns how many rows were left so; errors are the database's.
  Result<std::size_t> index_login_keys();

 private:
  Result<Bytes> lookup_of(ByteView login_id) const;
  Bytes key_index_of(ByteView login_public_key) const;

  Database& db_;
  const Sealer& sealer_;
};

}  // namespace hearth::storage
