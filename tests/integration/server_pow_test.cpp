// Route proof-of-work against the real hearthd: a full memory of spent proofs
// rotates the seed instead of refusing everyone, and the effort asked follows
// the spending rate and the waiting room.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "crypto/pow.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using nlohmann::json;

double metric(const HearthdProcess& hearthd, const std::string& name) {
  return metric_value(http_get(hearthd.metrics_port(), "/metrics").body, name);
}

// A route whose proof the server accepted: whatever it answered next
// (no_responder while nobody is online), it was not a proof-of-work refusal.
bool proof_accepted(const json& reply) {
  const std::string code = error_code(reply);
  return code.rfind("pow_", 0) != 0 && code != "rate_limited";
}

TEST_CASE("a full memory of spent proofs never locks routing out", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  // 16 spent proofs remembered (8 per seed) at effort 1: the old server
  // answered rate_limited to every route from the 17th proof on, for hours.
  HearthdProcess hearthd(org,
                         json{{"pow", {{"effort", 1}, {"max_effort", 1}, {"replay_budget", 16}}}});
  hearthd.start();
  auto envelope = envelope_for();
  const Bytes hash = crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(envelope)));

  // An attacker spends proofs as fast as it likes, asking for each seed.
  auto attacker = WsClient::connect(hearthd.port());
  for (int i = 0; i < 40; ++i) {
    auto reply = route(*attacker, envelope);
    INFO("route " << i << ": " << reply.dump());
    REQUIRE(proof_accepted(reply));
  }

  // A stockpile solved for one seed, spent without asking again: the seed's
  // share is used up, the rest are stale (ask again) -- never rate_limited.
  auto pc = attacker->call(protocol::PowChallengeRequest{});
  const crypto::PowChallenge held{b64(pc["seed"]), pc["effort"].get<std::uint32_t>()};
  int accepted = 0;
  for (int i = 0; i < 24; ++i) {
    auto solution = crypto::solve_pow(held, "route", hash);
    REQUIRE(solution.is_ok());
    auto reply = attacker->call(protocol::RouteRequest{envelope, {held.seed, solution->nonce}});
    INFO("stockpiled proof " << i << ": " << reply.dump());
    if (proof_accepted(reply)) {
      ++accepted;
    } else {
      CHECK(error_code(reply) == "pow_stale");
    }
  }
  CHECK(accepted <= 8);

  // The memory stayed within its budget, rotating when full.
  CHECK(metric(hearthd, "hearth_pow_replay_capacity") == 16);
  CHECK(metric(hearthd, "hearth_pow_replay_entries") <= 16);
  CHECK(metric(hearthd, "hearth_pow_seed_rotations_total{reason=\"full\"}") >= 5);

  // A survivor arriving now is routed and opens a case.
  auto responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*responder, ana)) == "");
  auto survivor_ws = WsClient::connect(hearthd.port());
  auto routed = route(*survivor_ws, envelope);
  REQUIRE(error_code(routed) == "");
  TestSurvivor survivor = TestSurvivor::make();
  CHECK(error_code(open_case(*survivor_ws, routed, &survivor, "help")) == "");
}

std::uint32_t challenge_effort(WsClient& ws) {
  return ws.call(protocol::PowChallengeRequest{})["effort"].get<std::uint32_t>();
}

TEST_CASE("the effort asked rises under a burst of spent proofs", "[integration]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});  // never online: routes answer no_responder
  HearthdProcess hearthd(org, json{{"pow",
                                    {{"effort", 1},
                                     {"max_effort", 1u << 16},
                                     {"proofs_per_minute", 4},
                                     {"effort_step_seconds", 0}}}});
  hearthd.start();
  auto ws = WsClient::connect(hearthd.port());
  CHECK(challenge_effort(*ws) == 1);
  CHECK(metric(hearthd, "hearth_pow_effort") == 1);

  // 16 proofs (four times the normal 4 a minute): two doublings.
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 16; ++i) REQUIRE(proof_accepted(route(*ws, envelope_for())));
  const std::uint32_t effort = challenge_effort(*ws);
  const double proofs = metric(hearthd, "hearth_pow_proofs_last_minute");
  // The window is the last 60 s of the server's clock: on a machine so slow
  // that the burst took most of that, proofs may have left it already.
  if (std::chrono::steady_clock::now() - started < std::chrono::seconds(50)) {
    CHECK(effort == 4);
    CHECK(proofs == 16);
  } else {
    WARN("burst took over 50 s; effort " << effort);
    CHECK(effort >= 1);
  }
  CHECK(metric(hearthd, "hearth_pow_effort") == effort);
  CHECK(metric(hearthd, "hearth_pow_seed_rotations_total{reason=\"load\"}") >= 1);
}

TEST_CASE("opening a case costs more as the waiting room fills", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"pow",
                                    {{"effort", 1},
                                     {"max_effort", 1u << 16},
                                     {"proofs_per_minute", 1000},
                                     {"effort_step_seconds", 0}}},
                                   {"limits", {{"max_waiting_cases", 4}}}});
  hearthd.start();
  auto ws = WsClient::connect(hearthd.port());
  CHECK(challenge_effort(*ws) == 1);

  auto responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*responder, ana)) == "");
  // Survivors stay connected: their cases wait, nobody takes them.
  std::vector<std::unique_ptr<WsClient>> survivors;
  auto open_one = [&] {
    survivors.push_back(WsClient::connect(hearthd.port()));
    auto routed = route(*survivors.back(), envelope_for());
    REQUIRE(error_code(routed) == "");
    TestSurvivor survivor = TestSurvivor::make();
    REQUIRE(error_code(open_case(*survivors.back(), routed, &survivor, "help")) == "");
  };
  open_one();
  CHECK(challenge_effort(*ws) == 1);  // 3 of 4 places free
  open_one();
  CHECK(challenge_effort(*ws) == 2);  // half the places taken: one doubling
  open_one();
  CHECK(challenge_effort(*ws) == 4);  // a quarter left: two
  CHECK(metric(hearthd, "hearth_pow_effort") == 4);
}

}  // namespace
}  // namespace hearth::test
