// Identifiers and limits shared by the storage stores.
//
// Case and mailbox ids are random 128-bit values chosen by Hearth (never by a
// peer). The stores never keep them in the clear: each is replaced by a blind
// index (storage/sealer.h), and where the id itself must be recovered (listing
// open cases at start-up) it travels inside the sealed blob.
//
// Thread safety: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/random.h"

namespace hearth::storage {

inline constexpr std::size_t kIdBytes = 16;

struct CaseIdTag {};
struct MailboxIdTag {};
using CaseId = crypto::FixedBytes<CaseIdTag, kIdBytes>;
using MailboxId = crypto::FixedBytes<MailboxIdTag, kIdBytes>;

// A fresh random id.
template <typename Id>
Id random_id() {
  Id id;
  crypto::random_fill(MutableByteView(id.bytes.data(), id.bytes.size()));
  return id;
}

// Limits, each with its reason (docs/storage.md lists them all).
// Responder ids come from certificates; anything longer is not one of ours.
inline constexpr std::size_t kMaxResponderIdBytes = 64;
// kInvalidArgument unless `responder_id` is 1..kMaxResponderIdBytes bytes.
inline Status check_responder_id(ByteView responder_id) {
  if (responder_id.empty() || responder_id.size() > kMaxResponderIdBytes)
    return error(Code::kInvalidArgument, "responder id has the wrong length");
  return Status::ok();
}
// Padded ciphertexts are at most 64 KiB; allow a protocol header on top.
inline constexpr std::size_t kMaxEnvelopeBytes = 64 * 1024 + 4096;
// A vault holds ratchet states and a bounded transcript, padded to 4 KiB
// buckets: crypto::kMaxVaultBlobBytes, the largest blob a client seals
// (vault_store.cpp checks the two agree).
inline constexpr std::size_t kMaxVaultBlobBytes = 1024 * 1024 + 48;
// Routing fields are a handful of enums; 4 KiB is generous.
inline constexpr std::size_t kMaxCaseFieldsBytes = 4096;
// Certificates, rosters and prekey records are small signed structures.
inline constexpr std::size_t kMaxCertificateBytes = 16 * 1024;
inline constexpr std::size_t kMaxRosterBytes = 1024 * 1024;
inline constexpr std::size_t kMaxPrekeyRecordBytes = 1024;
// Enough for a long rotation period; more would be a flood, not a client.
inline constexpr std::size_t kMaxOneTimePrekeys = 1000;
inline constexpr std::size_t kMaxOrgRecordBytes = 64 * 1024;
inline constexpr std::size_t kMaxAuditTextBytes = 1024;
// Most rows one fetch/list/entries call returns; a larger limit is refused
// with kInvalidArgument (callers page with after_seq). Bounds the memory and
// time of one storage-thread job, and keeps the limit a valid positive SQL
// LIMIT: a size_t above INT64_MAX would turn negative, which SQLite reads as
// "no limit".
inline constexpr std::size_t kMaxFetch = 1000;

// Reads a big-endian u64 at `offset`; the caller checked the length.
inline std::uint64_t read_u64_be(ByteView b, std::size_t offset) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | b[offset + i];
  return v;
}

// Row key for sealing: a blind index followed by a big-endian counter.
inline Bytes row_key(ByteView index, std::int64_t n) {
  Bytes out(index.begin(), index.end());
  append_u64_be(out, static_cast<std::uint64_t>(n));
  return out;
}

// A random positive 63-bit row id. Random ids keep the file from recording the
// order in which rows of different conversations were written.
inline std::int64_t random_row_id() {
  Bytes b = crypto::random_bytes(8);
  std::uint64_t v = read_u64_be(b, 0) & 0x7fffffffffffffffULL;
  return v == 0 ? 1 : static_cast<std::int64_t>(v);
}

}  // namespace hearth::storage
