#include "storage/roster_store.h"

#include "storage/types.h"

namespace hearth::storage {

Status RosterStore::put_roster(std::int64_t epoch, ByteView signed_roster, UnixSeconds now) {
  if (signed_roster.empty() || signed_roster.size() > kMaxRosterBytes)
    return error(Code::kLimitExceeded, "roster is empty or larger than the limit");
  Savepoint sp(db_, "roster_put");
  HEARTH_TRY(sp.status());
  {
    HEARTH_ASSIGN_OR_RETURN(Statement max,
                            db_.cached("SELECT coalesce(max(epoch), -1) FROM rosters"));
    HEARTH_ASSIGN_OR_RETURN(bool row, max.step());
    if (!row) return error(Code::kInternal, "max returned no row");
    if (epoch <= max.column_int64(0))
      return error(Code::kConflict, "roster epoch is not newer than the stored one");
  }
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement insert,
        db_.cached(
            "INSERT INTO rosters (epoch, stored_minute, signed_roster) VALUES (?1, ?2, ?3)"));
    insert.bind(1, epoch).bind(2, to_minute(now)).bind(3, signed_roster);
    HEARTH_TRY(insert.run());
  }
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement prune, db_.cached("DELETE FROM rosters WHERE epoch < (SELECT epoch FROM rosters "
                                    "ORDER BY epoch DESC LIMIT 1 OFFSET 1)"));
    HEARTH_TRY(prune.run());
  }
  return sp.commit();
}

Result<StoredRoster> RosterStore::latest_roster() {
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT epoch, stored_minute, signed_roster FROM rosters "
                                     "ORDER BY epoch DESC LIMIT 1"));
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return error(Code::kNotFound, "no roster stored");
  return StoredRoster{select.column_int64(0), select.column_int64(1), select.column_blob(2)};
}

Status RosterStore::put_certificate(ByteView responder_id, ByteView certificate) {
  HEARTH_TRY(check_responder_id(responder_id));
  if (certificate.empty() || certificate.size() > kMaxCertificateBytes)
    return error(Code::kLimitExceeded, "certificate is empty or larger than the limit");
  HEARTH_ASSIGN_OR_RETURN(
      Statement upsert,
      db_.cached("INSERT INTO certificates (responder_id, certificate) VALUES (?1, ?2) "
                 "ON CONFLICT (responder_id) DO UPDATE SET certificate = excluded.certificate"));
  upsert.bind(1, responder_id).bind(2, certificate);
  return upsert.run();
}

Result<Bytes> RosterStore::certificate(ByteView responder_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_ASSIGN_OR_RETURN(
      Statement select, db_.cached("SELECT certificate FROM certificates WHERE responder_id = ?1"));
  select.bind(1, responder_id);
  HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
  if (!row) return error(Code::kNotFound, "no certificate for this responder");
  return select.column_blob(0);
}

Result<std::vector<StoredCertificate>> RosterStore::certificates() {
  HEARTH_ASSIGN_OR_RETURN(
      Statement select,
      db_.cached("SELECT responder_id, certificate FROM certificates ORDER BY responder_id"));
  std::vector<StoredCertificate> out;
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    out.push_back({select.column_blob(0), select.column_blob(1)});
  }
  return out;
}

Status RosterStore::remove_certificate(ByteView responder_id) {
  HEARTH_TRY(check_responder_id(responder_id));
  HEARTH_ASSIGN_OR_RETURN(Statement del,
                          db_.cached("DELETE FROM certificates WHERE responder_id = ?1"));
  del.bind(1, responder_id);
  return del.run();
}

}  // namespace hearth::storage
