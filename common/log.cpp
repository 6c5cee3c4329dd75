#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace hearth::log {
namespace {

// JSON string escaping. LogText is ours, but a Status message is a runtime
// string: every value is escaped so no value can break the line's structure.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void write_stderr(std::string_view line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failure to log
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "error";
}

std::optional<Level> parse_level(std::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (level_name(l) == name) return l;
  }
  return std::nullopt;
}

std::string format_utc(UnixSeconds t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void LogField::append_to(std::string& out) const {
  append_json_string(out, key_.view());
  out.push_back(':');
  if (const auto* text = std::get_if<LogText>(&value_)) {
    append_json_string(out, text->view());
  } else if (const auto* i = std::get_if<std::int64_t>(&value_)) {
    out += std::to_string(*i);
  } else if (const auto* u = std::get_if<std::uint64_t>(&value_)) {
    out += std::to_string(*u);
  } else if (const auto* b = std::get_if<Bool>(&value_)) {
    out += b->value ? "true" : "false";
  } else if (const auto* ms = std::get_if<Millis>(&value_)) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.3f", ms->value);
    out += buf;
  } else if (const auto* st = std::get_if<const Status*>(&value_)) {
    out += "{\"code\":";
    append_json_string(out, code_name((*st)->code()));
    out += ",\"message\":";
    append_json_string(out, (*st)->message());
    out.push_back('}');
  } else if (const auto* d = std::get_if<const PublicDigest*>(&value_)) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::uint8_t byte : (*d)->bytes) {
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
    out.push_back('"');
  }
}

Logger::Logger(Level min_level, Sink sink, const Clock* clock)
    : min_level_(min_level), sink_(std::move(sink)), clock_(clock) {}

std::string Logger::format(Level level, LogText event,
                           std::initializer_list<LogField> fields) const {
  static const SystemClock system_clock;
  const Clock& clock = clock_ != nullptr ? *clock_ : system_clock;
  std::string line;
  line.reserve(96);
  line += "{\"t\":";
  append_json_string(line, format_utc(clock.now()));
  line += ",\"level\":";
  append_json_string(line, level_name(level));
  line += ",\"event\":";
  append_json_string(line, event.view());
  for (const LogField& f : fields) {
    line.push_back(',');
    f.append_to(line);
  }
  line += "}\n";
  return line;
}

void Logger::write(Level level, LogText event, std::initializer_list<LogField> fields) const {
  if (!enabled(level)) return;
  std::string line = format(level, event, fields);
  if (sink_) {
    sink_(line);
  } else {
    write_stderr(line);
  }
}

Logger& logger() {
  static Logger instance;
  return instance;
}

void set_log_level(Level level) { logger().set_level(level); }

}  // namespace hearth::log
