#include "common/byte_reader.h"

namespace hearth {

static Status truncated() { return error(Code::kInvalidArgument, "truncated encoding"); }

Result<std::uint8_t> ByteReader::u8() {
  if (remaining() < 1) return truncated();
  return data_[pos_++];
}

Result<std::uint32_t> ByteReader::u32() {
  if (remaining() < 4) return truncated();
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | data_[pos_++];
  return v;
}

Result<std::uint64_t> ByteReader::u64() {
  if (remaining() < 8) return truncated();
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | data_[pos_++];
  return v;
}

Result<ByteView> ByteReader::fixed(std::size_t n) {
  if (remaining() < n) return truncated();
  ByteView out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Result<ByteView> ByteReader::lp(std::size_t max_len) {
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t len, u32());
  if (len > max_len) return error(Code::kInvalidArgument, "field longer than allowed");
  return fixed(len);
}

Result<std::string> ByteReader::lp_string(std::size_t max_len) {
  HEARTH_ASSIGN_OR_RETURN(ByteView v, lp(max_len));
  return to_string(v);
}

Status ByteReader::expect_label(std::string_view label) {
  // Labels are short ASCII; anything longer than this cannot match.
  constexpr std::size_t kMaxLabelBytes = 64;
  HEARTH_ASSIGN_OR_RETURN(ByteView got, lp(kMaxLabelBytes));
  if (to_string(got) != label) return error(Code::kInvalidArgument, "wrong structure label");
  return Status::ok();
}

Status ByteReader::finish() const {
  if (remaining() != 0) return error(Code::kInvalidArgument, "trailing bytes after encoding");
  return Status::ok();
}

}  // namespace hearth
