// PrekeyStore: responders' signed prekeys and one-time prekeys (X3DH).
//
// Records are the responder's signed public structures (reference/crypto.md
// §2.1.4), opaque here: the store checks sizes, not signatures (the server's
// handler verifies them before storing). A responder's signed prekey is kept
// for two generations, the current and the previous one, so a survivor who
// fetched the previous one can still start a session. A one-time prekey is
// handed out at most once: claim_one_time_prekey() selects and deletes it in
// one statement, and nothing records who received it. The server instead
// finds one (find_one_time_prekey) that its in-memory reservations let it
// show, and deletes it by id (consume_one_time_prekey) only when a case
// commits with it.
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/database.h"

namespace hearth::storage {

struct PrekeyRecord {
  std::uint32_t id = 0;
  Bytes record;  // signed public prekey structure
};

class PrekeyStore {
 public:
  // `db` must outlive the store.
  explicit PrekeyStore(Database& db) : db_(db) {}

  // Makes `prekey` the responder's current signed prekey and forgets all but
  // the previous one. kInvalidArgument on a bad responder id; kLimitExceeded
  // on an oversized record.
  Status put_signed_prekey(ByteView responder_id, const PrekeyRecord& prekey, UnixSeconds now);

  // The current signed prekey. kNotFound when the responder uploaded none.
  Result<PrekeyRecord> current_signed_prekey(ByteView responder_id);

  // Adds one-time prekeys. All or nothing: kAlreadyExists when an id is already
  // stored, kLimitExceeded when the responder would hold more than
  // kMaxOneTimePrekeys.
  Status add_one_time_prekeys(ByteView responder_id, std::span<const PrekeyRecord> prekeys);

  // Removes and returns one of the responder's one-time prekeys; nullopt when
  // none is left (X3DH then proceeds without one).
  Result<std::optional<PrekeyRecord>> claim_one_time_prekey(ByteView responder_id);

  // The responder's first one-time prekey (lowest id first) for which
  // `accept(id)` returns true, left in place; nullopt when none is accepted.
  // `accept` is called once per id tried, in order.
  Result<std::optional<PrekeyRecord>> find_one_time_prekey(
      ByteView responder_id, const std::function<bool(std::uint32_t)>& accept);

  // Deletes the one-time prekey `prekey_id` of the responder: true when it
  // was there (false: already gone, e.g. by revocation).
  Result<bool> consume_one_time_prekey(ByteView responder_id, std::uint32_t prekey_id);

  Result<std::int64_t> one_time_prekey_count(ByteView responder_id);

  // Deletes all of a responder's prekeys (revocation).
  Status remove_responder(ByteView responder_id);

 private:
  Database& db_;
};

}  // namespace hearth::storage
