// The one table from storage outcomes to wire errors (server/wire_errors.h).
#include <catch2/catch.hpp>
#include <set>
#include <utility>

#include "server/wire_errors.h"

namespace hearth::server {
namespace {

using protocol::ErrorCode;

TEST_CASE("each storage step and status appears once in the wire error table", "[server]") {
  std::set<std::pair<int, int>> seen;
  for (const auto& row : wire_error_table()) {
    CHECK(seen.emplace(static_cast<int>(row.step), static_cast<int>(row.status)).second);
    CHECK(!row.message.empty());
    // A table row is the request's own outcome, never the server's failure.
    CHECK(row.code != ErrorCode::kInternal);
    CHECK(row.code != ErrorCode::kUnavailable);
  }
}

TEST_CASE("one code means different things at different storage steps", "[server]") {
  auto case_row = expected_error(StorageStep::kSendCaseRow, Code::kNotFound);
  REQUIRE(case_row);
  CHECK(case_row->code == ErrorCode::kNotFound);
  CHECK(case_row->message == "no such case");
  auto vault = expected_error(StorageStep::kVaultWrite, Code::kNotFound);
  REQUIRE(vault);
  CHECK(vault->message == "vault: it was deleted");
  // A missing vault at login answers like a bad signature.
  auto login = expected_error(StorageStep::kVaultLoginRead, Code::kNotFound);
  REQUIRE(login);
  CHECK(login->code == ErrorCode::kAuthFailed);
  CHECK(expected_error(StorageStep::kVaultWrite, Code::kLimitExceeded)->code ==
        ErrorCode::kBadField);
  CHECK(expected_error(StorageStep::kCertificate, Code::kExpired)->code ==
        ErrorCode::kCertificateExpired);
}

TEST_CASE("a storage failure the table does not list is unavailable or internal", "[server]") {
  CHECK(!expected_error(StorageStep::kVaultRead, Code::kUnavailable));
  CHECK(wire_error(StorageStep::kVaultRead, Status(Code::kUnavailable, "disk full")).code ==
        ErrorCode::kUnavailable);
  // The storage queue being full is the server's state, not the request's.
  CHECK(wire_error(StorageStep::kVaultRead, Status(Code::kLimitExceeded, "queue full")).code ==
        ErrorCode::kUnavailable);
  CHECK(wire_error(StorageStep::kCaseUpdate, Status(Code::kCorrupt, "bad row")).code ==
        ErrorCode::kInternal);
  CHECK(storage_failure(Status(Code::kInternal, "bug")).message == "internal error");
}

}  // namespace
}  // namespace hearth::server
