// Structured, levelled logging: one JSON object per line on stderr.
//
//   {"t":"2026-11-25T10:00:00Z","level":"info","event":"listening","port":8750}
//
// The logger is built so that a runtime string cannot reach the log by
// accident. Event names, field keys and string values are LogText, whose only
// constructor is consteval: it accepts a string literal (or another constant
// expression) and nothing else, so a peer address, a token, a codename or a
// message body held in a std::string or a runtime char* fails to compile.
// Beside LogText a field may hold an integer, a duration (written in
// milliseconds) or a Status (its code name and message: Status messages are
// written never to contain secrets or addresses; see common/status.h).
//
// Thread safety: Logger is safe to use from any thread; each line is written
// with a single write() so lines from different threads never interleave.
// The process-wide logger (logger(), set_log_level()) may be configured once
// at start-up, before other threads log.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/clock.h"
#include "common/status.h"

namespace hearth::log {

// Text fixed at compile time: the only kind of string the logger accepts.
class LogText {
 public:
  // consteval: only a constant expression (a string literal) converts.
  consteval LogText(const char* text) : text_(text) {  // NOLINT(google-explicit-constructor)
    // A literal cannot be null; reject the one constant that is.
    if (text == nullptr) throw "LogText: null";
  }
  constexpr std::string_view view() const { return text_; }

 private:
  const char* text_;
};

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error".
std::string_view level_name(Level level);
// Parses a level name; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);

// A digest meant to be published (the web site's SHA-256, which an org
// prints and posts), written as 64 lower-case hex digits. Explicit and of
// exactly 32 bytes: no address fits, and building one is a deliberate act.
struct PublicDigest {
  std::array<std::uint8_t, 32> bytes;
};

// One key and its value. Implicit constructors let call sites write
// {"port", 8750} or {"reason", "timeout"}.
class LogField {
 public:
  LogField(LogText key, LogText value) : key_(key), value_(value) {}
  template <std::integral I>
  requires(!std::same_as<I, bool>) LogField(LogText key, I value) : key_(key) {
    if constexpr (std::is_signed_v<I>) {
      value_ = static_cast<std::int64_t>(value);
    } else {
      value_ = static_cast<std::uint64_t>(value);
    }
  }
  template <std::same_as<bool> B>
  LogField(LogText key, B value) : key_(key), value_(Bool{value}) {}
  template <typename Rep, typename Period>
  LogField(LogText key, std::chrono::duration<Rep, Period> value)
      : key_(key), value_(Millis{std::chrono::duration<double, std::milli>(value).count()}) {}
  // Written as {"code":"<code name>","message":"<message>"}.
  LogField(LogText key, const Status& status) : key_(key), value_(&status) {}
  LogField(LogText key, const PublicDigest& digest) : key_(key), value_(&digest) {}

  // Appends `"key":value` to `out`.
  void append_to(std::string& out) const;

 private:
  struct Bool {
    bool value;
  };
  struct Millis {
    double value;
  };
  LogText key_;
  std::variant<LogText, std::int64_t, std::uint64_t, Bool, Millis, const Status*,
               const PublicDigest*>
      value_ = std::int64_t{0};
};

class Logger {
 public:
  // Receives one finished line, newline included.
  using Sink = std::function<void(std::string_view line)>;

  // Writes lines at or above `min_level` to `sink` (stderr when empty),
  // stamped with `clock` (the system clock when null; must outlive the logger).
  explicit Logger(Level min_level = Level::kInfo, Sink sink = {}, const Clock* clock = nullptr);

  void set_level(Level level) { min_level_.store(level, std::memory_order_relaxed); }
  Level level() const { return min_level_.load(std::memory_order_relaxed); }
  bool enabled(Level level) const { return level >= this->level(); }

  void write(Level level, LogText event, std::initializer_list<LogField> fields = {}) const;
  void debug(LogText event, std::initializer_list<LogField> fields = {}) const {
    write(Level::kDebug, event, fields);
  }
  void info(LogText event, std::initializer_list<LogField> fields = {}) const {
    write(Level::kInfo, event, fields);
  }
  void warn(LogText event, std::initializer_list<LogField> fields = {}) const {
    write(Level::kWarn, event, fields);
  }
  void error(LogText event, std::initializer_list<LogField> fields = {}) const {
    write(Level::kError, event, fields);
  }

  // The line write() would produce, without the level check: for tests.
  std::string format(Level level, LogText event, std::initializer_list<LogField> fields) const;

 private:
  std::atomic<Level> min_level_;
  Sink sink_;
  const Clock* clock_;
};

// The process-wide logger (stderr, level info until set_log_level()).
Logger& logger();
void set_log_level(Level level);

// "2026-11-25T10:00:00Z" for a Unix time.
std::string format_utc(UnixSeconds t);

}  // namespace hearth::log
