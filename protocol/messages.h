// Hearth's wire protocol, version 1: one plain struct per request, reply and
// event. docs/protocol.md is the reference (transport, every field, every
// error, the crypto each side performs); this header is its C++ form.
//
// Transport: one WebSocket endpoint, /v1/ws, text frames, one JSON object per
// frame, every frame carrying "v": 1.
//   request  {"v":1, "op":"<op>", "id":<u32>, ...fields}
//   reply    {"v":1, "re":<id>, ...fields}                    on success
//            {"v":1, "re":<id>, "error":{"code":"...","message":"..."}}
//   event    {"v":1, "ev":"<event>", ...fields}               server push
// Binary fields are base64url without padding (RFC 4648 §5). Integers are JSON
// integers. Unknown fields, unknown enum values, missing required fields and
// fields of the wrong type are all rejected with a typed error.
//
// Roles: a connection starts anonymous. It becomes a *survivor* connection by
// opening a case with a new vault (open_case) or logging into a vault
// (vault_login), and a *responder* connection by responder_login. It cannot be
// both. Each op below names who may call it; anyone else gets kForbidden
// (wrong role) or kNotAuthenticated (no role yet).
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"

namespace hearth::protocol {

inline constexpr int kVersion = 1;
inline constexpr std::string_view kWebSocketPath = "/v1/ws";

// ---- Limits the codec enforces on every frame (kBadField past them) ----
// Largest message body: the largest pad bucket (64 KiB) plus the ratchet
// header, nonce and tag, plus an X3DH header for an intake copy.
inline constexpr std::size_t kMaxBodyBytes = 64 * 1024 + 1024;
// Largest vault blob a client may store: crypto::kMaxVaultBlobBytes, the
// largest blob seal_vault makes (8-byte version, nonce and tag around 1 MiB of
// padded contents). codec.cpp checks the two agree.
inline constexpr std::size_t kMaxVaultBlobBytes = 1024 * 1024 + 48;
inline constexpr std::size_t kMaxCertificateBytes = 16 * 1024;
inline constexpr std::size_t kMaxRosterBytes = 1024 * 1024;
inline constexpr std::size_t kMaxPrekeyBytes = 1024;
// Most one-time prekeys in one upload, and most bundles in one route reply.
inline constexpr std::size_t kMaxPrekeysPerUpload = 200;
inline constexpr std::size_t kMaxBundles = 64;
inline constexpr std::size_t kMaxIntakeCopies = kMaxBundles;
inline constexpr std::size_t kMaxCasesPerVault = 64;  // a reply's list; the server's limit is lower
inline constexpr std::size_t kMaxErrorMessageBytes = 256;
inline constexpr std::size_t kCaseIdBytes = 16;
inline constexpr std::size_t kHashBytes = 32;       // certificate hashes
inline constexpr std::size_t kChallengeBytes = 32;  // server challenges
inline constexpr std::size_t kLoginIdBytes = 32;    // crypto/vault.h kLoginIdBytes
inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::size_t kPowChallengeBytes = 32;
inline constexpr std::size_t kPowNonceBytes = 16;

// ---- Errors ----
// Stable codes; the wire name of each is in the comment. docs/protocol.md
// says when each is sent.
enum class ErrorCode {
  kMalformed,           // "malformed": not JSON, not an object, or no usable "op"/"id"
  kUnsupportedVersion,  // "unsupported_version": "v" is missing or not 1
  kUnknownOp,           // "unknown_op"
  kUnknownField,        // "unknown_field": a field this op does not define
  kMissingField,        // "missing_field"
  kBadField,            // "bad_field": wrong type, bad base64, wrong length, value out of range
  kRateLimited,         // "rate_limited": too many requests of this kind
  kNotAuthenticated,    // "not_authenticated": log in first
  kForbidden,           // "forbidden": this role may not do this, or not to this case
  kNotFound,            // "not_found": no such case, route or vault
  kConflict,     // "conflict": compare-and-swap lost (vault version, case row changed meanwhile)
  kAuthFailed,   // "auth_failed": a signature or login did not verify
  kNotOnRoster,  // "not_on_roster": the certificate is not listed on the current roster
  kRevoked,      // "revoked": the certificate is revoked
  kCertificateExpired,  // "certificate_expired": outside the certificate's validity
  kPowInsufficient,     // "pow_insufficient": the proof does not meet the effort
  kPowReplayed,         // "pow_replayed": the pow challenge was just spent by this connection
  kPowStale,            // "pow_stale": no usable pow challenge; ask for a new one
  kLimitExceeded,       // "limit_exceeded": a configured limit (open cases per vault, ...)
  kNoResponder,         // "no_responder": nobody can take this request's queue
  kNotClaimed,          // "not_claimed": no responder has taken this case yet
  kClosed,              // "closed": the responder closed this case; nothing more can be sent
  kUnavailable,         // "unavailable": the server cannot do this now (storage full, draining)
  kInternal,            // "internal": a bug; the message says nothing more
};
std::string_view error_code_name(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view name);
// How many error codes there are: kInternal stays last (names.cpp checks that
// its name table has exactly this many names, each set and distinct).
inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(ErrorCode::kInternal) + 1;

struct ProtocolError {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // for people; at most kMaxErrorMessageBytes, never secrets
};

// ---- The routing envelope (closed vocabulary; DESIGN.md "Triage") ----
enum class Need {
  kImmediateSafety,     // "immediate-safety"
  kShelter,             // "shelter"
  kMedical,             // "medical"
  kCounselling,         // "counselling"
  kLegal,               // "legal"
  kImmigration,         // "immigration"
  kWorkEducation,       // "work-education"
  kPeerSupport,         // "peer-support"
  kCulturallySpecific,  // "culturally-specific"
};
enum class Urgency {
  kDangerNow,
  kToday,
  kThisWeek,
  kInformation
};                                  // "danger-now", "today", "this-week", "information"
enum class Mode { kLive, kAsync };  // "live", "async"
std::string_view need_name(Need need);
std::optional<Need> parse_need(std::string_view name);
std::string_view urgency_name(Urgency urgency);
std::optional<Urgency> parse_urgency(std::string_view name);
std::string_view mode_name(Mode mode);
std::optional<Mode> parse_mode(std::string_view name);

struct RouteEnvelope {
  std::vector<Need> needs;  // 1–2, no duplicates
  Urgency urgency = Urgency::kToday;
  std::vector<std::string> languages;  // 1–3 ISO 639-1 codes ([a-z]{2}), no duplicates
  Mode mode = Mode::kLive;
  std::optional<std::string> region;  // [a-z0-9-]{1,32}, coarse ("north", "capital")
  friend bool operator==(const RouteEnvelope&, const RouteEnvelope&) = default;
};
// The bytes a route's proof-of-work is bound to (the request hash is
// BLAKE2b-256 of them, crypto/pow.h pow_request_hash): the UTF-8 text
//   "needs=<n1>[,<n2>];urgency=<u>;languages=<l1>[,<l2>...];mode=<m>;region=<r or empty>"
// with values in the order given.
std::string canonical_route_text(const RouteEnvelope& envelope);

// ---- Requests and their replies ----
// Each request struct has a static `kOp` (its wire "op"); each reply pairs with
// one request. Unless said otherwise a request may be sent by anyone.

// "pow_challenge" (anonymous or survivor): a fresh single-use proof-of-work
// challenge for this connection's next route with `urgency`, its effort fixed
// now from the load. Replaces the connection's previous one. Errors:
// kForbidden (a responder).
struct PowChallengeRequest {
  Urgency urgency = Urgency::kToday;  // of the route it is for
};
struct PowChallengeReply {
  Bytes challenge;  // kPowChallengeBytes, issued to this connection only
  std::uint32_t effort = 1;
  std::uint32_t expires_in = 1;  // seconds it stays usable
};

struct PowProof {
  Bytes challenge;  // the connection's challenge the proof was solved for
  Bytes nonce;      // kPowNonceBytes
};

// "route" (anonymous or survivor): triage a new request. Needs a proof-of-work
// for action "route" over canonical_route_text(envelope). The server picks the
// queue, allocates a case id, claims one one-time prekey per eligible responder
// and returns the roster and their bundles. The route is remembered on this
// connection only, for a few minutes, until open_case uses it.
// Spends the connection's pow challenge whatever the outcome. Errors:
// kPowStale (no usable challenge), kPowReplayed (the one just spent),
// kPowInsufficient, kNoResponder, kLimitExceeded (too many unused routes on
// this connection), kUnavailable (the waiting room is full).
struct RouteRequest {
  RouteEnvelope envelope;
  PowProof pow;
};
struct Bundle {
  Bytes certificate;                     // crypto ResponderCertificate encoding
  Bytes signed_prekey;                   // crypto SignedPrekey encoding
  std::optional<Bytes> one_time_prekey;  // crypto OneTimePrekey encoding; absent when none left
};
struct RouteReply {
  Bytes case_id;                // kCaseIdBytes, chosen by the server; bound into every handshake
  std::string queue;            // the queue the case will wait in
  Bytes roster;                 // crypto SignedRoster encoding: verify against the pinned org root
  std::vector<Bundle> bundles;  // 1..kMaxBundles
};

// A vault being created along with a case.
struct NewVault {
  Bytes login_id;   // kLoginIdBytes (crypto vault_lookup_key)
  Bytes login_key;  // kPublicKeyBytes: the vault's login public key (Ed25519)
  Bytes signature;  // kSignatureBytes: proof of the login key (crypto sign_open_case)
  Bytes blob;       // the sealed vault, version 1
};
// One encrypted copy of the first message, for one eligible responder.
struct IntakeCopy {
  Bytes certificate_hash;  // kHashBytes: which bundle this copy was made for
  Bytes body;              // opaque to the server (docs/protocol.md "Intake body")
};

// "open_case" (anonymous or survivor): opens the case a route reply named.
// Anonymous callers must bring `vault` (the connection is then logged into it),
// signed over a fresh `challenge`, the case id and the login id by the vault's
// login key; a survivor already logged in must not (the case joins their
// vault). Every intake copy must name a certificate from that route's bundles,
// each at most once.
// Errors: kNotFound (no such route on this connection, or it expired),
// kNotAuthenticated (a vault but no challenge asked for), kAuthFailed (the
// vault's signature does not verify), kBadField (a copy for a certificate not
// offered), kConflict (the login id is taken, or the login key has a vault),
// kLimitExceeded (open cases per vault).
struct OpenCaseRequest {
  Bytes case_id;
  std::optional<NewVault> vault;
  std::vector<IntakeCopy> intake;  // 1..kMaxIntakeCopies
};
struct OpenCaseReply {
  std::int64_t vault_version = 0;  // the vault's version after this (1 for a new vault)
};

// "challenge": a fresh single-use challenge for vault_login, responder_login or
// open_case with a new vault.
// A new challenge replaces the previous one on this connection.
struct ChallengeRequest {};
struct ChallengeReply {
  Bytes challenge;  // kChallengeBytes
};

// "vault_login" (anonymous): proves the codename by signing the challenge
// (crypto sign_login_challenge). The reply carries the vault and its cases; the
// server then pushes every unacknowledged envelope of those cases, in order.
// Errors: kNotAuthenticated (no challenge asked for), kAuthFailed (no such
// vault or a bad signature: the two are not distinguished).
struct VaultLoginRequest {
  Bytes login_id;   // kLoginIdBytes
  Bytes signature;  // kSignatureBytes, over the challenge
};
struct CaseSummary {
  Bytes case_id;
  std::string queue;
  std::optional<Bytes> claimed_by;           // certificate hash of the responder who took it
  std::optional<std::string> handoff_queue;  // a handoff the responder proposed, not yet answered
  bool closed = false;                       // the responder closed it (see "case_closed")
};
struct VaultLoginReply {
  std::int64_t version = 0;
  Bytes blob;
  std::vector<CaseSummary> cases;
};

// "vault_get" (survivor): the vault as stored now.
struct VaultGetRequest {};
struct VaultGetReply {
  std::int64_t version = 0;
  Bytes blob;
};

// A compare-and-swap write of the vault: succeeds only while the stored version
// is still `version`; the new version is version + 1.
struct VaultPut {
  std::int64_t version = 0;
  Bytes blob;
};
// "vault_put" (survivor). Errors: kConflict (the vault moved on: vault_get and merge).
struct VaultPutRequest {
  VaultPut put;  // on the wire: "version" and "blob" at the top level
};
struct VaultPutReply {
  std::int64_t version = 0;
};

// "send" (survivor or responder): stores `body` for the other side of the case
// and replies once it is committed. A survivor may attach the vault update that
// records this message; message and vault commit together or not at all.
// Errors: kNotFound (no such case), kForbidden (not your case), kNotClaimed
// (survivor, before a responder took the case), kConflict (vault version),
// kLimitExceeded (the recipient's mailbox is full).
struct SendRequest {
  Bytes case_id;
  Bytes body;                     // opaque ciphertext, padded by the client
  std::optional<VaultPut> vault;  // survivors only
};
struct SendReply {
  std::int64_t seq = 0;                       // the envelope's number in the recipient's mailbox
  std::optional<std::int64_t> vault_version;  // when a vault update was attached
};

// "ack" (survivor or responder): the envelope was received and is safe on the
// client; the server deletes it. Every case has one mailbox per side (the
// survivor's, and one per responder the case was offered to), so an envelope
// is named by its case and its seq. Acknowledging twice is not an error.
struct AckRequest {
  Bytes case_id;
  std::int64_t seq = 0;
};
struct AckReply {};

// "delete_case" (survivor): deletes the case and every mailbox of it (both
// ways, so nothing waits undelivered) and, when it was the vault's last case,
// the vault. The responders it was offered to get "case_closed".
struct DeleteCaseRequest {
  Bytes case_id;
};
struct DeleteCaseReply {};

// "responder_login" (anonymous): the certificate, and the challenge signed
// with its signing key (crypto sign_responder_login). The server then pushes
// every unacknowledged envelope in the responder's mailbox, in order.
// Errors: kNotAuthenticated (no challenge), kBadField (not a certificate),
// kNotOnRoster, kRevoked, kCertificateExpired, kAuthFailed (bad signature).
struct ResponderLoginRequest {
  Bytes certificate;
  Bytes signature;
};
struct ResponderLoginReply {
  std::string responder_id;
  std::vector<std::string> queues;    // the queues the roster lists this certificate under
  std::vector<std::string> outcomes;  // the codes close_case accepts (the org's routing rules)
  Bytes roster;                       // the current signed roster
  std::int64_t one_time_prekeys = 0;  // how many the server still holds
  bool has_signed_prekey = false;
};

// "upload_prekeys" (responder): a new signed prekey and/or more one-time
// prekeys, each signed by the certificate's signing key (checked).
// Errors: kAuthFailed (a bad signature), kConflict (a one-time prekey id
// already stored), kLimitExceeded (over the server's one-time prekey limit).
struct UploadPrekeysRequest {
  std::optional<Bytes> signed_prekey;
  std::vector<Bytes> one_time_prekeys;  // 0..kMaxPrekeysPerUpload
};
struct UploadPrekeysReply {
  std::int64_t one_time_prekeys = 0;  // held after this upload
};

enum class Presence { kAvailable, kAway };  // "available", "away"
std::string_view presence_name(Presence presence);
std::optional<Presence> parse_presence(std::string_view name);

// "presence" (responder): availability and how many cases at once (1..50).
struct PresenceRequest {
  Presence status = Presence::kAvailable;
  std::uint32_t capacity = 1;
};
struct PresenceReply {};

// "take_next" (responder): hands this responder the best waiting case they
// may take (docs/routing.md: strict classes first, then accumulating
// priority; language match before interpreter; only cases an intake copy was
// made for them). Exclusive: two racing responders never get the same case.
// The case's other intake copies are deleted; this responder's copy is then
// pushed as an "envelope" (seq 1), and the survivor gets "case_claimed".
// Responders never browse waiting cases: they see only the routing fields
// of the case they were handed. `taken` is absent when nothing is waiting for
// them. Errors: kLimitExceeded (at capacity: close a case first).
struct TakeNextRequest {};
struct TakenCase {
  Bytes case_id;
  std::string queue;
  std::string priority_class;  // a class name from the routing rules
  RouteEnvelope envelope;      // the survivor's triage answers
  bool interpreter = false;    // you share none of the survivor's languages
  std::int64_t waited_s = 0;   // how long it waited, in seconds
};
struct TakeNextReply {
  std::optional<TakenCase> taken;
};

// "handoff" (responder, for a case they took): proposes moving the case to
// another queue. Nothing moves yet: the survivor gets "handoff_proposed" and
// answers with handoff_offer + handoff_accept, or handoff_decline. A second
// proposal replaces the first. Errors: kNotFound, kForbidden, kBadField (no
// such queue in the routing rules, or the case's own queue), kNoResponder
// (nobody else on the roster for that queue has logged in with keys).
struct HandoffRequest {
  Bytes case_id;
  std::string queue;
};
struct HandoffReply {};

// "handoff_offer" (survivor): the bundles of the responders who may take the
// case in the proposed queue, as a route reply gives them (same case id; a
// one-time prekey is claimed for each). Remembered on this connection for
// the route TTL. Errors: kNotFound (no such case, or no handoff proposed),
// kForbidden, kNoResponder.
struct HandoffOfferRequest {
  Bytes case_id;
};
struct HandoffOfferReply {
  std::string queue;
  Bytes roster;
  std::vector<Bundle> bundles;
};

enum class HandoffShare { kNewOnly, kSummary, kHistory };  // "new-only", "summary", "history"
std::string_view handoff_share_name(HandoffShare share);
std::optional<HandoffShare> parse_handoff_share(std::string_view name);

// "handoff_accept" (survivor): consents, with new intake copies made for the
// offered bundles (what they carry is the survivor's choice, `share`). In
// one commit the case moves to the new queue and waits there, the old
// responder's mailbox is dropped and they get "case_closed" (handed-off).
// Errors: kNotFound (no handoff_offer on this connection, or it expired),
// kBadField (a copy for a certificate not offered), kForbidden.
struct HandoffAcceptRequest {
  Bytes case_id;
  HandoffShare share = HandoffShare::kNewOnly;
  std::vector<IntakeCopy> intake;  // 1..kMaxIntakeCopies
};
struct HandoffAcceptReply {};

// "handoff_decline" (survivor): the case stays where it is; the responder
// gets "handoff_declined". Errors: kNotFound (no handoff proposed), kForbidden.
struct HandoffDeclineRequest {
  Bytes case_id;
};
struct HandoffDeclineReply {};

// "close_case" (responder, for a case they took): closes it with an outcome
// code from the routing rules. The month's counters are updated, the
// routing fields are dropped, the responder's mailbox is deleted, and the
// survivor gets "case_closed" (closed); replies already sent still reach
// them. Errors: kNotFound, kForbidden, kBadField (an outcome not in the rules).
struct CloseCaseRequest {
  Bytes case_id;
  std::string outcome;
};
struct CloseCaseReply {};

// "queue_health" (responder listed under the roster queue "supervisor"):
// per queue, how many cases wait in each class and the longest wait against
// its target, and the responders available, away and their load. Counts and
// times only: no case ids. Errors: kForbidden.
struct QueueHealthRequest {};
struct ClassHealth {
  std::string priority_class;
  std::int64_t waiting = 0;
  std::int64_t longest_wait_s = 0;
  std::int64_t target_s = 0;
};
struct QueueHealthEntry {
  std::string queue;
  std::vector<ClassHealth> classes;
  std::int64_t responders_available = 0;
  std::int64_t responders_away = 0;
  std::int64_t load = 0;
  std::int64_t capacity = 0;
};
struct QueueHealthReply {
  std::vector<QueueHealthEntry> queues;
};

// "dismiss_waiting" (responder listed under the roster queue "supervisor"):
// clears a flood out of the waiting room. Removes the waiting cases nobody
// ever took (parked ones included; never one that was handed off) that match
// every filter given: arrived in [arrived_from, arrived_until) (Unix seconds;
// a case restored after a restart arrived at its stored minute), waiting in
// `queue` now, and with `away_only` their survivor not connected. At most
// kMaxDismissPerRequest, oldest first; `remaining` says how many more match.
// Each case and all of its mailboxes (the intake copies) are deleted; the
// vault stays. A survivor still connected gets "case_closed" (deleted). One
// audit log entry records the counts. Errors: kForbidden (not a supervisor),
// kBadField (arrived_from not before arrived_until, a queue the routing rules
// do not name).
inline constexpr std::size_t kMaxDismissPerRequest = 1000;
struct DismissWaitingRequest {
  std::optional<std::int64_t> arrived_from;   // inclusive
  std::optional<std::int64_t> arrived_until;  // exclusive
  std::optional<std::string> queue;
  bool away_only = false;
};
struct DismissWaitingReply {
  std::int64_t dismissed = 0;
  std::int64_t remaining = 0;
};

using Request = std::variant<PowChallengeRequest, RouteRequest, OpenCaseRequest, ChallengeRequest,
                             VaultLoginRequest, VaultGetRequest, VaultPutRequest, SendRequest,
                             AckRequest, DeleteCaseRequest, ResponderLoginRequest,
                             UploadPrekeysRequest, PresenceRequest, TakeNextRequest, HandoffRequest,
                             HandoffOfferRequest, HandoffAcceptRequest, HandoffDeclineRequest,
                             CloseCaseRequest, QueueHealthRequest, DismissWaitingRequest>;
using Reply =
    std::variant<PowChallengeReply, RouteReply, OpenCaseReply, ChallengeReply, VaultLoginReply,
                 VaultGetReply, VaultPutReply, SendReply, AckReply, DeleteCaseReply,
                 ResponderLoginReply, UploadPrekeysReply, PresenceReply, TakeNextReply,
                 HandoffReply, HandoffOfferReply, HandoffAcceptReply, HandoffDeclineReply,
                 CloseCaseReply, QueueHealthReply, DismissWaitingReply>;

// The ops, in the order of the Request and Reply variants (same index).
enum class Op {
  kPowChallenge,    // "pow_challenge"
  kRoute,           // "route"
  kOpenCase,        // "open_case"
  kChallenge,       // "challenge"
  kVaultLogin,      // "vault_login"
  kVaultGet,        // "vault_get"
  kVaultPut,        // "vault_put"
  kSend,            // "send"
  kAck,             // "ack"
  kDeleteCase,      // "delete_case"
  kResponderLogin,  // "responder_login"
  kUploadPrekeys,   // "upload_prekeys"
  kPresence,        // "presence"
  kTakeNext,        // "take_next"
  kHandoff,         // "handoff"
  kHandoffOffer,    // "handoff_offer"
  kHandoffAccept,   // "handoff_accept"
  kHandoffDecline,  // "handoff_decline"
  kCloseCase,       // "close_case"
  kQueueHealth,     // "queue_health"
  kDismissWaiting,  // "dismiss_waiting"
};
std::string_view op_name(Op op);
std::optional<Op> parse_op(std::string_view name);
inline Op op_of(const Request& request) { return static_cast<Op>(request.index()); }
inline Op op_of(const Reply& reply) { return static_cast<Op>(reply.index()); }
// How many ops there are: one Request alternative per op (names.cpp checks that
// its name table has exactly this many names, each set and distinct).
inline constexpr std::size_t kOpCount = std::variant_size_v<Request>;

// ---- Events (server pushes) ----
enum class EnvelopeKind { kIntake, kMessage };  // "intake", "message"

// "envelope": a stored message for this connection. Survivors receive the
// responder's messages of their cases; responders receive intake copies and
// survivors' messages. Acknowledge with "ack" once it is safe on the client;
// unacknowledged envelopes are pushed again after the next login.
struct EnvelopeEvent {
  Bytes case_id;
  std::int64_t seq = 0;  // in the recipient's mailbox for this case: 1, 2, 3, ...
  EnvelopeKind kind = EnvelopeKind::kMessage;
  Bytes body;
  UnixSeconds sent_minute = 0;  // when it was stored, rounded down to the minute
};
// "case_claimed": a responder took the case (take_next). To the survivor:
// which certificate's session to continue.
struct CaseClaimedEvent {
  Bytes case_id;
  Bytes claimed_by;  // certificate hash
};
enum class CloseReason { kDeleted, kClosed, kHandedOff };  // "deleted", "closed", "handed-off"
std::string_view close_reason_name(CloseReason reason);
std::optional<CloseReason> parse_close_reason(std::string_view name);
// "case_closed": the case ended for this party. kDeleted: the survivor
// deleted it (to the responder holding it and the vault's other
// connections). kClosed: the responder closed it (to the survivor).
// kHandedOff: the survivor accepted a handoff (to the old responder).
struct CaseClosedEvent {
  Bytes case_id;
  CloseReason reason = CloseReason::kDeleted;
};

enum class WaitBand { kMinutes, kQuarterHour, kHour, kHours, kNobodyOnline };
// "minutes", "quarter-hour", "hour", "hours", "nobody-online"
std::string_view wait_band_name(WaitBand band);
std::optional<WaitBand> parse_wait_band(std::string_view name);
// "queue_status": to a survivor whose case waits, whenever its place or band
// changes: 1 = next in its queue.
struct QueueStatusEvent {
  Bytes case_id;
  std::int64_t position = 0;
  WaitBand wait_band = WaitBand::kNobodyOnline;
};
// "waiting": to a responder whenever it changes: how many waiting cases they
// could take now, and how many of them are in a strict class (danger now).
struct WaitingEvent {
  std::int64_t waiting = 0;
  std::int64_t urgent = 0;
};
// "handoff_proposed": to the survivor: their responder proposes `queue`.
struct HandoffProposedEvent {
  Bytes case_id;
  std::string queue;
};
// "handoff_declined": to the responder who proposed it.
struct HandoffDeclinedEvent {
  Bytes case_id;
};

using Event = std::variant<EnvelopeEvent, CaseClaimedEvent, CaseClosedEvent, QueueStatusEvent,
                           WaitingEvent, HandoffProposedEvent, HandoffDeclinedEvent>;

// ---- Frames ----
struct RequestFrame {
  std::uint32_t id = 0;
  Request request;
};
struct ReplyFrame {
  // The request's id; nullopt only for an error answering a frame that had no
  // usable id (sent as "re": null).
  std::optional<std::uint32_t> re;
  std::variant<Reply, ProtocolError> result;
};
struct EventFrame {
  Event event;
};
using ServerFrame = std::variant<ReplyFrame, EventFrame>;

}  // namespace hearth::protocol
