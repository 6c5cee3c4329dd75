// What a failed login costs hearthd, in CPU time per attempt: the figures
// docs/operations.md ("Failed logins") sets the failed-login budgets from.
// Hidden (not run by ctest): run it by hand on a quiet machine,
//   integration_tests "[.login-cost]"
// It starts hearthd with budgets too large to refuse anything, makes the
// attempts one after another from one thread, and reads hearthd's own CPU
// time (every thread's run time, /proc/<pid>/task/*/schedstat, in ns) before
// and after, so the client's work does not count.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/support/test_support.h"

namespace hearth::test {
namespace {

using nlohmann::json;

// hearthd's CPU time so far, in nanoseconds, over all its threads.
double cpu_ns(pid_t pid) {
  double total = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "schedstat");
    double ns = 0;
    if (in >> ns) total += ns;
  }
  return total;
}

// Runs `attempt` n times on connections of `per_connection` attempts each and
// returns hearthd's CPU microseconds per attempt.
template <typename F>
double per_attempt_us(HearthdProcess& hearthd, int n, int per_connection, F attempt) {
  const double before = cpu_ns(hearthd.pid());
  std::unique_ptr<WsClient> ws;
  for (int i = 0; i < n; ++i) {
    if (i % per_connection == 0) {
      if (ws) ws->close();
      ws = WsClient::connect(hearthd.port());
    }
    attempt(*ws);
  }
  if (ws) ws->close();
  return (cpu_ns(hearthd.pid()) - before) / 1000.0 / n;
}

TEST_CASE("what a failed login costs hearthd", "[.login-cost]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits",
                                    {{"failed_logins_per_second", 100000},
                                     {"failed_login_burst", 1000000},
                                     {"repeat_failed_logins_per_second", 100000},
                                     {"repeat_failed_login_burst", 1000000},
                                     {"login_failures_per_connection", 100},
                                     {"frames_per_second", 10000},
                                     {"frame_burst", 100000}}}});
  hearthd.start();
  // A vault, for the wrong-signature vault login.
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
  const int n = 3000;
  auto wrong_signature = [&](WsClient& ws) {
    auto challenge = ws.call(protocol::ChallengeRequest{});
    auto wrong = crypto::SigningKey::generate();
    auto sig = crypto::sign_responder_login(wrong, b64(challenge["challenge"]));
    auto reply = ws.call(protocol::ResponderLoginRequest{
        ana.certificate_bytes(), Bytes(sig.bytes.begin(), sig.bytes.end())});
    REQUIRE(error_code(reply) == "auth_failed");
  };
  // Warm up (the certificate check is cached after the first).
  per_attempt_us(hearthd, 200, 90, wrong_signature);

  const double handshake = per_attempt_us(hearthd, n / 3, 1, [](WsClient&) {});
  const double challenge = per_attempt_us(hearthd, n, 90, [](WsClient& ws) {
    REQUIRE(error_code(ws.call(protocol::ChallengeRequest{})) == "");
  });
  const double responder = per_attempt_us(hearthd, n, 90, wrong_signature);
  const double responder_fresh = per_attempt_us(hearthd, n / 3, 1, wrong_signature);
  const double no_vault = per_attempt_us(hearthd, n, 90, [](WsClient& ws) {
    REQUIRE(error_code(vault_login(ws, TestSurvivor::make())) == "auth_failed");
  });
  const TestSurvivor impostor = TestSurvivor::make();
  const Bytes real_id = survivor.login_id();
  const double wrong_vault_key = per_attempt_us(hearthd, n, 90, [&](WsClient& ws) {
    // The real login id, signed with another key.
    auto c = ws.call(protocol::ChallengeRequest{});
    auto sig = crypto::sign_login_challenge(impostor.keys, b64(c["challenge"]));
    auto reply =
        ws.call(protocol::VaultLoginRequest{real_id, Bytes(sig.bytes.begin(), sig.bytes.end())});
    REQUIRE(error_code(reply) == "auth_failed");
  });
  std::printf(
      "hearthd CPU per attempt (us): handshake+close %.1f | challenge %.1f | failed "
      "responder_login (challenge+login) %.1f, on a fresh connection each %.1f | failed "
      "vault_login, no such vault %.1f, wrong key %.1f\n",
      handshake, challenge, responder, responder_fresh, no_vault, wrong_vault_key);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
