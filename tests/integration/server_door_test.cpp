// Who keeps a place at the front door (server/admission.h): one vault cannot
// fill the survivor pool with logins, a full pool gives each vault a place
// before any gets a second, and a flood of idle anonymous sockets does not
// push out a login in flight or a route paid for with proof of work, while
// those protections stay bounded. The real hearthd on loopback.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crypto/trust.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

double metric(const HearthdProcess& hearthd, const std::string& name) {
  return metric_value(http_get(hearthd.metrics_port(), "/metrics").body, name);
}

// Waits (up to 20 s) until `name` equals `value`.
bool wait_metric_equal(const HearthdProcess& hearthd, const std::string& name, double value) {
  auto deadline = Clock::now() + seconds(20);
  while (Clock::now() < deadline) {
    if (metric(hearthd, name) == value) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

std::unique_ptr<WsClient> responder_online(const HearthdProcess& hearthd, const TestResponder& r) {
  auto ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ws, r)) == "");
  REQUIRE(error_code(upload_prekeys(*ws, r)) == "");
  REQUIRE(error_code(ws->call(protocol::PresenceRequest{protocol::Presence::kAvailable, 50})) ==
          "");
  return ws;
}

// A new connection that routes and opens a case with a new vault for
// `survivor`: logged into that vault.
std::unique_ptr<WsClient> new_vault(const HearthdProcess& hearthd, const TestSurvivor& survivor) {
  auto ws = WsClient::connect(hearthd.port());
  auto routed = route(*ws, envelope_for());
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(*ws, routed, &survivor, "intake")) == "");
  return ws;
}

std::unique_ptr<WsClient> logged_into(const HearthdProcess& hearthd, const TestSurvivor& survivor) {
  auto ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(vault_login(*ws, survivor)) == "");
  return ws;
}

// The connection still answers (it was not closed).
bool answers(WsClient& ws) { return error_code(ws.call(protocol::ChallengeRequest{})) == ""; }

// `n` new anonymous WebSockets that do nothing.
std::vector<std::unique_ptr<WsClient>> idle_flood(const HearthdProcess& hearthd, int n) {
  std::vector<std::unique_ptr<WsClient>> idle;
  for (int i = 0; i < n; ++i) idle.push_back(WsClient::connect(hearthd.port()));
  return idle;
}

TEST_CASE("logins of one vault past max_connections_per_vault replace its oldest connection",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);  // the default: 3 connections per vault
  hearthd.start();
  auto responder = responder_online(hearthd, ana);
  TestSurvivor survivor = TestSurvivor::make();
  std::vector<std::unique_ptr<WsClient>> mine;
  mine.push_back(new_vault(hearthd, survivor));
  mine.push_back(logged_into(hearthd, survivor));
  mine.push_back(logged_into(hearthd, survivor));
  CHECK(metric(hearthd, "hearth_survivors_open") == 3);
  // The fourth login gets in; the oldest connection of the vault is closed
  // with 4001 (a survivor's half-dead socket after a network change).
  mine.push_back(logged_into(hearthd, survivor));
  CHECK(mine[0]->wait_closed() == 4001);
  CHECK(answers(*mine[3]));
  CHECK(answers(*mine[1]));
  // What an attacker holding its own vault's key would do: log in again and
  // again. The vault never holds more than 3 places.
  for (int i = 0; i < 12; ++i) mine.push_back(logged_into(hearthd, survivor));
  CHECK(wait_metric_equal(hearthd, "hearth_survivors_open", 3));
  CHECK(metric(hearthd, "hearth_logins_replaced_total{kind=\"vault\"}") == 13);
  CHECK(answers(*mine.back()));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("logins of one responder past max_connections_per_responder replace its oldest",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits", {{"max_connections_per_responder", 2}}}});
  hearthd.start();
  std::vector<std::unique_ptr<WsClient>> consoles;
  for (int i = 0; i < 3; ++i) {
    consoles.push_back(WsClient::connect(hearthd.port()));
    REQUIRE(error_code(responder_login(*consoles.back(), ana)) == "");
  }
  CHECK(consoles[0]->wait_closed() == 4001);
  CHECK(answers(*consoles[1]));
  CHECK(answers(*consoles[2]));
  CHECK(wait_metric_equal(hearthd, "hearth_responders_open", 2));
  CHECK(metric(hearthd, "hearth_logins_replaced_total{kind=\"responder\"}") == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a full survivor pool gives a new vault the place of a vault holding several",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"}, std::nullopt, std::nullopt, 10);
  // 8 places, 2 kept for responders: survivors hold at most 6.
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 8}, {"reserved_responder_connections", 2}}}});
  hearthd.start();
  auto responder = responder_online(hearthd, ana);
  TestSurvivor a = TestSurvivor::make();
  TestSurvivor b = TestSurvivor::make();
  std::vector<std::unique_ptr<WsClient>> held;
  held.push_back(new_vault(hearthd, a));
  held.push_back(new_vault(hearthd, b));
  for (int i = 0; i < 2; ++i) {
    held.push_back(logged_into(hearthd, a));
    held.push_back(logged_into(hearthd, b));
  }
  REQUIRE(metric(hearthd, "hearth_survivors_open") == 6);
  // A new survivor still gets in: the oldest connection of a vault holding
  // the most gives way (1013), not the newcomer.
  TestSurvivor c = TestSurvivor::make();
  auto newcomer = new_vault(hearthd, c);
  CHECK(held[0]->wait_closed() == 1013);
  CHECK(answers(*newcomer));
  CHECK(metric(hearthd, "hearth_survivors_made_way_total") == 1);
  CHECK(metric(hearthd, "hearth_survivors_refused_total") == 0);
  CHECK(wait_metric_equal(hearthd, "hearth_survivors_open", 6));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a full survivor pool takes places from vaults without a live case first",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter", "legal"}, std::nullopt, std::nullopt, 10);
  auto& sam = org.add_responder("sam", {"supervisor"});
  // 10 places, 4 kept for responders: survivors hold at most 6.
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 10}, {"reserved_responder_connections", 4}}}});
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto sam_ws = responder_online(hearthd, sam);
  // A vault whose only case a supervisor dismisses (what fake cases come to).
  auto fake = WsClient::connect(hearthd.port());
  auto routed = route(*fake, envelope_for(protocol::Need::kLegal));
  REQUIRE(error_code(routed) == "");
  TestSurvivor dismissed = TestSurvivor::make();
  REQUIRE(error_code(open_case(*fake, routed, &dismissed, "intake")) == "");
  REQUIRE(error_code(sam_ws->call(
              protocol::DismissWaitingRequest{std::nullopt, std::nullopt, "legal", false})) == "");
  auto case_closed = [&] {
    for (const auto& e : fake->events)
      if (e.value("ev", "") == "case_closed") return true;
    return false;
  };
  auto deadline = Clock::now() + seconds(10);
  while (!case_closed() && Clock::now() < deadline) REQUIRE(answers(*fake));
  REQUIRE(case_closed());
  // Five more places held by vaults with a live case, two of them by one vault.
  TestSurvivor b = TestSurvivor::make();
  std::vector<std::unique_ptr<WsClient>> held;
  held.push_back(new_vault(hearthd, b));
  held.push_back(logged_into(hearthd, b));
  for (int i = 0; i < 3; ++i) held.push_back(new_vault(hearthd, TestSurvivor::make()));
  REQUIRE(metric(hearthd, "hearth_survivors_open") == 6);
  // The newcomer takes the place of the vault without a case, not one of b's.
  auto newcomer = new_vault(hearthd, TestSurvivor::make());
  CHECK(fake->wait_closed() == 1013);
  CHECK(answers(*newcomer));
  CHECK(answers(*held[0]));
  CHECK(answers(*held[1]));
  CHECK(metric(hearthd, "hearth_survivors_made_way_total") == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a route paid for with proof of work is not evicted by idle anonymous sockets",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 40}, {"max_anonymous_connections", 8}}}});
  hearthd.start();
  auto responder = responder_online(hearthd, ana);
  auto survivor = WsClient::connect(hearthd.port());
  auto routed = route(*survivor, envelope_for());
  REQUIRE(error_code(routed) == "");
  // Three times the anonymous pool arrives and sits idle: the oldest idle
  // ones make way, not the connection about to open its case.
  auto idle = idle_flood(hearthd, 24);
  CHECK(idle.front()->wait_closed() == 1013);
  CHECK(wait_metric_equal(hearthd, "hearth_anonymous_evicted_total", 17));
  TestSurvivor s = TestSurvivor::make();
  CHECK(error_code(open_case(*survivor, routed, &s, "intake")) == "");
  CHECK(answers(*survivor));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a responder's login in flight survives a flood of idle anonymous sockets",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 40}, {"max_anonymous_connections", 8}}}});
  hearthd.start();
  auto console = WsClient::connect(hearthd.port());
  auto challenge = console->call(protocol::ChallengeRequest{});
  REQUIRE(error_code(challenge) == "");
  // A slow link: the flood arrives while the login frame is on its way.
  auto idle = idle_flood(hearthd, 24);
  CHECK(wait_metric_equal(hearthd, "hearth_anonymous_evicted_total", 17));
  auto sig = crypto::sign_responder_login(ana.signing, b64(challenge["challenge"]));
  auto login = console->call(protocol::ResponderLoginRequest{
      ana.certificate_bytes(), Bytes(sig.bytes.begin(), sig.bytes.end())});
  CHECK(error_code(login) == "");
  CHECK(answers(*console));
  CHECK(metric(hearthd, "hearth_responders_open") == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("anonymous protection is capped per kind and ends after anonymous_protection",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits",
                                    {{"max_connections", 40},
                                     {"max_anonymous_connections", 8},
                                     {"max_protected_anonymous", 1},
                                     {"anonymous_protection_seconds", 2}}}});
  hearthd.start();
  auto first = WsClient::connect(hearthd.port());
  REQUIRE(error_code(first->call(protocol::ChallengeRequest{})) == "");
  auto second = WsClient::connect(hearthd.port());
  auto challenge = second->call(protocol::ChallengeRequest{});
  REQUIRE(error_code(challenge) == "");
  // One protection of this kind at a time: the first one's ended, so the
  // flood pushes it out like any idle socket; the second one logs in.
  auto idle = idle_flood(hearthd, 12);
  CHECK(first->wait_closed() == 1013);
  CHECK(metric(hearthd, "hearth_protections_displaced_total") == 1);
  auto sig = crypto::sign_responder_login(ana.signing, b64(challenge["challenge"]));
  CHECK(error_code(second->call(protocol::ResponderLoginRequest{
            ana.certificate_bytes(), Bytes(sig.bytes.begin(), sig.bytes.end())})) == "");
  // A protection lasts anonymous_protection_seconds, then the connection is
  // an ordinary idle one again: asking for challenges again does not renew it.
  auto third = WsClient::connect(hearthd.port());
  REQUIRE(error_code(third->call(protocol::ChallengeRequest{})) == "");
  std::this_thread::sleep_for(milliseconds(2500));  // past the 2 s protection
  REQUIRE(error_code(third->call(protocol::ChallengeRequest{})) == "");
  auto more = idle_flood(hearthd, 12);
  CHECK(third->wait_closed() == 1013);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
