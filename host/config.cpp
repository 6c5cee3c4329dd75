#include "host/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "protocol/json_fields.h"

namespace hearth::server {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

// check_object refuses a field outside the allowed ones: a misspelt field
// must not silently leave its default in place.
using json_fields::check_object;
using json_fields::field_error;
using json_fields::join;

// Reads an optional object member. Ok and nullptr when absent.
Result<const json*> object_member(const json& parent, std::string_view prefix,
                                  std::string_view key) {
  auto it = parent.find(std::string(key));
  if (it == parent.end()) return static_cast<const json*>(nullptr);
  if (!it->is_object()) return field_error(join(prefix, key), "must be an object");
  return &*it;
}

// Integer field in [lo, hi]; `out` keeps its default when absent.
template <typename T>
Status read_int(const json& parent, std::string_view prefix, std::string_view key, T& out,
                std::uint64_t lo, std::uint64_t hi) {
  auto it = parent.find(std::string(key));
  if (it == parent.end()) return Status::ok();
  std::string name = join(prefix, key);
  std::string range = "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (!it->is_number_integer()) return field_error(name, "must be an integer; " + range);
  if (it->is_number_unsigned()) {
    auto v = it->get<std::uint64_t>();
    if (v < lo || v > hi) return field_error(name, range);
    out = static_cast<T>(v);
    return Status::ok();
  }
  auto v = it->get<std::int64_t>();
  if (v < 0 || static_cast<std::uint64_t>(v) < lo || static_cast<std::uint64_t>(v) > hi)
    return field_error(name, range);
  out = static_cast<T>(v);
  return Status::ok();
}

Status read_seconds(const json& parent, std::string_view prefix, std::string_view key,
                    std::chrono::seconds& out, std::uint64_t lo, std::uint64_t hi) {
  std::int64_t v = out.count();
  HEARTH_TRY(read_int(parent, prefix, key, v, lo, hi));
  out = std::chrono::seconds(v);
  return Status::ok();
}

Result<std::optional<std::string>> read_string(const json& parent, std::string_view prefix,
                                               std::string_view key) {
  auto it = parent.find(std::string(key));
  if (it == parent.end()) return std::optional<std::string>();
  if (!it->is_string()) return field_error(join(prefix, key), "must be a string");
  auto s = it->get<std::string>();
  if (s.empty()) return field_error(join(prefix, key), "must not be empty");
  return std::optional<std::string>(std::move(s));
}

Status read_bool(const json& parent, std::string_view prefix, std::string_view key, bool& out) {
  auto it = parent.find(std::string(key));
  if (it == parent.end()) return Status::ok();
  if (!it->is_boolean()) return field_error(join(prefix, key), "must be true or false");
  out = it->get<bool>();
  return Status::ok();
}

Result<std::optional<std::filesystem::path>> read_path(const json& parent, std::string_view prefix,
                                                       std::string_view key,
                                                       const std::filesystem::path& base_dir) {
  HEARTH_ASSIGN_OR_RETURN(auto s, read_string(parent, prefix, key));
  if (!s) return std::optional<std::filesystem::path>();
  if (s->find('\0') != std::string::npos) return field_error(join(prefix, key), "bad path");
  std::filesystem::path p(*s);
  if (p.is_relative()) p = base_dir / p;
  return std::optional<std::filesystem::path>(p.lexically_normal());
}

bool is_ip_literal(const std::string& address) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, address.c_str(), &v4) == 1 ||
         inet_pton(AF_INET6, address.c_str(), &v6) == 1;
}

Status read_listen_address(const json& parent, std::string_view key, ListenAddress& out,
                           bool loopback_only, bool* enabled) {
  HEARTH_ASSIGN_OR_RETURN(const json* obj, object_member(parent, "", key));
  if (obj == nullptr) return Status::ok();
  if (enabled != nullptr) {
    HEARTH_TRY(check_object(*obj, key, {"address", "port", "enabled"}));
    HEARTH_TRY(read_bool(*obj, key, "enabled", *enabled));
  } else {
    HEARTH_TRY(check_object(*obj, key, {"address", "port"}));
  }
  HEARTH_ASSIGN_OR_RETURN(auto address, read_string(*obj, key, "address"));
  if (address) {
    if (!is_ip_literal(*address))
      return field_error(join(key, "address"), "must be an IPv4 or IPv6 address literal");
    if (loopback_only && !is_loopback_address(*address))
      return field_error(join(key, "address"),
                         "must be a loopback address (127.0.0.0/8 or ::1): metrics are not public");
    out.address = *address;
  }
  HEARTH_TRY(read_int(*obj, key, "port", out.port, 0, 65535));
  return Status::ok();
}

Status read_limits(const json& root, Limits& l) {
  HEARTH_ASSIGN_OR_RETURN(const json* obj, object_member(root, "", "limits"));
  if (obj == nullptr) return Status::ok();
  const json& o = *obj;
  const char* p = "limits";
  HEARTH_TRY(check_object(o, p,
                          {"max_frame_bytes",
                           "frames_per_second",
                           "frame_burst",
                           "write_queue_frames",
                           "write_queue_bytes",
                           "handshake_timeout_seconds",
                           "idle_timeout_seconds",
                           "max_connections",
                           "max_open_cases_per_vault",
                           "max_pending_per_mailbox",
                           "undelivered_retention_days",
                           "route_ttl_seconds",
                           "max_routes_per_connection",
                           "max_waiting_cases",
                           "danger_now_reserved_percent",
                           "park_away_after_seconds",
                           "write_stall_timeout_seconds",
                           "login_failures_per_connection",
                           "failed_logins_per_second",
                           "failed_login_burst",
                           "repeat_failed_logins_per_second",
                           "repeat_failed_login_burst",
                           "max_handshakes",
                           "max_anonymous_connections",
                           "reserved_responder_connections",
                           "anonymous_lifetime_seconds",
                           "anonymous_protection_seconds",
                           "max_protected_anonymous",
                           "max_connections_per_vault",
                           "max_connections_per_responder",
                           "max_anonymous_frame_bytes",
                           "frame_deadline_seconds",
                           "read_bytes_per_second",
                           "read_burst_bytes",
                           "logged_in_read_bytes_per_second",
                           "logged_in_read_burst_bytes",
                           "max_buffered_bytes"}));
  HEARTH_TRY(read_int(o, p, "max_frame_bytes", l.max_frame_bytes, 1024, 16 * 1024 * 1024));
  HEARTH_TRY(read_int(o, p, "frames_per_second", l.frames_per_second, 1, 10000));
  HEARTH_TRY(read_int(o, p, "frame_burst", l.frame_burst, 1, 100000));
  HEARTH_TRY(read_int(o, p, "write_queue_frames", l.write_queue_frames, 4, 100000));
  HEARTH_TRY(
      read_int(o, p, "write_queue_bytes", l.write_queue_bytes, 64 * 1024, 1024ULL * 1024 * 1024));
  HEARTH_TRY(read_seconds(o, p, "handshake_timeout_seconds", l.handshake_timeout, 1, 300));
  HEARTH_TRY(read_seconds(o, p, "idle_timeout_seconds", l.idle_timeout, 5, 86400));
  HEARTH_TRY(read_int(o, p, "max_connections", l.max_connections, 1, 1000000));
  HEARTH_TRY(read_int(o, p, "max_open_cases_per_vault", l.max_open_cases_per_vault, 1, 64));
  HEARTH_TRY(read_int(o, p, "max_pending_per_mailbox", l.max_pending_per_mailbox, 1, 1000000));
  HEARTH_TRY(read_int(o, p, "undelivered_retention_days", l.undelivered_retention_days, 1, 3650));
  HEARTH_TRY(read_seconds(o, p, "route_ttl_seconds", l.route_ttl, 10, 86400));
  HEARTH_TRY(read_int(o, p, "max_routes_per_connection", l.max_routes_per_connection, 1, 64));
  HEARTH_TRY(read_int(o, p, "max_waiting_cases", l.max_waiting_cases, 1, 100000));
  HEARTH_TRY(read_int(o, p, "danger_now_reserved_percent", l.danger_now_reserved_percent, 0, 50));
  HEARTH_TRY(read_seconds(o, p, "park_away_after_seconds", l.park_away_after, 1, 30 * 86400));
  HEARTH_TRY(read_seconds(o, p, "write_stall_timeout_seconds", l.write_stall_timeout, 1, 3600));
  HEARTH_TRY(
      read_int(o, p, "login_failures_per_connection", l.login_failures_per_connection, 1, 100));
  HEARTH_TRY(read_int(o, p, "failed_logins_per_second", l.failed_logins_per_second, 1, 100000));
  HEARTH_TRY(read_int(o, p, "failed_login_burst", l.failed_login_burst, 1, 1000000));
  HEARTH_TRY(read_int(o, p, "repeat_failed_logins_per_second", l.repeat_failed_logins_per_second, 1,
                      100000));
  HEARTH_TRY(read_int(o, p, "repeat_failed_login_burst", l.repeat_failed_login_burst, 1, 1000000));
  HEARTH_TRY(read_int(o, p, "max_handshakes", l.max_handshakes, 1, 100000));
  HEARTH_TRY(read_int(o, p, "max_anonymous_connections", l.max_anonymous_connections, 1, 1000000));
  HEARTH_TRY(read_int(o, p, "reserved_responder_connections", l.reserved_responder_connections, 0,
                      1000000));
  HEARTH_TRY(read_seconds(o, p, "anonymous_lifetime_seconds", l.anonymous_lifetime, 5, 86400));
  HEARTH_TRY(read_seconds(o, p, "anonymous_protection_seconds", l.anonymous_protection, 1, 3600));
  HEARTH_TRY(read_int(o, p, "max_protected_anonymous", l.max_protected_anonymous, 0, 1000000));
  HEARTH_TRY(read_int(o, p, "max_connections_per_vault", l.max_connections_per_vault, 1, 1000));
  HEARTH_TRY(
      read_int(o, p, "max_connections_per_responder", l.max_connections_per_responder, 1, 1000));
  HEARTH_TRY(read_int(o, p, "max_anonymous_frame_bytes", l.max_anonymous_frame_bytes, 1024,
                      16 * 1024 * 1024));
  HEARTH_TRY(read_seconds(o, p, "frame_deadline_seconds", l.frame_deadline, 1, 3600));
  HEARTH_TRY(read_int(o, p, "read_bytes_per_second", l.read_bytes_per_second, 1024,
                      1024ULL * 1024 * 1024));
  HEARTH_TRY(read_int(o, p, "read_burst_bytes", l.read_burst_bytes, 1024, 1024ULL * 1024 * 1024));
  HEARTH_TRY(read_int(o, p, "logged_in_read_bytes_per_second", l.logged_in_read_bytes_per_second,
                      1024, 1024ULL * 1024 * 1024));
  HEARTH_TRY(read_int(o, p, "logged_in_read_burst_bytes", l.logged_in_read_burst_bytes, 1024,
                      1024ULL * 1024 * 1024));
  HEARTH_TRY(read_int(o, p, "max_buffered_bytes", l.max_buffered_bytes, 1024 * 1024,
                      1024ULL * 1024 * 1024 * 1024));
  return Status::ok();
}

Status read_pow(const json& root, PowConfig& pow) {
  HEARTH_ASSIGN_OR_RETURN(const json* obj, object_member(root, "", "pow"));
  if (obj == nullptr) return Status::ok();
  const char* p = "pow";
  HEARTH_TRY(check_object(*obj, p,
                          {"effort", "max_effort", "danger_now_max_effort", "proofs_per_minute",
                           "challenge_ttl_seconds"}));
  constexpr std::uint64_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();
  HEARTH_TRY(read_int(*obj, p, "effort", pow.effort, 1, kMaxU32));
  // Absent, the ceiling is at least the floor: a config that only raises
  // `effort` (as older configs do) stays valid.
  pow.max_effort = std::max(pow.max_effort, pow.effort);
  if (obj->contains("max_effort")) {
    HEARTH_TRY(read_int(*obj, p, "max_effort", pow.max_effort, 1, kMaxU32));
    if (pow.max_effort < pow.effort)
      return field_error("pow.max_effort", "must be at least pow.effort");
  }
  pow.danger_now_max_effort = std::max(pow.danger_now_max_effort, pow.max_effort);
  if (obj->contains("danger_now_max_effort")) {
    HEARTH_TRY(read_int(*obj, p, "danger_now_max_effort", pow.danger_now_max_effort, 1, kMaxU32));
    if (pow.danger_now_max_effort < pow.effort)
      return field_error("pow.danger_now_max_effort", "must be at least pow.effort");
  }
  HEARTH_TRY(read_int(*obj, p, "proofs_per_minute", pow.proofs_per_minute, 1, 1000000));
  HEARTH_TRY(read_seconds(*obj, p, "challenge_ttl_seconds", pow.challenge_ttl, 10, 600));
  return Status::ok();
}

Status read_retention(const json& root, RetentionConfig& r) {
  HEARTH_ASSIGN_OR_RETURN(const json* obj, object_member(root, "", "retention"));
  if (obj == nullptr) return Status::ok();
  const char* p = "retention";
  HEARTH_TRY(check_object(*obj, p, {"parked_case_days"}));
  HEARTH_TRY(read_int(*obj, p, "parked_case_days", r.parked_case_days, 1, 3650));
  return Status::ok();
}

Status read_tls(const json& root, const std::filesystem::path& base_dir,
                std::optional<TlsConfig>& out) {
  HEARTH_ASSIGN_OR_RETURN(const json* obj, object_member(root, "", "tls"));
  if (obj == nullptr) return Status::ok();
  HEARTH_TRY(check_object(*obj, "tls", {"certificate", "private_key"}));
  HEARTH_ASSIGN_OR_RETURN(auto cert, read_path(*obj, "tls", "certificate", base_dir));
  if (!cert) return field_error("tls.certificate", "required when tls is given");
  HEARTH_ASSIGN_OR_RETURN(auto key, read_path(*obj, "tls", "private_key", base_dir));
  if (!key) return field_error("tls.private_key", "required when tls is given");
  out = TlsConfig{*cert, *key};
  return Status::ok();
}

Status read_web(const json& root, const std::filesystem::path& base_dir,
                std::optional<std::filesystem::path>& out,
                std::optional<std::size_t>& max_bytes_per_connection) {
  HEARTH_ASSIGN_OR_RETURN(const json* obj, object_member(root, "", "web"));
  if (obj == nullptr) return Status::ok();
  HEARTH_TRY(check_object(*obj, "web", {"root", "max_bytes_per_connection"}));
  HEARTH_ASSIGN_OR_RETURN(out, read_path(*obj, "web", "root", base_dir));
  if (!out) return field_error("web.root", "required when web is given");
  if (obj->contains("max_bytes_per_connection")) {
    std::size_t bytes = 0;
    HEARTH_TRY(
        read_int(*obj, "web", "max_bytes_per_connection", bytes, 64 * 1024, 1024ULL * 1024 * 1024));
    max_bytes_per_connection = bytes;
  }
  return Status::ok();
}

}  // namespace

bool is_loopback_address(std::string_view address) {
  std::string a(address);
  in_addr v4{};
  if (inet_pton(AF_INET, a.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
    static const in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
    return std::equal(std::begin(v6.s6_addr), std::end(v6.s6_addr), std::begin(loopback.s6_addr));
  }
  return false;
}

Result<Config> parse_config(std::string_view text, const std::filesystem::path& base_dir) {
  HEARTH_ASSIGN_OR_RETURN(const json root, json_fields::parse(text, "config"));
  if (!root.is_object()) return error(Code::kInvalidArgument, "config: must be a JSON object");
  HEARTH_TRY(check_object(
      root, "",
      {"data_dir", "database", "key_file", "org_root_key", "roster_file", "rules_file", "listen",
       "metrics", "tls", "io_threads", "log_level", "limits", "pow", "web", "retention"}));
  Config c;

  HEARTH_ASSIGN_OR_RETURN(auto data_dir, read_path(root, "", "data_dir", base_dir));
  if (!data_dir) return field_error("data_dir", "required");
  c.data_dir = *data_dir;
  HEARTH_ASSIGN_OR_RETURN(auto database, read_path(root, "", "database", base_dir));
  c.database = database ? *database : c.data_dir / "hearth.db";
  HEARTH_ASSIGN_OR_RETURN(auto key_file, read_path(root, "", "key_file", base_dir));
  c.key_file = key_file ? *key_file : c.data_dir / "master.key";

  HEARTH_ASSIGN_OR_RETURN(auto root_key, read_string(root, "", "org_root_key"));
  if (!root_key) return field_error("org_root_key", "required");
  auto key_bytes = from_hex(*root_key);
  if (!key_bytes || key_bytes->size() != 32)
    return field_error("org_root_key", "must be 64 hex digits (the Ed25519 org root public key)");
  c.org_root_key = *key_bytes;

  HEARTH_ASSIGN_OR_RETURN(auto roster, read_path(root, "", "roster_file", base_dir));
  if (!roster) return field_error("roster_file", "required");
  c.roster_file = *roster;
  HEARTH_ASSIGN_OR_RETURN(c.rules_file, read_path(root, "", "rules_file", base_dir));

  HEARTH_TRY(read_listen_address(root, "listen", c.listen, /*loopback_only=*/false, nullptr));
  HEARTH_TRY(
      read_listen_address(root, "metrics", c.metrics, /*loopback_only=*/true, &c.metrics_enabled));
  HEARTH_TRY(read_tls(root, base_dir, c.tls));
  HEARTH_TRY(read_int(root, "", "io_threads", c.io_threads, 1, 64));
  HEARTH_ASSIGN_OR_RETURN(auto level, read_string(root, "", "log_level"));
  if (level) {
    auto parsed = log::parse_level(*level);
    if (!parsed) return field_error("log_level", "must be one of debug, info, warn, error");
    c.log_level = *parsed;
  }
  HEARTH_TRY(read_limits(root, c.limits));
  HEARTH_TRY(read_pow(root, c.pow));
  HEARTH_TRY(read_retention(root, c.retention));
  HEARTH_TRY(read_web(root, base_dir, c.web_root, c.web_max_bytes_per_connection));
  if (c.limits.write_queue_bytes < c.limits.max_frame_bytes)
    return field_error("limits.write_queue_bytes", "must be at least limits.max_frame_bytes");
  if (c.metrics_enabled && c.metrics.port != 0 && c.metrics.port == c.listen.port &&
      c.metrics.address == c.listen.address)
    return field_error("metrics.port", "must differ from listen.port");
  return c;
}

Result<Config> load_config(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return error(Code::kNotFound, "config file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kUnavailable, "config file cannot be read");
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) return error(Code::kLimitExceeded, "config file over 1 MiB");
  std::filesystem::path base = std::filesystem::absolute(path, ec).parent_path();
  return parse_config(text, base);
}

}  // namespace hearth::server
