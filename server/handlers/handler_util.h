// What every handler file shares: short constructors for replies and errors,
// the answers that must read alike everywhere, and the verdict a storage job
// reaches about a request. Private to server/handlers and client_state.cpp.
//
// Thread safety: plain functions and values.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/messages.h"
#include "storage/types.h"

namespace hearth::server::handlers {

inline protocol::ProtocolError perr(protocol::ErrorCode code, std::string message) {
  return {code, std::move(message)};
}

// The waiting room has no place for this case (limits.max_waiting_cases).
inline protocol::ProtocolError room_full() {
  return perr(protocol::ErrorCode::kUnavailable,
              "too many requests are waiting right now; try again in a few minutes");
}

template <typename T>
std::variant<protocol::Reply, protocol::ProtocolError> ok(T reply) {
  return std::variant<protocol::Reply, protocol::ProtocolError>(std::in_place_index<0>,
                                                                protocol::Reply(std::move(reply)));
}

// The one answer for a case that does not exist and for a case that is not
// the caller's: no reply may tell anyone whether someone else's case exists.
inline protocol::ProtocolError no_such_case() {
  return perr(protocol::ErrorCode::kNotFound, "no such case");
}

inline Result<storage::CaseId> case_id_of(const Bytes& b) {
  auto id = storage::CaseId::from(b);
  if (!id.is_ok()) return error(Code::kInvalidArgument, "case: wrong length");
  return id;
}

// A verdict a storage job reaches about the request (not a storage failure):
// set on the storage thread, read on the strand after the job completed.
using Verdict = std::shared_ptr<std::optional<protocol::ProtocolError>>;
inline Verdict make_verdict() { return std::make_shared<std::optional<protocol::ProtocolError>>(); }

// The roster queue whose responders are supervisors (docs/routing.md): they
// may see queue health and dismiss waiting cases.
inline constexpr std::string_view kSupervisorQueue = "supervisor";

}  // namespace hearth::server::handlers
