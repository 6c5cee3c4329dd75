#include "storage/envelope_store.h"

namespace hearth::storage {
namespace {
constexpr std::string_view kTable = "envelopes";
}  // namespace

Bytes EnvelopeStore::index_of(const MailboxId& mailbox) const {
  return sealer_.blind_index("mailbox", mailbox.view());
}

Result<std::int64_t> EnvelopeStore::put(const MailboxId& mailbox, ByteView ciphertext,
                                        UnixSeconds now) {
  if (ciphertext.size() > kMaxEnvelopeBytes)
    return error(Code::kLimitExceeded, "envelope is larger than the limit");
  Bytes index = index_of(mailbox);
  Savepoint sp(db_, "envelope_put");
  HEARTH_TRY(sp.status());

  std::int64_t seq = 0;
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement next,
        db_.cached("INSERT INTO mailboxes (mailbox_index, last_seq) VALUES (?1, 1) "
                   "ON CONFLICT (mailbox_index) DO UPDATE SET last_seq = last_seq + 1 "
                   "RETURNING last_seq"));
    next.bind(1, index);
    HEARTH_ASSIGN_OR_RETURN(bool row, next.step());
    if (!row) return error(Code::kInternal, "envelope sequence not returned");
    seq = next.column_int64(0);
  }
  Bytes sealed = sealer_.seal(kTable, row_key(index, seq), ciphertext);
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement insert,
        db_.cached("INSERT INTO envelopes (id, mailbox_index, seq, created_minute, sealed) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.bind(1, random_row_id()).bind(2, index).bind(3, seq).bind(4, to_minute(now));
    insert.bind(5, sealed);
    HEARTH_TRY(insert.run());
  }
  HEARTH_TRY(sp.commit());
  return seq;
}

Result<std::vector<StoredEnvelope>> EnvelopeStore::fetch(const MailboxId& mailbox,
                                                         std::int64_t after_seq,
                                                         std::size_t limit) {
  if (limit > kMaxFetch) return error(Code::kInvalidArgument, "envelopes: limit above kMaxFetch");
  Bytes index = index_of(mailbox);
  HEARTH_ASSIGN_OR_RETURN(
      Statement select, db_.cached("SELECT seq, created_minute, sealed FROM envelopes "
                                   "WHERE mailbox_index = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"));
  std::vector<StoredEnvelope> out;
  // Damaged rows are skipped, so a page may need more rows than `limit`: ask
  // again after the last row seen until the page is full or the mailbox ends.
  std::int64_t after = after_seq;
  while (out.size() < limit) {
    const std::size_t wanted = limit - out.size();
    select.reset();
    select.bind(1, index).bind(2, after).bind(3, static_cast<std::int64_t>(wanted));
    std::size_t rows = 0;
    while (true) {
      HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      ++rows;
      StoredEnvelope env;
      env.seq = select.column_int64(0);
      env.created_minute = select.column_int64(1);
      after = env.seq;
      auto opened = sealer_.open(kTable, row_key(index, env.seq), select.column_blob(2));
      if (!opened.is_ok()) {
        ++damaged_rows_;
        continue;
      }
      env.ciphertext = std::move(opened).value();
      out.push_back(std::move(env));
    }
    if (rows < wanted) break;  // the mailbox has no more rows
  }
  return out;
}

Result<bool> EnvelopeStore::ack(const MailboxId& mailbox, std::int64_t seq) {
  HEARTH_ASSIGN_OR_RETURN(
      Statement del, db_.cached("DELETE FROM envelopes WHERE mailbox_index = ?1 AND seq = ?2"));
  del.bind(1, index_of(mailbox)).bind(2, seq);
  HEARTH_TRY(del.run());
  return db_.changes() > 0;
}

Result<std::int64_t> EnvelopeStore::pending(const MailboxId& mailbox) {
  HEARTH_ASSIGN_OR_RETURN(Statement count,
                          db_.cached("SELECT count(*) FROM envelopes WHERE mailbox_index = ?1"));
  count.bind(1, index_of(mailbox));
  HEARTH_ASSIGN_OR_RETURN(bool row, count.step());
  if (!row) return error(Code::kInternal, "count returned no row");
  return count.column_int64(0);
}

Result<std::int64_t> EnvelopeStore::expire_undelivered(UnixSeconds now, UnixSeconds window) {
  if (window < 0) return error(Code::kInvalidArgument, "retention window is negative");
  HEARTH_ASSIGN_OR_RETURN(Statement del,
                          db_.cached("DELETE FROM envelopes WHERE created_minute <= ?1"));
  del.bind(1, now - window);
  HEARTH_TRY(del.run());
  return db_.changes();
}

Status EnvelopeStore::drop_mailbox(const MailboxId& mailbox) {
  Bytes index = index_of(mailbox);
  Savepoint sp(db_, "envelope_drop");
  HEARTH_TRY(sp.status());
  {
    HEARTH_ASSIGN_OR_RETURN(Statement del,
                            db_.cached("DELETE FROM envelopes WHERE mailbox_index = ?1"));
    del.bind(1, index);
    HEARTH_TRY(del.run());
  }
  {
    HEARTH_ASSIGN_OR_RETURN(Statement del,
                            db_.cached("DELETE FROM mailboxes WHERE mailbox_index = ?1"));
    del.bind(1, index);
    HEARTH_TRY(del.run());
  }
  return sp.commit();
}

}  // namespace hearth::storage
