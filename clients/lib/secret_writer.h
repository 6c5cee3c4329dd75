// SecretWriter: builds an encoding that holds keys directly in SecretBytes.
//
// A growing std::vector would leave copies of the keys in freed heap memory on
// every reallocation, so encoders run twice over the same code: once with a
// counting writer to learn the size, then into SecretBytes of exactly that size.
//
//   auto write = [&](auto& w) { w.u8(1); w.lp(state.view()); };
//   crypto::SecretBytes out = SecretWriter::build(write);
//
// Integers are big-endian and variable fields length-prefixed, as common/bytes.h.
//
// Thread safety: a value used by one thread.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/bytes.h"
#include "crypto/secret.h"

namespace hearth::client::detail {

class SecretWriter {
 public:
  // Runs `write(writer)` twice (count, then fill) and returns the bytes.
  template <typename WriteFn>
  static crypto::SecretBytes build(WriteFn&& write) {
    SecretWriter counter(nullptr);
    write(counter);
    crypto::SecretBytes out(counter.pos_);
    SecretWriter filler(&out);
    write(filler);
    assert(filler.pos_ == out.size());
    return out;
  }

  // The size `write` would produce, without building it.
  template <typename WriteFn>
  static std::size_t count(WriteFn&& write) {
    SecretWriter counter(nullptr);
    write(counter);
    return counter.pos_;
  }

  void u8(std::uint8_t v) { put(&v, 1); }
  void u32(std::uint32_t v) {
    std::uint8_t b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
    put(b, 4);
  }
  void u64(std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
    put(b, 8);
  }
  void fixed(ByteView bytes) { put(bytes.data(), bytes.size()); }
  void lp(ByteView bytes) {
    u32(static_cast<std::uint32_t>(bytes.size()));
    fixed(bytes);
  }
  void lp(std::string_view text) { lp(as_bytes(text)); }
  std::size_t size() const { return pos_; }

 private:
  explicit SecretWriter(crypto::SecretBytes* out) : out_(out) {}
  void put(const std::uint8_t* data, std::size_t n) {
    if (out_ != nullptr && n > 0) std::memcpy(out_->data() + pos_, data, n);
    pos_ += n;
  }

  crypto::SecretBytes* out_;
  std::size_t pos_ = 0;
};

}  // namespace hearth::client::detail
