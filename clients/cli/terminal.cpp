#include "clients/cli/terminal.h"

#include "crypto/secret.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>

namespace hearth::cli {

std::optional<std::string> LineReader::buffered_line() {
  const std::size_t nl = buffer_.find('\n');
  if (nl == std::string::npos) {
    if (eof_ && !buffer_.empty()) {
      std::string last = std::move(buffer_);
      buffer_.clear();
      return last;
    }
    return std::nullopt;
  }
  std::string line = buffer_.substr(0, nl);
  buffer_.erase(0, nl + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

bool LineReader::fill() {
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

std::optional<std::string> LineReader::read_line() {
  for (;;) {
    if (auto line = buffered_line()) return line;
    if (eof_ || !fill()) {
      if (auto line = buffered_line()) return line;
      return std::nullopt;
    }
  }
}

std::optional<std::string> read_hidden(LineReader& reader, std::string_view prompt) {
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  termios old_mode{};
  const bool tty = ::isatty(reader.fd()) && ::tcgetattr(reader.fd(), &old_mode) == 0;
  if (tty) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(reader.fd(), TCSAFLUSH, &quiet);
  }
  std::optional<std::string> line = reader.read_line();
  if (tty) {
    ::tcsetattr(reader.fd(), TCSAFLUSH, &old_mode);
    std::fputc('\n', stdout);
  }
  return line;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else if (c == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      out.push_back('?');  // a C1 control, UTF-8 encoded (e.g. U+009B, CSI)
      ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

void wipe(std::string& s) {
  if (!s.empty())
    crypto::wipe(MutableByteView(reinterpret_cast<std::uint8_t*>(s.data()), s.size()));
  s.clear();
}

std::string clock_time(long long unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm local{};
  ::localtime_r(&t, &local);
  char out[16];
  std::strftime(out, sizeof out, "%H:%M", &local);
  return out;
}

namespace {

termios g_saved_mode{};
volatile sig_atomic_t g_have_saved_mode = 0;

// ESC[3J drops the scrollback (xterm, VTE, tmux), ESC[H ESC[2J clears the screen.
constexpr char kClearAll[] = "\033[3J\033[H\033[2J";

void quick_exit_handler(int) { quick_exit_now(); }

}  // namespace

void install_quick_exit() {
  if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &g_saved_mode) == 0)
    g_have_saved_mode = 1;
  struct sigaction action {};
  action.sa_handler = quick_exit_handler;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal_number, &action, nullptr);
}

void quick_exit_now() {
  if (g_have_saved_mode) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_mode);
  if (::isatty(STDOUT_FILENO)) {
    ssize_t ignored = ::write(STDOUT_FILENO, kClearAll, sizeof kClearAll - 1);
    (void)ignored;
  }
  ::_exit(0);
}

std::string utc_time(long long unix_seconds) {
  std::time_t tt = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace hearth::cli
