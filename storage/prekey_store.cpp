#include "storage/prekey_store.h"

#include "storage/types.h"

namespace hearth::storage {
namespace {

Status check_record(const PrekeyRecord& prekey) {
  if (prekey.record.empty() || prekey.record.size() > kMaxPrekeyRecordBytes)
    return error(Code::kLimitExceeded, "prekey record is empty or too large");
  return Status::ok();
}

}  // namespace

Status PrekeyStore::put_signed_prekey(ByteView responder_id, const PrekeyRecord& prekey,
                                      UnixSeconds now) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_TRY(check_record(prekey));
  Savepoint sp(db_, "spk_put");
  HEARTH_TRY(sp.status());
  std::int64_t generation = 0;
  {
    HEARTH_ASSIGN_OR_RETURN(Statement max, db_.cached("SELECT coalesce(max(generation), 0) FROM "
                                                      "signed_prekeys WHERE responder_id = ?1"));
    max.bind(1, responder_id);
    HEARTH_ASSIGN_OR_RETURN(bool row, max.step());
    if (!row) return error(Code::kInternal, "max returned no row");
    generation = max.column_int64(0) + 1;
  }
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement insert,
        db_.cached("INSERT INTO signed_prekeys (responder_id, generation, prekey_id, "
                   "uploaded_minute, record) VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.bind(1, responder_id).bind(2, generation).bind(3, std::int64_t{prekey.id});
    insert.bind(4, to_minute(now)).bind(5, prekey.record);
    HEARTH_TRY(insert.run());
  }
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement prune,
        db_.cached("DELETE FROM signed_prekeys WHERE responder_id = ?1 AND generation < ?2"));
    prune.bind(1, responder_id).bind(2, generation - 1);
    HEARTH_TRY(prune.run());
  }
  return sp.commit();
}

Result<PrekeyRecord> PrekeyStore::current_signed_prekey(ByteView responder_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT prekey_id, record FROM signed_prekeys WHERE "
                                     "responder_id = ?1 ORDER BY generation DESC LIMIT 1"));
  select.bind(1, responder_id);
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return error(Code::kNotFound, "no signed prekey for this responder");
  return PrekeyRecord{static_cast<std::uint32_t>(select.column_int64(0)), select.column_blob(1)};
}

Status PrekeyStore::add_one_time_prekeys(ByteView responder_id,
                                         std::span<const PrekeyRecord> prekeys) {
  HEARTH_TRY(check_responder_id(responder_id));
  for (const auto& p : prekeys) HEARTH_TRY(check_record(p));
  Savepoint sp(db_, "opk_add");
  HEARTH_TRY(sp.status());
  HEARTH_ASSIGN_OR_RETURN(std::int64_t have, one_time_prekey_count(responder_id));
  if (static_cast<std::size_t>(have) + prekeys.size() > kMaxOneTimePrekeys)
    return error(Code::kLimitExceeded, "too many one-time prekeys for this responder");
  for (const auto& p : prekeys) {
    HEARTH_ASSIGN_OR_RETURN(Statement insert,
                            db_.cached("INSERT INTO one_time_prekeys (responder_id, prekey_id, "
                                       "record) VALUES (?1, ?2, ?3)"));
    insert.bind(1, responder_id).bind(2, std::int64_t{p.id}).bind(3, p.record);
    Status status = insert.run();
    if (status.code() == Code::kAlreadyExists)
      return error(Code::kAlreadyExists, "one-time prekey id already stored");
    HEARTH_TRY(status);
  }
  return sp.commit();
}

Result<std::optional<PrekeyRecord>> PrekeyStore::claim_one_time_prekey(ByteView responder_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  // One statement selects and deletes, so the same prekey can never be
  // returned twice, whatever else runs on this connection.
  HEARTH_ASSIGN_OR_RETURN(
      Statement claim,
      db_.cached("DELETE FROM one_time_prekeys WHERE responder_id = ?1 AND prekey_id = "
                 "(SELECT prekey_id FROM one_time_prekeys WHERE responder_id = ?1 "
                 "ORDER BY prekey_id LIMIT 1) RETURNING prekey_id, record"));
  claim.bind(1, responder_id);
  HEARTH_ASSIGN_OR_RETURN(bool row, claim.step());
  if (!row) return std::optional<PrekeyRecord>();
  PrekeyRecord out{static_cast<std::uint32_t>(claim.column_int64(0)), claim.column_blob(1)};
  HEARTH_TRY(claim.run());  // finish the statement so the delete is complete
  return std::optional<PrekeyRecord>(std::move(out));
}

Result<std::optional<PrekeyRecord>> PrekeyStore::find_one_time_prekey(
    ByteView responder_id, const std::function<bool(std::uint32_t)>& accept) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT prekey_id, record FROM one_time_prekeys WHERE "
                                     "responder_id = ?1 ORDER BY prekey_id"));
  select.bind(1, responder_id);
  for (;;) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) return std::optional<PrekeyRecord>();
    auto id = static_cast<std::uint32_t>(select.column_int64(0));
    if (accept(id)) return std::optional<PrekeyRecord>(PrekeyRecord{id, select.column_blob(1)});
  }
}

Result<bool> PrekeyStore::consume_one_time_prekey(ByteView responder_id, std::uint32_t prekey_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_ASSIGN_OR_RETURN(
      Statement del,
      db_.cached("DELETE FROM one_time_prekeys WHERE responder_id = ?1 AND prekey_id = ?2 "
                 "RETURNING prekey_id"));
  del.bind(1, responder_id).bind(2, std::int64_t{prekey_id});
  HEARTH_ASSIGN_OR_RETURN(bool row, del.step());
  if (row) HEARTH_TRY(del.run());  // finish the statement so the delete is complete
  return row;
}

Result<std::int64_t> PrekeyStore::one_time_prekey_count(ByteView responder_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_ASSIGN_OR_RETURN(
      Statement count, db_.cached("SELECT count(*) FROM one_time_prekeys WHERE responder_id = ?1"));
  count.bind(1, responder_id);
  HEARTH_ASSIGN_OR_RETURN(bool row, count.step());
  if (!row) return error(Code::kInternal, "count returned no row");
  return count.column_int64(0);
}

Status PrekeyStore::remove_responder(ByteView responder_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  Savepoint sp(db_, "prekeys_drop");
  HEARTH_TRY(sp.status());
  for (const char* sql : {"DELETE FROM signed_prekeys WHERE responder_id = ?1",
                          "DELETE FROM one_time_prekeys WHERE responder_id = ?1"}) {
    HEARTH_ASSIGN_OR_RETURN(Statement del, db_.prepare(sql));
    del.bind(1, responder_id);
    HEARTH_TRY(del.run());
  }
  return sp.commit();
}

}  // namespace hearth::storage
