// Route proof-of-work against the real hearthd: challenges are per connection
// and single use, priced at issue from the load, so a stockpile of proofs
// cannot be spent in a burst; the effort asked follows the spending rate, the
// challenges outstanding and the waiting room.
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

std::uint32_t challenge_effort(WsClient& ws) {
  return ws.call(protocol::PowChallengeRequest{protocol::Urgency::kToday})["effort"]
      .get<std::uint32_t>();
}

TEST_CASE("the effort asked rises under a burst of spent proofs", "[integration]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});  // never online: routes answer no_responder
  HearthdProcess hearthd(
      org, json{{"pow", {{"effort", 1}, {"max_effort", 1u << 16}, {"proofs_per_minute", 4}}}});
  hearthd.start();
  auto ws = WsClient::connect(hearthd.port());
  CHECK(challenge_effort(*ws) == 1);
  CHECK(metric(hearthd, "hearth_pow_effort") == 1);

  // 16 proofs (four times the normal 4 a minute): two doublings, at once.
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 16; ++i) REQUIRE(proof_accepted(route(*ws, envelope_for())));
  const double effort_now = metric(hearthd, "hearth_pow_effort");
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
  CHECK(effort_now == effort);
  // The challenge just asked is outstanding: the next would cost more.
  CHECK(metric(hearthd, "hearth_pow_challenges_outstanding") == 1);
}

TEST_CASE("opening a case costs more as the waiting room fills", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"pow", {{"effort", 1}, {"max_effort", 1u << 16}, {"proofs_per_minute", 1000}}},
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
}

protocol::RouteEnvelope danger_now() {
  protocol::RouteEnvelope e = envelope_for(protocol::Need::kShelter);
  e.urgency = protocol::Urgency::kDangerNow;
  return e;
}

// A nonce that meets `effort` and no more: what a stockpile solved at the
// floor holds, with no lucky proof that happens to meet a higher effort too.
Bytes floor_proof(const crypto::PowChallenge& c, ByteView hash) {
  for (;;) {
    auto s = crypto::solve_pow(c, "route", hash);
    REQUIRE(s.is_ok());
    auto r = crypto::pow_hash(c, "route", hash, s->nonce);
    REQUIRE(r.is_ok());
    if (!crypto::pow_hash_meets_effort(*r, c.effort * 2)) return s->nonce;
  }
}

TEST_CASE("a burst of stockpiled proofs cannot fill the danger-now reserve", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter", "immediate-safety", "counselling"}, std::nullopt,
                                std::nullopt, 40);
  // 20 places, the last 10 for danger-now only.
  HearthdProcess hearthd(
      org, json{{"pow", {{"effort", 256}, {"max_effort", 1u << 20}, {"proofs_per_minute", 1000}}},
                {"limits", {{"max_waiting_cases", 20}, {"danger_now_reserved_percent", 50}}}});
  hearthd.start();
  auto responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*responder, ana)) == "");

  const protocol::RouteEnvelope envelope = danger_now();
  const Bytes hash = crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(envelope)));
  // The attacker stockpiles 20 danger-now proofs, every one solved at the
  // floor the quiet server asks, on as many connections, and spends them all
  // at once. (The old server's seed was shared and its effort could not rise
  // within it: all 20 got in and filled the reserve.)
  constexpr int kBurst = 20;
  std::vector<std::unique_ptr<WsClient>> conns;
  std::vector<protocol::PowProof> stockpile;
  std::vector<std::uint32_t> asked;
  for (int i = 0; i < kBurst; ++i) {
    conns.push_back(WsClient::connect(hearthd.port()));
    auto pc = conns.back()->call(protocol::PowChallengeRequest{envelope.urgency});
    REQUIRE(error_code(pc) == "");
    const crypto::PowChallenge quiet{b64(pc["challenge"]), 256};
    asked.push_back(pc["effort"].get<std::uint32_t>());
    stockpile.push_back({quiet.seed, floor_proof(quiet, hash)});
  }
  // Each challenge asked raised the price of the next: the first 10 (the
  // rest of the room) at the floor, then up the reserve.
  CHECK(asked.front() == 256);
  CHECK(asked[9] == 256);
  CHECK(asked[10] == 512);
  CHECK(asked.back() == 256 << 7);
  CHECK(metric(hearthd, "hearth_pow_challenges_outstanding") == kBurst);
  int opened = 0;
  for (int i = 0; i < kBurst; ++i) {
    auto routed = conns[i]->call(protocol::RouteRequest{envelope, stockpile[i]});
    if (!error_code(routed).empty()) {
      CHECK(error_code(routed) == "pow_insufficient");
      continue;
    }
    TestSurvivor fake = TestSurvivor::make();
    if (error_code(open_case(*conns[i], routed, &fake, "fake")) == "") ++opened;
  }
  INFO("fake danger-now cases opened: " << opened);
  CHECK(opened == 10);
  CHECK(metric(hearthd, "hearth_pow_refused_total{reason=\"insufficient\"}") == kBurst - 10);

  // Replayed, each proof is refused: spent on its own connection, never
  // issued on another.
  for (int i = 0; i < kBurst; ++i) {
    CHECK(error_code(conns[i]->call(protocol::RouteRequest{envelope, stockpile[i]})) ==
          "pow_replayed");
    CHECK(error_code(conns[(i + 1) % kBurst]->call(
              protocol::RouteRequest{envelope, stockpile[i]})) == "pow_stale");
  }

  // A survivor in danger arriving after the burst is routed and opens a case.
  auto survivor_ws = WsClient::connect(hearthd.port());
  auto routed = route(*survivor_ws, envelope);
  REQUIRE(error_code(routed) == "");
  TestSurvivor survivor = TestSurvivor::make();
  CHECK(error_code(open_case(*survivor_ws, routed, &survivor, "help")) == "");
}

}  // namespace
}  // namespace hearth::test
