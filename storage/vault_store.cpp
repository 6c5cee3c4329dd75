#include "storage/vault_store.h"

#include <set>
#include <vector>

#include "crypto/vault.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kTable = "vaults";
// One bound on a vault's size, from sealing to the codec to here.
static_assert(kMaxVaultBlobBytes == crypto::kMaxVaultBlobBytes);
constexpr std::string_view kKeyIndexKind = "vault-login-key";

Bytes encode(ByteView login_public_key, ByteView blob) {
  Bytes out;
  append_lp(out, login_public_key);
  append(out, blob);
  return out;
}

}  // namespace

Result<Bytes> VaultStore::lookup_of(ByteView login_id) const {
  if (login_id.size() < kMinLoginIdBytes || login_id.size() > kMaxLoginIdBytes)
    return error(Code::kInvalidArgument, "login id has the wrong length");
  return sealer_.vault_lookup(login_id);
}

Bytes VaultStore::key_index_of(ByteView login_public_key) const {
  return sealer_.blind_index(kKeyIndexKind, login_public_key);
}

Status VaultStore::create(ByteView login_id, ByteView login_public_key, ByteView blob) {
  HEARTH_ASSIGN_OR_RETURN(Bytes lookup, lookup_of(login_id));
  if (blob.size() > kMaxVaultBlobBytes)
    return error(Code::kLimitExceeded, "vault is larger than the limit");
  if (login_public_key.size() != crypto::kPublicKeyBytes)
    return error(Code::kInvalidArgument, "login public key has the wrong length");
  Bytes key_index = key_index_of(login_public_key);
  {
    // Which unique column is taken decides the answer (NULL: neither; 1: the
    // login id; 0: only the key). The UNIQUE indexes stay the guarantee.
    HEARTH_ASSIGN_OR_RETURN(
        Statement taken,
        db_.cached("SELECT max(lookup = ?1) FROM vaults WHERE lookup = ?1 OR key_index = ?2"));
    taken.bind(1, lookup).bind(2, key_index);
    HEARTH_ASSIGN_OR_RETURN(bool row, taken.step());
    if (row && !taken.is_null(0)) {
      if (taken.column_int64(0) != 0)
        return error(Code::kAlreadyExists, "a vault already exists for this login");
      return error(Code::kConflict, "another vault has this login key");
    }
  }
  HEARTH_ASSIGN_OR_RETURN(Statement insert,
                          db_.cached("INSERT INTO vaults (id, lookup, version, sealed, key_index) "
                                     "VALUES (?1, ?2, 1, ?3, ?4)"));
  insert.bind(1, random_row_id()).bind(2, lookup);
  insert.bind(3, sealer_.seal(kTable, row_key(lookup, 1), encode(login_public_key, blob)));
  insert.bind(4, key_index);
  Status status = insert.run();
  if (status.code() == Code::kAlreadyExists)
    return error(Code::kAlreadyExists, "a vault already exists for this login");
  return status;
}

Result<VaultRecord> VaultStore::get(ByteView login_id) {
  HEARTH_ASSIGN_OR_RETURN(Bytes lookup, lookup_of(login_id));
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT version, sealed FROM vaults WHERE lookup = ?1"));
  select.bind(1, lookup);
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return error(Code::kNotFound, "no such vault");
  VaultRecord record;
  record.version = select.column_int64(0);
  HEARTH_ASSIGN_OR_RETURN(
      Bytes plain, sealer_.open(kTable, row_key(lookup, record.version), select.column_blob(1)));
  if (plain.size() < 4) return error(Code::kCorrupt, "vaults: sealed row is damaged");
  std::uint32_t key_len = (std::uint32_t{plain[0]} << 24) | (std::uint32_t{plain[1]} << 16) |
                          (std::uint32_t{plain[2]} << 8) | std::uint32_t{plain[3]};
  if (plain.size() - 4 < key_len) return error(Code::kCorrupt, "vaults: sealed row is damaged");
  record.login_public_key.assign(plain.begin() + 4, plain.begin() + 4 + key_len);
  record.blob.assign(plain.begin() + 4 + key_len, plain.end());
  return record;
}

Result<std::int64_t> VaultStore::put(ByteView login_id, std::int64_t expected_version,
                                     ByteView blob) {
  if (blob.size() > kMaxVaultBlobBytes)
    return error(Code::kLimitExceeded, "vault is larger than the limit");
  // The login key never changes; read it to reseal it with the new blob. The
  // read and the conditional update run in one savepoint on the one
  // connection, so nothing can slip in between.
  Savepoint sp(db_, "vault_put");
  HEARTH_TRY(sp.status());
  auto current = get(login_id);
  if (!current.is_ok()) return current.status();
  if (current->version != expected_version)
    return error(Code::kConflict, "vault version has moved on");
  HEARTH_ASSIGN_OR_RETURN(Bytes lookup, lookup_of(login_id));
  std::int64_t next = expected_version + 1;
  {
    HEARTH_ASSIGN_OR_RETURN(Statement update,
                            db_.cached("UPDATE vaults SET version = ?1, sealed = ?2 "
                                       "WHERE lookup = ?3 AND version = ?4"));
    update.bind(1, next);
    update.bind(
        2, sealer_.seal(kTable, row_key(lookup, next), encode(current->login_public_key, blob)));
    update.bind(3, lookup).bind(4, expected_version);
    HEARTH_TRY(update.run());
    if (db_.changes() != 1) return error(Code::kConflict, "vault version has moved on");
  }
  HEARTH_TRY(sp.commit());
  return next;
}

Status VaultStore::remove(ByteView login_id) {
  HEARTH_ASSIGN_OR_RETURN(Bytes lookup, lookup_of(login_id));
  HEARTH_ASSIGN_OR_RETURN(Statement del, db_.cached("DELETE FROM vaults WHERE lookup = ?1"));
  del.bind(1, lookup);
  return del.run();
}

Result<std::int64_t> VaultStore::remove_all_but(const std::vector<Bytes>& in_use) {
  std::set<Bytes> keep;
  for (const Bytes& key : in_use) keep.insert(key_index_of(key));
  std::vector<std::int64_t> doomed;
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement select,
        db_.prepare("SELECT id, key_index FROM vaults WHERE key_index IS NOT NULL"));
    for (;;) {
      HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      if (!keep.contains(select.column_blob(1))) doomed.push_back(select.column_int64(0));
    }
  }
  if (doomed.empty()) return std::int64_t{0};
  Savepoint sp(db_, "vault_remove_all_but");
  HEARTH_TRY(sp.status());
  for (std::int64_t id : doomed) {
    HEARTH_ASSIGN_OR_RETURN(Statement del, db_.cached("DELETE FROM vaults WHERE id = ?1"));
    del.bind(1, id);
    HEARTH_TRY(del.run());
  }
  HEARTH_TRY(sp.commit());
  return static_cast<std::int64_t>(doomed.size());
}

Result<std::size_t> VaultStore::index_login_keys() {
  Savepoint sp(db_, "vault_key_index");
  HEARTH_TRY(sp.status());
  struct Row {
    std::int64_t id;
    Bytes lookup;
    std::int64_t version;
    Bytes sealed;
  };
  std::vector<Row> rows;
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement select,
        db_.prepare("SELECT id, lookup, version, sealed FROM vaults WHERE key_index IS NULL"));
    for (;;) {
      HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      rows.push_back({select.column_int64(0), select.column_blob(1), select.column_int64(2),
                      select.column_blob(3)});
    }
  }
  if (rows.empty()) return std::size_t{0};
  std::size_t left = 0;
  for (const Row& r : rows) {
    // The sealed value starts with lp(login public key), as encode() wrote it.
    auto plain = sealer_.open(kTable, row_key(r.lookup, r.version), r.sealed);
    if (!plain.is_ok() || plain->size() < 4 + crypto::kPublicKeyBytes ||
        ((*plain)[0] | (*plain)[1] | (*plain)[2]) != 0 || (*plain)[3] != crypto::kPublicKeyBytes) {
      ++left;
      continue;
    }
    Bytes key_index = key_index_of(ByteView(*plain).subspan(4, crypto::kPublicKeyBytes));
    HEARTH_ASSIGN_OR_RETURN(Statement taken,
                            db_.prepare("SELECT 1 FROM vaults WHERE key_index = ?1"));
    taken.bind(1, key_index);
    HEARTH_ASSIGN_OR_RETURN(bool duplicate, taken.step());
    if (duplicate) {
      ++left;
      continue;
    }
    HEARTH_ASSIGN_OR_RETURN(Statement update,
                            db_.prepare("UPDATE vaults SET key_index = ?1 WHERE id = ?2"));
    update.bind(1, key_index).bind(2, r.id);
    HEARTH_TRY(update.run());
  }
  HEARTH_TRY(sp.commit());
  return left;
}

}  // namespace hearth::storage
