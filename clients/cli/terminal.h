// Terminal helpers shared by hearth-survivor and hearth-console's line mode:
// a line reader that can be poll()ed beside a Connection's event_fd, and
// prompts that do not echo (codenames, passphrases).
//
// Thread safety: one LineReader per thread; it owns nothing but its buffer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hearth::cli {

// Reads lines from a file descriptor (stdin by default) with read(2), so that
// several lines arriving at once (a paste, a script, tmux send-keys) are all
// seen: a stdio buffer would hide them from poll().
class LineReader {
 public:
  explicit LineReader(int fd = 0) : fd_(fd) {}
  int fd() const { return fd_; }
  // A complete line already buffered, without its newline.
  std::optional<std::string> buffered_line();
  // Reads what is available (call when poll says readable). False at end of
  // input or on an error; a last line without a newline is returned first.
  bool fill();
  // Blocks until a whole line is read; nullopt at end of input.
  std::optional<std::string> read_line();
  bool at_eof() const { return eof_; }

 private:
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

// Prints `prompt` and reads one line with echo off when stdin is a terminal
// (the text never shows on screen). nullopt at end of input.
std::optional<std::string> read_hidden(LineReader& reader, std::string_view prompt);

// `text` from a peer, safe to print: every control character (C0, DEL, and the
// C1 range U+0080..U+009F) becomes '?', so a message cannot move the cursor,
// rewrite the screen or send escape sequences to the terminal.
std::string printable(std::string_view text);

// Wipes a string's bytes before it is dropped (typed secrets).
void wipe(std::string& s);

// Quick exit, for a survivor whose screen may be seen: install_quick_exit()
// makes Ctrl-C (SIGINT), SIGTERM and a closed terminal (SIGHUP) restore the
// terminal settings saved when it was called (echo comes back even mid-way
// through a hidden prompt), clear the screen and its scrollback where the
// terminal allows, and exit 0 at once. quick_exit_now() does the same from
// code (the survivor's /x). Only async-signal-safe calls are used.
void install_quick_exit();
[[noreturn]] void quick_exit_now();

// "2026-11-25 14:05 UTC" for a Unix time (certificate and roster dates).
std::string utc_time(long long unix_seconds);

// "14:05" in local time for a Unix minute.
std::string clock_time(long long unix_seconds);

}  // namespace hearth::cli
