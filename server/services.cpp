#include "server/services.h"

#include "crypto/random.h"

namespace hearth::server {

PowState::PowState(std::uint32_t effort)
    : seed_(crypto::random_bytes(crypto::kPowSeedBytes)), effort_(effort), guard_(seed_) {}

crypto::PowChallenge PowState::challenge() const {
  std::lock_guard lock(mu_);
  return {seed_, effort_};
}

Status PowState::check(ByteView seed, ByteView nonce, std::string_view action,
                       ByteView request_hash) {
  if (seed.size() != crypto::kPowSeedBytes || nonce.size() != crypto::kPowNonceBytes)
    return error(Code::kInvalidArgument, "wrong proof-of-work lengths");
  std::uint32_t effort;
  {
    std::lock_guard lock(mu_);
    effort = effort_;
  }
  crypto::PowChallenge challenge{Bytes(seed.begin(), seed.end()), effort};
  // Verify first, so an invalid proof cannot use up the guard's budget.
  HEARTH_TRY(crypto::verify_pow(challenge, action, request_hash,
                                crypto::PowSolution{Bytes(nonce.begin(), nonce.end())}));
  return guard_.check_and_remember(seed, nonce);
}

void PowState::rotate() {
  std::lock_guard lock(mu_);
  Bytes next = crypto::random_bytes(crypto::kPowSeedBytes);
  if (guard_.rotate(next).is_ok()) seed_ = std::move(next);
}

}  // namespace hearth::server
