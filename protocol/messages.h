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
// Largest vault blob a client may store (crypto/vault.h kMaxVaultPadded + framing).
inline constexpr std::size_t kMaxVaultBlobBytes = 1024 * 1024 + 64;
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
inline constexpr std::size_t kPowSeedBytes = 32;
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
  kConflict,            // "conflict": compare-and-swap lost (vault version), case already claimed
  kAuthFailed,          // "auth_failed": a signature or login did not verify
  kNotOnRoster,         // "not_on_roster": the certificate is not listed on the current roster
  kRevoked,             // "revoked": the certificate is revoked
  kCertificateExpired,  // "certificate_expired": outside the certificate's validity
  kPowInsufficient,     // "pow_insufficient": the proof does not meet the effort
  kPowReplayed,         // "pow_replayed": this proof was already spent
  kPowStale,            // "pow_stale": the seed is no longer accepted; ask for a new challenge
  kLimitExceeded,       // "limit_exceeded": a configured limit (open cases per vault, ...)
  kNoResponder,         // "no_responder": nobody can take this request's queue
  kNotClaimed,          // "not_claimed": no responder has taken this case yet
  kUnavailable,         // "unavailable": the server cannot do this now (storage full, draining)
  kInternal,            // "internal": a bug; the message says nothing more
};
std::string_view error_code_name(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view name);

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
};
// The bytes a route's proof-of-work is bound to (the request hash is
// BLAKE2b-256 of them, crypto/pow.h pow_request_hash): the UTF-8 text
//   "needs=<n1>[,<n2>];urgency=<u>;languages=<l1>[,<l2>...];mode=<m>;region=<r or empty>"
// with values in the order given.
std::string canonical_route_text(const RouteEnvelope& envelope);

// ---- Requests and their replies ----
// Each request struct has a static `kOp` (its wire "op"); each reply pairs with
// one request. Unless said otherwise a request may be sent by anyone.

// "pow_challenge": the current proof-of-work seed and the effort asked for.
struct PowChallengeRequest {};
struct PowChallengeReply {
  Bytes seed;  // kPowSeedBytes
  std::uint32_t effort = 1;
};

struct PowProof {
  Bytes seed;   // the seed the proof was solved for
  Bytes nonce;  // kPowNonceBytes
};

// "route" (anonymous or survivor): triage a new request. Needs a proof-of-work
// for action "route" over canonical_route_text(envelope). The server picks the
// queue, allocates a case id, claims one one-time prekey per eligible responder
// and returns the roster and their bundles. The route is remembered on this
// connection only, for a few minutes, until open_case uses it.
// Errors: kPowInsufficient, kPowReplayed, kPowStale, kNoResponder, kLimitExceeded
// (too many unused routes on this connection).
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
  Bytes blob;       // the sealed vault, version 1
};
// One encrypted copy of the first message, for one eligible responder.
struct IntakeCopy {
  Bytes certificate_hash;  // kHashBytes: which bundle this copy was made for
  Bytes body;              // opaque to the server (docs/protocol.md "Intake body")
};

// "open_case" (anonymous or survivor): opens the case a route reply named.
// Anonymous callers must bring `vault` (the connection is then logged into it);
// a survivor already logged in must not (the case joins their vault). Every
// intake copy must name a certificate from that route's bundles, each at most once.
// Errors: kNotFound (no such route on this connection, or it expired),
// kBadField (a copy for a certificate not offered), kConflict (the login id is
// taken), kLimitExceeded (open cases per vault).
struct OpenCaseRequest {
  Bytes case_id;
  std::optional<NewVault> vault;
  std::vector<IntakeCopy> intake;  // 1..kMaxIntakeCopies
};
struct OpenCaseReply {
  std::int64_t vault_version = 0;  // the vault's version after this (1 for a new vault)
};

// "challenge": a fresh single-use challenge for vault_login or responder_login.
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
  std::optional<Bytes> claimed_by;  // certificate hash of the responder who took it
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

// "claim" (responder): takes a case this responder received an intake copy
// of. Exclusive: of two racing claims one wins, the other gets kConflict. The
// other responders' intake copies are deleted and they get "case_claimed".
// Errors: kNotFound, kForbidden (no copy was made for you), kConflict.
struct ClaimRequest {
  Bytes case_id;
};
struct ClaimReply {
  std::string queue;
};

using Request = std::variant<PowChallengeRequest, RouteRequest, OpenCaseRequest, ChallengeRequest,
                             VaultLoginRequest, VaultGetRequest, VaultPutRequest, SendRequest,
                             AckRequest, DeleteCaseRequest, ResponderLoginRequest,
                             UploadPrekeysRequest, PresenceRequest, ClaimRequest>;
using Reply =
    std::variant<PowChallengeReply, RouteReply, OpenCaseReply, ChallengeReply, VaultLoginReply,
                 VaultGetReply, VaultPutReply, SendReply, AckReply, DeleteCaseReply,
                 ResponderLoginReply, UploadPrekeysReply, PresenceReply, ClaimReply>;

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
  kClaim,           // "claim"
};
std::string_view op_name(Op op);
std::optional<Op> parse_op(std::string_view name);
inline Op op_of(const Request& request) { return static_cast<Op>(request.index()); }
inline Op op_of(const Reply& reply) { return static_cast<Op>(reply.index()); }

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
// "case_claimed": a responder took the case. To the survivor: which
// certificate's session to continue. To the other responders who got an
// intake copy: the case is no longer waiting for them.
struct CaseClaimedEvent {
  Bytes case_id;
  Bytes claimed_by;  // certificate hash
};
// "case_closed": the case is gone (the survivor deleted it). To every
// responder it was offered to or claimed by.
struct CaseClosedEvent {
  Bytes case_id;
};

using Event = std::variant<EnvelopeEvent, CaseClaimedEvent, CaseClosedEvent>;

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
