// Sealer: encryption at rest and blind indexes for the rows Hearth must keep.
//
// seal() wraps a row's private columns in XChaCha20-Poly1305 under the row
// sealing subkey, with associated data = length-prefixed table name ‖ row key,
// so a sealed blob cannot be moved to another row or table without failing to
// open (reference/crypto.md §2.7). blind_index() is keyed BLAKE2b-256 under the
// blind-index subkey, domain-separated by what is being indexed: the database
// can be searched by a mailbox or case id without holding it, and someone with
// the file alone cannot test a guessed id against the index.
//
// Thread safety: immutable after construction; const methods are safe from
// any thread.
#pragma once

#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret.h"
#include "storage/master_key.h"

namespace hearth::storage {

inline constexpr std::size_t kBlindIndexBytes = 32;

class Sealer {
 public:
  explicit Sealer(const MasterKey& key);

  // Seals `plaintext` for row `row_key` of `table`.
  Bytes seal(std::string_view table, ByteView row_key, ByteView plaintext) const;
  // Opens a sealed row. kCorrupt when it does not authenticate (a modified
  // row, a row moved between keys, or a database sealed under another key).
  Result<Bytes> open(std::string_view table, ByteView row_key, ByteView sealed) const;

  // Keyed BLAKE2b-256 of `value`, domain-separated by `kind` ("mailbox", ...).
  Bytes blind_index(std::string_view kind, ByteView value) const;
  // BLAKE2b-256(key = vault pepper, login_id): the vault lookup column.
  Bytes vault_lookup(ByteView login_id) const;
  // Keyed BLAKE2b-256 of prev_hash ‖ entry: one link of the audit chain.
  Bytes chain_hash(ByteView prev_hash, ByteView entry) const;

 private:
  crypto::SecretBytes row_key_;
  crypto::SecretBytes index_key_;
  crypto::SecretBytes pepper_;
  crypto::SecretBytes audit_key_;
};

}  // namespace hearth::storage
