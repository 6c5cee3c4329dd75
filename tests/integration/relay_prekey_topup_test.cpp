// One-time prekey upkeep between logins (issue 12): every committed case,
// fake ones too, uses one of each offered responder's one-time prekeys. The
// responder's session counts commits from the `waiting` figure and, before
// the server's stock runs dry, asks its count and tops it up, without a new
// login.
#include <catch2/catch.hpp>
#include <chrono>

#include "tests/integration/relay_support.h"
#include "tests/integration/support/flows.h"

using namespace hearth;
using namespace hearth::test;
using Steady = std::chrono::steady_clock;

namespace {

// The server's count of this responder's one-time prekeys (an upload of
// nothing answers it).
std::int64_t server_count(client::ResponderSession& s) {
  auto held = s.connection().call(protocol::UploadPrekeysRequest{});
  REQUIRE(held.is_ok());
  return held->one_time_prekeys;
}

}  // namespace

TEST_CASE("a logged-in responder tops up one-time prekeys that committed cases used up",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  REQUIRE(server_count(*responder) == client::kOneTimePrekeyTarget);
  // Anonymous cases, committed and never taken, each use one of ana's.
  const std::int64_t fakes =
      client::kOneTimePrekeyTarget - client::kOneTimePrekeyLowWater + 5;  // below the low water
  for (std::int64_t i = 0; i < fakes; ++i) {
    auto ws = WsClient::connect(relay.hearthd->port());
    auto routed = route(*ws, shelter_request());
    REQUIRE(error_code(routed) == "");
    TestSurvivor survivor = TestSurvivor::make();
    REQUIRE(error_code(open_case(*ws, routed, &survivor, "fake")) == "");
  }
  // The responder's client, only polling, brings the stock back up.
  const auto deadline = Steady::now() + std::chrono::seconds(60);
  std::int64_t held = 0;
  while ((held = server_count(*responder)) < client::kOneTimePrekeyLowWater &&
         Steady::now() < deadline) {
    auto updates = responder->poll(std::chrono::milliseconds(100));
    REQUIRE(updates.is_ok());
  }
  INFO("one-time prekeys on the server: " << held);
  CHECK(held >= client::kOneTimePrekeyTarget - 1);
  CHECK(relay.hearthd->terminate() == 0);
}
