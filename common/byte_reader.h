// ByteReader: bounds-checked parsing of Hearth's binary encodings.
//
// Every read fails with kInvalidArgument instead of reading past the end, so a
// truncated or hostile buffer can only produce an error. Integers are big-endian;
// variable-length fields carry a 4-byte length prefix (see append_lp).
//
// Thread safety: a value over a borrowed view; the bytes must outlive the reader.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "common/bytes.h"
#include "common/status.h"

namespace hearth {

class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  Result<std::uint8_t> u8();
  Result<std::uint32_t> u32();
  Result<std::uint64_t> u64();
  // Exactly n bytes.
  Result<ByteView> fixed(std::size_t n);
  // A length-prefixed field of at most max_len bytes.
  Result<ByteView> lp(std::size_t max_len);
  Result<std::string> lp_string(std::size_t max_len);
  // A length-prefixed label that must equal `label`: how Hearth's signed and
  // stored structures begin. kInvalidArgument when it differs.
  Status expect_label(std::string_view label);
  // A fixed-size value type (a key, a signature): `Fixed` has a std::array
  // member `bytes` and a static `from(ByteView)` returning Result<Fixed>.
  template <typename Fixed>
  Result<Fixed> read() {
    HEARTH_ASSIGN_OR_RETURN(ByteView b, fixed(std::tuple_size_v<decltype(Fixed::bytes)>));
    return Fixed::from(b);
  }

  std::size_t remaining() const { return data_.size() - pos_; }
  // kInvalidArgument when bytes are left over: encodings are exact.
  Status finish() const;

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

}  // namespace hearth
