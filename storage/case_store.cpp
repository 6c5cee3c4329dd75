#include "storage/case_store.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kTable = "cases";
// Sealed layout: case id (16) ‖ opened minute (u64) ‖ updated minute (u64) ‖ fields.
constexpr std::size_t kHeaderBytes = kIdBytes + 16;

}  // namespace

Bytes CaseStore::seal_row(ByteView index, const CaseRow& row) const {
  Bytes plain(row.id.bytes.begin(), row.id.bytes.end());
  append_u64_be(plain, static_cast<std::uint64_t>(row.opened_minute));
  append_u64_be(plain, static_cast<std::uint64_t>(row.updated_minute));
  append(plain, row.fields);
  return sealer_.seal(kTable, row_key(index, row.version), plain);
}

Result<CaseRow> CaseStore::decode(ByteView index, std::int64_t version, ByteView sealed) const {
  HEARTH_ASSIGN_OR_RETURN(Bytes plain, sealer_.open(kTable, row_key(index, version), sealed));
  if (plain.size() < kHeaderBytes) return error(Code::kCorrupt, "cases: sealed row is damaged");
  CaseRow row;
  std::copy(plain.begin(), plain.begin() + kIdBytes, row.id.bytes.begin());
  row.version = version;
  row.opened_minute = static_cast<UnixSeconds>(read_u64_be(plain, kIdBytes));
  row.updated_minute = static_cast<UnixSeconds>(read_u64_be(plain, kIdBytes + 8));
  row.fields.assign(plain.begin() + kHeaderBytes, plain.end());
  return row;
}

Status CaseStore::create(const CaseId& id, ByteView fields, UnixSeconds now) {
  if (fields.size() > kMaxCaseFieldsBytes)
    return error(Code::kLimitExceeded, "case fields are larger than the limit");
  Bytes index = sealer_.blind_index("case", id.view());
  CaseRow row{id, 1, to_minute(now), to_minute(now), Bytes(fields.begin(), fields.end())};
  HEARTH_ASSIGN_OR_RETURN(
      Statement insert,
      db_.cached("INSERT INTO cases (case_index, version, sealed) VALUES (?1, ?2, ?3)"));
  insert.bind(1, index).bind(2, row.version).bind(3, seal_row(index, row));
  Status status = insert.run();
  if (status.code() == Code::kAlreadyExists)
    return error(Code::kAlreadyExists, "case already exists");
  return status;
}

Result<CaseRow> CaseStore::get(const CaseId& id) {
  Bytes index = sealer_.blind_index("case", id.view());
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT version, sealed FROM cases WHERE case_index = ?1"));
  select.bind(1, index);
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return error(Code::kNotFound, "no such open case");
  HEARTH_ASSIGN_OR_RETURN(CaseRow out,
                          decode(index, select.column_int64(0), select.column_blob(1)));
  if (out.id != id) return error(Code::kCorrupt, "cases: sealed row is damaged");
  return out;
}

Result<std::int64_t> CaseStore::update(const CaseId& id, std::int64_t expected_version,
                                       ByteView fields, UnixSeconds now) {
  if (fields.size() > kMaxCaseFieldsBytes)
    return error(Code::kLimitExceeded, "case fields are larger than the limit");
  Savepoint sp(db_, "case_update");
  HEARTH_TRY(sp.status());
  HEARTH_ASSIGN_OR_RETURN(CaseRow row, get(id));
  if (row.version != expected_version) return error(Code::kConflict, "case has moved on");
  Bytes index = sealer_.blind_index("case", id.view());
  row.version = expected_version + 1;
  row.updated_minute = to_minute(now);
  row.fields.assign(fields.begin(), fields.end());
  {
    HEARTH_ASSIGN_OR_RETURN(Statement update,
                            db_.cached("UPDATE cases SET version = ?1, sealed = ?2 "
                                       "WHERE case_index = ?3 AND version = ?4"));
    update.bind(1, row.version).bind(2, seal_row(index, row)).bind(3, index);
    update.bind(4, expected_version);
    HEARTH_TRY(update.run());
    if (db_.changes() != 1) return error(Code::kConflict, "case has moved on");
  }
  HEARTH_TRY(sp.commit());
  return row.version;
}

Result<std::vector<CaseRow>> CaseStore::list_open() {
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT case_index, version, sealed FROM cases"));
  std::vector<CaseRow> out;
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    Bytes index = select.column_blob(0);
    auto decoded = decode(index, select.column_int64(1), select.column_blob(2));
    // The index must be the one its own id gives, or the row was moved.
    if (!decoded.is_ok() ||
        !crypto::constant_time_equal(index, sealer_.blind_index("case", decoded->id.view()))) {
      ++damaged_rows_;
      continue;
    }
    out.push_back(std::move(decoded).value());
  }
  return out;
}

Status CaseStore::remove(const CaseId& id) {
  HEARTH_ASSIGN_OR_RETURN(Statement del, db_.cached("DELETE FROM cases WHERE case_index = ?1"));
  del.bind(1, sealer_.blind_index("case", id.view()));
  return del.run();
}

}  // namespace hearth::storage
