// protocol_fuzz: libFuzzer over the protocol codec (decode_request and
// decode_server_frame), built with clang, ASan and UBSan (HEARTH_FUZZ=ON).
//
// The first input byte picks how the rest becomes a frame: as it is, or
// written over (or into) one of the sample frames of tests/protocol/samples.h,
// so the fuzzer starts next to valid frames instead of having to discover the
// field names. Beyond "no crash", it traps when an invariant breaks:
//   - whatever decodes re-encodes to text that decodes to an equal frame (the
//     codec writes every field, so equal encodings mean equal structs);
//   - a refused request yields an error the server can send: a code from the
//     decoding classes and a message within kMaxErrorMessageBytes, whose
//     error reply the client side decodes back to the same code and message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/codec.h"
#include "tests/protocol/samples.h"

namespace {

using namespace hearth::protocol;

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

// A reply's "re" names its op: re modulo the number of ops is the op's index,
// as in the samples.
std::optional<Op> op_for(std::uint32_t re) {
  return static_cast<Op>(re % std::variant_size_v<Reply>);
}

std::vector<std::string> sample_frames() {
  std::vector<std::string> out;
  std::uint32_t id = 0;
  for (const auto& request : test::sample_requests())
    out.push_back(encode(RequestFrame{id++, request}));
  for (const auto& request : test::sample_requests_without_options()) {
    out.push_back(encode(RequestFrame{id++, request}));
  }
  for (const auto& reply : test::sample_replies()) {
    out.push_back(encode(ReplyFrame{static_cast<std::uint32_t>(reply.index()), reply}));
  }
  for (const auto& reply : test::sample_replies_without_options()) {
    out.push_back(encode(
        ReplyFrame{static_cast<std::uint32_t>(std::variant_size_v<Reply> + reply.index()), reply}));
  }
  for (const auto& event : test::sample_events()) out.push_back(encode(EventFrame{event}));
  for (const auto& event : test::sample_events_other_values()) {
    out.push_back(encode(EventFrame{event}));
  }
  out.push_back(encode(ReplyFrame{std::nullopt, ProtocolError{ErrorCode::kMalformed, "not JSON"}}));
  out.push_back(encode(ReplyFrame{3, ProtocolError{ErrorCode::kConflict, "vault moved on"}}));
  return out;
}

void check_request(std::string_view text) {
  const auto decoded = decode_request(text);
  if (const auto* frame = std::get_if<RequestFrame>(&decoded)) {
    const std::string once = encode(*frame);
    const auto again = decode_request(once);
    check(std::holds_alternative<RequestFrame>(again));
    check(encode(std::get<RequestFrame>(again)) == once);
    return;
  }
  const auto& refused = std::get<RequestError>(decoded);
  check(refused.error.code <= ErrorCode::kBadField);
  check(refused.error.message.size() <= kMaxErrorMessageBytes);
  // The server's answer must be a frame any client accepts.
  const auto answer = decode_server_frame(encode(ReplyFrame{refused.id, refused.error}), nullptr);
  check(std::holds_alternative<ServerFrame>(answer));
  const auto& reply = std::get<ReplyFrame>(std::get<ServerFrame>(answer));
  const auto& error = std::get<ProtocolError>(reply.result);
  check(reply.re == refused.id && error.code == refused.error.code &&
        error.message == refused.error.message);
}

void check_server_frame(std::string_view text) {
  const auto decoded = decode_server_frame(text, op_for);
  if (const auto* refused = std::get_if<ProtocolError>(&decoded)) {
    check(refused->message.size() <= kMaxErrorMessageBytes);
    return;
  }
  const auto encode_frame = [](const ServerFrame& frame) {
    return std::visit([](const auto& f) { return encode(f); }, frame);
  };
  const std::string once = encode_frame(std::get<ServerFrame>(decoded));
  const auto again = decode_server_frame(once, op_for);
  check(std::holds_alternative<ServerFrame>(again));
  check(encode_frame(std::get<ServerFrame>(again)) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> samples = sample_frames();
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode >= 0x80 && text.size() >= 2) {
    // Bytes 1-2 give an offset into a sample; the rest overwrites it there
    // (mode bit 6 clear) or is inserted there (set).
    std::string frame = samples[(mode & 0x3F) % samples.size()];
    const std::size_t offset = (static_cast<std::size_t>(static_cast<std::uint8_t>(text[0])) << 8 |
                                static_cast<std::uint8_t>(text[1])) %
                               (frame.size() + 1);
    const std::string patch = text.substr(2);
    if (mode & 0x40) {
      frame.insert(offset, patch);
    } else {
      frame.replace(offset, std::min(patch.size(), frame.size() - offset), patch);
    }
    text = std::move(frame);
  }
  check_request(text);
  check_server_frame(text);
  return 0;
}
