#include "crypto/pow.h"

#include <algorithm>
#include <cstdlib>

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

PowReplayGuard::PowReplayGuard(ByteView current_seed, std::size_t max_entries)
    : per_seed_(std::max<std::size_t>(max_entries / 2, 1)) {
  if (current_seed.size() != kPowSeedBytes) std::abort();  // documented precondition
  std::copy(current_seed.begin(), current_seed.end(), current_.seed.begin());
  current_.in_use = true;
}

Status PowReplayGuard::check_and_remember(ByteView seed, ByteView nonce) {
  if (seed.size() != kPowSeedBytes)
    return error(Code::kInvalidArgument, "PoW seed must be 32 bytes");
  if (nonce.size() != kPowNonceBytes)
    return error(Code::kInvalidArgument, "PoW nonce must be 16 bytes");
  Nonce key{};
  std::copy(nonce.begin(), nonce.end(), key.begin());

  std::lock_guard<std::mutex> lock(mutex_);
  auto matches = [&](const SeedNonces& s) {
    return s.in_use && std::equal(seed.begin(), seed.end(), s.seed.begin());
  };
  SeedNonces* set = matches(current_) ? &current_ : matches(previous_) ? &previous_ : nullptr;
  if (set == nullptr) return error(Code::kExpired, "PoW seed is not current");
  if (set->nonces.contains(key)) return error(Code::kReplay, "PoW nonce already used");
  if (set->nonces.size() >= per_seed_)
    return error(Code::kLimitExceeded, "PoW replay budget for this seed used up");
  set->nonces.insert(key);
  return Status::ok();
}

Status PowReplayGuard::rotate(ByteView new_seed) {
  if (new_seed.size() != kPowSeedBytes)
    return error(Code::kInvalidArgument, "PoW seed must be 32 bytes");
  std::lock_guard<std::mutex> lock(mutex_);
  for (const SeedNonces* s : {&current_, &previous_}) {
    if (s->in_use && std::equal(new_seed.begin(), new_seed.end(), s->seed.begin()))
      return error(Code::kInvalidArgument, "PoW seed reused");
  }
  previous_ = std::move(current_);
  current_ = SeedNonces{};
  std::copy(new_seed.begin(), new_seed.end(), current_.seed.begin());
  current_.in_use = true;
  return Status::ok();
}

void PowReplayGuard::retire_previous() {
  std::lock_guard<std::mutex> lock(mutex_);
  previous_ = SeedNonces{};
}

bool PowReplayGuard::current_full() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_.nonces.size() >= per_seed_;
}

std::size_t PowReplayGuard::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_.nonces.size() + previous_.nonces.size();
}

}  // namespace hearth::crypto
