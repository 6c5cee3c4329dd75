// Services: what every session shares — configuration, the relay hub, the
// storage thread, metrics, the proof-of-work state and the clock.
//
// Thread safety: Services is a bundle of references to objects that are each
// safe from any thread; PowState is internally locked.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/pow.h"
#include "server/admission.h"
#include "server/config.h"
#include "server/login_guard.h"
#include "server/metrics.h"
#include "server/prekey_reservations.h"
#include "server/relay_hub.h"
#include "server/static_site.h"
#include "storage/storage_thread.h"

namespace hearth::server {

// Spent proofs per second over the last kSeconds seconds: the load signal the
// route effort follows. Fixed memory (one counter per second), O(1) per call
// amortized. Not locked: PowState guards it.
class SpendWindow {
 public:
  static constexpr UnixSeconds kSeconds = 60;

  // Counts one spent proof at `now`.
  void add(UnixSeconds now);
  // Proofs counted in (now - kSeconds, now]. A clock that went back counts as
  // not having moved.
  std::uint64_t count(UnixSeconds now);

 private:
  void advance(UnixSeconds now);

  std::array<std::uint32_t, kSeconds> buckets_{};
  UnixSeconds head_ = 0;  // the latest second the buckets describe
  std::uint64_t total_ = 0;
};

// The route proof-of-work: the live seeds, the effort each was issued with,
// and the spent-proof guard (docs/operations.md "Proof-of-work under load").
//
// The effort for a new seed is `pow.effort` doubled once for each doubling of
// spent proofs per minute past `pow.proofs_per_minute`, and once for each
// halving of the waiting room's free places, capped at `pow.max_effort`. Each
// seed keeps the effort it was issued with: a proof is checked against its
// seed's effort, so a client that solved what it was asked is never refused
// because the effort rose meanwhile. The current seed is replaced
//   - when it is `pow.seed_rotation` old (a proof cannot be solved far ahead),
//   - when the effort for the load differs from its effort (at most once per
//     `pow.effort_step`),
//   - at once when its share of the replay budget is used up, so a full
//     replay set never refuses routing;
// the replaced seed is still accepted for `pow.previous_seed_grace`, until its
// own share is used up, or until the next rotation, whichever comes first.
//
// Thread safety: internally locked; safe from any thread.
class PowState {
 public:
  // `clock` and `metrics` (may be null) must outlive this.
  PowState(const PowConfig& config, std::size_t max_waiting_cases, const Clock& clock,
           Metrics* metrics = nullptr);

  // The seed to solve for now and the effort bound to it. `waiting`: cases
  // in the waiting room now. Rotates first when a rotation is due.
  crypto::PowChallenge challenge(std::size_t waiting);

  // Ok when `nonce` solves `seed` at that seed's effort for `action` and
  // `request_hash`, and was not spent before (it is now). kAuthFailed: does
  // not meet the effort; kReplay: spent; kExpired: the seed is not live any
  // more (unknown, past its grace, or its share of the budget used up: ask
  // again); kInvalidArgument: wrong lengths. Never refuses for a full replay
  // set: it rotates instead.
  Status check(ByteView seed, ByteView nonce, std::string_view action, ByteView request_hash,
               std::size_t waiting);

  // Timer work: retires a previous seed past its grace and rotates when due,
  // so memory is freed and the metrics are current without traffic.
  void maintain(std::size_t waiting);

  // The effort a seed issued now would get (no rotation). For tests and metrics.
  std::uint32_t effort_for_load(std::size_t waiting);

  struct Stats {
    std::uint32_t effort = 0;         // the current seed's
    std::size_t replay_entries = 0;   // spent proofs remembered
    std::size_t replay_capacity = 0;  // the most that can be remembered
    std::uint64_t proofs_last_minute = 0;
    std::uint64_t rotations = 0;  // every reason
  };
  Stats stats() const;

 private:
  enum class Reason { kTimer, kLoad, kFull };
  struct LiveSeed {
    Bytes seed;
    std::uint32_t effort = 1;
    UnixSeconds since = 0;  // issued (current) or replaced (previous)
  };

  std::uint32_t effort_for_locked(UnixSeconds now, std::size_t waiting);
  void maintain_locked(UnixSeconds now, std::size_t waiting);
  void rotate_locked(UnixSeconds now, std::uint32_t effort, Reason reason);
  void publish_locked();

  const PowConfig config_;
  const std::size_t max_waiting_;
  const Clock& clock_;
  Metrics* const metrics_;

  mutable std::mutex mu_;
  LiveSeed current_;                  // guarded by mu_
  std::optional<LiveSeed> previous_;  // guarded by mu_
  UnixSeconds last_rotation_ = 0;     // guarded by mu_
  std::uint64_t rotations_ = 0;       // guarded by mu_
  mutable SpendWindow window_;        // guarded by mu_ (count() moves it)
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
  // One-time prekeys reserved for routes and handoff offers.
  PrekeyReservations& reservations;
  // Server-wide budgets for failed logins, one per kind.
  FailedLoginBudget& responder_login_failures;
  FailedLoginBudget& vault_login_failures;
  Admission& admission;  // connection pools and the byte budget
  // The survivor's page (web.root), or null when none is configured.
  const StaticSite* site = nullptr;
};

}  // namespace hearth::server
