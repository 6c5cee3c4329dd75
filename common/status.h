// Status and Result<T>: how every Hearth library reports success or failure.
//
// A Status is a stable error code plus a short human message. Messages are for
// operators and never contain key material, message bodies or peer addresses.
// Result<T> holds either a value or a non-ok Status.
//
// Thread safety: values; safe to copy and move between threads.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hearth {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // the caller (or a peer) supplied something malformed
  kNotFound,         // the thing asked for does not exist
  kAlreadyExists,    // a unique thing was created twice
  kConflict,         // a compare-and-swap lost a race
  kAuthFailed,       // a MAC, signature or login did not verify
  kExpired,          // a roster, certificate or challenge is past its validity
  kReplay,           // something already seen was presented again
  kLimitExceeded,    // a configured limit refused the request
  kUnavailable,      // a resource (disk, file, database) cannot be used now
  kCorrupt,          // stored data failed its integrity checks
  kInternal,         // a bug or an unexpected library failure
};

// Returns the stable, lower-case name of a code ("invalid_argument", ...).
std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "code_name: message", for logs and error output.
  std::string to_string() const;

  // A finer code that a higher layer attached to this error, 0 when none. Its
  // values belong to the layer that sets it (hearth_client keeps the server's
  // wire error code here: client::protocol_error()), so a program can act on
  // it without parsing message(). Copies keep it; a Status rebuilt from
  // code() and message() does not.
  std::uint32_t detail() const { return detail_; }
  Status with_detail(std::uint32_t detail) && {
    detail_ = detail;
    return std::move(*this);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::uint32_t detail_ = 0;
};

inline Status error(Code code, std::string message) { return Status(code, std::move(message)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(state_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return is_ok(); }

  // Precondition: is_ok().
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; Status::ok() when a value is held.
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(state_); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace hearth

#define HEARTH_CONCAT_INNER(a, b) a##b
#define HEARTH_CONCAT(a, b) HEARTH_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define HEARTH_TRY(expr)                                        \
  do {                                                          \
    ::hearth::Status hearth_try_status_ = (expr);               \
    if (!hearth_try_status_.is_ok()) return hearth_try_status_; \
  } while (false)

// Declares `lhs` from a Result-returning `expr`, or returns its Status.
#define HEARTH_ASSIGN_OR_RETURN(lhs, expr) \
  HEARTH_ASSIGN_OR_RETURN_IMPL(HEARTH_CONCAT(hearth_result_, __LINE__), lhs, expr)
#define HEARTH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.is_ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
