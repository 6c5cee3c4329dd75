// hearthd end to end: a responder and a survivor through the real binary.
#include <catch2/catch.hpp>

#include "crypto/encoding.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using protocol::Need;

TEST_CASE("a survivor reaches a responder and they exchange messages", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();

  auto responder = WsClient::connect(hearthd.port());
  auto login = responder_login(*responder, ana);
  REQUIRE(error_code(login) == "");
  CHECK(login["responder_id"] == "ana");
  CHECK(login["has_signed_prekey"] == false);
  auto up = upload_prekeys(*responder, ana);
  REQUIRE(error_code(up) == "");
  CHECK(up["one_time_prekeys"] == 5);

  auto survivor_ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*survivor_ws, envelope_for(Need::kShelter));
  REQUIRE(error_code(routed) == "");
  CHECK(routed["queue"] == "shelter");
  REQUIRE(routed["bundles"].size() == 1);
  CHECK(routed["bundles"][0].contains("one_time_prekey"));
  auto opened = open_case(*survivor_ws, routed, &survivor, "intake-1");
  REQUIRE(error_code(opened) == "");
  CHECK(opened["vault_version"] == 1);
  Bytes case_id = b64(routed["case"]);

  // The responder hears that one case waits, and nothing of it; the
  // survivor hears their place.
  auto waiting = responder->next_event_where(
      [](const nlohmann::json& j) { return j["ev"] == "waiting" && j["waiting"] == 1; },
      std::chrono::seconds(10));
  CHECK(waiting["urgent"] == 0);
  auto place = survivor_ws->next_status_event();
  CHECK(place["ev"] == "queue_status");
  CHECK(place["position"] == 1);
  CHECK(place["wait_band"] == "quarter-hour");

  // Before a responder takes it the survivor cannot send.
  auto early = survivor_ws->call(protocol::SendRequest{case_id, to_bytes("hello?"), std::nullopt});
  CHECK(error_code(early) == "not_claimed");

  auto claimed = responder->call(protocol::TakeNextRequest{});
  REQUIRE(error_code(claimed) == "");
  REQUIRE(claimed.contains("taken"));
  CHECK(claimed["taken"]["queue"] == "shelter");
  CHECK(b64(claimed["taken"]["case"]) == case_id);
  CHECK(claimed["taken"]["envelope"]["needs"][0] == "shelter");
  // Only now does the intake copy reach the responder who took it.
  auto intake = responder->next_event();
  CHECK(intake["ev"] == "envelope");
  CHECK(intake["kind"] == "intake");
  CHECK(intake["seq"] == 1);
  CHECK(b64(intake["body"]) == to_bytes("intake-1"));
  // Nothing else waits.
  auto none = responder->call(protocol::TakeNextRequest{});
  REQUIRE(error_code(none) == "");
  CHECK_FALSE(none.contains("taken"));
  auto claimed_ev = survivor_ws->next_event();
  CHECK(claimed_ev["ev"] == "case_claimed");
  CHECK(b64(claimed_ev["claimed_by"]) == ana.certificate_hash());

  auto sent = responder->call(protocol::SendRequest{case_id, to_bytes("I am here"), std::nullopt});
  REQUIRE(error_code(sent) == "");
  CHECK(sent["seq"] == 1);
  auto msg = survivor_ws->next_event();
  CHECK(msg["kind"] == "message");
  CHECK(b64(msg["body"]) == to_bytes("I am here"));
  CHECK(survivor_ws->call(protocol::AckRequest{case_id, 1}).contains("error") == false);

  auto vault = survivor_ws->call(protocol::VaultGetRequest{});
  REQUIRE(error_code(vault) == "");
  auto reply = survivor_ws->call(protocol::SendRequest{
      case_id, to_bytes("thank you"), protocol::VaultPut{vault["version"], b64(vault["blob"])}});
  REQUIRE(error_code(reply) == "");
  CHECK(reply["seq"] == 2);  // seq 1 in ana's mailbox is the intake copy
  CHECK(reply["vault_version"] == 2);
  auto got = responder->next_event();
  CHECK(b64(got["body"]) == to_bytes("thank you"));
  CHECK(got["seq"] == 2);

  // A stale vault version loses, and the message does not go out with it.
  auto stale = survivor_ws->call(
      protocol::SendRequest{case_id, to_bytes("lost"), protocol::VaultPut{1, b64(vault["blob"])}});
  CHECK(error_code(stale) == "conflict");

  // The survivor comes back on a new connection: the unacknowledged
  // message is pushed again after the login.
  CHECK(error_code(responder->call(
            protocol::SendRequest{case_id, to_bytes("still there?"), std::nullopt})) == "");
  survivor_ws->close();
  auto again = WsClient::connect(hearthd.port());
  auto relog = vault_login(*again, survivor);
  REQUIRE(error_code(relog) == "");
  CHECK(relog["version"] == 2);
  REQUIRE(relog["cases"].size() == 1);
  CHECK(b64(relog["cases"][0]["claimed_by"]) == ana.certificate_hash());
  auto backlog = again->next_event();
  CHECK(backlog["seq"] == 2);
  CHECK(b64(backlog["body"]) == to_bytes("still there?"));

  // Delete: the responder is told, and the vault goes with its last case.
  CHECK(error_code(again->call(protocol::DeleteCaseRequest{case_id})) == "");
  auto closed = responder->next_event();
  CHECK(closed["ev"] == "case_closed");
  CHECK(closed["reason"] == "deleted");
  auto gone = WsClient::connect(hearthd.port());
  CHECK(error_code(vault_login(*gone, survivor)) == "auth_failed");

  CHECK(hearthd.terminate() == 0);
  // The whole run's log names no peer and carries no body.
  std::string logs = hearthd.logs();
  CHECK(logs.find("127.0.0.1") == std::string::npos);
  for (const char* body : {"intake-1", "I am here", "thank you", "still there?"}) {
    CHECK(logs.find(body) == std::string::npos);
    CHECK(logs.find(crypto::base64url_encode(as_bytes(body))) == std::string::npos);
  }
}

}  // namespace
}  // namespace hearth::test
