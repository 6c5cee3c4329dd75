// Wire encodings: base64url without padding, and size-bucket padding.
//
// Every ciphertext Hearth sends or stores is padded to one of a few bucket
// sizes so its length says little about its content (reference/crypto.md §2.7).
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace hearth::crypto {

// RFC 4648 §5 alphabet, no '=' padding.
std::string base64url_encode(ByteView bytes);
// Strict: kInvalidArgument on padding, whitespace, a character outside the
// alphabet, or non-zero trailing bits.
Result<Bytes> base64url_decode(std::string_view text);

// The padding buckets, smallest first.
inline constexpr std::array<std::size_t, 5> kPadBuckets = {256, 1024, 4096, 16384, 65536};
// The largest payload that fits: a padded message always carries at least one pad byte.
inline constexpr std::size_t kMaxPaddedPayload = kPadBuckets.back() - 1;

// The bucket a payload of `length` bytes pads to, or 0 when none fits.
std::size_t bucket_for(std::size_t length);

// Pads to the smallest bucket that holds length + 1 (ISO/IEC 7816-4 padding via
// sodium_pad). kLimitExceeded when the payload is larger than kMaxPaddedPayload.
Result<Bytes> pad_to_bucket(ByteView payload);
// Reverses pad_to_bucket. kInvalidArgument when the length is not a bucket size
// or the padding is malformed.
Result<Bytes> unpad_bucket(ByteView padded);

}  // namespace hearth::crypto
