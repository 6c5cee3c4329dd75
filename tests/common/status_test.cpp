#include <catch2/catch.hpp>

#include "common/clock.h"
#include "common/status.h"

namespace hearth {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return error(Code::kInvalidArgument, "not positive");
  return v;
}

Result<int> doubled(int v) {
  HEARTH_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return x * 2;
}

Status check(int v) {
  HEARTH_TRY(parse_positive(v).status());
  return Status::ok();
}

TEST_CASE("Result carries a value or a status", "[common]") {
  REQUIRE(doubled(4).value() == 8);
  auto bad = doubled(-1);
  REQUIRE_FALSE(bad.is_ok());
  REQUIRE(bad.status().code() == Code::kInvalidArgument);
  REQUIRE(bad.status().to_string() == "invalid_argument: not positive");
  REQUIRE(check(1).is_ok());
  REQUIRE(check(0).code() == Code::kInvalidArgument);
}

TEST_CASE("every code has a stable name", "[common]") {
  REQUIRE(code_name(Code::kConflict) == "conflict");
  REQUIRE(code_name(Code::kAuthFailed) == "auth_failed");
  REQUIRE(code_name(Code::kLimitExceeded) == "limit_exceeded");
}

TEST_CASE("times are coarsened to the minute", "[common]") {
  REQUIRE(to_minute(125) == 120);
  REQUIRE(to_minute(120) == 120);
  REQUIRE(to_minute(-1) == -60);
  ManualClock clock(1000);
  clock.advance(30);
  REQUIRE(clock.now() == 1030);
}

}  // namespace
}  // namespace hearth
