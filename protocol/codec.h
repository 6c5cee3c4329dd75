// The JSON codec for protocol/messages.h: the only code that includes nlohmann/json.
//
// Decoding never throws and never trusts its input: the text is parsed with
// exceptions off, then every field is checked for presence, type, range,
// base64url form and length, and every field the message does not define is
// refused. A failure says which field and why, in a message safe to send back
// and to log (it quotes no values).
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/messages.h"

namespace hearth::protocol {

// A request the server could not accept, and the id to answer it under when
// the frame carried a usable one (otherwise the error is sent with "re": null).
struct RequestError {
  std::optional<std::uint32_t> id;
  ProtocolError error;
};

// Server side: one text frame from a client.
std::variant<RequestFrame, RequestError> decode_request(std::string_view text);

// Client side: one text frame from the server. `op_of_reply` maps a reply's
// "re" to the op of the request it answers (nullopt when no such request is
// pending, which fails the decode). Anything that is not a valid frame comes
// back as a ProtocolError (kMalformed, kUnknownField, kBadField, ...). An error
// reply with "re": null decodes to a ReplyFrame whose `re` is nullopt.
using ReplyOpLookup = std::function<std::optional<Op>(std::uint32_t re)>;
std::variant<ServerFrame, ProtocolError> decode_server_frame(std::string_view text,
                                                             const ReplyOpLookup& op_of_reply);

std::string encode(const RequestFrame& frame);
std::string encode(const ReplyFrame& frame);
std::string encode(const EventFrame& frame);

}  // namespace hearth::protocol
