// EnvelopeStore: store-and-forward ciphertext, kept until its recipient acknowledges it.
//
// Each mailbox (a random 128-bit id) has its own sequence: put() hands out
// 1, 2, 3, ... so a recipient reads in order and acknowledges by number.
// Numbers are never reused while the mailbox exists, even after every envelope
// was acknowledged. At rest the mailbox id is a blind index and each
// ciphertext is sealed again under the row key, so a copied file cannot be
// matched against ciphertext seen on the network. Delivered envelopes are
// deleted by ack(); undelivered ones by expire_undelivered().
//
// Thread safety: none; use from the thread that owns the Database (the
// storage thread). Each method is atomic on its own (a savepoint).
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

// How long an undelivered envelope is kept by default (reference/crypto.md
// §2.7.6); the server's configuration may choose another window.
inline constexpr UnixSeconds kDefaultUndeliveredRetention = 30 * 24 * 60 * 60;

struct StoredEnvelope {
  std::int64_t seq = 0;
  UnixSeconds created_minute = 0;
  Bytes ciphertext;
};

class EnvelopeStore {
 public:
  // Both must outlive the store.
  EnvelopeStore(Database& db, const Sealer& sealer) : db_(db), sealer_(sealer) {}

  // Stores `ciphertext` for `mailbox` and returns its sequence number.
  // kLimitExceeded when it is larger than kMaxEnvelopeBytes.
  Result<std::int64_t> put(const MailboxId& mailbox, ByteView ciphertext, UnixSeconds now);

  // Up to `limit` envelopes with seq > after_seq, oldest first.
  // kInvalidArgument when `limit` > kMaxFetch. An envelope whose sealed row
  // fails to open is skipped, not returned, and counted in damaged_rows():
  // one damaged row must not hide every later envelope of the mailbox from
  // its recipient. It stays until expire_undelivered() or drop_mailbox().
  Result<std::vector<StoredEnvelope>> fetch(const MailboxId& mailbox, std::int64_t after_seq,
                                            std::size_t limit);

  // Deletes envelope `seq` of `mailbox`: true when it was there. Acknowledging
  // twice is not an error (a client may resend an ack after reconnecting).
  Result<bool> ack(const MailboxId& mailbox, std::int64_t seq);

  // Number of envelopes waiting in `mailbox`.
  Result<std::int64_t> pending(const MailboxId& mailbox);

  // Deletes envelopes created at least `window` seconds before `now` and
  // returns how many.
  Result<std::int64_t> expire_undelivered(UnixSeconds now, UnixSeconds window);

  // Deletes the mailbox, its sequence and every envelope in it (case deleted).
  Status drop_mailbox(const MailboxId& mailbox);

  // Envelopes skipped by fetch() because their row failed to open, since this
  // store was created (a row fetched twice counts twice). For metrics.
  std::uint64_t damaged_rows() const { return damaged_rows_; }

 private:
  Bytes index_of(const MailboxId& mailbox) const;

  Database& db_;
  const Sealer& sealer_;
  std::uint64_t damaged_rows_ = 0;
};

}  // namespace hearth::storage
