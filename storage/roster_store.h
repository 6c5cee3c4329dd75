// RosterStore: the signed roster and the responder certificates it lists.
//
// Both are public by design — the server hands them to every survivor who asks
// to be routed — and are signed on the admin's machine, so they are stored as
// given, not sealed: sealing would hide nothing a visitor cannot fetch. The
// store refuses a roster whose epoch is not newer than the latest one (a
// rollback), and keeps only the latest and the previous roster.
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/database.h"

namespace hearth::storage {

struct StoredRoster {
  std::int64_t epoch = 0;
  UnixSeconds stored_minute = 0;
  Bytes signed_roster;
};

struct StoredCertificate {
  Bytes responder_id;
  Bytes certificate;
};

class RosterStore {
 public:
  // `db` must outlive the store.
  explicit RosterStore(Database& db) : db_(db) {}

  // Stores a roster. kConflict when `epoch` is not above the latest stored
  // epoch; kLimitExceeded when it is over kMaxRosterBytes.
  Status put_roster(std::int64_t epoch, ByteView signed_roster, UnixSeconds now);
  // kNotFound before the first roster.
  Result<StoredRoster> latest_roster();

  // Stores or replaces a responder's certificate.
  Status put_certificate(ByteView responder_id, ByteView certificate);
  // kNotFound when the responder has none.
  Result<Bytes> certificate(ByteView responder_id);
  Result<std::vector<StoredCertificate>> certificates();
  // Ok if it was not there.
  Status remove_certificate(ByteView responder_id);

 private:
  Database& db_;
};

}  // namespace hearth::storage
