// Failed logins through the real hearthd (issue 12, hole 7): a connection is
// closed after its failure past login_failures_per_connection, and a storm of
// failures from many connections spends the server-wide budget, past which
// logins answer rate_limited before any signature work, while a good
// responder still gets in by trying again.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "crypto/random.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/support/test_support.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// challenge + responder_login signed by the wrong key.
json bad_responder_login(WsClient& ws, const TestResponder& r) {
  auto challenge = ws.call(protocol::ChallengeRequest{});
  auto wrong = crypto::SigningKey::generate();
  auto sig = crypto::sign_responder_login(wrong, b64(challenge["challenge"]));
  return ws.call(protocol::ResponderLoginRequest{r.certificate_bytes(),
                                                 Bytes(sig.bytes.begin(), sig.bytes.end())});
}

// challenge + vault_login for a vault that does not exist.
json bad_vault_login(WsClient& ws) { return vault_login(ws, TestSurvivor::make()); }

TEST_CASE("the fourth failed login on one connection closes it", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  SECTION("responder_login") {
    auto ws = WsClient::connect(hearthd.port());
    for (int i = 0; i < 3; ++i) CHECK(error_code(bad_responder_login(*ws, ana)) == "auth_failed");
    // Still open after three.
    CHECK(error_code(ws->call(protocol::ChallengeRequest{})) == "");
    CHECK(error_code(bad_responder_login(*ws, ana)) == "auth_failed");
    CHECK(ws->wait_closed(std::chrono::seconds(10)) == 1008);
  }
  SECTION("vault_login") {
    auto ws = WsClient::connect(hearthd.port());
    for (int i = 0; i < 3; ++i) CHECK(error_code(bad_vault_login(*ws)) == "auth_failed");
    CHECK(error_code(ws->call(protocol::ChallengeRequest{})) == "");
    CHECK(error_code(bad_vault_login(*ws)) == "auth_failed");
    CHECK(ws->wait_closed(std::chrono::seconds(10)) == 1008);
  }
  // A good login on a fresh connection is unaffected.
  auto ws = WsClient::connect(hearthd.port());
  CHECK(error_code(responder_login(*ws, ana)) == "");
  auto metrics = http_get(hearthd.metrics_port(), "/metrics").body;
  CHECK(metric_value(metrics, "hearth_login_failure_closes_total") >= 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("rate_limited login replies count toward the connection's close", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  // One failure a second, no burst: a single failure empties the budget for
  // first attempts.
  HearthdProcess hearthd(
      org, json{{"limits", {{"failed_logins_per_second", 1}, {"failed_login_burst", 1}}}});
  hearthd.start();
  const bool vault = GENERATE(false, true);
  auto bad = [&](WsClient& ws) {
    return vault ? bad_vault_login(ws) : bad_responder_login(ws, ana);
  };
  auto first = WsClient::connect(hearthd.port());
  CHECK(error_code(bad(*first)) == "auth_failed");
  // A second connection is refused at once; it keeps trying on the same
  // connection. Its fourth reply, refused or failed, is its last.
  auto spinner = WsClient::connect(hearthd.port());
  CHECK(error_code(bad(*spinner)) == "rate_limited");
  for (int i = 0; i < 3; ++i) {
    std::string code = error_code(bad(*spinner));
    CHECK((code == "rate_limited" || code == "auth_failed"));
  }
  CHECK(spinner->wait_closed(std::chrono::seconds(10)) == 1008);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a storm on kept connections does not refuse a fresh connection's first login",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  auto& bo = org.add_responder("bo", {"shelter"});
  HearthdProcess hearthd(org);  // the default budgets
  hearthd.start();
  const bool vault = GENERATE(false, true);
  TestSurvivor survivor = TestSurvivor::make();
  if (vault) {
    auto ana_ws = WsClient::connect(hearthd.port());
    REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
    REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
    auto ws = WsClient::connect(hearthd.port());
    auto routed = route(*ws, envelope_for());
    REQUIRE(error_code(routed) == "");
    REQUIRE(error_code(open_case(*ws, routed, &survivor, "hello")) == "");
  }
  // Attackers spin bad logins on a kept connection as fast as the server
  // answers, and open another (at most every 20 ms each) when it is closed.
  std::atomic<bool> stop{false};
  std::atomic<long> attempts{0};
  std::atomic<long> limited{0};
  std::vector<std::thread> storm;
  for (int t = 0; t < 2; ++t) {
    storm.emplace_back([&] {
      while (!stop.load()) {
        const auto opened = Clock::now();
        try {
          auto ws = WsClient::connect(hearthd.port());
          while (!stop.load()) {
            auto reply = vault ? bad_vault_login(*ws) : bad_responder_login(*ws, bo);
            attempts.fetch_add(1);
            if (error_code(reply) == "rate_limited") limited.fetch_add(1);
          }
        } catch (const std::exception&) {
          // Closed after its failures: the next connection.
        }
        std::this_thread::sleep_until(opened + std::chrono::milliseconds(20));
      }
    });
  }
  // The storm has made more attempts than any burst holds (200 on main's
  // single budget; 100 for repeats now).
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (attempts.load() < 400 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(attempts.load() >= 400);
  // Ten good logins during the storm, each on a fresh connection: every one
  // gets in on its first try.
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    const long before = attempts.load();
    auto ws = WsClient::connect(hearthd.port());
    std::string code = error_code(vault ? vault_login(*ws, survivor) : responder_login(*ws, ana));
    if (code != "") ++refused;
    INFO("login " << i << ": " << code);
    CHECK(code == "");
    // The storm goes on between them.
    while (attempts.load() < before + 20 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop.store(true);
  for (auto& t : storm) t.join();
  INFO("attacker attempts: " << attempts.load() << ", refused: " << limited.load());
  CHECK(refused == 0);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE(
    "a storm of failed logins hits the server-wide budget while a good responder still logs in",
    "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  auto& bo = org.add_responder("bo", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"failed_logins_per_second", 5}, {"failed_login_burst", 10}}}});
  hearthd.start();
  const bool vault = GENERATE(false, true);
  // A survivor with a vault, for the good vault login.
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  TestSurvivor survivor = TestSurvivor::make();
  {
    auto ws = WsClient::connect(hearthd.port());
    auto routed = route(*ws, envelope_for());
    REQUIRE(error_code(routed) == "");
    REQUIRE(error_code(open_case(*ws, routed, &survivor, "hello")) == "");
  }
  // Attackers: many connections, each failing until closed, then another.
  std::atomic<bool> stop{false};
  std::atomic<int> limited{0};
  std::vector<std::thread> storm;
  for (int t = 0; t < 3; ++t) {
    storm.emplace_back([&] {
      while (!stop.load()) {
        try {
          auto ws = WsClient::connect(hearthd.port());
          for (int i = 0; i < 8 && !stop.load(); ++i) {
            auto reply = vault ? bad_vault_login(*ws) : bad_responder_login(*ws, bo);
            if (error_code(reply) == "rate_limited") limited.fetch_add(1);
          }
        } catch (const std::exception&) {
          // Closed after its failures: the next connection.
        }
      }
    });
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (limited.load() == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(limited.load() > 0);
  // During the storm: a good login answers rate_limited or gets in; it gets
  // in within the deadline by trying again.
  bool in = false;
  int tries = 0;
  while (!in && Clock::now() < deadline) {
    auto ws = WsClient::connect(hearthd.port());
    std::string code = error_code(vault ? vault_login(*ws, survivor) : responder_login(*ws, ana));
    ++tries;
    if (code == "") {
      in = true;
    } else {
      REQUIRE(code == "rate_limited");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  stop.store(true);
  for (auto& t : storm) t.join();
  CHECK(in);
  auto metrics = http_get(hearthd.metrics_port(), "/metrics").body;
  CHECK(metric_value(metrics, vault ? "hearth_logins_rate_limited_total{kind=\"vault\"}"
                                    : "hearth_logins_rate_limited_total{kind=\"responder\"}") > 0);
  INFO("good responder login tries: " << tries);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
