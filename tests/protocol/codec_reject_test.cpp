// What the protocol codec refuses, and how it says so: a table of frames made
// bad one field at a time (each kind of field, each class of error, exact
// messages naming the field path), frame-level garbage (not JSON, deep
// nesting, duplicate keys, numbers that are not integers, bytes that are not
// UTF-8), and the same strictness on the client side.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "protocol/codec.h"
#include "tests/protocol/samples.h"

namespace hearth::protocol {
namespace {

using Json = nlohmann::json;

std::string b64(std::size_t n) { return crypto::base64url_encode(test::sample_bytes(n, 99)); }

// The sample request of `op`, as a parsed JSON object with id 9.
Json request_json(Op op) {
  const auto requests = test::sample_requests();
  return Json::parse(encode(RequestFrame{9, requests[static_cast<std::size_t>(op)]}));
}

// Sets (or, with no value, removes) the member at a JSON pointer.
struct Edit {
  std::string pointer;
  std::optional<Json> value;
};
Json apply(Json frame, const std::vector<Edit>& edits) {
  for (const Edit& edit : edits) {
    const Json::json_pointer pointer(edit.pointer);
    if (edit.value) {
      frame[pointer] = *edit.value;
    } else {
      Json& parent = frame[pointer.parent_pointer()];
      if (parent.is_array()) {
        parent.erase(static_cast<std::size_t>(std::stoul(pointer.back())));
      } else {
        parent.erase(pointer.back());
      }
    }
  }
  return frame;
}

RequestError decode_error(const std::string& text) {
  auto decoded = decode_request(text);
  REQUIRE(std::holds_alternative<RequestError>(decoded));
  return std::get<RequestError>(decoded);
}

struct FieldCase {
  Op op;
  std::vector<Edit> edits;
  ErrorCode code;
  std::string message;  // exact
};

Json strings(std::size_t n) {
  Json out = Json::array();
  for (std::size_t i = 0; i < n; ++i) out.push_back(b64(40));
  return out;
}

Json intakes(std::size_t n) {
  Json out = Json::array();
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back({{"certificate_hash", b64(kHashBytes)}, {"body", b64(100)}});
  }
  return out;
}

TEST_CASE("each kind of field refuses each kind of bad value, naming the field", "[protocol]") {
  const std::vector<FieldCase> cases = {
      // Binary fields: type, alphabet, padding, exact and maximum lengths.
      {Op::kAck, {{"/case", 5}}, ErrorCode::kBadField, "case: not a base64url string"},
      {Op::kAck, {{"/case", nullptr}}, ErrorCode::kBadField, "case: not a base64url string"},
      {Op::kAck, {{"/case", b64(15)}}, ErrorCode::kBadField, "case: must be 16 bytes"},
      {Op::kAck, {{"/case", b64(17)}}, ErrorCode::kBadField, "case: must be 16 bytes"},
      {Op::kAck,
       {{"/case", b64(16) + "=="}},
       ErrorCode::kBadField,
       "case: not base64url without padding"},
      {Op::kAck,
       {{"/case", "AAAAAAAAAAAAAAAAAAAA+/"}},
       ErrorCode::kBadField,
       "case: not base64url without padding"},
      {Op::kAck,
       {{"/case", "AAAAAAAAAAA AAAAAAAAAA"}},
       ErrorCode::kBadField,
       "case: not base64url without padding"},
      {Op::kAck,
       {{"/case", "AAAAAAAAAAAAAAAAAAAAAB"}},
       ErrorCode::kBadField,
       "case: not base64url without padding"},  // non-zero trailing bits
      {Op::kAck, {{"/case", b64(100)}}, ErrorCode::kBadField, "case: must be 16 bytes"},
      {Op::kVaultLogin,
       {{"/signature", b64(63)}},
       ErrorCode::kBadField,
       "signature: must be 64 bytes"},
      {Op::kVaultLogin,
       {{"/login_id", b64(31)}},
       ErrorCode::kBadField,
       "login_id: must be 32 bytes"},
      {Op::kSend, {{"/body", ""}}, ErrorCode::kBadField, "body: must be 1 to 66560 bytes"},
      {Op::kSend,
       {{"/body", b64(kMaxBodyBytes + 1)}},
       ErrorCode::kBadField,
       "body: must be 1 to 66560 bytes"},
      {Op::kOpenCase,
       {{"/vault/login_key", b64(31)}},
       ErrorCode::kBadField,
       "vault.login_key: must be 32 bytes"},
      {Op::kOpenCase,
       {{"/vault/signature", b64(63)}},
       ErrorCode::kBadField,
       "vault.signature: must be 64 bytes"},
      {Op::kOpenCase,
       {{"/intake/1/certificate_hash", b64(33)}},
       ErrorCode::kBadField,
       "intake[1].certificate_hash: must be 32 bytes"},
      {Op::kUploadPrekeys,
       {{"/one_time_prekeys/1", b64(kMaxPrekeyBytes + 1)}},
       ErrorCode::kBadField,
       "one_time_prekeys[1]: must be 1 to 1024 bytes"},
      {Op::kUploadPrekeys,
       {{"/signed_prekey", b64(kMaxPrekeyBytes + 1)}},
       ErrorCode::kBadField,
       "signed_prekey: must be 1 to 1024 bytes"},
      {Op::kRoute, {{"/pow/nonce", b64(15)}}, ErrorCode::kBadField, "pow.nonce: must be 16 bytes"},
      {Op::kResponderLogin,
       {{"/certificate", b64(kMaxCertificateBytes + 1)}},
       ErrorCode::kBadField,
       "certificate: must be 1 to 16384 bytes"},
      // Integers: JSON integers only, in range.
      {Op::kAck, {{"/seq", 0}}, ErrorCode::kBadField, "seq: out of range"},
      {Op::kAck, {{"/seq", -1}}, ErrorCode::kBadField, "seq: out of range"},
      {Op::kAck, {{"/seq", 1.0}}, ErrorCode::kBadField, "seq: not an integer"},
      {Op::kAck, {{"/seq", 1e3}}, ErrorCode::kBadField, "seq: not an integer"},
      {Op::kAck, {{"/seq", true}}, ErrorCode::kBadField, "seq: not an integer"},
      {Op::kAck, {{"/seq", "1"}}, ErrorCode::kBadField, "seq: not an integer"},
      {Op::kAck, {{"/seq", Json::array({1})}}, ErrorCode::kBadField, "seq: not an integer"},
      {Op::kAck, {{"/seq", 9'223'372'036'854'775'808u}}, ErrorCode::kBadField, "seq: out of range"},
      {Op::kVaultPut, {{"/version", -1}}, ErrorCode::kBadField, "version: out of range"},
      {Op::kPresence, {{"/capacity", 0}}, ErrorCode::kBadField, "capacity: out of range"},
      {Op::kPresence, {{"/capacity", 51}}, ErrorCode::kBadField, "capacity: out of range"},
      {Op::kSend, {{"/vault/version", 0.5}}, ErrorCode::kBadField, "vault.version: not an integer"},
      // Enums: strings from a closed list.
      {Op::kRoute,
       {{"/envelope/urgency", "soon"}},
       ErrorCode::kBadField,
       "envelope.urgency: unknown urgency"},
      {Op::kRoute,
       {{"/envelope/needs/1", "flying"}},
       ErrorCode::kBadField,
       "envelope.needs[1]: unknown need"},
      {Op::kRoute,
       {{"/envelope/mode", "LIVE"}},
       ErrorCode::kBadField,
       "envelope.mode: unknown mode"},
      {Op::kPresence, {{"/status", 1}}, ErrorCode::kBadField, "status: not a string"},
      // Lists: type, bounds, duplicates, each element.
      {Op::kRoute,
       {{"/envelope/needs", Json::array()}},
       ErrorCode::kBadField,
       "envelope.needs: must have 1 to 2 entries"},
      {Op::kRoute,
       {{"/envelope/needs/2", "medical"}},
       ErrorCode::kBadField,
       "envelope.needs: must have 1 to 2 entries"},
      {Op::kRoute,
       {{"/envelope/needs/1", "shelter"}},
       ErrorCode::kBadField,
       "envelope.needs[1]: duplicate"},
      {Op::kRoute,
       {{"/envelope/needs", "shelter"}},
       ErrorCode::kBadField,
       "envelope.needs: not an array"},
      {Op::kRoute,
       {{"/envelope/languages/2", "EN"}},
       ErrorCode::kBadField,
       "envelope.languages[2]: not a valid language code"},
      {Op::kRoute,
       {{"/envelope/languages/2", "eng"}},
       ErrorCode::kBadField,
       "envelope.languages[2]: not a valid language code"},
      {Op::kRoute,
       {{"/envelope/languages/2", "en"}},
       ErrorCode::kBadField,
       "envelope.languages[2]: duplicate"},
      {Op::kRoute,
       {{"/envelope/languages/3", "de"}},
       ErrorCode::kBadField,
       "envelope.languages: must have 1 to 3 entries"},
      {Op::kOpenCase,
       {{"/intake", Json::array()}},
       ErrorCode::kBadField,
       "intake: must have 1 to 64 entries"},
      {Op::kOpenCase, {{"/intake/0", "copy"}}, ErrorCode::kBadField, "intake[0]: not an object"},
      {Op::kUploadPrekeys,
       {{"/one_time_prekeys", strings(kMaxPrekeysPerUpload + 1)}},
       ErrorCode::kBadField,
       "one_time_prekeys: must have 0 to 200 entries"},
      // Names.
      {Op::kRoute,
       {{"/envelope/region", "North"}},
       ErrorCode::kBadField,
       "envelope.region: not a valid region"},
      {Op::kRoute,
       {{"/envelope/region", ""}},
       ErrorCode::kBadField,
       "envelope.region: not a valid region"},
      {Op::kRoute,
       {{"/envelope/region", std::string(33, 'a')}},
       ErrorCode::kBadField,
       "envelope.region: not a valid region"},
      {Op::kRoute,
       {{"/envelope/region", std::string("a\0b", 3)}},
       ErrorCode::kBadField,
       "envelope.region: not a valid region"},
      // Objects, and null for optional fields (one way to say "absent").
      {Op::kRoute, {{"/envelope", Json::array()}}, ErrorCode::kBadField, "envelope: not an object"},
      {Op::kRoute, {{"/pow", nullptr}}, ErrorCode::kBadField, "pow: not an object"},
      {Op::kOpenCase,
       {{"/vault", nullptr}},
       ErrorCode::kBadField,
       "vault: null (leave the field out instead)"},
      {Op::kRoute,
       {{"/envelope/region", nullptr}},
       ErrorCode::kBadField,
       "envelope.region: null (leave the field out instead)"},
      {Op::kUploadPrekeys,
       {{"/signed_prekey", nullptr}},
       ErrorCode::kBadField,
       "signed_prekey: null (leave the field out instead)"},
      // Missing required fields, at every depth.
      {Op::kAck, {{"/seq", {}}}, ErrorCode::kMissingField, "seq: missing"},
      {Op::kRoute, {{"/envelope/mode", {}}}, ErrorCode::kMissingField, "envelope.mode: missing"},
      {Op::kOpenCase,
       {{"/intake/0/body", {}}},
       ErrorCode::kMissingField,
       "intake[0].body: missing"},
      {Op::kOpenCase, {{"/vault/blob", {}}}, ErrorCode::kMissingField, "vault.blob: missing"},
      {Op::kOpenCase,
       {{"/vault/signature", {}}},
       ErrorCode::kMissingField,
       "vault.signature: missing"},
      {Op::kUploadPrekeys,
       {{"/one_time_prekeys", {}}},
       ErrorCode::kMissingField,
       "one_time_prekeys: missing"},
      // Unknown fields, at every depth; names that are not ours are not echoed.
      {Op::kAck, {{"/extra", 1}}, ErrorCode::kUnknownField, "extra: unknown field"},
      {Op::kAck, {{"/re", 1}}, ErrorCode::kUnknownField, "re: unknown field"},
      {Op::kAck, {{"/case_id", b64(16)}}, ErrorCode::kUnknownField, "case_id: unknown field"},
      {Op::kVaultPut, {{"/put", Json::object()}}, ErrorCode::kUnknownField, "put: unknown field"},
      {Op::kPowChallenge, {{"/seed", b64(32)}}, ErrorCode::kUnknownField, "seed: unknown field"},
      {Op::kPowChallenge, {{"/urgency", {}}}, ErrorCode::kMissingField, "urgency: missing"},
      {Op::kPowChallenge, {{"/urgency", "soon"}}, ErrorCode::kBadField, "urgency: unknown urgency"},
      {Op::kRoute,
       {{"/envelope/colour", "red"}},
       ErrorCode::kUnknownField,
       "envelope.colour: unknown field"},
      {Op::kOpenCase,
       {{"/intake/1/note", "hi"}},
       ErrorCode::kUnknownField,
       "intake[1].note: unknown field"},
      {Op::kAck, {{"/Hunter2 secret!", 1}}, ErrorCode::kUnknownField, "(a field): unknown field"},
      {Op::kAck,
       {{"/" + std::string(33, 'a'), 1}},
       ErrorCode::kUnknownField,
       "(a field): unknown field"},
      // Precedence: unknown, then missing, then bad, wherever each one is.
      {Op::kAck,
       {{"/case", 5}, {"/seq", {}}, {"/zzz", 1}},
       ErrorCode::kUnknownField,
       "zzz: unknown field"},
      {Op::kAck, {{"/case", 5}, {"/seq", {}}}, ErrorCode::kMissingField, "seq: missing"},
      {Op::kRoute,
       {{"/pow/challenge", 5}, {"/envelope/colour", 1}},
       ErrorCode::kUnknownField,
       "envelope.colour: unknown field"},
      {Op::kRoute,
       {{"/envelope/needs", Json::array()}, {"/pow/nonce", {}}},
       ErrorCode::kMissingField,
       "pow.nonce: missing"},
      {Op::kOpenCase,
       {{"/intake/1/body", 5}, {"/intake/0/body", {}}},
       ErrorCode::kMissingField,
       "intake[0].body: missing"},
      // The triage ops (issue 5).
      {Op::kTakeNext, {{"/case", b64(16)}}, ErrorCode::kUnknownField, "case: unknown field"},
      {Op::kQueueHealth, {{"/queue", "legal"}}, ErrorCode::kUnknownField, "queue: unknown field"},
      // dismiss_waiting (issue 12).
      {Op::kDismissWaiting, {{"/away_only", {}}}, ErrorCode::kMissingField, "away_only: missing"},
      {Op::kDismissWaiting, {{"/away_only", 1}}, ErrorCode::kBadField, "away_only: not a boolean"},
      {Op::kDismissWaiting, {{"/case", b64(16)}}, ErrorCode::kUnknownField, "case: unknown field"},
      {Op::kDismissWaiting,
       {{"/arrived_from", -1}},
       ErrorCode::kBadField,
       "arrived_from: out of range"},
      {Op::kDismissWaiting,
       {{"/arrived_until", "soon"}},
       ErrorCode::kBadField,
       "arrived_until: not an integer"},
      {Op::kDismissWaiting,
       {{"/queue", "Shelter"}},
       ErrorCode::kBadField,
       "queue: not a valid queue name"},
      {Op::kHandoff, {{"/queue", {}}}, ErrorCode::kMissingField, "queue: missing"},
      {Op::kHandoff, {{"/case", {}}}, ErrorCode::kMissingField, "case: missing"},
      {Op::kHandoff, {{"/queue", "Legal"}}, ErrorCode::kBadField, "queue: not a valid queue name"},
      {Op::kHandoff, {{"/queue", ""}}, ErrorCode::kBadField, "queue: not a valid queue name"},
      {Op::kHandoff,
       {{"/queue", std::string(65, 'a')}},
       ErrorCode::kBadField,
       "queue: not a valid queue name"},
      {Op::kHandoff, {{"/queue", 3}}, ErrorCode::kBadField, "queue: not a string"},
      {Op::kHandoff, {{"/case", b64(15)}}, ErrorCode::kBadField, "case: must be 16 bytes"},
      {Op::kHandoffOffer, {{"/case", {}}}, ErrorCode::kMissingField, "case: missing"},
      {Op::kHandoffOffer, {{"/queue", "legal"}}, ErrorCode::kUnknownField, "queue: unknown field"},
      {Op::kHandoffOffer, {{"/case", true}}, ErrorCode::kBadField, "case: not a base64url string"},
      {Op::kHandoffAccept,
       {{"/share", "everything"}},
       ErrorCode::kBadField,
       "share: unknown handoff share"},
      {Op::kHandoffAccept,
       {{"/share", "new_only"}},
       ErrorCode::kBadField,
       "share: unknown handoff share"},
      {Op::kHandoffAccept, {{"/share", 2}}, ErrorCode::kBadField, "share: not a string"},
      {Op::kHandoffAccept, {{"/share", {}}}, ErrorCode::kMissingField, "share: missing"},
      {Op::kHandoffAccept, {{"/intake", {}}}, ErrorCode::kMissingField, "intake: missing"},
      {Op::kHandoffAccept,
       {{"/intake", Json::array()}},
       ErrorCode::kBadField,
       "intake: must have 1 to 64 entries"},
      {Op::kHandoffAccept,
       {{"/intake/0/certificate_hash", b64(31)}},
       ErrorCode::kBadField,
       "intake[0].certificate_hash: must be 32 bytes"},
      {Op::kHandoffAccept,
       {{"/intake/1/body", {}}},
       ErrorCode::kMissingField,
       "intake[1].body: missing"},
      {Op::kHandoffAccept,
       {{"/intake/1/share", "history"}},
       ErrorCode::kUnknownField,
       "intake[1].share: unknown field"},
      {Op::kHandoffAccept,
       {{"/vault", Json::object()}},
       ErrorCode::kUnknownField,
       "vault: unknown field"},
      {Op::kHandoffDecline, {{"/case", b64(17)}}, ErrorCode::kBadField, "case: must be 16 bytes"},
      {Op::kHandoffDecline, {{"/reason", "no"}}, ErrorCode::kUnknownField, "reason: unknown field"},
      {Op::kCloseCase, {{"/outcome", {}}}, ErrorCode::kMissingField, "outcome: missing"},
      {Op::kCloseCase,
       {{"/outcome", "Referred"}},
       ErrorCode::kBadField,
       "outcome: not a valid outcome"},
      {Op::kCloseCase,
       {{"/outcome", "safety plan"}},
       ErrorCode::kBadField,
       "outcome: not a valid outcome"},
      {Op::kCloseCase, {{"/outcome", ""}}, ErrorCode::kBadField, "outcome: not a valid outcome"},
      {Op::kCloseCase,
       {{"/outcome", std::string(33, 'a')}},
       ErrorCode::kBadField,
       "outcome: not a valid outcome"},
      {Op::kCloseCase,
       {{"/outcome", Json::array({"referred"})}},
       ErrorCode::kBadField,
       "outcome: not a string"},
      {Op::kCloseCase, {{"/outcome", nullptr}}, ErrorCode::kBadField, "outcome: not a string"},
  };
  for (const FieldCase& c : cases) {
    const std::string text = apply(request_json(c.op), c.edits).dump();
    INFO(op_name(c.op) << " " << c.edits.front().pointer);
    const RequestError error = decode_error(text);
    CHECK(error.id == std::optional<std::uint32_t>(9));  // the server can answer under it
    CHECK(error_code_name(error.error.code) == error_code_name(c.code));
    CHECK(error.error.message == c.message);
  }
}

TEST_CASE("fields at their limits are accepted", "[protocol]") {
  const std::vector<std::pair<Op, std::vector<Edit>>> cases = {
      {Op::kSend, {{"/body", b64(kMaxBodyBytes)}}},
      {Op::kSend, {{"/body", b64(1)}}},
      {Op::kAck, {{"/seq", 9'223'372'036'854'775'807}}},
      {Op::kPresence, {{"/capacity", 1}}},
      {Op::kRoute, {{"/envelope/region", std::string(32, 'z')}}},
      {Op::kRoute, {{"/envelope/region", "0-9"}}},
      {Op::kRoute, {{"/envelope/needs", Json::array({"medical"})}}},
      {Op::kOpenCase, {{"/vault", {}}}},
      {Op::kUploadPrekeys, {{"/one_time_prekeys", strings(kMaxPrekeysPerUpload)}}},
      {Op::kUploadPrekeys, {{"/one_time_prekeys", Json::array()}, {"/signed_prekey", {}}}},
      {Op::kVaultPut, {{"/blob", b64(kMaxVaultBlobBytes)}}},
      {Op::kCloseCase, {{"/outcome", std::string(32, 'z')}}},
      {Op::kCloseCase, {{"/outcome", "0-9"}}},
      {Op::kHandoff, {{"/queue", std::string(64, 'q')}}},
      {Op::kHandoffAccept, {{"/share", "new-only"}}},
      {Op::kHandoffAccept, {{"/share", "history"}}},
      {Op::kHandoffAccept, {{"/intake", intakes(kMaxIntakeCopies)}}},
  };
  for (const auto& [op, edits] : cases) {
    INFO(op_name(op) << " " << edits.front().pointer);
    const auto decoded = decode_request(apply(request_json(op), edits).dump());
    if (const auto* error = std::get_if<RequestError>(&decoded)) FAIL(error->error.message);
  }
}

struct FrameCase {
  std::string what;
  std::string text;
  ErrorCode code;
  std::optional<std::uint32_t> id;  // what the error is answered under
};

const std::string kCase = "\"case\":\"" + b64(16) + "\"";

TEST_CASE("frames that are not a request are refused as a whole", "[protocol]") {
  const std::string deep_arrays = std::string(100'000, '[') + std::string(100'000, ']');
  std::string deep_objects;
  for (int i = 0; i < 100'000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(100'000, '}');
  const auto nested = [](int depth) {
    return R"({"v":1,"op":"ack","id":3,)" + kCase + R"(,"seq":)" + std::string(depth - 1, '[') +
           "1" + std::string(depth - 1, ']') + "}";
  };
  const std::vector<FrameCase> cases = {
      {"empty", "", ErrorCode::kMalformed, {}},
      {"not JSON", "hello", ErrorCode::kMalformed, {}},
      {"truncated", R"({"v":1,"op":"ack","id":3)", ErrorCode::kMalformed, {}},
      {"trailing garbage", R"({"v":1,"op":"pow_challenge","id":3}})", ErrorCode::kMalformed, {}},
      {"two objects", R"({"v":1}{"v":1})", ErrorCode::kMalformed, {}},
      {"array", R"([{"v":1,"op":"pow_challenge","id":3}])", ErrorCode::kMalformed, {}},
      {"string", R"("pow_challenge")", ErrorCode::kMalformed, {}},
      {"number", "1", ErrorCode::kMalformed, {}},
      {"null", "null", ErrorCode::kMalformed, {}},
      {"100k nested arrays", deep_arrays, ErrorCode::kMalformed, {}},
      {"100k nested objects", deep_objects, ErrorCode::kMalformed, {}},
      // Too deep, but with a usable top-level id: answered under it.
      {"33 levels", nested(33), ErrorCode::kMalformed, 3},
      {"100k levels under a usable id", R"({"v":1,"op":"ack","id":3,"seq":)" + deep_arrays + "}",
       ErrorCode::kMalformed, 3},
      {"too deep, two ids",
       R"({"v":1,"id":3,"id":4,"x":)" + nested(40) + "}",
       ErrorCode::kMalformed,
       {}},
      {"too deep, id not a u32",
       R"({"v":1,"id":-3,"x":)" + deep_arrays + "}",
       ErrorCode::kMalformed,
       {}},
      {"too deep, id nested",
       R"({"v":1,"x":{"id":3},"y":)" + deep_arrays + "}",
       ErrorCode::kMalformed,
       {}},
      {"too deep and not JSON", R"({"v":1,"id":3,"x":)" + deep_arrays, ErrorCode::kMalformed, {}},
      {"32 levels parse", nested(32), ErrorCode::kBadField, 3},
      {"brackets in strings do not nest",
       R"({"v":1,"id":3,"op":")" + std::string(100, '[') + R"("})", ErrorCode::kUnknownOp, 3},
      {"escaped quotes stay in the string",
       R"({"v":1,"id":3,"op":"\"\\\")" + std::string(100, '{') + R"("})", ErrorCode::kUnknownOp, 3},
      {"not UTF-8 in a value", "{\"v\":1,\"id\":3,\"op\":\"ack\xff\"}", ErrorCode::kMalformed, {}},
      {"not UTF-8 in a key",
       "{\"v\":1,\"id\":3,\"op\":\"ack\",\"\xc3\x28\":1}",
       ErrorCode::kMalformed,
       {}},
      {"lone surrogate escape", R"({"v":1,"id":3,"op":"\ud800"})", ErrorCode::kMalformed, {}},
      {"raw control character", "{\"v\":1,\"id\":3,\"op\":\"a\nb\"}", ErrorCode::kMalformed, {}},
      {"NUL byte", std::string("{\"v\":1,\"id\":3,") + '\0' + "}", ErrorCode::kMalformed, {}},
      {"duplicate key", R"({"v":1,"op":"ack","id":3,"seq":1,)" + kCase + R"(,"seq":2})",
       ErrorCode::kMalformed, 3},
      {"duplicate nested key",
       R"({"v":1,"op":"handoff_decline","id":3,)" + kCase + R"(,"x":{"a":1,"a":1}})",
       ErrorCode::kMalformed, 3},
      {"claim is gone (take_next replaced it)", R"({"v":1,"op":"claim","id":3,)" + kCase + "}",
       ErrorCode::kUnknownOp, 3},
      {"duplicate id", R"({"v":1,"op":"pow_challenge","id":3,"id":3})", ErrorCode::kMalformed, {}},
      {"missing v", R"({"op":"pow_challenge","id":3})", ErrorCode::kUnsupportedVersion, 3},
      {"v 2", R"({"v":2,"op":"pow_challenge","id":3})", ErrorCode::kUnsupportedVersion, 3},
      {"v 0", R"({"v":0,"op":"pow_challenge","id":3})", ErrorCode::kUnsupportedVersion, 3},
      {"v string", R"({"v":"1","op":"pow_challenge","id":3})", ErrorCode::kUnsupportedVersion, 3},
      {"v float", R"({"v":1.0,"op":"pow_challenge","id":3})", ErrorCode::kUnsupportedVersion, 3},
      {"v true", R"({"v":true,"op":"pow_challenge","id":3})", ErrorCode::kUnsupportedVersion, 3},
      {"v 2 without id", R"({"v":2})", ErrorCode::kUnsupportedVersion, {}},
      {"no op", R"({"v":1,"id":3})", ErrorCode::kMalformed, 3},
      {"op not a string", R"({"v":1,"op":7,"id":3})", ErrorCode::kMalformed, 3},
      {"unknown op", R"({"v":1,"op":"steal","id":3})", ErrorCode::kUnknownOp, 3},
      {"op case matters", R"({"v":1,"op":"ACK","id":3})", ErrorCode::kUnknownOp, 3},
      {"no id", R"({"v":1,"op":"pow_challenge"})", ErrorCode::kMalformed, {}},
      {"id null", R"({"v":1,"op":"pow_challenge","id":null})", ErrorCode::kMalformed, {}},
      {"id negative", R"({"v":1,"op":"pow_challenge","id":-1})", ErrorCode::kMalformed, {}},
      {"id past u32", R"({"v":1,"op":"pow_challenge","id":4294967296})", ErrorCode::kMalformed, {}},
      {"id float", R"({"v":1,"op":"pow_challenge","id":3.0})", ErrorCode::kMalformed, {}},
      {"id string", R"({"v":1,"op":"pow_challenge","id":"3"})", ErrorCode::kMalformed, {}},
      {"id huge",
       R"({"v":1,"op":"pow_challenge","id":123456789012345678901234567890})",
       ErrorCode::kMalformed,
       {}},
      {"a missing id comes before an unknown op",
       R"({"v":1,"op":"steal"})",
       ErrorCode::kMalformed,
       {}},
      {"huge integer", R"({"v":1,"op":"ack","id":3,)" + kCase + R"(,"seq":99999999999999999999})",
       ErrorCode::kBadField, 3},
      {"exponent", R"({"v":1,"op":"ack","id":3,)" + kCase + R"(,"seq":1e2})", ErrorCode::kBadField,
       3},
      {"minus zero", R"({"v":1,"op":"vault_put","id":3,"version":-0,"blob":"AA"})",
       ErrorCode::kBadField, 3},
      {"float overflow",
       R"({"v":1,"op":"ack","id":3,)" + kCase + R"(,"seq":1e400})",
       ErrorCode::kMalformed,
       {}},
  };
  for (const FrameCase& c : cases) {
    INFO(c.what);
    const RequestError error = decode_error(c.text);
    CHECK(error_code_name(error.error.code) == error_code_name(c.code));
    CHECK(error.id == c.id);
    CHECK(error.error.message.size() <= kMaxErrorMessageBytes);
  }
  CHECK(decode_error(deep_arrays).error.message == "nested too deeply");
  CHECK(decode_error(R"({"v":1,"op":"ack","id":3,"seq":1,"seq":2})").error.message ==
        "a key appears twice in one object");
}

TEST_CASE("keys that are the same in different objects are not duplicates", "[protocol]") {
  // Both intake copies have "certificate_hash" and "body"; the vault has "blob".
  const std::string text = request_json(Op::kOpenCase).dump();
  CHECK(std::holds_alternative<RequestFrame>(decode_request(text)));
}

TEST_CASE("a frame with very many keys is refused quickly", "[protocol]") {
  std::string text = R"({"v":1,"op":"pow_challenge","id":3)";
  for (int i = 0; i < 60'000; ++i) text += ",\"k" + std::to_string(i) + "\":0";
  text += "}";
  const RequestError error = decode_error(text);
  CHECK(error.error.code == ErrorCode::kUnknownField);
  CHECK(error.id == std::optional<std::uint32_t>(3));
}

TEST_CASE("error messages never quote the values they refuse", "[protocol]") {
  const std::string secret = "Hunter2 secret text!";
  const std::vector<std::vector<Edit>> edits = {
      {{"/envelope/region", secret}},      {{"/envelope/needs/0", secret}},
      {{"/envelope/languages/0", secret}}, {{"/pow/challenge", secret}},
      {{"/envelope/urgency", secret}},     {{"/" + secret, 1}},
      {{"/envelope/" + secret, secret}},
  };
  for (const auto& edit : edits) {
    const RequestError error = decode_error(apply(request_json(Op::kRoute), edit).dump());
    INFO(error.error.message);
    CHECK(error.error.message.find("unter2") == std::string::npos);
  }
  CHECK(decode_error(R"({"v":1,"id":1,"op":"hunter2-secret"})").error.message.find("unter2") ==
        std::string::npos);
  const std::vector<std::pair<Op, Edit>> triage_edits = {
      {Op::kCloseCase, {"/outcome", secret}},
      {Op::kHandoff, {"/queue", secret}},
      {Op::kHandoffAccept, {"/share", secret}},
  };
  for (const auto& [op, edit] : triage_edits) {
    const RequestError error = decode_error(apply(request_json(op), {edit}).dump());
    INFO(error.error.message);
    CHECK(error.error.message.find("unter2") == std::string::npos);
  }
}

// ---- Client side ----

std::optional<Op> pending(std::uint32_t re) {
  if (re == 7) return Op::kSend;
  if (re == 8) return Op::kResponderLogin;
  if (re == 9) return Op::kRoute;
  if (re == 10) return Op::kPowChallenge;
  if (re == 11) return Op::kVaultLogin;
  if (re == 12) return Op::kTakeNext;
  if (re == 13) return Op::kHandoffOffer;
  if (re == 14) return Op::kQueueHealth;
  if (re == 15) return Op::kDismissWaiting;
  return std::nullopt;
}

ProtocolError server_error(const std::string& text, const ReplyOpLookup& lookup = pending) {
  auto decoded = decode_server_frame(text, lookup);
  REQUIRE(std::holds_alternative<ProtocolError>(decoded));
  return std::get<ProtocolError>(decoded);
}

Json reply_json(Op op, std::uint32_t re) {
  const auto replies = test::sample_replies();
  return Json::parse(encode(ReplyFrame{re, replies[static_cast<std::size_t>(op)]}));
}
Json event_json(std::size_t index) {
  return Json::parse(encode(EventFrame{test::sample_events()[index]}));
}

TEST_CASE("server frames are checked as strictly as requests", "[protocol]") {
  const std::string error_object = R"("error":{"code":"forbidden","message":"no"})";
  const std::vector<std::tuple<std::string, std::string, ErrorCode, std::string>> cases = {
      {"not JSON", "{", ErrorCode::kMalformed, "not JSON"},
      {"deep", std::string(50, '['), ErrorCode::kMalformed, "nested too deeply"},
      {"no v", R"({"re":7,"seq":1})", ErrorCode::kUnsupportedVersion,
       "v: this server speaks version 1"},
      {"v 2", R"({"v":2,"ev":"case_closed"})", ErrorCode::kUnsupportedVersion,
       "v: this server speaks version 1"},
      {"neither re nor ev", R"({"v":1,"seq":1})", ErrorCode::kMalformed,
       "neither \"re\" nor \"ev\""},
      {"re not an integer", R"({"v":1,"re":"7","seq":1})", ErrorCode::kMalformed,
       "re: not an integer id"},
      {"re negative", R"({"v":1,"re":-7,"seq":1})", ErrorCode::kMalformed, "re: not an integer id"},
      {"re null on success", R"({"v":1,"re":null,"seq":1})", ErrorCode::kMalformed,
       "re: null outside an error reply"},
      {"nothing pending", R"({"v":1,"re":70,"seq":1})", ErrorCode::kMalformed,
       "re: no request is pending under this id"},
      {"reply missing a field", R"({"v":1,"re":7})", ErrorCode::kMissingField, "seq: missing"},
      {"reply with a foreign field", R"({"v":1,"re":7,"seq":1,"op":"send"})",
       ErrorCode::kUnknownField, "op: unknown field"},
      {"optional null", R"({"v":1,"re":7,"seq":1,"vault_version":null})", ErrorCode::kBadField,
       "vault_version: null (leave the field out instead)"},
      {"seq 0", R"({"v":1,"re":7,"seq":0})", ErrorCode::kBadField, "seq: out of range"},
      {"duplicate key", R"({"v":1,"re":7,"seq":1,"seq":1})", ErrorCode::kMalformed,
       "a key appears twice in one object"},
      {"error code unknown", R"({"v":1,"re":7,"error":{"code":"oops","message":""}})",
       ErrorCode::kBadField, "error.code: unknown error code"},
      {"error not an object", R"({"v":1,"re":7,"error":"forbidden"})", ErrorCode::kBadField,
       "error: not an object"},
      {"error null", R"({"v":1,"re":7,"error":null})", ErrorCode::kBadField,
       "error: not an object"},
      {"error without message", R"({"v":1,"re":7,"error":{"code":"forbidden"}})",
       ErrorCode::kMissingField, "error.message: missing"},
      {"error with more", R"({"v":1,"re":7,"error":{"code":"forbidden","message":"","at":1}})",
       ErrorCode::kUnknownField, "error.at: unknown field"},
      {"error reply with a result field", R"({"v":1,"re":7,"seq":1,)" + error_object + "}",
       ErrorCode::kUnknownField, "seq: unknown field"},
      {"error message too long",
       R"({"v":1,"re":null,"error":{"code":"internal","message":")" + std::string(257, 'x') +
           "\"}}",
       ErrorCode::kBadField, "error.message: too long"},
      {"error message not a string", R"({"v":1,"re":null,"error":{"code":"internal","message":1}})",
       ErrorCode::kBadField, "error.message: not a string"},
      {"unknown event", R"({"v":1,"ev":"party"})", ErrorCode::kUnknownOp, "ev: unknown event"},
      {"event name not a string", R"({"v":1,"ev":1})", ErrorCode::kMalformed, "ev: not a string"},
      {"event with re", R"({"v":1,"ev":"case_closed","re":7,)" + kCase + "}",
       ErrorCode::kUnknownField, "re: unknown field"},
      {"event missing case", R"({"v":1,"ev":"case_closed"})", ErrorCode::kMissingField,
       "case: missing"},
  };
  for (const auto& [what, text, code, message] : cases) {
    INFO(what);
    const ProtocolError error = server_error(text);
    CHECK(error_code_name(error.code) == error_code_name(code));
    CHECK(error.message == message);
  }
  // Without a lookup, only error replies and events decode.
  CHECK(server_error(R"({"v":1,"re":7,"seq":1})", nullptr).message ==
        "re: no request is pending under this id");
}

Json health_classes(std::size_t n) {
  Json out = Json::array();
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back({{"class", "today"}, {"waiting", 0}, {"longest_wait_s", 0}, {"target_s", 60}});
  }
  return out;
}

TEST_CASE("each reply and event field is checked", "[protocol]") {
  struct Case {
    Json frame;
    std::vector<Edit> edits;
    std::string message;  // all kBadField
  };
  const std::vector<Case> cases = {
      {reply_json(Op::kPowChallenge, 10), {{"/effort", 0}}, "effort: out of range"},
      {reply_json(Op::kPowChallenge, 10), {{"/challenge", b64(31)}}, "challenge: must be 32 bytes"},
      {reply_json(Op::kPowChallenge, 10), {{"/expires_in", 0}}, "expires_in: out of range"},
      {reply_json(Op::kRoute, 9),
       {{"/bundles", Json::array()}},
       "bundles: must have 1 to 64 entries"},
      {reply_json(Op::kRoute, 9),
       {{"/bundles/1/one_time_prekey", nullptr}},
       "bundles[1].one_time_prekey: null (leave the field out instead)"},
      {reply_json(Op::kRoute, 9), {{"/queue", "Shelter"}}, "queue: not a valid queue name"},
      {reply_json(Op::kRoute, 9), {{"/roster", ""}}, "roster: must be 1 to 1048576 bytes"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/has_signed_prekey", "yes"}},
       "has_signed_prekey: not a boolean"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/has_signed_prekey", 1}},
       "has_signed_prekey: not a boolean"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/responder_id", "Ana"}},
       "responder_id: not a valid responder id"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/queues/1", "a b"}},
       "queues[1]: not a valid queue name"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/one_time_prekeys", -1}},
       "one_time_prekeys: out of range"},
      {event_json(0), {{"/sent_minute", 1'800'000'001}}, "sent_minute: out of range"},
      {event_json(0), {{"/kind", "letter"}}, "kind: unknown envelope kind"},
      {event_json(0), {{"/seq", 0}}, "seq: out of range"},
      {event_json(1), {{"/claimed_by", b64(16)}}, "claimed_by: must be 32 bytes"},
      // The triage replies and events (issue 5).
      {reply_json(Op::kVaultLogin, 11),
       {{"/cases/2/closed", "yes"}},
       "cases[2].closed: not a boolean"},
      {reply_json(Op::kVaultLogin, 11), {{"/cases/0/closed", 0}}, "cases[0].closed: not a boolean"},
      {reply_json(Op::kVaultLogin, 11),
       {{"/cases/0/handoff_queue", "Legal"}},
       "cases[0].handoff_queue: not a valid queue name"},
      {reply_json(Op::kVaultLogin, 11),
       {{"/cases/0/handoff_queue", nullptr}},
       "cases[0].handoff_queue: null (leave the field out instead)"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/outcomes/1", "Safety plan"}},
       "outcomes[1]: not a valid outcome"},
      {reply_json(Op::kResponderLogin, 8), {{"/outcomes/2", "referred"}}, "outcomes[2]: duplicate"},
      {reply_json(Op::kResponderLogin, 8), {{"/outcomes", "referred"}}, "outcomes: not an array"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken", nullptr}},
       "taken: null (leave the field out instead)"},
      {reply_json(Op::kTakeNext, 12), {{"/taken", Json::array()}}, "taken: not an object"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/class", "Danger now"}},
       "taken.class: not a valid class name"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/class", std::string(33, 'c')}},
       "taken.class: not a valid class name"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/interpreter", "false"}},
       "taken.interpreter: not a boolean"},
      {reply_json(Op::kTakeNext, 12), {{"/taken/waited_s", -1}}, "taken.waited_s: out of range"},
      {reply_json(Op::kTakeNext, 12), {{"/taken/waited_s", 1.5}}, "taken.waited_s: not an integer"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/envelope/urgency", "soon"}},
       "taken.envelope.urgency: unknown urgency"},
      {reply_json(Op::kTakeNext, 12), {{"/taken/case", b64(15)}}, "taken.case: must be 16 bytes"},
      {reply_json(Op::kHandoffOffer, 13),
       {{"/bundles", Json::array()}},
       "bundles: must have 1 to 64 entries"},
      {reply_json(Op::kHandoffOffer, 13), {{"/queue", "a b"}}, "queue: not a valid queue name"},
      {reply_json(Op::kHandoffOffer, 13), {{"/roster", 1}}, "roster: not a base64url string"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/1/classes/0/waiting", -1}},
       "queues[1].classes[0].waiting: out of range"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/1/classes/1/class", "This week"}},
       "queues[1].classes[1].class: not a valid class name"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/0/load", 1.5}},
       "queues[0].load: not an integer"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/0/responders_away", true}},
       "queues[0].responders_away: not an integer"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/0/classes", health_classes(17)}},
       "queues[0].classes: must have 0 to 16 entries"},
      {reply_json(Op::kQueueHealth, 14), {{"/queues", Json::object()}}, "queues: not an array"},
      {reply_json(Op::kDismissWaiting, 15), {{"/dismissed", 1001}}, "dismissed: out of range"},
      {reply_json(Op::kDismissWaiting, 15), {{"/remaining", -1}}, "remaining: out of range"},
      {event_json(2), {{"/reason", "gone"}}, "reason: unknown close reason"},
      {event_json(2), {{"/reason", "handed_off"}}, "reason: unknown close reason"},
      {event_json(3), {{"/position", 0}}, "position: out of range"},
      {event_json(3), {{"/position", -2}}, "position: out of range"},
      {event_json(3), {{"/wait_band", "soon"}}, "wait_band: unknown wait band"},
      {event_json(3), {{"/wait_band", 15}}, "wait_band: not a string"},
      {event_json(4), {{"/urgent", -1}}, "urgent: out of range"},
      {event_json(4), {{"/waiting", "7"}}, "waiting: not an integer"},
      {event_json(5), {{"/queue", "Immigration"}}, "queue: not a valid queue name"},
      {event_json(6), {{"/case", b64(32)}}, "case: must be 16 bytes"},
  };
  for (const Case& c : cases) {
    INFO(c.edits.front().pointer);
    const ProtocolError error = server_error(apply(c.frame, c.edits).dump());
    CHECK(error.code == ErrorCode::kBadField);
    CHECK(error.message == c.message);
  }
}

TEST_CASE("triage replies and events refuse missing and unknown fields", "[protocol]") {
  struct Case {
    Json frame;
    std::vector<Edit> edits;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {reply_json(Op::kVaultLogin, 11),
       {{"/cases/1/closed", {}}},
       ErrorCode::kMissingField,
       "cases[1].closed: missing"},
      {reply_json(Op::kResponderLogin, 8),
       {{"/outcomes", {}}},
       ErrorCode::kMissingField,
       "outcomes: missing"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/interpreter", {}}},
       ErrorCode::kMissingField,
       "taken.interpreter: missing"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/class", {}}},
       ErrorCode::kMissingField,
       "taken.class: missing"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/envelope/needs", {}}},
       ErrorCode::kMissingField,
       "taken.envelope.needs: missing"},
      {reply_json(Op::kTakeNext, 12),
       {{"/taken/priority_class", "today"}},
       ErrorCode::kUnknownField,
       "taken.priority_class: unknown field"},
      {reply_json(Op::kTakeNext, 12),
       {{"/case", b64(16)}},
       ErrorCode::kUnknownField,
       "case: unknown field"},
      {reply_json(Op::kHandoffOffer, 13),
       {{"/case", b64(16)}},
       ErrorCode::kUnknownField,
       "case: unknown field"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/0/classes/0/target_s", {}}},
       ErrorCode::kMissingField,
       "queues[0].classes[0].target_s: missing"},
      {reply_json(Op::kQueueHealth, 14),
       {{"/queues/1/case", b64(16)}},
       ErrorCode::kUnknownField,
       "queues[1].case: unknown field"},
      {event_json(2), {{"/reason", {}}}, ErrorCode::kMissingField, "reason: missing"},
      {event_json(3), {{"/wait_band", {}}}, ErrorCode::kMissingField, "wait_band: missing"},
      {event_json(4), {{"/urgent", {}}}, ErrorCode::kMissingField, "urgent: missing"},
      {event_json(4), {{"/case", b64(16)}}, ErrorCode::kUnknownField, "case: unknown field"},
      {event_json(5), {{"/queue", {}}}, ErrorCode::kMissingField, "queue: missing"},
      {event_json(6), {{"/queue", "legal"}}, ErrorCode::kUnknownField, "queue: unknown field"},
  };
  for (const Case& c : cases) {
    INFO(c.edits.front().pointer);
    const ProtocolError error = server_error(apply(c.frame, c.edits).dump());
    CHECK(error_code_name(error.code) == error_code_name(c.code));
    CHECK(error.message == c.message);
  }
  // At their limits: no classes in a queue, no queues, a wait band for each
  // word, no outcomes, position past 2^53.
  const std::vector<std::pair<Json, std::vector<Edit>>> accepted = {
      {reply_json(Op::kQueueHealth, 14), {{"/queues/0/classes", Json::array()}}},
      {reply_json(Op::kQueueHealth, 14), {{"/queues/0/classes", health_classes(16)}}},
      {reply_json(Op::kQueueHealth, 14), {{"/queues", Json::array()}}},
      {reply_json(Op::kResponderLogin, 8), {{"/outcomes", Json::array()}}},
      {reply_json(Op::kTakeNext, 12), {{"/taken", {}}}},
      {event_json(3), {{"/position", 9'007'199'254'740'993}}},
      {event_json(3), {{"/wait_band", "hours"}}},
  };
  for (const auto& [frame, edits] : accepted) {
    INFO(edits.front().pointer);
    const auto decoded = decode_server_frame(apply(frame, edits).dump(), pending);
    if (const auto* error = std::get_if<ProtocolError>(&decoded)) FAIL(error->message);
  }
}

}  // namespace
}  // namespace hearth::protocol
