#include "server/metrics.h"

#include <cstdio>
#include <iterator>
#include <tuple>

namespace hearth::server {
namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const char* name, std::uint64_t value) {
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void sample_signed(std::string& out, const char* name, std::int64_t value) {
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  header(out, name, "counter", help);
  sample(out, name, value);
}

void gauge(std::string& out, const char* name, const char* help, std::int64_t value) {
  header(out, name, "gauge", help);
  sample_signed(out, name, value);
}

std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

void Metrics::count_request(protocol::Op op) {
  auto i = static_cast<std::size_t>(op);
  if (i < requests_by_op.size()) requests_by_op[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::count_error(protocol::ErrorCode code) {
  auto i = static_cast<std::size_t>(code);
  if (i < errors_by_code.size()) errors_by_code[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::observe_commit(std::chrono::nanoseconds duration) {
  double seconds = std::chrono::duration<double>(duration).count();
  for (std::size_t i = 0; i < kCommitBuckets.size(); ++i) {
    if (seconds <= kCommitBuckets[i]) {
      commit_buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  commit_count_.fetch_add(1, std::memory_order_relaxed);
  commit_nanos_.fetch_add(static_cast<std::uint64_t>(duration.count()), std::memory_order_relaxed);
}

std::string Metrics::render(std::int64_t open_cases, const storage::StorageStats& storage) const {
  std::string out;
  out.reserve(8192);
  gauge(out, "hearth_connections_open", "WebSocket and HTTP connections open now.",
        connections_open.load());
  counter(out, "hearth_connections_total", "Connections accepted since start.",
          connections_total.load());
  counter(out, "hearth_connections_refused_total",
          "Upgrades answered 503: no room for another WebSocket, or draining.",
          connections_refused.load());
  counter(out, "hearth_frames_received_total", "WebSocket frames read.", frames_received.load());

  header(out, "hearth_requests_total", "counter", "Requests decoded, by op.");
  for (std::size_t i = 0; i < kOpCount; ++i) {
    out += "hearth_requests_total{op=\"";
    out += protocol::op_name(static_cast<protocol::Op>(i));
    out += "\"} " + std::to_string(requests_by_op[i].load()) + "\n";
  }
  header(out, "hearth_errors_total", "counter", "Error replies, by code.");
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    out += "hearth_errors_total{code=\"";
    out += protocol::error_code_name(static_cast<protocol::ErrorCode>(i));
    out += "\"} " + std::to_string(errors_by_code[i].load()) + "\n";
  }
  counter(out, "hearth_messages_relayed_total", "Envelopes stored for a recipient.",
          messages_relayed.load());
  counter(out, "hearth_events_pushed_total", "Events (envelopes, claims, closes) pushed.",
          events_pushed.load());
  counter(out, "hearth_throttled_waits_total",
          "Times a connection waited for its frame rate limit.", throttled_waits.load());
  counter(out, "hearth_slow_readers_dropped_total",
          "Connections closed because their write queue was full.", slow_readers_dropped.load());
  counter(out, "hearth_oversize_frames_total", "Connections closed for a frame over the limit.",
          oversize_frames.load());
  counter(out, "hearth_envelopes_expired_total", "Undelivered envelopes deleted by retention.",
          envelopes_expired.load());
  counter(out, "hearth_envelopes_deferred_total",
          "Live envelopes left in storage for the backlog pump (write queue half full).",
          envelopes_deferred.load());
  counter(out, "hearth_events_held_total",
          "Events that waited for room in a connection's held list.", events_held.load());
  header(out, "hearth_failed_logins_total", "counter", "Failed logins, by kind.");
  out += "hearth_failed_logins_total{kind=\"responder\"} " +
         std::to_string(responder_login_failures.load()) + "\n";
  out += "hearth_failed_logins_total{kind=\"vault\"} " +
         std::to_string(vault_login_failures.load()) + "\n";
  header(out, "hearth_logins_rate_limited_total", "counter",
         "Logins refused because the server-wide failed-login budget was spent, by kind.");
  out += "hearth_logins_rate_limited_total{kind=\"responder\"} " +
         std::to_string(responder_logins_rate_limited.load()) + "\n";
  out += "hearth_logins_rate_limited_total{kind=\"vault\"} " +
         std::to_string(vault_logins_rate_limited.load()) + "\n";
  counter(out, "hearth_login_failure_closes_total",
          "Connections closed after login_failures_per_connection failed logins.",
          login_failure_closes.load());
  counter(out, "hearth_certificate_checks_cached_total",
          "Certificate checks answered without a signature check (verified under this roster).",
          certificate_checks_cached.load());
  counter(out, "hearth_prekeys_reserved_total",
          "One-time prekeys reserved for a route or a handoff offer.", prekeys_reserved.load());
  counter(out, "hearth_prekeys_consumed_total",
          "Reserved one-time prekeys deleted by the commit that used them.",
          prekeys_consumed.load());
  gauge(out, "hearth_open_cases", "Cases open now.", open_cases);

  gauge(out, "hearth_pow_effort",
        "Effort (expected hashes) a route challenge issued now would get (not danger-now).",
        pow_effort.load());
  gauge(out, "hearth_pow_danger_now_effort",
        "Effort (expected hashes) a danger-now route challenge issued now would get.",
        pow_danger_now_effort.load());
  gauge(out, "hearth_pow_challenges_outstanding",
        "Route challenges issued and not yet spent, replaced or expired.",
        pow_challenges_outstanding.load());
  gauge(out, "hearth_pow_proofs_last_minute", "Route proofs accepted in the last 60 seconds.",
        pow_proofs_last_minute.load());
  counter(out, "hearth_pow_challenges_issued_total", "Route challenges issued.",
          pow_challenges_issued.load());
  header(out, "hearth_pow_refused_total", "counter", "Routes refused for their proof, by reason.");
  constexpr const char* kRefusalReasons[] = {"stale", "replayed", "insufficient"};
  static_assert(std::size(kRefusalReasons) == std::tuple_size_v<decltype(pow_refused)>);
  for (std::size_t i = 0; i < pow_refused.size(); ++i) {
    out += "hearth_pow_refused_total{reason=\"";
    out += kRefusalReasons[i];
    out += "\"} " + std::to_string(pow_refused[i].load()) + "\n";
  }
  gauge(out, "hearth_handshakes_open", "Connections in their TLS/HTTP/upgrade handshake now.",
        handshakes_open.load());
  gauge(out, "hearth_anonymous_open", "WebSockets not logged in now.", anonymous_open.load());
  gauge(out, "hearth_survivors_open", "WebSockets logged into a vault now.", survivors_open.load());
  gauge(out, "hearth_responders_open", "WebSockets logged in as a responder now.",
        responders_open.load());
  gauge(out, "hearth_buffered_bytes",
        "Bytes held across all connections: messages being read, requests in flight and write "
        "queues.",
        buffered_bytes.load());
  counter(out, "hearth_handshakes_evicted_total",
          "Handshakes closed at accept to make room (max_handshakes).", handshakes_evicted.load());
  counter(out, "hearth_anonymous_evicted_total",
          "Anonymous WebSockets closed (1013) to make room for a new one.",
          anonymous_evicted.load());
  counter(out, "hearth_anonymous_expired_total",
          "Anonymous WebSockets closed (1008) at anonymous_lifetime.", anonymous_expired.load());
  counter(out, "hearth_survivors_refused_total",
          "Survivor logins closed (1013): survivors would take the responders' reserve.",
          survivors_refused.load());
  header(out, "hearth_logins_replaced_total", "counter",
         "Connections closed (4001) by a newer login of the same vault or responder past its cap.");
  constexpr const char* kReplacedKinds[] = {"vault", "responder"};
  static_assert(std::size(kReplacedKinds) == std::tuple_size_v<decltype(logins_replaced)>);
  for (std::size_t i = 0; i < logins_replaced.size(); ++i) {
    out += "hearth_logins_replaced_total{kind=\"";
    out += kReplacedKinds[i];
    out += "\"} " + std::to_string(logins_replaced[i].load()) + "\n";
  }
  counter(out, "hearth_survivors_made_way_total",
          "Survivor connections closed (1013) so another vault's login got a place.",
          survivors_made_way.load());
  counter(out, "hearth_protections_displaced_total",
          "Anonymous protections taken back from the oldest at max_protected_anonymous.",
          protections_displaced.load());
  counter(out, "hearth_frames_cut_off_total",
          "Connections closed (1008) for a message not finished within frame_deadline.",
          frames_cut_off.load());
  counter(out, "hearth_read_throttled_waits_total",
          "Times a connection waited for its byte rate limit.", read_throttled_waits.load());
  counter(out, "hearth_buffer_waits_total",
          "Times a big read waited because max_buffered_bytes was reached.", buffer_waits.load());
  counter(out, "hearth_requests_not_pipelined_total",
          "Sends, acks and vault_puts handled alone because the requests in flight held "
          "max_frame_bytes, or max_buffered_bytes was reached.",
          requests_not_pipelined.load());
  counter(out, "hearth_buffer_budget_closes_total",
          "Connections closed (1008) as the largest holder past max_buffered_bytes.",
          buffer_budget_closes.load());

  gauge(out, "hearth_storage_queue_depth", "Storage jobs submitted by sessions and not yet done.",
        storage_jobs_in_flight.load());
  gauge(out, "hearth_storage_queued_bytes", "Payload bytes queued for the storage thread.",
        static_cast<std::int64_t>(storage.queued_bytes));
  counter(out, "hearth_storage_write_jobs_total", "Storage write jobs run.", storage.write_jobs);
  counter(out, "hearth_storage_read_jobs_total", "Storage read jobs run.", storage.read_jobs);
  counter(out, "hearth_storage_commits_total", "Transactions committed.", storage.commits);
  counter(out, "hearth_storage_failed_commits_total", "Transactions rolled back as a whole.",
          storage.failed_commits);
  gauge(out, "hearth_storage_largest_batch", "Most jobs one commit carried.",
        static_cast<std::int64_t>(storage.largest_batch));
  counter(out, "hearth_storage_checkpoints_total", "WAL TRUNCATE checkpoints.",
          storage.checkpoints);

  header(out, "hearth_storage_commit_seconds", "histogram", "Duration of each COMMIT.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kCommitBuckets.size(); ++i) {
    cumulative += commit_buckets_[i].load();
    out += "hearth_storage_commit_seconds_bucket{le=\"" + format_double(kCommitBuckets[i]) +
           "\"} " + std::to_string(cumulative) + "\n";
  }
  out += "hearth_storage_commit_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(commit_count_.load()) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(commit_nanos_.load()) / 1e9);
  out += "hearth_storage_commit_seconds_sum ";
  out += sum;
  out += "\nhearth_storage_commit_seconds_count " + std::to_string(commit_count_.load()) + "\n";
  return out;
}

}  // namespace hearth::server
