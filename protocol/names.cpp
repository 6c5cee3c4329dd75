// The wire names of the protocol's enums (messages.h), and the canonical text
// a route's proof-of-work is bound to.
//
// Thread safety: pure functions over constant tables.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/log_names.h"
#include "protocol/messages.h"

namespace hearth::protocol {
namespace {

// One table per enum: the wire name of each enumerator, in declaration order.
template <class E, std::size_t N>
struct NameTable {
  std::array<std::string_view, N> names;

  std::string_view name(E value) const {
    const auto index = static_cast<std::size_t>(value);
    return index < N ? names[index] : std::string_view();
  }
  std::optional<E> parse(std::string_view text) const {
    for (std::size_t i = 0; i < N; ++i) {
      if (names[i] == text) return static_cast<E>(i);
    }
    return std::nullopt;
  }
};

constexpr NameTable<ErrorCode, 24> kErrorCodes{{
    "malformed",
    "unsupported_version",
    "unknown_op",
    "unknown_field",
    "missing_field",
    "bad_field",
    "rate_limited",
    "not_authenticated",
    "forbidden",
    "not_found",
    "conflict",
    "auth_failed",
    "not_on_roster",
    "revoked",
    "certificate_expired",
    "pow_insufficient",
    "pow_replayed",
    "pow_stale",
    "limit_exceeded",
    "no_responder",
    "not_claimed",
    "closed",
    "unavailable",
    "internal",
}};
static_assert(kErrorCodes.names.back() == "internal" &&
              static_cast<std::size_t>(ErrorCode::kInternal) == 23);

constexpr NameTable<Need, 9> kNeeds{{
    "immediate-safety",
    "shelter",
    "medical",
    "counselling",
    "legal",
    "immigration",
    "work-education",
    "peer-support",
    "culturally-specific",
}};
static_assert(static_cast<std::size_t>(Need::kCulturallySpecific) == 8);

constexpr NameTable<Urgency, 4> kUrgencies{{"danger-now", "today", "this-week", "information"}};
static_assert(static_cast<std::size_t>(Urgency::kInformation) == 3);

constexpr NameTable<Mode, 2> kModes{{"live", "async"}};
constexpr NameTable<Presence, 2> kPresences{{"available", "away"}};
constexpr NameTable<HandoffShare, 3> kHandoffShares{{"new-only", "summary", "history"}};
static_assert(static_cast<std::size_t>(HandoffShare::kHistory) == 2);
constexpr NameTable<CloseReason, 3> kCloseReasons{{"deleted", "closed", "handed-off"}};
static_assert(static_cast<std::size_t>(CloseReason::kHandedOff) == 2);
constexpr NameTable<WaitBand, 5> kWaitBands{
    {"minutes", "quarter-hour", "hour", "hours", "nobody-online"}};
static_assert(static_cast<std::size_t>(WaitBand::kNobodyOnline) == 4);

constexpr NameTable<Op, 21> kOps{{
    "pow_challenge",
    "route",
    "open_case",
    "challenge",
    "vault_login",
    "vault_get",
    "vault_put",
    "send",
    "ack",
    "delete_case",
    "responder_login",
    "upload_prekeys",
    "presence",
    "take_next",
    "handoff",
    "handoff_offer",
    "handoff_accept",
    "handoff_decline",
    "close_case",
    "queue_health",
    "dismiss_waiting",
}};
static_assert(static_cast<std::size_t>(Op::kDismissWaiting) == 20 &&
              std::variant_size_v<Request> == 21 && std::variant_size_v<Reply> == 21);

}  // namespace

namespace {

// Every name of a table is set, distinct and a whole literal (so it can be log
// text): an op or error code added to messages.h without its name here fails
// to compile, and so does a table sized by hand for fewer.
template <class E, std::size_t N>
consteval bool complete(const NameTable<E, N>& table) {
  for (std::size_t i = 0; i < N; ++i) {
    if (table.names[i].empty() || table.names[i].data()[table.names[i].size()] != '\0')
      return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (table.names[j] == table.names[i]) return false;
    }
  }
  return true;
}
static_assert(kOps.names.size() == kOpCount && complete(kOps), "kOps: one wire name per op");
static_assert(kErrorCodes.names.size() == kErrorCodeCount && complete(kErrorCodes),
              "kErrorCodes: one wire name per error code");

// The op names as log text, made at compile time from kOps.
template <std::size_t... I>
consteval std::array<log::LogText, sizeof...(I)> op_log_texts(std::index_sequence<I...>) {
  return {log::LogText(kOps.names[I].data())...};
}
constexpr auto kOpLogTexts = op_log_texts(std::make_index_sequence<kOpCount>());

}  // namespace

log::LogText op_log_name(Op op) {
  const auto index = static_cast<std::size_t>(op);
  return index < kOpLogTexts.size() ? kOpLogTexts[index] : log::LogText("unknown");
}

std::string_view error_code_name(ErrorCode code) { return kErrorCodes.name(code); }
std::optional<ErrorCode> parse_error_code(std::string_view name) { return kErrorCodes.parse(name); }
std::string_view need_name(Need need) { return kNeeds.name(need); }
std::optional<Need> parse_need(std::string_view name) { return kNeeds.parse(name); }
std::string_view urgency_name(Urgency urgency) { return kUrgencies.name(urgency); }
std::optional<Urgency> parse_urgency(std::string_view name) { return kUrgencies.parse(name); }
std::string_view mode_name(Mode mode) { return kModes.name(mode); }
std::optional<Mode> parse_mode(std::string_view name) { return kModes.parse(name); }
std::string_view presence_name(Presence presence) { return kPresences.name(presence); }
std::optional<Presence> parse_presence(std::string_view name) { return kPresences.parse(name); }
std::string_view handoff_share_name(HandoffShare share) { return kHandoffShares.name(share); }
std::optional<HandoffShare> parse_handoff_share(std::string_view name) {
  return kHandoffShares.parse(name);
}
std::string_view close_reason_name(CloseReason reason) { return kCloseReasons.name(reason); }
std::optional<CloseReason> parse_close_reason(std::string_view name) {
  return kCloseReasons.parse(name);
}
std::string_view wait_band_name(WaitBand band) { return kWaitBands.name(band); }
std::optional<WaitBand> parse_wait_band(std::string_view name) { return kWaitBands.parse(name); }
std::string_view op_name(Op op) { return kOps.name(op); }
std::optional<Op> parse_op(std::string_view name) { return kOps.parse(name); }

std::string canonical_route_text(const RouteEnvelope& envelope) {
  // Values are joined in the order given: the proof is over exactly what was sent.
  const auto join = [](const auto& values, auto name_of) {
    std::string out;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ',';
      out += name_of(values[i]);
    }
    return out;
  };
  std::string text = "needs=";
  text += join(envelope.needs, need_name);
  text += ";urgency=";
  text += urgency_name(envelope.urgency);
  text += ";languages=";
  text += join(envelope.languages, [](const std::string& l) -> std::string_view { return l; });
  text += ";mode=";
  text += mode_name(envelope.mode);
  text += ";region=";
  text += envelope.region.value_or("");
  return text;
}

}  // namespace hearth::protocol
