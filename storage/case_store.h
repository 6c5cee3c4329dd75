// CaseStore: open cases — routing fields and state — sealed at rest, kept only while open.
//
// The storage layer does not interpret a case's fields: the triage layer
// encodes its routing fields and state (need, urgency, language, queue,
// assigned responder, ...) into `fields`, and this store seals them together
// with the case id and its minute-rounded times. The row is found by a blind
// index of the case id and carries a version for compare-and-swap, so two
// responders taking the same case cannot both win. Closing a case deletes the
// row; what survives is a counter (CounterStore) and, optionally, a record
// sealed to the org key (RecordStore).
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/database.h"
#include "storage/sealer.h"
#include "storage/types.h"

namespace hearth::storage {

struct CaseRow {
  CaseId id;
  std::int64_t version = 0;
  UnixSeconds opened_minute = 0;
  UnixSeconds updated_minute = 0;
  Bytes fields;  // the triage layer's encoding of routing fields and state
};

class CaseStore {
 public:
  // Both must outlive the store.
  CaseStore(Database& db, const Sealer& sealer) : db_(db), sealer_(sealer) {}

  // Creates case `id` at version 1. kAlreadyExists when it exists;
  // kLimitExceeded when `fields` is over kMaxCaseFieldsBytes.
  Status create(const CaseId& id, ByteView fields, UnixSeconds now);

  // kNotFound when the case is not open; kCorrupt when its row fails to open.
  Result<CaseRow> get(const CaseId& id);

  // Replaces the fields if the case is still at `expected_version`; returns
  // the new version. kConflict when it moved on; kNotFound when it is gone.
  Result<std::int64_t> update(const CaseId& id, std::int64_t expected_version, ByteView fields,
                              UnixSeconds now);

  // Every open case, for rebuilding the queues at start-up. Order is
  // unspecified. A row that fails to open (or whose index is not its own
  // id's) is skipped and counted in damaged_rows(): one damaged case must not
  // stop the server from routing every other one.
  Result<std::vector<CaseRow>> list_open();

  // Rows skipped by list_open() since this store was created. For metrics.
  std::uint64_t damaged_rows() const { return damaged_rows_; }

  // Deletes the case (closed or deleted by the survivor). Ok if it was not there.
  Status remove(const CaseId& id);

 private:
  Result<CaseRow> decode(ByteView index, std::int64_t version, ByteView sealed) const;
  Bytes seal_row(ByteView index, const CaseRow& row) const;

  Database& db_;
  const Sealer& sealer_;
  std::uint64_t damaged_rows_ = 0;
};

}  // namespace hearth::storage
