// AuditLog: the hash-chained record of admin actions.
//
// Each entry stores hash = BLAKE2b-256(key = audit subkey, prev_hash ‖ entry),
// where entry = seq ‖ minute ‖ action ‖ detail (length-prefixed) and the first
// entry's prev_hash is 32 zero bytes. Keying the hash with a subkey of the
// master key means someone who can write the database file but does not hold
// the key file cannot rewrite an entry and recompute the chain after it.
// verify_chain() walks the chain and returns the head, which an admin can note
// down elsewhere: deleting the newest entries is only visible against such a
// noted head.
//
// Entries are in the clear: they describe what admins did (certify, revoke,
// publish a roster, change rules, back up), never anything about a survivor or
// a case. Callers must keep it that way.
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/database.h"
#include "storage/sealer.h"

namespace hearth::storage {

struct AuditEntry {
  std::int64_t seq = 0;
  UnixSeconds minute = 0;
  std::string action;
  std::string detail;
  Bytes hash;
};

struct AuditHead {
  std::int64_t seq = 0;  // 0 for an empty log
  Bytes hash;            // 32 zero bytes for an empty log
};

class AuditLog {
 public:
  // Both must outlive the log.
  AuditLog(Database& db, const Sealer& sealer) : db_(db), sealer_(sealer) {}

  // Appends an entry and returns it. kInvalidArgument on an empty action or
  // on text containing an IP address (Hearth stores none, anywhere);
  // kLimitExceeded when action or detail is over kMaxAuditTextBytes.
  Result<AuditEntry> append(std::string_view action, std::string_view detail, UnixSeconds now);

  // Up to `limit` entries with seq > after_seq, in order. kInvalidArgument
  // when `limit` is above kMaxFetch.
  Result<std::vector<AuditEntry>> entries(std::int64_t after_seq, std::size_t limit);

  // Recomputes every link. The head when all verify; kCorrupt naming the first
  // entry whose hash or sequence does not.
  Result<AuditHead> verify_chain();

 private:
  Bytes link(ByteView prev_hash, const AuditEntry& entry) const;

  Database& db_;
  const Sealer& sealer_;
};

}  // namespace hearth::storage
