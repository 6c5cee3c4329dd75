// Metrics: the server's counters and gauges, rendered in Prometheus text format.
//
// Only aggregate numbers: no label ever carries a case id, a mailbox, a
// responder id or an address. Labels are the protocol's fixed op and error
// code names. Served on the loopback-only metrics listener (docs/operations.md
// lists every name).
//
// Thread safety: every member is atomic or internally locked; safe from any
// thread, including the storage thread (on_commit).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "protocol/messages.h"
#include "storage/storage_thread.h"

namespace hearth::server {

// Sized from the protocol's lists: a new op or error code gets its counter.
inline constexpr std::size_t kOpCount = protocol::kOpCount;
inline constexpr std::size_t kErrorCodeCount = protocol::kErrorCodeCount;

class Metrics {
 public:
  // Upper bounds of the commit latency histogram, in seconds.
  static constexpr std::array<double, 10> kCommitBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                                            0.02,   0.05,  0.1,   0.5,   2.0};

  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_refused{0};  // HTTP 503 past max_connections
  std::atomic<std::uint64_t> frames_received{0};
  std::atomic<std::uint64_t> messages_relayed{0};  // envelopes stored for a recipient
  std::atomic<std::uint64_t> events_pushed{0};
  std::atomic<std::uint64_t> throttled_waits{0};
  std::atomic<std::uint64_t> slow_readers_dropped{0};
  std::atomic<std::uint64_t> oversize_frames{0};
  std::atomic<std::uint64_t> envelopes_expired{0};
  // Delivery: live envelopes left to the backlog pump (no room), and events
  // that waited in a connection's held list.
  std::atomic<std::uint64_t> envelopes_deferred{0};
  std::atomic<std::uint64_t> events_held{0};
  // Logins: failures by kind, logins refused by the server-wide budget,
  // connections closed for too many failures, certificate checks answered
  // from the per-roster cache.
  std::atomic<std::uint64_t> responder_login_failures{0};
  std::atomic<std::uint64_t> vault_login_failures{0};
  std::atomic<std::uint64_t> responder_logins_rate_limited{0};
  std::atomic<std::uint64_t> vault_logins_rate_limited{0};
  std::atomic<std::uint64_t> login_failure_closes{0};
  std::atomic<std::uint64_t> certificate_checks_cached{0};
  // One-time prekeys: reserved for a route or handoff offer, and consumed by
  // a commit (the rest were released).
  std::atomic<std::uint64_t> prekeys_reserved{0};
  std::atomic<std::uint64_t> prekeys_consumed{0};
  std::atomic<std::int64_t> storage_jobs_in_flight{0};  // submitted by sessions, not yet done
  // Route proof-of-work (PowState keeps these current): the effort a challenge
  // issued now would get (other urgencies, danger-now), challenges outstanding,
  // proofs accepted in the last minute, challenges issued, and routes refused
  // by reason (stale, replayed, insufficient).
  std::atomic<std::int64_t> pow_effort{0};
  std::atomic<std::int64_t> pow_danger_now_effort{0};
  std::atomic<std::int64_t> pow_challenges_outstanding{0};
  std::atomic<std::int64_t> pow_proofs_last_minute{0};
  std::atomic<std::uint64_t> pow_challenges_issued{0};
  std::array<std::atomic<std::uint64_t>, 3> pow_refused{};
  // The front door (server/admission.h): pools, evictions and the byte budget.
  std::atomic<std::int64_t> handshakes_open{0};
  std::atomic<std::int64_t> anonymous_open{0};
  std::atomic<std::int64_t> survivors_open{0};
  std::atomic<std::int64_t> responders_open{0};
  std::atomic<std::int64_t> buffered_bytes{0};
  std::atomic<std::uint64_t> handshakes_evicted{0};
  std::atomic<std::uint64_t> anonymous_evicted{0};
  std::atomic<std::uint64_t> anonymous_expired{0};
  std::atomic<std::uint64_t> survivors_refused{0};
  // Connections closed for a newer login of the same party past its cap
  // (4001): [0] a vault, [1] a responder.
  std::array<std::atomic<std::uint64_t>, 2> logins_replaced{};
  // Survivor connections closed (1013) so another vault's login got in.
  std::atomic<std::uint64_t> survivors_made_way{0};
  // Anonymous protections taken back from the oldest at max_protected_anonymous.
  std::atomic<std::uint64_t> protections_displaced{0};
  std::atomic<std::uint64_t> frames_cut_off{0};
  std::atomic<std::uint64_t> read_throttled_waits{0};
  std::atomic<std::uint64_t> buffer_waits{0};
  std::atomic<std::uint64_t> requests_not_pipelined{0};
  std::atomic<std::uint64_t> buffer_budget_closes{0};
  std::array<std::atomic<std::uint64_t>, kOpCount> requests_by_op{};
  std::array<std::atomic<std::uint64_t>, kErrorCodeCount> errors_by_code{};

  void count_request(protocol::Op op);
  void count_error(protocol::ErrorCode code);

  // GroupCommitOptions::on_commit: one observation per COMMIT.
  void observe_commit(std::chrono::nanoseconds duration);

  // The exposition text. `open_cases` and `storage` are read by the caller.
  std::string render(std::int64_t open_cases, const storage::StorageStats& storage) const;

 private:
  std::array<std::atomic<std::uint64_t>, kCommitBuckets.size()> commit_buckets_{};
  std::atomic<std::uint64_t> commit_count_{0};
  std::atomic<std::uint64_t> commit_nanos_{0};
};

}  // namespace hearth::server
