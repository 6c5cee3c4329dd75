// Application-level proof-of-work: BLAKE2b hashcash with "effort as a bid"
// (reference/crypto.md §2.8, after Tor proposal 327).
//
// The server issues a 32-byte challenge (`seed` below: one per connection and
// route, server/services.h PowState) and an effort E; a client binds its
// request by hashing it, then searches for a 16-byte nonce whose hash value R
// satisfies R * E <= 2^32 - 1 (as a 64-bit product, so it cannot overflow).
// One hash succeeds with probability about 1/E, so the expected work is E
// hashes, while verifying costs the server one hash. This is a speed bump, not a
// wall (GPUs are fast at BLAKE2b); Tor's Equi-X PoW guards the onion service
// itself. The hash input layout is specified in docs/crypto.md.
//
// Thread safety: the functions are pure (solve_pow draws its starting nonce
// from crypto/random.h); safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace hearth::crypto {

inline constexpr std::size_t kPowSeedBytes = 32;
inline constexpr std::size_t kPowNonceBytes = 16;
inline constexpr std::size_t kPowRequestHashBytes = 32;
// The longest action label accepted ("open_case", "send", ...): labels are
// short constants; the bound keeps a hostile one from costing memory.
inline constexpr std::size_t kMaxPowActionBytes = 64;

// What the server issues: a challenge and the effort it asks for.
struct PowChallenge {
  Bytes seed;                // kPowSeedBytes, server-random, issued to one connection for one use
  std::uint32_t effort = 1;  // E >= 1: the expected number of hashes a solution costs
};

struct PowSolution {
  Bytes nonce;  // kPowNonceBytes
};

// The effort predicate: true iff r * effort <= 2^32 - 1, computed in 64 bits
// (reference/crypto.md P18). effort = 1 accepts every r; effort = 2^32 - 1
// accepts only r <= 1. effort = 0 is not a valid effort and returns false.
bool pow_hash_meets_effort(std::uint32_t r, std::uint32_t effort);

// The request hash a client binds into its proof: BLAKE2b-256 of the request's
// canonical bytes (no personal). Provided so client and server compute it alike.
Bytes pow_request_hash(ByteView request);

// R for one attempt: the first 4 bytes, little-endian, of BLAKE2b-256 with
// personal "HL1-pow" over seed || len(action) (u32 BE) || action || effort (u32 BE)
// || nonce || request_hash. kInvalidArgument on a wrong seed, nonce or request
// hash length, an empty or over-long action, or effort 0.
Result<std::uint32_t> pow_hash(const PowChallenge& challenge, std::string_view action,
                               ByteView request_hash, ByteView nonce);

// Finds a nonce for `challenge`, `action` and `request_hash`: starts at a random
// 16-byte nonce and increments it (as a 128-bit little-endian counter) until
// the hash meets the effort. Takes about `effort` hashes on average and has no
// time limit: the caller picks an effort it is willing to pay. kInvalidArgument
// on the same inputs as pow_hash (the challenge comes from the network).
Result<PowSolution> solve_pow(const PowChallenge& challenge, std::string_view action,
                              ByteView request_hash);

// Ok when `solution` meets `challenge.effort` for this seed, action and request
// hash. kInvalidArgument on wrong lengths or effort 0; kAuthFailed when the hash
// does not meet the effort. Does not check whether the challenge is live and
// unspent: the server does that (one live challenge per connection).
Status verify_pow(const PowChallenge& challenge, std::string_view action, ByteView request_hash,
                  const PowSolution& solution);

}  // namespace hearth::crypto
