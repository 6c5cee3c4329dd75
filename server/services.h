// Services: what every session shares — configuration, the relay hub, the
// storage thread, metrics, the proof-of-work state and the clock.
//
// Thread safety: Services is a bundle of references to objects that are each
// safe from any thread; PowState is internally locked.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/pow.h"
#include "server/admission.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/relay_hub.h"
#include "storage/storage_thread.h"

namespace hearth::server {

// The current proof-of-work seed and effort, and the spent-proof guard.
class PowState {
 public:
  explicit PowState(std::uint32_t effort);

  crypto::PowChallenge challenge() const;
  // Ok when `nonce` solves `seed` (current or previous) at the current effort
  // for `action` and `request_hash`, and was not spent before (it is now).
  // kAuthFailed: does not meet the effort; kReplay: spent; kExpired: stale seed;
  // kInvalidArgument: wrong lengths; kLimitExceeded: the guard is full.
  Status check(ByteView seed, ByteView nonce, std::string_view action, ByteView request_hash);
  // A fresh seed becomes current; the previous one is still accepted.
  void rotate();

 private:
  mutable std::mutex mu_;
  Bytes seed_;
  std::uint32_t effort_;
  crypto::PowReplayGuard guard_;
};

struct Services {
  const Config& config;
  RelayHub& hub;
  storage::StorageThread& storage;
  Metrics& metrics;
  PowState& pow;
  const Clock& clock;
  crypto::SigningPublicKey org_root;
  std::atomic<bool>& draining;
  Admission& admission;  // connection pools and the byte budget
};

}  // namespace hearth::server
