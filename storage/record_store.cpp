#include "storage/record_store.h"

#include "storage/types.h"

namespace hearth::storage {

Result<std::int64_t> RecordStore::append(ByteView sealed_record, UnixSeconds now) {
  if (sealed_record.empty() || sealed_record.size() > kMaxOrgRecordBytes)
    return error(Code::kLimitExceeded, "org record is empty or larger than the limit");
  std::int64_t id = random_row_id();
  HEARTH_ASSIGN_OR_RETURN(
      Statement insert,
      db_.cached(
          "INSERT INTO org_records (id, created_minute, sealed_record) VALUES (?1, ?2, ?3)"));
  insert.bind(1, id).bind(2, to_minute(now)).bind(3, sealed_record);
  HEARTH_TRY(insert.run());
  return id;
}

Result<std::vector<OrgRecord>> RecordStore::list(std::size_t limit) {
  if (limit > kMaxFetch) return error(Code::kInvalidArgument, "org_records: limit above kMaxFetch");
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT id, created_minute, sealed_record FROM org_records "
                                     "ORDER BY created_minute, id LIMIT ?1"));
  select.bind(1, static_cast<std::int64_t>(limit));
  std::vector<OrgRecord> out;
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    out.push_back({select.column_int64(0), select.column_int64(1), select.column_blob(2)});
  }
  return out;
}

Status RecordStore::remove(std::int64_t id) {
  HEARTH_ASSIGN_OR_RETURN(Statement del, db_.cached("DELETE FROM org_records WHERE id = ?1"));
  del.bind(1, id);
  return del.run();
}

}  // namespace hearth::storage
