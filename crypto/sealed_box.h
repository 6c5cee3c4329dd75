// Org records: data sealed to the organisation's offline key.
//
// The server writes outcome records and handoff receipts sealed to the org's
// X25519 record key; only the admin's machine, which holds the private half, can
// open them (reference/crypto.md §2.7). The sender is anonymous and keeps no
// key, so even the server that wrote a record cannot read it back.
//
// Thread safety: pure functions.
#pragma once

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/keys.h"

namespace hearth::crypto {

inline constexpr std::size_t kSealOverhead = 48;  // ephemeral key + tag

// Seals `record` to `org_record_key`. Anyone with the public key can seal.
Bytes seal_org_record(const DhPublicKey& org_record_key, ByteView record);

// Opens a sealed record. kAuthFailed for a wrong key or any modified byte;
// kInvalidArgument when `sealed` is too short.
Result<Bytes> open_org_record(const DhKey& org_record_key, ByteView sealed);

}  // namespace hearth::crypto
