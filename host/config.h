// hearthd's configuration: one JSON file, validated field by field.
//
// Every error names the field it is about ("limits.max_frame_bytes: must be
// between 1024 and 16777216"), unknown fields are refused (a typo must not
// silently fall back to a default), and relative paths are taken relative to
// the directory of the config file. docs/operations.md lists every field with
// its default and the reason for it.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/log.h"
#include "common/status.h"

namespace hearth::server {

// An address hearthd listens on (`listen`, `metrics`); not the client's
// hearth::client::Endpoint, which is a URL to connect to.
struct ListenAddress {
  std::string address;  // an IP literal
  std::uint16_t port = 0;
};

struct TlsConfig {
  std::filesystem::path certificate;  // PEM
  std::filesystem::path private_key;  // PEM
};

struct Limits {
  std::size_t max_frame_bytes = 256 * 1024;
  std::uint32_t frames_per_second = 20;
  std::uint32_t frame_burst = 40;
  std::size_t write_queue_frames = 64;
  std::size_t write_queue_bytes = 2 * 1024 * 1024;
  // TLS + HTTP request + WebSocket upgrade must finish within this (and a
  // close handshake too): a half-open handshake holds a socket, so short.
  std::chrono::seconds handshake_timeout{5};
  std::chrono::seconds idle_timeout{300};
  std::size_t max_connections = 1000;
  std::size_t max_open_cases_per_vault = 3;
  std::int64_t max_pending_per_mailbox = 1000;
  std::int64_t undelivered_retention_days = 30;
  std::chrono::seconds route_ttl{600};
  std::size_t max_routes_per_connection = 4;
  // Cases waiting for a responder, in all: past it, route answers
  // "unavailable". A real org's waiting room stays far below this; a flood
  // of new cases must not make every routing refresh slow: at 10,000 a
  // refresh costs about 5 ms (docs/performance.md, "Triage").
  std::size_t max_waiting_cases = 10000;
  // Of max_waiting_cases, the share (rounded down) only danger-now cases may
  // take, so a flood of other cases never turns one away (docs/routing.md).
  std::size_t danger_now_reserved_percent = 10;
  // A never-taken waiting case whose survivor has been away this long is
  // parked: out of the waiting room until they come back (docs/routing.md).
  std::chrono::seconds park_away_after{3600};
  // A connection whose write queue makes no progress (not one frame written)
  // for this long has stopped reading: it is closed (1008, slow reader).
  // Envelopes never fill the queue past half (they wait in storage), so this,
  // not the queue's size, is what catches a client that stops reading.
  std::chrono::seconds write_stall_timeout{60};
  // Failed logins (responder_login, vault_login) cost the server signature
  // checks and the attacker nothing: a connection is closed after its
  // failure (or rate_limited refusal) past login_failures_per_connection.
  // Server-wide, per kind, two budgets (server/login_guard.h): a connection's
  // first attempt spends from failed_logins_per_second (bursts up to
  // failed_login_burst), later attempts from repeat_failed_logins_per_second
  // (repeat_failed_login_burst); past its budget an attempt answers
  // rate_limited before any signature work. The defaults keep failures of
  // one kind under about 10 % of one core (docs/operations.md).
  std::uint32_t login_failures_per_connection = 3;
  std::uint32_t failed_logins_per_second = 300;
  std::uint32_t failed_login_burst = 600;
  std::uint32_t repeat_failed_logins_per_second = 50;
  std::uint32_t repeat_failed_login_burst = 100;

  // ---- The front door (docs/operations.md, "Connection limits") ----
  // Handshakes in progress, counted apart from max_connections: past it the
  // oldest handshake is closed at once, so stalled ones cannot lock anyone out.
  std::size_t max_handshakes = 128;
  // WebSockets not logged in yet: past it the oldest is closed (1013).
  std::size_t max_anonymous_connections = 500;
  // Of max_connections, this many are kept for responders: anonymous and
  // survivor connections together stay below max_connections minus it
  // (the reserve used is at most half of max_connections).
  std::size_t reserved_responder_connections = 100;
  // An anonymous WebSocket must log in (or open its case) within this.
  std::chrono::seconds anonymous_lifetime{120};
  // An anonymous connection that asked for a login challenge, or paid a proof
  // of work and got a route, is not evicted for this long (then it is an
  // ordinary anonymous one again, and anonymous_lifetime still holds).
  std::chrono::seconds anonymous_protection{30};
  // At most this many protected connections of each kind (logging in; paid)
  // at once, and never more than a quarter of max_anonymous_connections: a
  // newer protection of a kind displaces that kind's oldest. Anonymous
  // connections without protection therefore always remain to be evicted.
  std::size_t max_protected_anonymous = 64;
  // Live connections logged into one vault, and as one responder: a newer
  // login past it closes that party's oldest connection (4001), so one
  // vault key cannot fill the survivor pool.
  std::size_t max_connections_per_vault = 3;
  std::size_t max_connections_per_responder = 8;
  // Largest message before login, unless the connection holds a route (then
  // max_frame_bytes, for open_case and its vault).
  std::size_t max_anonymous_frame_bytes = 32 * 1024;
  // A message, once its first bytes arrived, must be complete within this.
  std::chrono::seconds frame_deadline{15};
  // Per-connection read budget in bytes: a token bucket like frames_per_second,
  // for messages read before login.
  std::size_t read_bytes_per_second = 64 * 1024;
  std::size_t read_burst_bytes = 1024 * 1024;
  // The same, for messages read once the connection is logged in (a vault or
  // a responder). A survivor's client uploads its whole vault (up to
  // max_frame_bytes) with every message it sends and every batch it
  // receives: at 64 KiB/s a 17 KiB vault made each message of a brisk
  // conversation wait 260 ms, and a full one 4 s (docs/performance.md).
  std::size_t logged_in_read_bytes_per_second = 1024 * 1024;
  std::size_t logged_in_read_burst_bytes = 4 * 1024 * 1024;
  // Bytes held across all connections (messages being read, requests in
  // flight, write queues).
  std::size_t max_buffered_bytes = 256 * 1024 * 1024;
};

// Route proof-of-work (docs/operations.md "Proof-of-work under load"). Each
// challenge is issued to one connection for one route, its effort fixed at
// issue from the load then: from `effort` up to `max_effort`, or up to
// `danger_now_max_effort` for a danger-now route.
struct PowConfig {
  std::uint32_t effort = 20000;        // asked when the server is quiet: the floor
  std::uint32_t max_effort = 1000000;  // the ceiling load can raise it to (>= effort)
  // The ceiling for danger-now challenges, which pay more as the places only
  // they may use fill up (>= effort; absent: the larger of 4000000 and max_effort).
  std::uint32_t danger_now_max_effort = 4000000;
  // Proofs per minute the server takes as normal (accepted in the last 60 s
  // plus challenges outstanding): past it the effort doubles each time the
  // rate doubles.
  std::uint32_t proofs_per_minute = 60;
  // How long a challenge stays usable: the time a client has to solve and
  // send, and the furthest ahead a proof can be solved.
  std::chrono::seconds challenge_ttl{90};
};

// What hearthd forgets, and when (host/retention.h, docs/storage.md
// "Retention and remanence").
struct RetentionConfig {
  // A parked case (nobody ever took it, its survivor away) is deleted with
  // its vault once its survivor has been away this many days (after a
  // restart: since it arrived) and it was not written in that time.
  std::int64_t parked_case_days = 30;
};

struct Config {
  std::filesystem::path data_dir;
  std::filesystem::path database;  // default data_dir / "hearth.db"
  std::filesystem::path key_file;  // default data_dir / "master.key"
  Bytes org_root_key;              // 32 bytes, Ed25519 public
  std::filesystem::path roster_file;
  // The org's routing rules (docs/routing.md). Absent: the shipped default
  // (triage::default_rules_json()). Reloaded with the roster on SIGHUP.
  std::optional<std::filesystem::path> rules_file;
  ListenAddress listen{"127.0.0.1", 8750};
  ListenAddress metrics{"127.0.0.1", 8751};
  bool metrics_enabled = true;
  std::optional<TlsConfig> tls;
  std::size_t io_threads = 2;
  log::Level log_level = log::Level::kInfo;
  Limits limits;
  PowConfig pow;
  RetentionConfig retention;
  // web.root: the survivor's page, served on the public listener
  // (docs/operations.md "The survivor's page"). Absent: no page (404).
  std::optional<std::filesystem::path> web_root;
  // web.max_bytes_per_connection: response-body bytes one keep-alive HTTP
  // connection may take; the response that passes it is the last (Connection:
  // close). Absent: StaticSite::default_bytes_per_connection().
  std::optional<std::size_t> web_max_bytes_per_connection;
};

// Parses and validates `text`; relative paths resolve against `base_dir`.
// kInvalidArgument with "<field>: <what is wrong>" on the first bad field.
Result<Config> parse_config(std::string_view text, const std::filesystem::path& base_dir);

// Reads `path` (at most 1 MiB) and parses it. kNotFound / kUnavailable when it
// cannot be read; otherwise as parse_config.
Result<Config> load_config(const std::filesystem::path& path);

// True for 127.0.0.0/8 and ::1 (the metrics listener must be one).
bool is_loopback_address(std::string_view address);

}  // namespace hearth::server
