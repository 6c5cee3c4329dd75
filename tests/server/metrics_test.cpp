// /metrics and the op log speak the protocol's names: every op and every error
// code has its counter from the start, and the log names each op as the wire does.
#include <catch2/catch.hpp>

#include <string>

#include "protocol/log_names.h"
#include "protocol/messages.h"
#include "server/metrics.h"

namespace hearth::server {
namespace {

std::string op_line(protocol::Op op, int count) {
  return "hearth_requests_total{op=\"" + std::string(protocol::op_name(op)) + "\"} " +
         std::to_string(count) + "\n";
}

std::string code_line(protocol::ErrorCode code, int count) {
  return "hearth_errors_total{code=\"" + std::string(protocol::error_code_name(code)) + "\"} " +
         std::to_string(count) + "\n";
}

TEST_CASE("metrics: every op and every error code is listed at 0, then counted", "[server]") {
  Metrics metrics;
  std::string fresh = metrics.render(0, storage::StorageStats{});
  for (std::size_t i = 0; i < protocol::kOpCount; ++i) {
    auto op = static_cast<protocol::Op>(i);
    INFO(protocol::op_name(op));
    CHECK(fresh.find(op_line(op, 0)) != std::string::npos);
  }
  for (std::size_t i = 0; i < protocol::kErrorCodeCount; ++i) {
    auto code = static_cast<protocol::ErrorCode>(i);
    INFO(protocol::error_code_name(code));
    CHECK(fresh.find(code_line(code, 0)) != std::string::npos);
  }
  CHECK(fresh.find(code_line(protocol::ErrorCode::kInternal, 0)) != std::string::npos);
  CHECK(fresh.find(op_line(protocol::Op::kQueueHealth, 0)) != std::string::npos);

  // Each op counted once, each code twice: each line moves, none of another.
  for (std::size_t i = 0; i < protocol::kOpCount; ++i) {
    metrics.count_request(static_cast<protocol::Op>(i));
  }
  for (std::size_t i = 0; i < protocol::kErrorCodeCount; ++i) {
    metrics.count_error(static_cast<protocol::ErrorCode>(i));
    metrics.count_error(static_cast<protocol::ErrorCode>(i));
  }
  std::string used = metrics.render(0, storage::StorageStats{});
  for (std::size_t i = 0; i < protocol::kOpCount; ++i) {
    auto op = static_cast<protocol::Op>(i);
    INFO(protocol::op_name(op));
    CHECK(used.find(op_line(op, 1)) != std::string::npos);
  }
  for (std::size_t i = 0; i < protocol::kErrorCodeCount; ++i) {
    auto code = static_cast<protocol::ErrorCode>(i);
    INFO(protocol::error_code_name(code));
    CHECK(used.find(code_line(code, 2)) != std::string::npos);
  }
}

TEST_CASE("metrics: the op log names every op as the wire does (take_next, not claim)",
          "[server]") {
  CHECK(protocol::op_log_name(protocol::Op::kTakeNext).view() == "take_next");
  for (std::size_t i = 0; i < protocol::kOpCount; ++i) {
    auto op = static_cast<protocol::Op>(i);
    CHECK(protocol::op_log_name(op).view() == protocol::op_name(op));
    CHECK(protocol::parse_op(protocol::op_log_name(op).view()) == op);
  }
  CHECK(protocol::op_log_name(static_cast<protocol::Op>(protocol::kOpCount)).view() == "unknown");
}

}  // namespace
}  // namespace hearth::server
