// CaseRecord: what the relay keeps about an open case, and its stored form.
//
// The record is the `fields` of a CaseStore row (storage/case_store.h), which
// seals it at rest together with the case id and its minute-rounded times. It
// names the queue, the vault that owns the case (by its login public key: the
// login id itself is never stored), the responders an intake copy was made for
// and, once taken, who claimed it; while the case is open, its routing fields
// (the triage envelope and the decision: rules version, filter, target) and
// any handoff the responder proposed. Closing drops the routing fields.
// Layout (docs/storage.md, "cases"):
//
//   u8 format (2) | lp queue | login key (32) | u32 offer count |
//   offers: cert hash (32) | lp responder id | u8 claimed (0/1) |
//   when claimed: cert hash (32) | lp responder id |
//   u8 has routing | routing | u8 has handoff | lp handoff queue | u8 closed
//   routing = u8 need count | u8 need... | u8 urgency | u8 language count |
//             lp language... | u8 mode | u8 has region | lp region |
//             u64 rules version | u32 filter (0xffffffff: default) | u32 target |
//             u64 arrived (minute) | u8 has forced queue | lp forced queue
// (enums as their index in protocol/messages.h). Format 1 rows (before
// triage) decode with no routing, no handoff, not closed.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "protocol/messages.h"
#include "storage/types.h"

namespace hearth::server {

inline constexpr std::uint8_t kCaseRecordFormat = 2;

// A responder a case was offered to (or claimed by): which certificate the
// intake copy was made for, and the responder id (names their mailbox).
struct CaseParty {
  Bytes certificate_hash;  // 32 bytes
  std::string responder_id;
  friend bool operator==(const CaseParty&, const CaseParty&) = default;
};

// What routing knows of a case while it is open.
struct CaseRouting {
  protocol::RouteEnvelope envelope;
  std::uint64_t rules_version = 0;
  std::uint32_t filter = 0xffffffff;        // index of the matching filter; 0xffffffff: the default
  std::uint32_t target = 0;                 // target index when the case was routed
  UnixSeconds arrived = 0;                  // minute it started waiting (kept across a handoff)
  std::optional<std::string> forced_queue;  // after a handoff: it waits only in this queue
  friend bool operator==(const CaseRouting&, const CaseRouting&) = default;
};

struct CaseRecord {
  std::string queue;
  Bytes vault_login_key;  // 32 bytes: the owning vault's login public key
  std::vector<CaseParty> offers;
  std::optional<CaseParty> claimed_by;
  std::optional<CaseRouting> routing;        // dropped when the case is closed
  std::optional<std::string> handoff_queue;  // proposed by the responder, not yet answered
  bool closed = false;                       // closed by its responder
  friend bool operator==(const CaseRecord&, const CaseRecord&) = default;

  // The offer made to `responder_id`, or null.
  const CaseParty* offer_for(std::string_view responder_id) const;
};

// The stored form. encode_case_record never fails on a record the server
// built; decode_case_record refuses anything malformed with kCorrupt.
Bytes encode_case_record(const CaseRecord& record);
Result<CaseRecord> decode_case_record(ByteView bytes);

// An open case as the in-memory index holds it.
struct OpenCase {
  storage::CaseId id;
  std::int64_t version = 0;  // the CaseStore row version, for compare-and-swap
  UnixSeconds opened_minute = 0;
  CaseRecord record;
};

// Mailbox ids: the first 16 bytes of BLAKE2b-256 over a label and the case id
// (and, for a responder's mailbox, the responder id). Derived, never stored
// in the clear, so deleting a case can drop every one of its mailboxes.
//   survivor:  hash_labelled("HL1/mailbox/survivor", case_id)
//   responder: hash_labelled("HL1/mailbox/responder", case_id || responder_id)
storage::MailboxId survivor_mailbox(const storage::CaseId& case_id);
storage::MailboxId responder_mailbox(const storage::CaseId& case_id, std::string_view responder_id);

}  // namespace hearth::server
