// /metrics as an operator scrapes it: every op and every error code of the
// protocol has its line from the start, and the ops added last are counted.
#include <catch2/catch.hpp>

#include <string>

#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

std::string op_sample(protocol::Op op) {
  return "hearth_requests_total{op=\"" + std::string(protocol::op_name(op)) + "\"}";
}
std::string code_sample(protocol::ErrorCode code) {
  return "hearth_errors_total{code=\"" + std::string(protocol::error_code_name(code)) + "\"}";
}

TEST_CASE("metrics: every op and error code is listed from the start and counted when used",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();

  auto fresh = http_get(hearthd.metrics_port(), "/metrics");
  REQUIRE(fresh.status == 200);
  for (std::size_t i = 0; i < protocol::kOpCount; ++i) {
    auto name = op_sample(static_cast<protocol::Op>(i));
    INFO(name);
    CHECK(metric_value(fresh.body, name) == 0);
  }
  for (std::size_t i = 0; i < protocol::kErrorCodeCount; ++i) {
    auto name = code_sample(static_cast<protocol::ErrorCode>(i));
    INFO(name);
    CHECK(metric_value(fresh.body, name) == 0);
  }

  // take_next (nothing waiting) and queue_health (ana is no supervisor:
  // forbidden), the last ops of the list, each counted once by their names.
  auto ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ws, ana)) == "");
  ws->call(protocol::TakeNextRequest{});
  CHECK(error_code(ws->call(protocol::QueueHealthRequest{})) == "forbidden");
  auto used = http_get(hearthd.metrics_port(), "/metrics");
  CHECK(metric_value(used.body, op_sample(protocol::Op::kTakeNext)) == 1);
  CHECK(metric_value(used.body, op_sample(protocol::Op::kQueueHealth)) == 1);
  CHECK(metric_value(used.body, op_sample(protocol::Op::kResponderLogin)) == 1);
  CHECK(metric_value(used.body, code_sample(protocol::ErrorCode::kForbidden)) == 1);
  CHECK(metric_value(used.body, code_sample(protocol::ErrorCode::kInternal)) == 0);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
