// The client-side byte formats: what a survivor's or responder's client puts
// inside the opaque fields the server relays and stores. docs/client-formats.md
// is the reference (precise enough for the browser client); this header is its
// C++ form.
//
//   intake body      the body of an intake copy: lp(X3DH header) || ratchet message
//   plaintext        what every ratchet message decrypts to: u8 kind || payload
//   handoff          the first plaintext of a handed-off case (kind 3): u8 share || payload
//   transcript       the bounded list of recent messages a client keeps
//   survivor vault   the contents sealed with crypto::seal_vault: the survivor's
//                    cases, their per-case identity keys and ratchet states
//
// The server never sees any of these in the clear. Encodings that hold keys
// (the vault) are produced directly into SecretBytes.
//
// Thread safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/encoding.h"
#include "crypto/secret.h"
#include "crypto/trust.h"
#include "crypto/x3dh.h"
#include "protocol/messages.h"

namespace hearth::client {

// ---- Intake body ----

// The longest X3DH header an intake body may carry (v1 headers are 155 or 159 bytes).
inline constexpr std::size_t kMaxX3dhHeaderBytes = 1024;

struct IntakeBody {
  crypto::X3dhHeader header;
  Bytes message;  // the session's first ratchet message
};

// lp(header.encode()) || message.
Bytes encode_intake_body(const crypto::X3dhHeader& header, ByteView message);
// kInvalidArgument when the body is truncated, the header is malformed or the
// message is empty.
Result<IntakeBody> decode_intake_body(ByteView body);

// ---- Plaintext ----

// The first byte of every decrypted ratchet message. Only kText is defined in
// v1; the others are reserved so later clients can add them without a new
// format (docs/client-formats.md). A decoder keeps an unknown kind's payload and
// lets the UI say it cannot show it.
enum class PlaintextKind : std::uint8_t {
  kText = 1,            // UTF-8 text
  kReferralCard = 2,    // reserved
  kHandoffConsent = 3,  // the first message of a handed-off case: see "Handoff plaintext"
  kSummary = 4,         // reserved
};

// The longest text a message can carry: the largest pad bucket minus the pad
// byte and the kind byte.
inline constexpr std::size_t kMaxTextBytes = crypto::kMaxPaddedPayload - 1;

struct Plaintext {
  std::uint8_t kind = static_cast<std::uint8_t>(PlaintextKind::kText);
  std::string payload;  // for kText: valid UTF-8
};

// u8(1) || text. kInvalidArgument when `text` is empty or not valid UTF-8;
// kLimitExceeded when longer than kMaxTextBytes.
Result<Bytes> encode_text(std::string_view text);
// kInvalidArgument when empty, or a kText payload that is not valid UTF-8.
Result<Plaintext> decode_plaintext(ByteView plaintext);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// ---- Transcript ----

// A client keeps at most this many recent messages per case, and at most this
// many bytes of their payloads; the oldest are dropped first.
inline constexpr std::size_t kTranscriptMaxEntries = 200;
inline constexpr std::size_t kTranscriptMaxBytes = 128 * 1024;

enum class Author : std::uint8_t { kSurvivor = 1, kResponder = 2 };

struct TranscriptEntry {
  Author author = Author::kSurvivor;
  UnixSeconds minute = 0;  // when it was sent or stored, rounded down to the minute
  Plaintext plaintext;
};

// Appends `entry`, then drops the oldest entries until both bounds hold.
void append_bounded(std::deque<TranscriptEntry>& transcript, TranscriptEntry entry);
// The payload bytes a transcript counts against kTranscriptMaxBytes.
std::size_t transcript_bytes(const std::deque<TranscriptEntry>& transcript);

// ---- Handoff plaintext ----

// When a survivor accepts a handoff, the first message of each new session is
// a kind-3 plaintext saying what the survivor chose to share with the new
// team (docs/client-formats.md "Handoff plaintext"):
//   u8(3) || u8 share || payload
//   share 1 new-only: payload empty
//   share 2 summary:  payload = UTF-8 text the survivor wrote (not empty)
//   share 3 history:  payload = a transcript encoding (u32 count || entries)
struct HandoffPayload {
  protocol::HandoffShare share = protocol::HandoffShare::kNewOnly;
  std::string summary;                  // kSummary only
  std::deque<TranscriptEntry> history;  // kHistory only: the conversation so far, oldest first
};

// Encodes `payload` into at most `max_bytes` (≤ crypto::kMaxPaddedPayload,
// the whole plaintext including the kind byte). A history is trimmed, oldest
// entries first, until it fits (it may end up empty). kInvalidArgument: a
// summary that is empty or not UTF-8, or `max_bytes` below 6; kLimitExceeded:
// a summary longer than fits.
Result<Bytes> encode_handoff(const HandoffPayload& payload,
                             std::size_t max_bytes = crypto::kMaxPaddedPayload);
// Decodes a kind-3 plaintext (as decode_plaintext returned it). kInvalidArgument
// for another kind, an unknown share byte, a new-only payload that is not
// empty, an empty or non-UTF-8 summary, or a malformed history.
Result<HandoffPayload> decode_handoff(const Plaintext& plaintext);

// ---- Survivor vault contents ----

inline constexpr std::uint8_t kSurvivorVaultVersion = 1;
// The most cases a vault holds (the server's own limit is lower).
inline constexpr std::size_t kMaxVaultCases = 64;
// The most sessions a case holds: one per responder offered the intake.
inline constexpr std::size_t kMaxSessionsPerCase = 64;

// One Double Ratchet session with one responder, named by their certificate hash.
struct SurvivorSessionState {
  Bytes certificate_hash;       // 32 bytes
  crypto::SecretBytes ratchet;  // crypto::Ratchet::serialize()
};

struct SurvivorCase {
  Bytes case_id;                         // 16 bytes, chosen by the server's route
  crypto::SecretBytes identity_private;  // 32 bytes: IK_S, the survivor's X25519 key for this case
  std::string queue;
  std::optional<Bytes> claimed_by;  // the certificate hash of the responder who took the case
  // Before the claim: one per offered responder; after it: only the claimer's.
  std::vector<SurvivorSessionState> sessions;
  // The highest seq of the survivor's mailbox for this case whose message is in
  // this vault: an envelope at or below it is a duplicate (acked, ignored).
  std::int64_t received_seq = 0;
  std::deque<TranscriptEntry> transcript;

  const SurvivorSessionState* session_for(ByteView certificate_hash) const;
  SurvivorSessionState* session_for(ByteView certificate_hash);
  SurvivorCase clone() const;
};

struct SurvivorVault {
  // The last roster this vault's owner accepted (rollback and split-view check).
  std::optional<crypto::RosterPin> roster_pin;
  std::vector<SurvivorCase> cases;

  const SurvivorCase* find(ByteView case_id) const;
  SurvivorCase* find(ByteView case_id);
  SurvivorVault clone() const;

  // The contents to seal (docs/client-formats.md). kLimitExceeded when larger
  // than crypto::kMaxVaultContents or over the case/session limits.
  Result<crypto::SecretBytes> encode() const;
  // kInvalidArgument for anything malformed, an unknown version, or trailing bytes.
  static Result<SurvivorVault> decode(ByteView contents);

  // Drops the oldest transcript entries (from the case with the largest
  // transcript first) until encode() is at most `max_bytes`. Keys and ratchet
  // states are never dropped: kLimitExceeded when they alone exceed it.
  Status shrink_to(std::size_t max_bytes);
};

}  // namespace hearth::client
