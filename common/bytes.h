// Byte buffers and views, and the hex helpers used by tests and tools.
//
// Bytes is for public data (ciphertext, public keys, wire fields); secrets use
// hearth::crypto::SecretBytes instead, which lives in locked, wiped memory.
//
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

// The bytes of a string, without a terminator.
inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline Bytes to_bytes(std::string_view s) {
  auto v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}
inline std::string to_string(ByteView b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Appends `tail` to `out`.
inline void append(Bytes& out, ByteView tail) { out.insert(out.end(), tail.begin(), tail.end()); }

// Appends a big-endian fixed-width integer.
void append_u32_be(Bytes& out, std::uint32_t v);
void append_u64_be(Bytes& out, std::uint64_t v);
// Appends a 4-byte big-endian length followed by the bytes: an unambiguous
// encoding for variable-length fields inside signed or hashed structures.
void append_lp(Bytes& out, ByteView field);

// Lower-case hex. from_hex returns nullopt on odd length or a non-hex digit.
std::string to_hex(ByteView b);
std::optional<Bytes> from_hex(std::string_view hex);

}  // namespace hearth
