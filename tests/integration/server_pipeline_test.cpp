// Pipelining (docs/protocol.md "Pipelining"): a burst of sends or vault_puts
// on one connection, written without reading, is answered in request order,
// with its effects in request order, and shares storage commits; a request
// of another op waits for the burst and sees all of it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "protocol/codec.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

// More than the server lets one connection have in flight (8), within the
// frame burst the test config allows.
constexpr int kBurst = 24;

double commits(const HearthdProcess& hearthd) {
  return metric_value(http_get(hearthd.metrics_port(), "/metrics").body,
                      "hearth_storage_commits_total");
}

// Reads the next reply (events are skipped).
nlohmann::json next_reply(WsClient& ws) {
  for (;;) {
    WsFrame f = ws.read(std::chrono::seconds(20));
    REQUIRE(f.is_text());
    auto j = nlohmann::json::parse(f.text, nullptr, /*allow_exceptions=*/false);
    REQUIRE(!j.is_discarded());
    if (!j.contains("ev")) return j;
  }
}

struct Opened {
  std::unique_ptr<WsClient> responder;
  std::unique_ptr<WsClient> survivor;
  Bytes case_id;
};

Opened open_and_take(const TestResponder& ana, HearthdProcess& hearthd) {
  Opened out;
  out.responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*out.responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*out.responder, ana)) == "");
  out.survivor = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*out.survivor, envelope_for(protocol::Need::kShelter));
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(*out.survivor, routed, &survivor, "intake")) == "");
  out.case_id = take_case(*out.responder);
  return out;
}

TEST_CASE("a pipelined burst of sends is answered in order and shares commits", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  Opened o = open_and_take(ana, hearthd);

  const double before = commits(hearthd);
  for (int i = 0; i < kBurst; ++i) {
    protocol::SendRequest send{o.case_id, to_bytes("message " + std::to_string(i)), std::nullopt};
    o.survivor->send_text(
        protocol::encode(protocol::RequestFrame{static_cast<std::uint32_t>(1000 + i), send}));
  }
  // A barrier right behind the burst: answered after all of it.
  o.survivor->send_text(
      protocol::encode(protocol::RequestFrame{2000, protocol::VaultGetRequest{}}));
  for (int i = 0; i < kBurst; ++i) {
    auto reply = next_reply(*o.survivor);
    INFO(reply.dump());
    REQUIRE(reply["re"] == 1000 + i);
    REQUIRE(error_code(reply) == "");
    // The intake copy is seq 1 of the responder's mailbox; then in order.
    CHECK(reply["seq"] == 2 + i);
  }
  auto barrier = next_reply(*o.survivor);
  CHECK(barrier["re"] == 2000);
  CHECK(error_code(barrier) == "");
  const double used = commits(hearthd) - before;
  INFO("commits for " << kBurst << " sends: " << used);
  CHECK(used >= 1);
  CHECK(used < kBurst);  // group commit batched the burst

  // The responder receives them in the order they were sent.
  for (int i = 0; i < kBurst; ++i) {
    auto ev = o.responder->next_event_where(
        [](const nlohmann::json& j) { return j["ev"] == "envelope" && j["kind"] == "message"; },
        std::chrono::seconds(20));
    CHECK(ev["seq"] == 2 + i);
    CHECK(b64(ev["body"]) == to_bytes("message " + std::to_string(i)));
  }
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("pipelined vault_puts take effect in request order and a barrier sees them all",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  Opened o = open_and_take(ana, hearthd);

  // Each put names the version the one before it makes (compare-and-swap):
  // all succeed only if they commit one after the other, in request order.
  auto got = o.survivor->call(protocol::VaultGetRequest{});
  REQUIRE(error_code(got) == "");
  const std::int64_t first = got["version"].get<std::int64_t>();
  for (int i = 0; i < kBurst; ++i) {
    protocol::VaultPutRequest put{
        protocol::VaultPut{first + i, to_bytes("vault " + std::to_string(i))}};
    o.survivor->send_text(
        protocol::encode(protocol::RequestFrame{static_cast<std::uint32_t>(3000 + i), put}));
  }
  o.survivor->send_text(
      protocol::encode(protocol::RequestFrame{4000, protocol::VaultGetRequest{}}));
  for (int i = 0; i < kBurst; ++i) {
    auto reply = next_reply(*o.survivor);
    INFO(reply.dump());
    REQUIRE(reply["re"] == 3000 + i);
    REQUIRE(error_code(reply) == "");
    CHECK(reply["version"] == first + i + 1);
  }
  auto barrier = next_reply(*o.survivor);
  REQUIRE(barrier["re"] == 4000);
  CHECK(barrier["version"] == first + kBurst);
  CHECK(b64(barrier["blob"]) == to_bytes("vault " + std::to_string(kBurst - 1)));
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
