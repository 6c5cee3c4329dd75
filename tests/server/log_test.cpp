// The structured logger: JSON lines, fixed key order, levels filter.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"

namespace hearth::log {
namespace {

TEST_CASE("a log line is one JSON object with time, level, event and fields", "[server]") {
  ManualClock clock(1795600800);  // 2026-11-25T10:00:00Z
  std::vector<std::string> lines;
  Logger logger(
      Level::kInfo, [&](std::string_view line) { lines.emplace_back(line); }, &clock);
  logger.info("listening", {{"port", 8750}});
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "{\"t\":\"2026-11-25T10:00:00Z\",\"level\":\"info\",\"event\":\"listening\","
        "\"port\":8750}\n");
}

TEST_CASE("fields take literals, integers, durations, booleans and a Status", "[server]") {
  ManualClock clock(0);
  std::vector<std::string> lines;
  Logger logger(
      Level::kDebug, [&](std::string_view line) { lines.emplace_back(line); }, &clock);
  Status st = error(Code::kUnavailable, "disk \"full\"\n");
  logger.warn("storage_error", {{"reason", "commit"},
                                {"count", std::uint64_t{18446744073709551615ULL}},
                                {"delta", -3},
                                {"took", std::chrono::microseconds(1500)},
                                {"tls", true},
                                {"status", st}});
  REQUIRE(lines.size() == 1);
  auto j = nlohmann::json::parse(lines[0]);
  CHECK(j["t"] == "1970-01-01T00:00:00Z");
  CHECK(j["level"] == "warn");
  CHECK(j["event"] == "storage_error");
  CHECK(j["reason"] == "commit");
  CHECK(j["count"].get<std::uint64_t>() == 18446744073709551615ULL);
  CHECK(j["delta"] == -3);
  CHECK(j["took"].get<double>() == Approx(1.5));
  CHECK(j["tls"] == true);
  CHECK(j["status"]["code"] == "unavailable");
  // The message's quote and newline are escaped: one line, valid JSON.
  CHECK(j["status"]["message"] == "disk \"full\"\n");
  CHECK(lines[0].find('\n') == lines[0].size() - 1);
}

TEST_CASE("a public digest is written as 64 hex digits", "[server]") {
  ManualClock clock(0);
  std::vector<std::string> lines;
  Logger logger(
      Level::kInfo, [&](std::string_view line) { lines.emplace_back(line); }, &clock);
  PublicDigest digest{};
  digest.bytes[0] = 0xab;
  digest.bytes[31] = 0x0f;
  logger.info("web_root_loaded", {{"hash", digest}});
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("\"hash\":\"ab" + std::string(60, '0') + "0f\"}") != std::string::npos);
}

TEST_CASE("levels below the minimum are dropped", "[server]") {
  std::vector<std::string> lines;
  Logger logger(Level::kWarn, [&](std::string_view line) { lines.emplace_back(line); });
  logger.debug("a");
  logger.info("b");
  logger.warn("c");
  logger.error("d");
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[0])["event"] == "c");
  CHECK(nlohmann::json::parse(lines[1])["event"] == "d");
  logger.set_level(Level::kDebug);
  logger.debug("e");
  CHECK(lines.size() == 3);
  CHECK(!logger.enabled(Level::kDebug) == false);
}

TEST_CASE("level names parse and print", "[server]") {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    CHECK(parse_level(level_name(l)) == l);
  }
  CHECK(!parse_level("verbose").has_value());
  CHECK(!parse_level("").has_value());
}

// Only compile-time text is accepted: this must not compile, and is kept here
// as documentation (uncomment to see the error).
//   std::string address = "127.0.0.1";
//   logger.info("peer", {{"address", address.c_str()}});

}  // namespace
}  // namespace hearth::log
