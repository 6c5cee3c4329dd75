// hearthd's config: defaults, a full good file, and one message per bad field.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "host/config.h"
#include "tests/support/test_support.h"

namespace hearth::server {
namespace {

const std::string kKey(64, 'a');

std::string minimal(const std::string& extra = "") {
  return R"({"data_dir":"data","org_root_key":")" + kKey + R"(","roster_file":"roster.bin")" +
         extra + "}";
}

// The message for `extra` added to a minimal config (the test fails if it parses).
std::string message_for(const std::string& extra) {
  auto c = parse_config(minimal(extra), "/etc/hearth");
  REQUIRE(!c.is_ok());
  CHECK(c.status().code() == Code::kInvalidArgument);
  return c.status().message();
}

TEST_CASE("a minimal config gets every default", "[host]") {
  auto c = parse_config(minimal(), "/etc/hearth");
  REQUIRE(c.is_ok());
  CHECK(c->data_dir == "/etc/hearth/data");
  CHECK(c->database == "/etc/hearth/data/hearth.db");
  CHECK(c->key_file == "/etc/hearth/data/master.key");
  CHECK(c->roster_file == "/etc/hearth/roster.bin");
  CHECK(c->org_root_key == Bytes(32, 0xaa));
  CHECK(c->listen.address == "127.0.0.1");
  CHECK(c->listen.port == 8750);
  CHECK(c->metrics.address == "127.0.0.1");
  CHECK(c->metrics.port == 8751);
  CHECK(c->metrics_enabled);
  CHECK(!c->tls.has_value());
  CHECK(c->io_threads == 2);
  CHECK(c->log_level == log::Level::kInfo);
  CHECK(c->limits.max_frame_bytes == 256 * 1024);
  CHECK(c->limits.frames_per_second == 20);
  CHECK(c->limits.frame_burst == 40);
  CHECK(c->limits.write_queue_frames == 64);
  CHECK(c->limits.write_queue_bytes == 2 * 1024 * 1024);
  CHECK(c->limits.handshake_timeout == std::chrono::seconds(5));
  CHECK(c->limits.idle_timeout == std::chrono::seconds(300));
  CHECK(c->limits.max_connections == 1000);
  CHECK(c->limits.max_open_cases_per_vault == 3);
  CHECK(c->limits.max_pending_per_mailbox == 1000);
  CHECK(c->limits.undelivered_retention_days == 30);
  CHECK(c->limits.route_ttl == std::chrono::seconds(600));
  CHECK(c->limits.max_routes_per_connection == 4);
  CHECK(c->limits.max_waiting_cases == 10000);  // docs/performance.md, "Triage"
  CHECK(c->limits.danger_now_reserved_percent == 10);
  CHECK(c->limits.park_away_after == std::chrono::seconds(3600));
  CHECK(c->limits.max_handshakes == 128);
  CHECK(c->limits.max_anonymous_connections == 500);
  CHECK(c->limits.reserved_responder_connections == 100);
  CHECK(c->limits.anonymous_lifetime == std::chrono::seconds(120));
  CHECK(c->limits.max_anonymous_frame_bytes == 32 * 1024);
  CHECK(c->limits.frame_deadline == std::chrono::seconds(15));
  CHECK(c->limits.read_bytes_per_second == 64 * 1024);
  CHECK(c->limits.read_burst_bytes == 1024 * 1024);
  CHECK(c->limits.logged_in_read_bytes_per_second == 1024 * 1024);
  CHECK(c->limits.logged_in_read_burst_bytes == 4 * 1024 * 1024);
  CHECK(c->limits.max_buffered_bytes == 256 * 1024 * 1024);
  CHECK(c->pow.effort == 20000);
  CHECK(c->pow.max_effort == 1000000);
  CHECK(c->pow.proofs_per_minute == 60);
  CHECK(c->pow.danger_now_max_effort == 4000000);
  CHECK(c->pow.challenge_ttl == std::chrono::seconds(90));
}

TEST_CASE("a full config file loads, paths relative to its directory", "[host]") {
  test::TempDir dir;
  std::string text = R"({
    "data_dir": "/var/lib/hearth", "database": "db/h.db", "key_file": "/keys/master.key",
    "org_root_key": ")" +
                     kKey + R"(", "roster_file": "roster.bin",
    "listen": {"address": "::", "port": 0},
    "metrics": {"address": "::1", "port": 9100, "enabled": false},
    "tls": {"certificate": "tls/cert.pem", "private_key": "tls/key.pem"},
    "io_threads": 4, "log_level": "debug",
    "limits": {"max_frame_bytes": 65536, "frames_per_second": 5, "frame_burst": 10,
               "write_queue_frames": 16, "write_queue_bytes": 1048576,
               "handshake_timeout_seconds": 3, "idle_timeout_seconds": 60,
               "max_connections": 10, "max_open_cases_per_vault": 1,
               "max_pending_per_mailbox": 50, "undelivered_retention_days": 7,
               "route_ttl_seconds": 60, "max_routes_per_connection": 2,
               "max_handshakes": 16, "max_anonymous_connections": 8,
               "reserved_responder_connections": 2, "anonymous_lifetime_seconds": 30,
               "anonymous_protection_seconds": 7, "max_protected_anonymous": 3,
               "max_connections_per_vault": 2, "max_connections_per_responder": 5,
               "max_anonymous_frame_bytes": 4096, "frame_deadline_seconds": 4,
               "read_bytes_per_second": 2048, "read_burst_bytes": 8192,
               "logged_in_read_bytes_per_second": 4096, "logged_in_read_burst_bytes": 16384,
               "max_buffered_bytes": 2097152},
    "pow": {"effort": 1, "challenge_ttl_seconds": 600, "max_effort": 64,
            "danger_now_max_effort": 128, "proofs_per_minute": 5}
  })";
  std::ofstream(dir.path() / "hearthd.json") << text;
  auto c = load_config(dir.path() / "hearthd.json");
  REQUIRE(c.is_ok());
  CHECK(c->data_dir == "/var/lib/hearth");
  CHECK(c->database == dir.path() / "db/h.db");
  CHECK(c->key_file == "/keys/master.key");
  CHECK(c->roster_file == dir.path() / "roster.bin");
  CHECK(c->listen.address == "::");
  CHECK(c->listen.port == 0);
  CHECK(c->metrics.address == "::1");
  CHECK(c->metrics.port == 9100);
  CHECK(!c->metrics_enabled);
  REQUIRE(c->tls.has_value());
  CHECK(c->tls->certificate == dir.path() / "tls/cert.pem");
  CHECK(c->tls->private_key == dir.path() / "tls/key.pem");
  CHECK(c->io_threads == 4);
  CHECK(c->log_level == log::Level::kDebug);
  CHECK(c->limits.max_frame_bytes == 65536);
  CHECK(c->limits.frames_per_second == 5);
  CHECK(c->limits.frame_burst == 10);
  CHECK(c->limits.write_queue_frames == 16);
  CHECK(c->limits.write_queue_bytes == 1048576);
  CHECK(c->limits.handshake_timeout == std::chrono::seconds(3));
  CHECK(c->limits.idle_timeout == std::chrono::seconds(60));
  CHECK(c->limits.max_connections == 10);
  CHECK(c->limits.max_open_cases_per_vault == 1);
  CHECK(c->limits.max_pending_per_mailbox == 50);
  CHECK(c->limits.undelivered_retention_days == 7);
  CHECK(c->limits.route_ttl == std::chrono::seconds(60));
  CHECK(c->limits.max_routes_per_connection == 2);
  CHECK(c->limits.max_handshakes == 16);
  CHECK(c->limits.max_anonymous_connections == 8);
  CHECK(c->limits.reserved_responder_connections == 2);
  CHECK(c->limits.anonymous_lifetime == std::chrono::seconds(30));
  CHECK(c->limits.anonymous_protection == std::chrono::seconds(7));
  CHECK(c->limits.max_protected_anonymous == 3);
  CHECK(c->limits.max_connections_per_vault == 2);
  CHECK(c->limits.max_connections_per_responder == 5);
  CHECK(c->limits.max_anonymous_frame_bytes == 4096);
  CHECK(c->limits.frame_deadline == std::chrono::seconds(4));
  CHECK(c->limits.read_bytes_per_second == 2048);
  CHECK(c->limits.read_burst_bytes == 8192);
  CHECK(c->limits.logged_in_read_bytes_per_second == 4096);
  CHECK(c->limits.logged_in_read_burst_bytes == 16384);
  CHECK(c->limits.max_buffered_bytes == 2097152);
  CHECK(c->pow.effort == 1);
  CHECK(c->pow.challenge_ttl == std::chrono::seconds(600));
  CHECK(c->pow.max_effort == 64);
  CHECK(c->pow.proofs_per_minute == 5);
  CHECK(c->pow.danger_now_max_effort == 128);
}

TEST_CASE("every bad field is refused with a message naming it", "[host]") {
  CHECK(message_for(R"(,"limits":{"max_frame_bytes":100})") ==
        "limits.max_frame_bytes: must be between 1024 and 16777216");
  CHECK(message_for(R"(,"limits":{"max_frame_bytes":"big"})") ==
        "limits.max_frame_bytes: must be an integer; must be between 1024 and 16777216");
  CHECK(
      message_for(R"(,"limits":{"frames_per_second":0})").rfind("limits.frames_per_second: ", 0) ==
      0);
  CHECK(message_for(R"(,"limits":{"frame_burst":-1})").rfind("limits.frame_burst: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"write_queue_frames":1.5})")
            .rfind("limits.write_queue_frames: ", 0) == 0);
  CHECK(
      message_for(R"(,"limits":{"write_queue_bytes":1})").rfind("limits.write_queue_bytes: ", 0) ==
      0);
  CHECK(message_for(R"(,"limits":{"handshake_timeout_seconds":0})")
            .rfind("limits.handshake_timeout_seconds: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"idle_timeout_seconds":999999})")
            .rfind("limits.idle_timeout_seconds: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"max_connections":0})").rfind("limits.max_connections: ", 0) ==
        0);
  CHECK(message_for(R"(,"limits":{"max_open_cases_per_vault":65})")
            .rfind("limits.max_open_cases_per_vault: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"max_pending_per_mailbox":0})")
            .rfind("limits.max_pending_per_mailbox: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"undelivered_retention_days":0})")
            .rfind("limits.undelivered_retention_days: ", 0) == 0);
  CHECK(
      message_for(R"(,"limits":{"route_ttl_seconds":1})").rfind("limits.route_ttl_seconds: ", 0) ==
      0);
  CHECK(message_for(R"(,"limits":{"max_routes_per_connection":0})")
            .rfind("limits.max_routes_per_connection: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"danger_now_reserved_percent":51})") ==
        "limits.danger_now_reserved_percent: must be between 0 and 50");
  CHECK(message_for(R"(,"limits":{"park_away_after_seconds":0})") ==
        "limits.park_away_after_seconds: must be between 1 and 2592000");
  CHECK(message_for(R"(,"limits":{"max_frame_bytes":1048576,"write_queue_bytes":65536})") ==
        "limits.write_queue_bytes: must be at least limits.max_frame_bytes");
  CHECK(message_for(R"(,"limits":{"typo":1})") == "limits.typo: unknown field");
  CHECK(message_for(R"(,"limits":[])") == "limits: must be an object");
  CHECK(message_for(R"(,"pow":{"effort":0})").rfind("pow.effort: ", 0) == 0);
  CHECK(message_for(R"(,"pow":{"effort":4294967296})").rfind("pow.effort: ", 0) == 0);
  CHECK(message_for(R"(,"pow":{"challenge_ttl_seconds":9})")
            .rfind("pow.challenge_ttl_seconds: ", 0) == 0);
  CHECK(message_for(R"(,"pow":{"challenge_ttl_seconds":601})")
            .rfind("pow.challenge_ttl_seconds: ", 0) == 0);
  CHECK(message_for(R"(,"pow":{"effort":100,"danger_now_max_effort":99})") ==
        "pow.danger_now_max_effort: must be at least pow.effort");
  // The keys of the shared-seed design are gone: a config naming one fails loudly.
  CHECK(message_for(R"(,"pow":{"replay_budget":16})") == "pow.replay_budget: unknown field");
  CHECK(message_for(R"(,"pow":{"effort":100,"max_effort":99})") ==
        "pow.max_effort: must be at least pow.effort");
  CHECK(message_for(R"(,"pow":{"max_effort":0})").rfind("pow.max_effort: ", 0) == 0);
  CHECK(message_for(R"(,"pow":{"proofs_per_minute":0})").rfind("pow.proofs_per_minute: ", 0) == 0);
  CHECK(message_for(R"(,"pow":{"typo":1})") == "pow.typo: unknown field");
  CHECK(message_for(R"(,"listen":{"address":"localhost"})") ==
        "listen.address: must be an IPv4 or IPv6 address literal");
  CHECK(message_for(R"(,"listen":{"port":65536})") == "listen.port: must be between 0 and 65535");
  CHECK(message_for(R"(,"listen":{"enabled":true})") == "listen.enabled: unknown field");
  CHECK(message_for(R"(,"metrics":{"address":"0.0.0.0"})")
            .rfind("metrics.address: must be a loopback address", 0) == 0);
  CHECK(message_for(R"(,"metrics":{"address":"10.0.0.1"})")
            .rfind("metrics.address: must be a loopback address", 0) == 0);
  CHECK(message_for(R"(,"metrics":{"enabled":"yes"})") == "metrics.enabled: must be true or false");
  CHECK(message_for(R"(,"metrics":{"port":8750})") == "metrics.port: must differ from listen.port");
  CHECK(message_for(R"(,"tls":{"certificate":"c.pem"})") ==
        "tls.private_key: required when tls is given");
  CHECK(message_for(R"(,"tls":{"private_key":"k.pem"})") ==
        "tls.certificate: required when tls is given");
  CHECK(message_for(R"(,"io_threads":0)") == "io_threads: must be between 1 and 64");
  CHECK(message_for(R"(,"log_level":"loud")") ==
        "log_level: must be one of debug, info, warn, error");
  CHECK(message_for(R"(,"database":5)") == "database: must be a string");
  CHECK(message_for(R"(,"key_file":"")") == "key_file: must not be empty");
  CHECK(message_for(R"(,"colour":"blue")") == "colour: unknown field");
}

TEST_CASE("pow.max_effort follows a raised pow.effort when absent", "[host]") {
  auto c = parse_config(minimal(R"(,"pow":{"effort":3000000})"), "/etc/hearth");
  REQUIRE(c.is_ok());
  CHECK(c->pow.effort == 3000000);
  CHECK(c->pow.max_effort == 3000000);
  CHECK(c->pow.danger_now_max_effort == 4000000);
  auto e = parse_config(minimal(R"(,"pow":{"max_effort":5000000})"), "/etc/hearth");
  REQUIRE(e.is_ok());
  CHECK(e->pow.danger_now_max_effort == 5000000);
  auto d = parse_config(minimal(R"(,"pow":{"effort":5,"max_effort":5})"), "/etc/hearth");
  REQUIRE(d.is_ok());
  CHECK(d->pow.max_effort == 5);
}

TEST_CASE("required fields and the root key are checked", "[host]") {
  auto msg = [](const std::string& text) {
    auto c = parse_config(text, "/x");
    REQUIRE(!c.is_ok());
    return c.status().message();
  };
  CHECK(msg(R"({"org_root_key":")" + kKey + R"(","roster_file":"r"})") == "data_dir: required");
  CHECK(msg(R"({"data_dir":"d","roster_file":"r"})") == "org_root_key: required");
  CHECK(msg(R"({"data_dir":"d","org_root_key":")" + kKey + R"("})") == "roster_file: required");
  CHECK(msg(R"({"data_dir":"d","org_root_key":"abcd","roster_file":"r"})") ==
        "org_root_key: must be 64 hex digits (the Ed25519 org root public key)");
  CHECK(msg(R"({"data_dir":"d","org_root_key":")" + std::string(64, 'z') +
            R"(","roster_file":"r"})") ==
        "org_root_key: must be 64 hex digits (the Ed25519 org root public key)");
  CHECK(msg("not json") == "config: not valid JSON");
  CHECK(msg("[1,2]") == "config: must be a JSON object");
}

TEST_CASE("a missing config file is kNotFound", "[host]") {
  test::TempDir dir;
  CHECK(load_config(dir.path() / "nope.json").status().code() == Code::kNotFound);
}

TEST_CASE("loopback addresses", "[host]") {
  CHECK(is_loopback_address("127.0.0.1"));
  CHECK(is_loopback_address("127.3.4.5"));
  CHECK(is_loopback_address("::1"));
  CHECK(!is_loopback_address("0.0.0.0"));
  CHECK(!is_loopback_address("::"));
  CHECK(!is_loopback_address("192.168.1.1"));
  CHECK(!is_loopback_address("localhost"));
}

TEST_CASE("the write-stall and failed-login limits: defaults, values and bounds", "[host]") {
  auto d = parse_config(minimal(), "/etc/hearth");
  REQUIRE(d.is_ok());
  CHECK(d->limits.write_stall_timeout == std::chrono::seconds(60));
  CHECK(d->limits.login_failures_per_connection == 3);
  CHECK(d->limits.failed_logins_per_second == 300);
  CHECK(d->limits.failed_login_burst == 600);
  CHECK(d->limits.repeat_failed_logins_per_second == 50);
  CHECK(d->limits.repeat_failed_login_burst == 100);
  auto c = parse_config(minimal(R"(,"limits":{"write_stall_timeout_seconds":5,
      "login_failures_per_connection":1,"failed_logins_per_second":7,"failed_login_burst":9,
      "repeat_failed_logins_per_second":2,"repeat_failed_login_burst":3})"),
                        "/etc/hearth");
  REQUIRE(c.is_ok());
  CHECK(c->limits.write_stall_timeout == std::chrono::seconds(5));
  CHECK(c->limits.login_failures_per_connection == 1);
  CHECK(c->limits.failed_logins_per_second == 7);
  CHECK(c->limits.failed_login_burst == 9);
  CHECK(c->limits.repeat_failed_logins_per_second == 2);
  CHECK(c->limits.repeat_failed_login_burst == 3);
  CHECK(message_for(R"(,"limits":{"write_stall_timeout_seconds":0})")
            .rfind("limits.write_stall_timeout_seconds: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"login_failures_per_connection":0})")
            .rfind("limits.login_failures_per_connection: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"failed_logins_per_second":0})")
            .rfind("limits.failed_logins_per_second: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"failed_login_burst":0})")
            .rfind("limits.failed_login_burst: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"repeat_failed_logins_per_second":0})")
            .rfind("limits.repeat_failed_logins_per_second: ", 0) == 0);
  CHECK(message_for(R"(,"limits":{"repeat_failed_login_burst":0})")
            .rfind("limits.repeat_failed_login_burst: ", 0) == 0);
}

}  // namespace
}  // namespace hearth::server
