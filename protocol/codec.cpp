// The JSON codec for protocol/messages.h (see codec.h and docs/protocol.md).
//
// One field list per struct (`fields` below) drives both directions: a Reader
// checks and fills a struct from a parsed object, a Writer turns a struct into
// an object. Each field names its wire name and its kind (bytes with a length,
// a bounded integer, a name with a validator, an enum, a nested object or a
// bounded list of any of these); optional members are optional on the wire.
//
// Thread safety: pure functions.
#include "protocol/codec.h"

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/encoding.h"
#include "crypto/trust.h"
#include "crypto/vault.h"

namespace hearth::protocol {
namespace {

using Json = nlohmann::json;
// Output keeps insertion order ("v", "op", "id" first) for people reading
// frames. Input is parsed into the std::map form: an ordered object would make
// a frame with many keys quadratic to parse.
using OutJson = nlohmann::ordered_json;

// Deepest nesting a valid frame has is 5 (queue_health: frame, queues, entry,
// classes, class); anything past this is refused by a scan before parsing.
// nlohmann 3.11 parses and destroys iteratively, but copies, compares and
// dumps recursively (dumping a 100k-deep array overflows the stack): no
// recursion depth is left up to the peer.
constexpr int kMaxNesting = 32;
constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kI64Max = std::numeric_limits<std::int64_t>::max();

template <class T>
inline constexpr bool kIsOptional = false;
template <class T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

// `Like<S, T>`: S is T or const T, so one field list serves reading and writing.
template <class S, class T>
concept Like = std::same_as<std::remove_const_t<S>, T>;

// ---- Field kinds ----

// Base64url without padding, decoding to min..max bytes.
struct BytesKind {
  std::size_t min;
  std::size_t max;
};
constexpr BytesKind exactly(std::size_t n) { return {n, n}; }
// Variable-length fields are never empty: no valid certificate, body or blob is.
constexpr BytesKind up_to(std::size_t n) { return {1, n}; }

// A JSON integer (never a float or a bool) in min..max, a multiple of `step`.
struct IntKind {
  std::uint64_t min;
  std::uint64_t max;
  std::uint64_t step = 1;
};
constexpr IntKind kU32{0, kU32Max};
constexpr IntKind kVersionKind{0, kI64Max};  // vault versions and counts
constexpr IntKind kSeqKind{1, kI64Max};      // names an envelope: seq starts at 1

struct BoolKind {};

// A string the validator accepts; `what` completes "not a valid ...".
struct NameKind {
  bool (*valid)(std::string_view);
  std::string_view what;
};
// Free text of at most `max` bytes (the parser has already checked UTF-8).
struct TextKind {
  std::size_t max;
};

template <class E>
struct EnumKind {
  std::optional<E> (*parse)(std::string_view);
  std::string_view (*name)(E);
  std::string_view what;  // completes "unknown ..."
};

struct ObjectKind {};

template <class K>
struct ListKind {
  K element;
  std::size_t min;
  std::size_t max;
  bool distinct = false;
};

// Regions, priority class names and outcome codes: [a-z0-9-]{1,32}, the
// routing rules' own rule for the latter two (triage/rules.h).
bool is_short_code(std::string_view code) {
  return !code.empty() && code.size() <= 32 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

constexpr std::array<std::string_view, 2> kEnvelopeKindNames = {"intake", "message"};
std::string_view envelope_kind_name(EnvelopeKind kind) {
  return kEnvelopeKindNames.at(static_cast<std::size_t>(kind) & 1);
}
std::optional<EnvelopeKind> parse_envelope_kind(std::string_view name) {
  for (std::size_t i = 0; i < kEnvelopeKindNames.size(); ++i) {
    if (kEnvelopeKindNames[i] == name) return static_cast<EnvelopeKind>(i);
  }
  return std::nullopt;
}

// Event names, in the order of the Event variant.
constexpr std::array<std::string_view, 7> kEventNames = {
    "envelope", "case_claimed",     "case_closed",     "queue_status",
    "waiting",  "handoff_proposed", "handoff_declined"};
static_assert(kEventNames.size() == std::variant_size_v<Event>);

constexpr BytesKind kCaseId = exactly(kCaseIdBytes);
constexpr BytesKind kHash = exactly(kHashBytes);
constexpr BytesKind kCertificate = up_to(kMaxCertificateBytes);
constexpr BytesKind kRoster = up_to(kMaxRosterBytes);
constexpr BytesKind kPrekey = up_to(kMaxPrekeyBytes);
constexpr BytesKind kBody = up_to(kMaxBodyBytes);
// One bound on a vault's size, from sealing to storage (crypto/vault.h).
static_assert(kMaxVaultBlobBytes == crypto::kMaxVaultBlobBytes);
constexpr BytesKind kVaultBlob = up_to(kMaxVaultBlobBytes);
constexpr NameKind kQueue{crypto::is_valid_queue_name, "queue name"};
constexpr NameKind kResponderId{crypto::is_valid_responder_id, "responder id"};
constexpr NameKind kRegion{is_short_code, "region"};
constexpr NameKind kClassName{is_short_code, "class name"};
constexpr NameKind kOutcome{is_short_code, "outcome"};
// Bounds against abuse only, well past what any valid reply holds: the
// routing rules allow 8 classes and 32 outcomes, a roster 256 queues.
constexpr std::size_t kMaxQueues = crypto::kMaxListEntries;
constexpr std::size_t kMaxOutcomes = 64;
constexpr std::size_t kMaxClasses = 16;
constexpr IntKind kPositionKind{1, kI64Max};  // 1 = next in the queue

// ---- Field lists: one per struct, the wire names in wire order ----

// Structs with no fields (requests and replies that carry only op/id or re).
template <class V, class S>
requires std::is_empty_v<S>
void fields(V&, S&) {}

template <class V>
void fields(V& v, Like<ProtocolError> auto& s) {
  v.field("code", s.code, EnumKind<ErrorCode>{parse_error_code, error_code_name, "error code"});
  v.field("message", s.message, TextKind{kMaxErrorMessageBytes});
}
template <class V>
void fields(V& v, Like<PowChallengeRequest> auto& s) {
  v.field("urgency", s.urgency, EnumKind<Urgency>{parse_urgency, urgency_name, "urgency"});
}
template <class V>
void fields(V& v, Like<PowChallengeReply> auto& s) {
  v.field("challenge", s.challenge, exactly(kPowChallengeBytes));
  v.field("effort", s.effort, IntKind{1, kU32Max});
  v.field("expires_in", s.expires_in, IntKind{1, kU32Max});
}
template <class V>
void fields(V& v, Like<PowProof> auto& s) {
  v.field("challenge", s.challenge, exactly(kPowChallengeBytes));
  v.field("nonce", s.nonce, exactly(kPowNonceBytes));
}
template <class V>
void fields(V& v, Like<RouteEnvelope> auto& s) {
  v.field("needs", s.needs, ListKind<EnumKind<Need>>{{parse_need, need_name, "need"}, 1, 2, true});
  v.field("urgency", s.urgency, EnumKind<Urgency>{parse_urgency, urgency_name, "urgency"});
  v.field("languages", s.languages,
          ListKind<NameKind>{{crypto::is_valid_language, "language code"}, 1, 3, true});
  v.field("mode", s.mode, EnumKind<Mode>{parse_mode, mode_name, "mode"});
  v.field("region", s.region, kRegion);
}
template <class V>
void fields(V& v, Like<RouteRequest> auto& s) {
  v.field("envelope", s.envelope, ObjectKind{});
  v.field("pow", s.pow, ObjectKind{});
}
template <class V>
void fields(V& v, Like<Bundle> auto& s) {
  v.field("certificate", s.certificate, kCertificate);
  v.field("signed_prekey", s.signed_prekey, kPrekey);
  v.field("one_time_prekey", s.one_time_prekey, kPrekey);
}
template <class V>
void fields(V& v, Like<RouteReply> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("queue", s.queue, kQueue);
  v.field("roster", s.roster, kRoster);
  v.field("bundles", s.bundles, ListKind<ObjectKind>{{}, 1, kMaxBundles});
}
template <class V>
void fields(V& v, Like<NewVault> auto& s) {
  v.field("login_id", s.login_id, exactly(kLoginIdBytes));
  v.field("login_key", s.login_key, exactly(kPublicKeyBytes));
  v.field("signature", s.signature, exactly(kSignatureBytes));
  v.field("blob", s.blob, kVaultBlob);
}
template <class V>
void fields(V& v, Like<IntakeCopy> auto& s) {
  v.field("certificate_hash", s.certificate_hash, kHash);
  v.field("body", s.body, kBody);
}
template <class V>
void fields(V& v, Like<OpenCaseRequest> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("vault", s.vault, ObjectKind{});
  v.field("intake", s.intake, ListKind<ObjectKind>{{}, 1, kMaxIntakeCopies});
}
template <class V>
void fields(V& v, Like<OpenCaseReply> auto& s) {
  v.field("vault_version", s.vault_version, kVersionKind);
}
template <class V>
void fields(V& v, Like<ChallengeReply> auto& s) {
  v.field("challenge", s.challenge, exactly(kChallengeBytes));
}
template <class V>
void fields(V& v, Like<VaultLoginRequest> auto& s) {
  v.field("login_id", s.login_id, exactly(kLoginIdBytes));
  v.field("signature", s.signature, exactly(kSignatureBytes));
}
template <class V>
void fields(V& v, Like<CaseSummary> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("queue", s.queue, kQueue);
  v.field("claimed_by", s.claimed_by, kHash);
  v.field("handoff_queue", s.handoff_queue, kQueue);
  v.field("closed", s.closed, BoolKind{});
}
template <class V>
void fields(V& v, Like<VaultLoginReply> auto& s) {
  v.field("version", s.version, kVersionKind);
  v.field("blob", s.blob, kVaultBlob);
  v.field("cases", s.cases, ListKind<ObjectKind>{{}, 0, kMaxCasesPerVault});
}
// VaultGetReply, VaultPut and VaultPutRequest (flattened: "version" and "blob"
// at the top level) share one shape.
template <class V, class S>
requires Like<S, VaultGetReply> || Like<S, VaultPut>
void fields(V& v, S& s) {
  v.field("version", s.version, kVersionKind);
  v.field("blob", s.blob, kVaultBlob);
}
template <class V>
void fields(V& v, Like<VaultPutRequest> auto& s) {
  fields(v, s.put);
}
template <class V>
void fields(V& v, Like<VaultPutReply> auto& s) {
  v.field("version", s.version, kVersionKind);
}
template <class V>
void fields(V& v, Like<SendRequest> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("body", s.body, kBody);
  v.field("vault", s.vault, ObjectKind{});
}
template <class V>
void fields(V& v, Like<SendReply> auto& s) {
  v.field("seq", s.seq, kSeqKind);
  v.field("vault_version", s.vault_version, kVersionKind);
}
template <class V>
void fields(V& v, Like<AckRequest> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("seq", s.seq, kSeqKind);
}
// Requests and events that name only a case.
template <class V, class S>
requires Like<S, DeleteCaseRequest> || Like<S, HandoffOfferRequest> ||
    Like<S, HandoffDeclineRequest> || Like<S, HandoffDeclinedEvent>
void fields(V& v, S& s) { v.field("case", s.case_id, kCaseId); }
// Requests and events that name a case and a queue.
template <class V, class S>
requires Like<S, HandoffRequest> || Like<S, HandoffProposedEvent>
void fields(V& v, S& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("queue", s.queue, kQueue);
}
template <class V>
void fields(V& v, Like<ResponderLoginRequest> auto& s) {
  v.field("certificate", s.certificate, kCertificate);
  v.field("signature", s.signature, exactly(kSignatureBytes));
}
template <class V>
void fields(V& v, Like<ResponderLoginReply> auto& s) {
  v.field("responder_id", s.responder_id, kResponderId);
  v.field("queues", s.queues, ListKind<NameKind>{kQueue, 0, crypto::kMaxListEntries});
  v.field("outcomes", s.outcomes, ListKind<NameKind>{kOutcome, 0, kMaxOutcomes, true});
  v.field("roster", s.roster, kRoster);
  v.field("one_time_prekeys", s.one_time_prekeys, kVersionKind);
  v.field("has_signed_prekey", s.has_signed_prekey, BoolKind{});
}
template <class V>
void fields(V& v, Like<UploadPrekeysRequest> auto& s) {
  v.field("signed_prekey", s.signed_prekey, kPrekey);
  v.field("one_time_prekeys", s.one_time_prekeys,
          ListKind<BytesKind>{kPrekey, 0, kMaxPrekeysPerUpload});
}
template <class V>
void fields(V& v, Like<UploadPrekeysReply> auto& s) {
  v.field("one_time_prekeys", s.one_time_prekeys, kVersionKind);
}
template <class V>
void fields(V& v, Like<PresenceRequest> auto& s) {
  v.field("status", s.status, EnumKind<Presence>{parse_presence, presence_name, "presence"});
  v.field("capacity", s.capacity, IntKind{1, 50});
}
template <class V>
void fields(V& v, Like<TakenCase> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("queue", s.queue, kQueue);
  v.field("class", s.priority_class, kClassName);
  v.field("envelope", s.envelope, ObjectKind{});
  v.field("interpreter", s.interpreter, BoolKind{});
  v.field("waited_s", s.waited_s, kVersionKind);
}
template <class V>
void fields(V& v, Like<TakeNextReply> auto& s) {
  v.field("taken", s.taken, ObjectKind{});
}
template <class V>
void fields(V& v, Like<HandoffOfferReply> auto& s) {
  v.field("queue", s.queue, kQueue);
  v.field("roster", s.roster, kRoster);
  v.field("bundles", s.bundles, ListKind<ObjectKind>{{}, 1, kMaxBundles});
}
template <class V>
void fields(V& v, Like<HandoffAcceptRequest> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("share", s.share,
          EnumKind<HandoffShare>{parse_handoff_share, handoff_share_name, "handoff share"});
  v.field("intake", s.intake, ListKind<ObjectKind>{{}, 1, kMaxIntakeCopies});
}
template <class V>
void fields(V& v, Like<CloseCaseRequest> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("outcome", s.outcome, kOutcome);
}
template <class V>
void fields(V& v, Like<ClassHealth> auto& s) {
  v.field("class", s.priority_class, kClassName);
  v.field("waiting", s.waiting, kVersionKind);
  v.field("longest_wait_s", s.longest_wait_s, kVersionKind);
  v.field("target_s", s.target_s, kVersionKind);
}
template <class V>
void fields(V& v, Like<QueueHealthEntry> auto& s) {
  v.field("queue", s.queue, kQueue);
  v.field("classes", s.classes, ListKind<ObjectKind>{{}, 0, kMaxClasses});
  v.field("responders_available", s.responders_available, kVersionKind);
  v.field("responders_away", s.responders_away, kVersionKind);
  v.field("load", s.load, kVersionKind);
  v.field("capacity", s.capacity, kVersionKind);
}
template <class V>
void fields(V& v, Like<QueueHealthReply> auto& s) {
  v.field("queues", s.queues, ListKind<ObjectKind>{{}, 0, kMaxQueues});
}
template <class V>
void fields(V& v, Like<DismissWaitingRequest> auto& s) {
  v.field("arrived_from", s.arrived_from, kVersionKind);
  v.field("arrived_until", s.arrived_until, kVersionKind);
  v.field("queue", s.queue, kQueue);
  v.field("away_only", s.away_only, BoolKind{});
}
template <class V>
void fields(V& v, Like<DismissWaitingReply> auto& s) {
  v.field("dismissed", s.dismissed, IntKind{0, kMaxDismissPerRequest});
  v.field("remaining", s.remaining, kVersionKind);
}
template <class V>
void fields(V& v, Like<EnvelopeEvent> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("seq", s.seq, kSeqKind);
  v.field("kind", s.kind,
          EnumKind<EnvelopeKind>{parse_envelope_kind, envelope_kind_name, "envelope kind"});
  v.field("body", s.body, kBody);
  v.field("sent_minute", s.sent_minute, IntKind{0, kI64Max, 60});
}
template <class V>
void fields(V& v, Like<CaseClaimedEvent> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("claimed_by", s.claimed_by, kHash);
}
template <class V>
void fields(V& v, Like<CaseClosedEvent> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("reason", s.reason,
          EnumKind<CloseReason>{parse_close_reason, close_reason_name, "close reason"});
}
template <class V>
void fields(V& v, Like<QueueStatusEvent> auto& s) {
  v.field("case", s.case_id, kCaseId);
  v.field("position", s.position, kPositionKind);
  v.field("wait_band", s.wait_band,
          EnumKind<WaitBand>{parse_wait_band, wait_band_name, "wait band"});
}
template <class V>
void fields(V& v, Like<WaitingEvent> auto& s) {
  v.field("waiting", s.waiting, kVersionKind);
  v.field("urgent", s.urgent, kVersionKind);
}

// ---- Reading ----

// The first problem of each class met while reading a frame. Reading goes on
// past a problem so that the class with the highest precedence is reported:
// an unknown field, then a missing one, then a bad one.
class Problems {
 public:
  void add(ErrorCode code, std::string_view path, std::string_view why) {
    auto& slot = code == ErrorCode::kUnknownField   ? unknown_
                 : code == ErrorCode::kMissingField ? missing_
                                                    : bad_;
    if (!slot) slot = ProtocolError{code, std::string(path) + ": " + std::string(why)};
  }
  // Always false, so a reader can `return problems.bad(...)`.
  bool bad(std::string_view path, std::string_view why) {
    add(ErrorCode::kBadField, path, why);
    return false;
  }
  std::optional<ProtocolError> first() const {
    if (unknown_) return unknown_;
    if (missing_) return missing_;
    return bad_;
  }

 private:
  std::optional<ProtocolError> unknown_, missing_, bad_;
};

// A field name as it may appear in an error message: the peer chose it, so it
// is shown only when it looks like one of ours, never as arbitrary text.
std::string printable_name(std::string_view name) {
  const bool plain =
      !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  return plain ? std::string(name) : std::string("(a field)");
}

// Reads the fields of one JSON object into a struct, then reports every member
// of the object that no field claimed.
class Reader {
 public:
  Reader(const Json& object, Problems& problems, std::string prefix,
         std::vector<std::string_view> known = {})
      : object_(object),
        problems_(problems),
        prefix_(std::move(prefix)),
        known_(std::move(known)) {}

  template <class T, class K>
  void field(std::string_view name, T& out, const K& kind) {
    known_.push_back(name);
    const std::string path = prefix_ + std::string(name);
    const auto it = object_.find(name);
    if (it == object_.end()) {
      if constexpr (!kIsOptional<T>) problems_.add(ErrorCode::kMissingField, path, "missing");
      return;
    }
    if constexpr (kIsOptional<T>) {
      // One way to say "absent": leave the field out.
      if (it->is_null()) {
        problems_.bad(path, "null (leave the field out instead)");
        return;
      }
      typename T::value_type value{};
      if (read_value(*it, value, kind, problems_, path)) out = std::move(value);
    } else {
      read_value(*it, out, kind, problems_, path);
    }
  }

  void finish() {
    for (const auto& [key, value] : object_.items()) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        problems_.add(ErrorCode::kUnknownField, prefix_ + printable_name(key), "unknown field");
      }
    }
  }

 private:
  const Json& object_;
  Problems& problems_;
  std::string prefix_;
  std::vector<std::string_view> known_;
};

// Each read_value checks one value against its kind; on success it fills `out`
// and returns true, otherwise it records why under `path` and returns false.
bool read_value(const Json& j, Bytes& out, const BytesKind& kind, Problems& problems,
                const std::string& path) {
  const auto* text = j.get_ptr<const Json::string_t*>();
  if (text == nullptr) return problems.bad(path, "not a base64url string");
  const auto wrong_length = [&] {
    return problems.bad(path, kind.min == kind.max
                                  ? "must be " + std::to_string(kind.min) + " bytes"
                                  : "must be 1 to " + std::to_string(kind.max) + " bytes");
  };
  // Nothing much longer than the longest valid encoding is decoded at all (the
  // slack lets stray padding be reported as such).
  if (text->size() > (kind.max * 4 + 2) / 3 + 3) return wrong_length();
  auto decoded = crypto::base64url_decode(*text);
  if (!decoded.is_ok()) return problems.bad(path, "not base64url without padding");
  if (decoded->size() < kind.min || decoded->size() > kind.max) return wrong_length();
  out = std::move(*decoded);
  return true;
}

template <std::integral T>
bool read_value(const Json& j, T& out, const IntKind& kind, Problems& problems,
                const std::string& path) {
  // nlohmann parses a float (1.0, 1e3) or an integer too large for 64 bits as
  // a float, and stores every non-negative integer as unsigned.
  if (!j.is_number_integer()) return problems.bad(path, "not an integer");
  const auto* value = j.get_ptr<const Json::number_unsigned_t*>();
  if (value == nullptr || *value < kind.min || *value > kind.max || *value % kind.step != 0) {
    return problems.bad(path, "out of range");
  }
  out = static_cast<T>(*value);
  return true;
}

bool read_value(const Json& j, bool& out, const BoolKind&, Problems& problems,
                const std::string& path) {
  const auto* value = j.get_ptr<const Json::boolean_t*>();
  if (value == nullptr) return problems.bad(path, "not a boolean");
  out = *value;
  return true;
}

bool read_value(const Json& j, std::string& out, const NameKind& kind, Problems& problems,
                const std::string& path) {
  const auto* text = j.get_ptr<const Json::string_t*>();
  if (text == nullptr) return problems.bad(path, "not a string");
  if (!kind.valid(*text)) return problems.bad(path, "not a valid " + std::string(kind.what));
  out = *text;
  return true;
}

bool read_value(const Json& j, std::string& out, const TextKind& kind, Problems& problems,
                const std::string& path) {
  const auto* text = j.get_ptr<const Json::string_t*>();
  if (text == nullptr) return problems.bad(path, "not a string");
  if (text->size() > kind.max) return problems.bad(path, "too long");
  out = *text;
  return true;
}

template <class E>
bool read_value(const Json& j, E& out, const EnumKind<E>& kind, Problems& problems,
                const std::string& path) {
  const auto* text = j.get_ptr<const Json::string_t*>();
  if (text == nullptr) return problems.bad(path, "not a string");
  const auto value = kind.parse(*text);
  if (!value) return problems.bad(path, "unknown " + std::string(kind.what));
  out = *value;
  return true;
}

template <class S>
bool read_value(const Json& j, S& out, const ObjectKind&, Problems& problems,
                const std::string& path) {
  if (!j.is_object()) return problems.bad(path, "not an object");
  Reader reader(j, problems, path + ".");
  fields(reader, out);
  reader.finish();
  return true;  // problems inside were recorded under their own paths
}

template <class T, class K>
bool read_value(const Json& j, std::vector<T>& out, const ListKind<K>& kind, Problems& problems,
                const std::string& path) {
  if (!j.is_array()) return problems.bad(path, "not an array");
  bool ok = true;
  if (j.size() < kind.min || j.size() > kind.max) {
    ok = problems.bad(path, "must have " + std::to_string(kind.min) + " to " +
                                std::to_string(kind.max) + " entries");
  }
  // Elements are read even past a bad count, so that an unknown or missing
  // field inside one still takes precedence.
  out.clear();
  out.reserve(std::min<std::size_t>(j.size(), kind.max));
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string element_path = path + "[" + std::to_string(i) + "]";
    T value{};
    if (!read_value(j[i], value, kind.element, problems, element_path)) {
      ok = false;
      continue;
    }
    if constexpr (std::equality_comparable<T>) {
      if (kind.distinct && std::find(out.begin(), out.end(), value) != out.end()) {
        ok = problems.bad(element_path, "duplicate");
        continue;
      }
    }
    out.push_back(std::move(value));
  }
  return ok;
}

// ---- Writing ----

class Writer {
 public:
  explicit Writer(OutJson& object) : object_(object) {}

  template <class T, class K>
  void field(std::string_view name, const T& value, const K& kind) {
    if constexpr (kIsOptional<T>) {
      if (value) object_[std::string(name)] = write_value(*value, kind);
    } else {
      object_[std::string(name)] = write_value(value, kind);
    }
  }

 private:
  OutJson& object_;
};

OutJson write_value(const Bytes& value, const BytesKind&) {
  return crypto::base64url_encode(value);
}
template <std::integral T>
OutJson write_value(T value, const IntKind&) {
  return value;
}
OutJson write_value(bool value, const BoolKind&) { return value; }
OutJson write_value(const std::string& value, const NameKind&) { return value; }

// The longest prefix of `text` that is well-formed UTF-8 and at most `limit`
// bytes: an error message must decode on the other side whatever went into it.
std::string_view utf8_prefix(std::string_view text, std::size_t limit) {
  std::size_t good = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t cp = 0;
    if (lead < 0x80) {
      length = 1, cp = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, cp = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, cp = lead & 0x07u;
    } else {
      break;
    }
    if (i + length > text.size() || i + length > limit) break;
    bool ok = true;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      ok = ok && (next & 0xC0) == 0x80;
      cp = (cp << 6) | (next & 0x3Fu);
    }
    constexpr std::array<std::uint32_t, 5> kMinForLength = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < kMinForLength[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      break;
    }
    i += length;
    good = i;
  }
  return text.substr(0, good);
}
OutJson write_value(const std::string& value, const TextKind& kind) {
  return std::string(utf8_prefix(value, kind.max));
}

template <class E>
OutJson write_value(E value, const EnumKind<E>& kind) {
  return std::string(kind.name(value));
}

template <class S>
OutJson write_value(const S& value, const ObjectKind&) {
  OutJson object = OutJson::object();
  Writer writer(object);
  fields(writer, value);
  return object;
}

template <class T, class K>
OutJson write_value(const std::vector<T>& values, const ListKind<K>& kind) {
  OutJson array = OutJson::array();
  for (const auto& value : values) array.push_back(write_value(value, kind.element));
  return array;
}

// Never throws: a string that is not UTF-8 (only a caller's bug can put one
// in a struct) is written with U+FFFD in its place rather than aborting.
std::string dump(const OutJson& frame) {
  return frame.dump(-1, ' ', false, OutJson::error_handler_t::replace);
}

// ---- Frames ----

ProtocolError malformed(std::string message) {
  return ProtocolError{ErrorCode::kMalformed, std::move(message)};
}

// True when `text` nests arrays and objects deeper than kMaxNesting. Brackets
// inside strings do not count; the text need not be valid JSON.
bool nests_too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// A parsed frame: a JSON object with no key twice in any object (nlohmann
// would silently keep the last one, and two readers of one frame could then
// disagree about it), carrying "v": 1.
struct ParsedFrame {
  Json object;
  bool id_usable = false;  // a single top-level "id", a u32
  std::uint32_t id = 0;
};

// Parses and checks the frame's envelope. On failure, still says whether it
// carried a usable "id" (the server answers under it).
// The top-level "id" of a frame nested too deeply to parse whole, so its
// refusal can still be answered under its id: the frame is parsed with every
// array and object inside the top level dropped as it is read (nlohmann parses
// iteratively and keeps nothing of a dropped value), then "id" is read as for
// any frame. nullopt when it is not JSON, has no single top-level "id", or the
// id is not a u32.
std::optional<std::uint32_t> shallow_id(std::string_view text) {
  int top_level_ids = 0;
  const Json::parser_callback_t top_level_only = [&](int depth, Json::parse_event_t event,
                                                     Json& parsed) {
    switch (event) {
      case Json::parse_event_t::key:
        if (depth == 1 && parsed == "id") ++top_level_ids;
        return true;
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        return depth == 0;
      default:
        return true;
    }
  };
  Json top = Json::parse(text.begin(), text.end(), top_level_only, /*allow_exceptions=*/false);
  if (top.is_discarded() || !top.is_object() || top_level_ids != 1) return std::nullopt;
  const auto it = top.find("id");
  if (it == top.end()) return std::nullopt;
  std::uint32_t id = 0;
  Problems ignored;
  if (!read_value(*it, id, kU32, ignored, "id")) return std::nullopt;
  return id;
}

std::variant<ParsedFrame, RequestError> parse_frame(std::string_view text) {
  if (nests_too_deep(text)) return RequestError{shallow_id(text), malformed("nested too deeply")};
  std::vector<std::size_t> key_counts;  // one per open object
  bool duplicate_key = false;
  int top_level_ids = 0;
  const Json::parser_callback_t count_keys = [&](int depth, Json::parse_event_t event,
                                                 Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        key_counts.push_back(0);
        break;
      case Json::parse_event_t::key:
        if (!key_counts.empty()) ++key_counts.back();
        if (depth == 1 && parsed == "id") ++top_level_ids;
        break;
      case Json::parse_event_t::object_end:
        // Fewer members than keys read: a key came twice.
        if (!key_counts.empty()) {
          duplicate_key = duplicate_key || key_counts.back() != parsed.size();
          key_counts.pop_back();
        }
        break;
      default:
        break;
    }
    return true;
  };
  ParsedFrame frame;
  frame.object = Json::parse(text.begin(), text.end(), count_keys, /*allow_exceptions=*/false);
  if (frame.object.is_discarded()) return RequestError{std::nullopt, malformed("not JSON")};
  if (!frame.object.is_object()) {
    return RequestError{std::nullopt, malformed("not a JSON object")};
  }
  if (const auto it = frame.object.find("id"); it != frame.object.end() && top_level_ids == 1) {
    Problems ignored;
    frame.id_usable = read_value(*it, frame.id, kU32, ignored, "id");
  }
  std::optional<std::uint32_t> id;
  if (frame.id_usable) id = frame.id;
  if (duplicate_key) return RequestError{id, malformed("a key appears twice in one object")};
  const auto v = frame.object.find("v");
  if (v == frame.object.end() || !v->is_number_integer() || *v != kVersion) {
    return RequestError{id, {ErrorCode::kUnsupportedVersion, "v: this server speaks version 1"}};
  }
  return frame;
}

// Reads alternative `index` of Variant from the reader's object.
template <class Variant, std::size_t... I>
Variant read_alternative(std::size_t index, Reader& reader, std::index_sequence<I...>) {
  Variant out;
  ((index == I ? (fields(reader, out.template emplace<I>()), void()) : void()), ...);
  reader.finish();
  return out;
}
template <class Variant>
Variant read_alternative(std::size_t index, Reader& reader) {
  return read_alternative<Variant>(index, reader,
                                   std::make_index_sequence<std::variant_size_v<Variant>>());
}

// The index of `name` in `names`, if any.
template <class Names>
std::optional<std::size_t> index_of(const Names& names, std::string_view name) {
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<std::size_t>(it - names.begin());
}

// A string member of the frame ("op", "ev"), or nullptr.
const std::string* string_member(const Json& object, std::string_view name) {
  const auto it = object.find(name);
  return it == object.end() ? nullptr : it->get_ptr<const Json::string_t*>();
}

OutJson frame_head() {
  OutJson frame = OutJson::object();
  frame["v"] = kVersion;
  return frame;
}

template <class Variant>
void write_fields(OutJson& frame, const Variant& value) {
  Writer writer(frame);
  std::visit([&](const auto& alternative) { fields(writer, alternative); }, value);
}

}  // namespace

std::variant<RequestFrame, RequestError> decode_request(std::string_view text) {
  auto parsed = parse_frame(text);
  if (auto* failed = std::get_if<RequestError>(&parsed)) return std::move(*failed);
  const ParsedFrame& frame = std::get<ParsedFrame>(parsed);
  std::optional<std::uint32_t> id;
  if (frame.id_usable) id = frame.id;

  const std::string* op_text = string_member(frame.object, "op");
  if (op_text == nullptr) return RequestError{id, malformed("op: missing or not a string")};
  if (!id) return RequestError{id, malformed("id: missing or not an integer 0..4294967295")};
  const auto op = parse_op(*op_text);
  if (!op) return RequestError{id, {ErrorCode::kUnknownOp, "op: unknown"}};

  Problems problems;
  Reader reader(frame.object, problems, "", {"v", "op", "id"});
  RequestFrame out{*id, read_alternative<Request>(static_cast<std::size_t>(*op), reader)};
  if (auto problem = problems.first()) return RequestError{id, std::move(*problem)};
  return out;
}

std::variant<ServerFrame, ProtocolError> decode_server_frame(std::string_view text,
                                                             const ReplyOpLookup& op_of_reply) {
  auto parsed = parse_frame(text);
  if (auto* failed = std::get_if<RequestError>(&parsed)) return std::move(failed->error);
  const ParsedFrame& frame = std::get<ParsedFrame>(parsed);
  Problems problems;

  if (frame.object.contains("ev")) {
    const std::string* name = string_member(frame.object, "ev");
    if (name == nullptr) return malformed("ev: not a string");
    const auto index = index_of(kEventNames, *name);
    if (!index) return ProtocolError{ErrorCode::kUnknownOp, "ev: unknown event"};
    Reader reader(frame.object, problems, "", {"v", "ev"});
    std::variant<ServerFrame, ProtocolError> out(
        std::in_place_index<0>, std::in_place_index<1>,
        EventFrame{read_alternative<Event>(*index, reader)});
    if (auto problem = problems.first()) return std::move(*problem);
    return out;
  }

  const auto re = frame.object.find("re");
  if (re == frame.object.end()) return malformed("neither \"re\" nor \"ev\"");
  ReplyFrame out;
  if (!re->is_null()) {
    std::uint32_t value = 0;
    if (!read_value(*re, value, kU32, problems, "re")) return malformed("re: not an integer id");
    out.re = value;
  }
  Reader reader(frame.object, problems, "", {"v", "re"});
  if (frame.object.contains("error")) {
    ProtocolError error;
    reader.field("error", error, ObjectKind{});
    reader.finish();
    out.result = std::move(error);
  } else {
    if (!out.re) return malformed("re: null outside an error reply");
    const auto op = op_of_reply ? op_of_reply(*out.re) : std::nullopt;
    if (!op) return malformed("re: no request is pending under this id");
    out.result = read_alternative<Reply>(static_cast<std::size_t>(*op), reader);
  }
  if (auto problem = problems.first()) return std::move(*problem);
  return ServerFrame{std::move(out)};
}

std::string encode(const RequestFrame& frame) {
  OutJson out = frame_head();
  out["op"] = std::string(op_name(op_of(frame.request)));
  out["id"] = frame.id;
  write_fields(out, frame.request);
  return dump(out);
}

std::string encode(const ReplyFrame& frame) {
  OutJson out = frame_head();
  out["re"] = frame.re ? OutJson(*frame.re) : OutJson(nullptr);
  if (const auto* error = std::get_if<ProtocolError>(&frame.result)) {
    out["error"] = write_value(*error, ObjectKind{});
  } else {
    write_fields(out, std::get<Reply>(frame.result));
  }
  return dump(out);
}

std::string encode(const EventFrame& frame) {
  OutJson out = frame_head();
  out["ev"] = std::string(kEventNames.at(frame.event.index()));
  write_fields(out, frame.event);
  return dump(out);
}

}  // namespace hearth::protocol
