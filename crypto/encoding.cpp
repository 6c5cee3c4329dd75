#include "crypto/encoding.h"

#include <sodium.h>

#include <algorithm>

#include "crypto/sodium_init.h"

namespace hearth::crypto {

std::string base64url_encode(ByteView bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.resize(out.size() - 1);  // drop the terminator sodium writes
  return out;
}

Result<Bytes> base64url_decode(std::string_view text) {
  ensure_initialized();
  // A length of 1 mod 4 can never come from encoding whole bytes.
  if (text.size() % 4 == 1) return error(Code::kInvalidArgument, "bad base64url length");
  Bytes out(text.size() * 3 / 4 + 1);
  std::size_t out_len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &out_len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size()) {
    return error(Code::kInvalidArgument, "bad base64url");
  }
  out.resize(out_len);
  // Reject non-canonical encodings (stray low bits in the last character), so
  // one value has exactly one text form.
  if (base64url_encode(out) != text)
    return error(Code::kInvalidArgument, "non-canonical base64url");
  return out;
}

std::size_t bucket_for(std::size_t length) {
  for (std::size_t b : kPadBuckets) {
    if (length + 1 <= b) return b;
  }
  return 0;
}

Result<Bytes> pad_to_bucket(ByteView payload) {
  std::size_t bucket = bucket_for(payload.size());
  if (bucket == 0) return error(Code::kLimitExceeded, "payload larger than the largest bucket");
  Bytes out(bucket);
  std::copy(payload.begin(), payload.end(), out.begin());
  std::size_t padded_len = 0;
  if (sodium_pad(&padded_len, out.data(), payload.size(), bucket, out.size()) != 0 ||
      padded_len != bucket) {
    return error(Code::kInternal, "padding failed");
  }
  return out;
}

Result<Bytes> unpad_bucket(ByteView padded) {
  if (std::find(kPadBuckets.begin(), kPadBuckets.end(), padded.size()) == kPadBuckets.end()) {
    return error(Code::kInvalidArgument, "padded length is not a bucket size");
  }
  std::size_t len = 0;
  if (sodium_unpad(&len, padded.data(), padded.size(), padded.size()) != 0) {
    return error(Code::kInvalidArgument, "malformed padding");
  }
  return Bytes(padded.begin(), padded.begin() + static_cast<std::ptrdiff_t>(len));
}

}  // namespace hearth::crypto
