#include "storage/vault_store.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kTable = "vaults";

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

Status VaultStore::create(ByteView login_id, ByteView login_public_key, ByteView blob) {
  HEARTH_ASSIGN_OR_RETURN(Bytes lookup, lookup_of(login_id));
  if (blob.size() > kMaxVaultBlobBytes)
    return error(Code::kLimitExceeded, "vault is larger than the limit");
  if (login_public_key.size() != crypto::kPublicKeyBytes)
    return error(Code::kInvalidArgument, "login public key has the wrong length");
  HEARTH_ASSIGN_OR_RETURN(
      Statement insert,
      db_.cached("INSERT INTO vaults (id, lookup, version, sealed) VALUES (?1, ?2, 1, ?3)"));
  insert.bind(1, random_row_id()).bind(2, lookup);
  insert.bind(3, sealer_.seal(kTable, row_key(lookup, 1), encode(login_public_key, blob)));
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

}  // namespace hearth::storage
