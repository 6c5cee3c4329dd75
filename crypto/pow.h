// Application-level proof-of-work: BLAKE2b hashcash with "effort as a bid"
// (reference/crypto.md §2.8, after Tor proposal 327).
//
// The server publishes a 32-byte seed and an effort E; a client binds its
// request by hashing it, then searches for a 16-byte nonce whose hash value R
// satisfies R * E <= 2^32 - 1 (as a 64-bit product, so it cannot overflow).
// One hash succeeds with probability about 1/E, so the expected work is E
// hashes, while verifying costs the server one hash. This is a speed bump, not a
// wall (GPUs are fast at BLAKE2b); Tor's Equi-X PoW guards the onion service
// itself. The hash input layout is specified in docs/crypto.md.
//
// PowReplayGuard remembers which (seed, nonce) pairs were spent, for the
// current and the previous seed only, within a fixed entry budget per seed.
//
// Thread safety: the free functions are pure (solve_pow draws its starting
// nonce from crypto/random.h); PowReplayGuard is internally locked and safe from
// any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
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

// What the server publishes: its current seed and the effort it asks for.
struct PowChallenge {
  Bytes seed;                // kPowSeedBytes, server-random, rotated every few minutes
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
// does not meet the effort. Does not check replay or whether the seed is
// current: the server does that (PowReplayGuard).
Status verify_pow(const PowChallenge& challenge, std::string_view action, ByteView request_hash,
                  const PowSolution& solution);

// The spent-nonce set for the current and the previous seed.
//
// Memory is bounded: each seed may have at most `max_entries / 2` nonces
// remembered (its budget), so both together never exceed `max_entries`. A seed
// whose budget is used up refuses new nonces (kLimitExceeded) rather than
// forgetting any, because forgetting would let a spent proof be replayed. The
// owner must then rotate (current_full() tells it when): rotating frees the old
// previous seed together with its nonces, and a seed the guard no longer knows
// is refused outright (kExpired), so forgetting is safe. The server rotates at
// once when the current seed fills up (server/services.h, PowState), so a full
// guard never refuses every new proof.
class PowReplayGuard {
 public:
  // About 16 MiB at the worst case (two seeds' budgets of 131,072 nonces).
  static constexpr std::size_t kDefaultMaxEntries = 262144;

  // `current_seed` must be kPowSeedBytes (the server's own value: a wrong size
  // is a programming error and aborts). There is no previous seed yet.
  // `max_entries` below 2 is taken as 2 (a budget of one nonce per seed).
  explicit PowReplayGuard(ByteView current_seed, std::size_t max_entries = kDefaultMaxEntries);

  // Ok, and remembers (seed, nonce), the first time a nonce is presented for the
  // current or previous seed. kReplay when it was presented before;
  // kExpired when `seed` is neither the current nor the previous seed;
  // kLimitExceeded when that seed's budget is used up; kInvalidArgument on a
  // wrong seed or nonce length. Verify the proof before calling this, so an
  // invalid proof cannot use up the budget.
  Status check_and_remember(ByteView seed, ByteView nonce);

  // Makes `new_seed` current and the current seed previous, forgetting the old
  // previous seed and its nonces. Seeds must be fresh random values: a reused
  // seed would start over with an empty nonce set and let spent proofs replay.
  // kInvalidArgument (and no change) when `new_seed` has the wrong length or
  // equals the current or previous seed, the only two the guard still knows.
  Status rotate(ByteView new_seed);

  // Forgets the previous seed and its nonces: its proofs are kExpired from now
  // on. No-op when there is none.
  void retire_previous();

  // True when the current seed's budget is used up: rotate before the next proof.
  bool current_full() const;

  // How many nonces are remembered across both seeds.
  std::size_t size() const;
  // The most nonces both seeds together may hold (2 x the per-seed budget).
  std::size_t capacity() const { return 2 * per_seed_; }

 private:
  using Seed = std::array<std::uint8_t, kPowSeedBytes>;
  using Nonce = std::array<std::uint8_t, kPowNonceBytes>;
  struct SeedNonces {
    Seed seed{};
    bool in_use = false;
    std::set<Nonce> nonces;
  };

  mutable std::mutex mutex_;
  const std::size_t per_seed_;
  SeedNonces current_;   // guarded by mutex_
  SeedNonces previous_;  // guarded by mutex_
};

}  // namespace hearth::crypto
