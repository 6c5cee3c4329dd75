// Services: what every session shares — configuration, the relay hub, the
// storage thread, metrics, the proof-of-work state and the clock.
//
// Thread safety: Services is a bundle of references to objects that are each
// safe from any thread; PowState is internally locked.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/pow.h"
#include "host/config.h"
#include "host/static_site.h"
#include "server/admission.h"
#include "server/login_guard.h"
#include "server/metrics.h"
#include "server/prekey_reservations.h"
#include "server/relay_hub.h"
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

// The route proof-of-work: prices and counts per-connection challenges
// (docs/operations.md "Proof-of-work under load"). A ClientState holds its one
// live challenge; PowState knows only how many are outstanding, by expiry
// second, and how many proofs were accepted in the last minute.
//
// The effort of a challenge is fixed at issue from the load then:
//   others:     pow.effort x 2^(load + room), at most pow.max_effort
//   danger-now: pow.effort x 2^(load + room + reserve), at most
//               pow.danger_now_max_effort
// load: one doubling for each doubling of (proofs accepted in the last 60 s +
// challenges outstanding) past pow.proofs_per_minute; room: one for each
// halving of the waiting room's free places, counting outstanding challenges
// (danger-now: only danger-now ones) as taken; reserve: one more for each
// halving of the free places among the last `reserved` (those only danger-now
// may use). A challenge cannot be stockpiled at a low price: each one
// outstanding raises the price of the next until it is spent or expires.
//
// Thread safety: internally locked; safe from any thread.
class PowState {
 public:
  // A challenge as issued to one connection.
  struct Issued {
    Bytes challenge;  // crypto::kPowSeedBytes, random
    std::uint32_t effort = 1;
    bool danger_now = false;
    UnixSeconds expires = 0;  // usable while now < expires
  };

  // `reserved_places`: the waiting room's places only danger-now may use.
  // `clock` and `metrics` (may be null) must outlive this.
  PowState(const PowConfig& config, std::size_t max_waiting_cases, std::size_t reserved_places,
           const Clock& clock, Metrics* metrics = nullptr);

  // A fresh challenge priced now, counted as outstanding until spent(),
  // released() or its expiry. `waiting`: places taken in the waiting room now.
  Issued issue(bool danger_now, std::size_t waiting);

  // The connection dropped `issued` unspent (replaced, refused, closed): it no
  // longer counts as outstanding. A no-op once it has expired.
  void release(const Issued& issued);

  // Ok when `nonce` solves `issued` for `action` and `request_hash` at its
  // effort; either way it no longer counts as outstanding, and an accepted
  // proof counts in the last minute's. kAuthFailed: does not meet the effort;
  // kInvalidArgument: wrong lengths. The caller checks the challenge is the
  // connection's, unspent and unexpired: this is one hash, no memory.
  Status spend(const Issued& issued, ByteView nonce, std::string_view action,
               ByteView request_hash);

  // Timer work: forgets expired challenges and refreshes the metrics.
  void maintain(std::size_t waiting);

  // The effort a challenge issued now would get (nothing issued). For tests
  // and metrics.
  std::uint32_t effort_for_load(bool danger_now, std::size_t waiting);

  struct Stats {
    std::uint64_t outstanding = 0;  // all urgencies
    std::uint64_t outstanding_danger_now = 0;
    std::uint64_t proofs_last_minute = 0;
  };
  Stats stats();

 private:
  struct Counts {
    std::uint64_t all = 0;
    std::uint64_t danger_now = 0;
  };
  void expire_locked(UnixSeconds now);
  void forget_locked(const Issued& issued, UnixSeconds now);
  std::uint32_t effort_for_locked(bool danger_now, UnixSeconds now, std::size_t waiting);
  void publish_locked(UnixSeconds now, std::size_t waiting);

  const PowConfig config_;
  const std::size_t max_waiting_;
  const std::size_t reserved_;
  const Clock& clock_;
  Metrics* const metrics_;

  std::mutex mu_;
  // Outstanding challenges by expiry second: at most challenge_ttl + 1 keys.
  std::map<UnixSeconds, Counts> outstanding_;  // guarded by mu_
  Counts total_;                               // guarded by mu_: the sum of outstanding_
  SpendWindow window_;                         // guarded by mu_
  std::size_t last_waiting_ = 0;               // guarded by mu_: for metrics after a spend
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
