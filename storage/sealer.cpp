#include "storage/sealer.h"

#include "crypto/aead.h"
#include "crypto/hash.h"

namespace hearth::storage {
namespace {

Bytes associated_data(std::string_view table, ByteView row_key) {
  Bytes ad;
  append_lp(ad, as_bytes("HL1/row"));
  append_lp(ad, as_bytes(table));
  append_lp(ad, row_key);
  return ad;
}

}  // namespace

Sealer::Sealer(const MasterKey& key)
    : row_key_(key.derive(KeyPurpose::kRowSealing)),
      index_key_(key.derive(KeyPurpose::kBlindIndex)),
      pepper_(key.derive(KeyPurpose::kVaultPepper)),
      audit_key_(key.derive(KeyPurpose::kAuditChain)) {}

Bytes Sealer::seal(std::string_view table, ByteView row_key, ByteView plaintext) const {
  return crypto::aead_seal(row_key_, plaintext, associated_data(table, row_key));
}

Result<Bytes> Sealer::open(std::string_view table, ByteView row_key, ByteView sealed) const {
  auto opened = crypto::aead_open(row_key_, sealed, associated_data(table, row_key));
  if (!opened.is_ok()) return error(Code::kCorrupt, std::string(table) + ": sealed row is damaged");
  return opened;
}

Bytes Sealer::blind_index(std::string_view kind, ByteView value) const {
  Bytes input;
  append_lp(input, as_bytes(kind));
  append_lp(input, value);
  return crypto::blake2b(input, kBlindIndexBytes, index_key_.view());
}

Bytes Sealer::vault_lookup(ByteView login_id) const {
  return crypto::blake2b(login_id, kBlindIndexBytes, pepper_.view());
}

Bytes Sealer::chain_hash(ByteView prev_hash, ByteView entry) const {
  Bytes input(prev_hash.begin(), prev_hash.end());
  append(input, entry);
  return crypto::blake2b(input, 32, audit_key_.view());
}

}  // namespace hearth::storage
