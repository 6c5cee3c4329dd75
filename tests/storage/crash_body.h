// The envelope bodies the crash test writes and checks: distinctive, of
// varying size (some span SQLite overflow pages), and derivable from
// (mailbox, n) alone so the checker can tell a whole body from a torn one.
#pragma once

#include <string>

#include "common/bytes.h"
#include "storage/types.h"

namespace hearth::test {

inline Bytes crash_body(const storage::MailboxId& mailbox, std::int64_t n) {
  std::string text = "crash|" + to_hex(mailbox.view()) + "|" + std::to_string(n) + "|";
  std::size_t size = 64 + static_cast<std::size_t>(n % 7) * 1500;
  while (text.size() < size) text += static_cast<char>('a' + (text.size() * 7 + n) % 26);
  return to_bytes(text);
}

}  // namespace hearth::test
