#include "crypto/pow.h"

#include <algorithm>

#include "crypto/blake2b_personal.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace hearth::crypto {
namespace {

constexpr std::string_view kPowPersonal = "HL1-pow";  // zero-padded to 16 by blake2b_personal
constexpr std::size_t kPowHashBytes = 32;
constexpr std::uint64_t kMaxProduct = 0xFFFFFFFFu;  // 2^32 - 1

Status check_inputs(const PowChallenge& challenge, std::string_view action, ByteView request_hash) {
  if (challenge.seed.size() != kPowSeedBytes)
    return error(Code::kInvalidArgument, "PoW seed must be 32 bytes");
  if (challenge.effort == 0) return error(Code::kInvalidArgument, "PoW effort must be at least 1");
  if (action.empty() || action.size() > kMaxPowActionBytes)
    return error(Code::kInvalidArgument, "PoW action label empty or too long");
  if (request_hash.size() != kPowRequestHashBytes)
    return error(Code::kInvalidArgument, "PoW request hash must be 32 bytes");
  return Status::ok();
}

// The hash input with a zero nonce, and where the nonce goes:
// seed || len(action) u32 BE || action || effort u32 BE || nonce || request_hash.
struct PowInput {
  Bytes bytes;
  std::size_t nonce_offset = 0;

  MutableByteView nonce() { return MutableByteView(bytes).subspan(nonce_offset, kPowNonceBytes); }
};

PowInput build_input(const PowChallenge& challenge, std::string_view action,
                     ByteView request_hash) {
  PowInput in;
  in.bytes.reserve(kPowSeedBytes + 4 + action.size() + 4 + kPowNonceBytes + kPowRequestHashBytes);
  append(in.bytes, challenge.seed);
  append_lp(in.bytes, as_bytes(action));
  append_u32_be(in.bytes, challenge.effort);
  in.nonce_offset = in.bytes.size();
  in.bytes.resize(in.bytes.size() + kPowNonceBytes);
  append(in.bytes, request_hash);
  return in;
}

std::uint32_t hash_value(const Bytes& input) {
  std::array<std::uint8_t, kPowHashBytes> digest{};
  blake2b_personal_into(digest, input, kPowPersonal);
  return static_cast<std::uint32_t>(digest[0]) | static_cast<std::uint32_t>(digest[1]) << 8 |
         static_cast<std::uint32_t>(digest[2]) << 16 | static_cast<std::uint32_t>(digest[3]) << 24;
}

// Adds one to `nonce` read as a little-endian integer, wrapping at 2^128.
void increment(MutableByteView nonce) {
  for (std::uint8_t& b : nonce) {
    if (++b != 0) return;
  }
}

}  // namespace

bool pow_hash_meets_effort(std::uint32_t r, std::uint32_t effort) {
  if (effort == 0) return false;
  // Both factors are below 2^32, so the 64-bit product cannot overflow; a
  // 32-bit product would wrap and accept almost anything at high effort.
  return static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>(effort) <= kMaxProduct;
}

Bytes pow_request_hash(ByteView request) { return blake2b(request, kPowRequestHashBytes); }

Result<std::uint32_t> pow_hash(const PowChallenge& challenge, std::string_view action,
                               ByteView request_hash, ByteView nonce) {
  HEARTH_TRY(check_inputs(challenge, action, request_hash));
  if (nonce.size() != kPowNonceBytes)
    return error(Code::kInvalidArgument, "PoW nonce must be 16 bytes");
  PowInput in = build_input(challenge, action, request_hash);
  std::copy(nonce.begin(), nonce.end(), in.nonce().begin());
  return hash_value(in.bytes);
}

Result<PowSolution> solve_pow(const PowChallenge& challenge, std::string_view action,
                              ByteView request_hash) {
  HEARTH_TRY(check_inputs(challenge, action, request_hash));
  PowInput in = build_input(challenge, action, request_hash);
  // A random start keeps two clients with the same request from finding (and
  // then colliding on) the same nonce.
  random_fill(in.nonce());
  while (!pow_hash_meets_effort(hash_value(in.bytes), challenge.effort)) increment(in.nonce());
  auto nonce = in.nonce();
  return PowSolution{Bytes(nonce.begin(), nonce.end())};
}

Status verify_pow(const PowChallenge& challenge, std::string_view action, ByteView request_hash,
                  const PowSolution& solution) {
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t r,
                          pow_hash(challenge, action, request_hash, solution.nonce));
  if (!pow_hash_meets_effort(r, challenge.effort))
    return error(Code::kAuthFailed, "proof of work does not meet the effort");
  return Status::ok();
}

}  // namespace hearth::crypto
