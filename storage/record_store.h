// RecordStore: org records (outcomes, handoff receipts) sealed to the org's offline key.
//
// The caller seals each record with crypto::seal_org_record before it gets
// here; the server cannot open what it stored. Records wait until the admin
// exports them (then remove()), so the table holds only what has not been
// collected yet.
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/database.h"

namespace hearth::storage {

struct OrgRecord {
  std::int64_t id = 0;
  UnixSeconds created_minute = 0;
  Bytes sealed_record;
};

class RecordStore {
 public:
  // `db` must outlive the store.
  explicit RecordStore(Database& db) : db_(db) {}

  // Stores a sealed record and returns its id. kLimitExceeded when it is empty
  // or over kMaxOrgRecordBytes.
  Result<std::int64_t> append(ByteView sealed_record, UnixSeconds now);
  // Up to `limit` records, oldest minute first. kInvalidArgument when `limit`
  // is above kMaxFetch.
  Result<std::vector<OrgRecord>> list(std::size_t limit);
  // Deletes an exported record. Ok if it was not there.
  Status remove(std::int64_t id);

 private:
  Database& db_;
};

}  // namespace hearth::storage
