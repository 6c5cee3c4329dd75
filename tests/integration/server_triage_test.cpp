// Triage through the real hearthd: routing by language and presence,
// escalation, take_next, handoff with and without the survivor's consent,
// close with an outcome, and the supervisor view. The raw client sends
// opaque bodies: the server never looks inside them, so the routing shown
// here is the server's alone (the client library's crypto end to end is in
// relay_triage_test.cpp).
#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "common/files.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/support/test_support.h"
#include "triage/rules.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using protocol::Need;
using protocol::Urgency;

protocol::RouteEnvelope spanish(Need need, Urgency urgency) {
  protocol::RouteEnvelope e = envelope_for(need);
  e.urgency = urgency;
  e.languages = {"es"};
  return e;
}

std::unique_ptr<WsClient> responder_online(const HearthdProcess& hearthd, const TestResponder& r) {
  auto ws = WsClient::connect(hearthd.port());
  if (error_code(responder_login(*ws, r)) != "") throw std::runtime_error("login failed");
  if (error_code(upload_prekeys(*ws, r)) != "") throw std::runtime_error("upload failed");
  return ws;
}

json take_next(WsClient& ws) { return ws.call(protocol::TakeNextRequest{}); }

// Opens a case for `envelope` on a new connection; returns the case id.
Bytes open_new_case(WsClient& ws, const protocol::RouteEnvelope& envelope,
                    const TestSurvivor& survivor, const std::string& body = "help") {
  auto routed = route(ws, envelope);
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(ws, routed, &survivor, body)) == "");
  return b64(routed["case"]);
}

TEST_CASE("a Spanish danger-now request goes to the Spanish speaker first", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"immediate-safety"}, std::nullopt, std::nullopt, 5, {"en"});
  auto& beto =
      org.add_responder("beto", {"immediate-safety"}, std::nullopt, std::nullopt, 5, {"es", "en"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto beto_ws = responder_online(hearthd, beto);

  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*ws, spanish(Need::kShelter, Urgency::kDangerNow));
  REQUIRE(error_code(routed) == "");
  CHECK(routed["queue"] == "immediate-safety");
  // Both get an intake copy made for them (escalation needs no second trip
  // to the survivor), the Spanish speaker first.
  REQUIRE(routed["bundles"].size() == 2);
  REQUIRE(error_code(open_case(*ws, routed, &survivor, "ayuda")) == "");

  // ana has no Spanish: while beto is online the case is not hers to take.
  auto ana_first = take_next(*ana_ws);
  REQUIRE(error_code(ana_first) == "");
  CHECK_FALSE(ana_first.contains("taken"));
  auto beto_waiting = beto_ws->next_event_where(
      [](const json& j) { return j["ev"] == "waiting" && j["waiting"] == 1; },
      std::chrono::seconds(10));
  CHECK(beto_waiting["urgent"] == 1);
  auto taken = take_next(*beto_ws);
  REQUIRE(error_code(taken) == "");
  REQUIRE(taken.contains("taken"));
  CHECK(taken["taken"]["class"] == "danger-now");
  CHECK(taken["taken"]["interpreter"] == false);
  CHECK(taken["taken"]["envelope"]["urgency"] == "danger-now");
  auto intake = beto_ws->next_event();
  CHECK(intake["kind"] == "intake");
  CHECK(b64(intake["body"]) == to_bytes("ayuda"));
  auto claimed = ws->next_event();
  CHECK(claimed["ev"] == "case_claimed");
  CHECK(b64(claimed["claimed_by"]) == beto.certificate_hash());
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("with no Spanish speaker online a danger-now request escalates at once",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"immediate-safety"}, std::nullopt, std::nullopt, 5, {"en"});
  auto& beto =
      org.add_responder("beto", {"immediate-safety"}, std::nullopt, std::nullopt, 5, {"es"});
  HearthdProcess hearthd(org);
  hearthd.start();
  {
    // beto has logged in once (so the server holds his prekeys) and left.
    auto beto_ws = responder_online(hearthd, beto);
  }
  wait_connections_open(hearthd, 0);
  auto ana_ws = responder_online(hearthd, ana);
  SECTION("beto is offline") {}
  SECTION("beto is online but away") {
    auto beto_ws = WsClient::connect(hearthd.port());
    REQUIRE(error_code(responder_login(*beto_ws, beto)) == "");
    REQUIRE(error_code(beto_ws->call(protocol::PresenceRequest{protocol::Presence::kAway, 1})) ==
            "");
    // Away responders are handed nothing.
    CHECK(error_code(take_next(*beto_ws)) == "forbidden");
    beto_ws->close();
    wait_connections_open(hearthd, 1);  // ana only
  }
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  open_new_case(*ws, spanish(Need::kMedical, Urgency::kDangerNow), survivor, "ayuda");
  // No timeout to wait out: the language step is skipped because nobody
  // who speaks Spanish is available, and ana takes it with an interpreter.
  auto taken = take_next(*ana_ws);
  REQUIRE(error_code(taken) == "");
  REQUIRE(taken.contains("taken"));
  CHECK(taken["taken"]["interpreter"] == true);
  CHECK(taken["taken"]["queue"] == "immediate-safety");
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("take_next serves danger-now first, then the longest waiting, one case each",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"immediate-safety", "shelter", "counselling"});
  auto& bo = org.add_responder("bo", {"immediate-safety", "shelter", "counselling"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto bo_ws = responder_online(hearthd, bo);
  TestSurvivor s1 = TestSurvivor::make();
  TestSurvivor s2 = TestSurvivor::make();
  auto ws1 = WsClient::connect(hearthd.port());
  auto ws2 = WsClient::connect(hearthd.port());
  Bytes today = open_new_case(*ws1, envelope_for(Need::kShelter), s1);
  auto danger = envelope_for(Need::kShelter);
  danger.urgency = Urgency::kDangerNow;
  Bytes urgent = open_new_case(*ws2, danger, s2);
  auto place = ws1->next_status_event();
  CHECK(place["position"] == 1);
  CHECK(place["wait_band"] != "nobody-online");

  // The later danger-now case goes first.
  auto first = take_next(*ana_ws);
  REQUIRE(first.contains("taken"));
  CHECK(b64(first["taken"]["case"]) == urgent);
  // Racing take_next calls never hand out one case twice.
  std::optional<json> a;
  std::optional<json> b;
  {
    std::thread ta([&] { a.emplace(take_next(*ana_ws)); });
    std::thread tb([&] { b.emplace(take_next(*bo_ws)); });
    ta.join();
    tb.join();
  }
  REQUIRE(error_code(*a) == "");
  REQUIRE(error_code(*b) == "");
  REQUIRE(a->contains("taken") != b->contains("taken"));
  const json& winner = a->contains("taken") ? *a : *b;
  CHECK(b64(winner["taken"]["case"]) == today);
  CHECK_FALSE(take_next(*bo_ws).contains("taken"));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a legal case moves to immigration only after the survivor consents", "[integration]") {
  TestOrg org;
  auto& lena = org.add_responder("lena", {"legal"});
  auto& ivan = org.add_responder("ivan", {"immigration"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto lena_ws = responder_online(hearthd, lena);
  auto ivan_ws = responder_online(hearthd, ivan);
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  Bytes case_id = open_new_case(*ws, envelope_for(Need::kLegal), survivor, "papers");
  REQUIRE(take_case(*lena_ws) == case_id);
  ws->next_event();  // case_claimed

  // Only the holder may propose, and only a queue of the rules.
  CHECK(error_code(ivan_ws->call(protocol::HandoffRequest{case_id, "immigration"})) == "not_found");
  CHECK(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "nowhere"})) == "bad_field");
  CHECK(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "legal"})) == "bad_field");
  // A queue with nobody else in it is refused before the survivor is asked.
  CHECK(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "medical"})) == "no_responder");
  REQUIRE(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "immigration"})) == "");
  auto proposed = ws->next_event();
  CHECK(proposed["ev"] == "handoff_proposed");
  CHECK(proposed["queue"] == "immigration");
  // Nothing moved: ivan has nothing to take, lena still writes.
  CHECK_FALSE(take_next(*ivan_ws).contains("taken"));
  CHECK(error_code(lena_ws->call(protocol::SendRequest{case_id, to_bytes("hi"), std::nullopt})) ==
        "");

  SECTION("the survivor declines: the case stays with lena") {
    REQUIRE(error_code(ws->call(protocol::HandoffDeclineRequest{case_id})) == "");
    auto declined = lena_ws->next_event();
    CHECK(declined["ev"] == "handoff_declined");
    CHECK_FALSE(take_next(*ivan_ws).contains("taken"));
    CHECK(error_code(ws->call(protocol::HandoffOfferRequest{case_id})) == "not_found");
    CHECK(error_code(lena_ws->call(
              protocol::SendRequest{case_id, to_bytes("still here"), std::nullopt})) == "");
    auto relog = WsClient::connect(hearthd.port());
    auto login = vault_login(*relog, survivor);
    REQUIRE(error_code(login) == "");
    CHECK_FALSE(login["cases"][0].contains("handoff_queue"));
    CHECK(login["cases"][0]["queue"] == "legal");
  }
  SECTION("the survivor consents: the case moves and lena's access ends") {
    // A survivor logging in meanwhile sees the proposal.
    auto relog = WsClient::connect(hearthd.port());
    auto login = vault_login(*relog, survivor);
    REQUIRE(error_code(login) == "");
    CHECK(login["cases"][0]["handoff_queue"] == "immigration");

    auto offer = ws->call(protocol::HandoffOfferRequest{case_id});
    REQUIRE(error_code(offer) == "");
    CHECK(offer["queue"] == "immigration");
    REQUIRE(offer["bundles"].size() == 1);  // ivan; never the responder who proposed it
    protocol::HandoffAcceptRequest accept;
    accept.case_id = case_id;
    accept.share = protocol::HandoffShare::kSummary;
    auto cert = crypto::ResponderCertificate::decode(b64(offer["bundles"][0]["certificate"]));
    REQUIRE(cert.is_ok());
    CHECK(cert->hash() == ivan.certificate_hash());
    // A copy for a certificate the offer did not include is refused.
    accept.intake = {{lena.certificate_hash(), to_bytes("summary")}};
    CHECK(error_code(ws->call(accept)) == "bad_field");
    accept.intake = {{ivan.certificate_hash(), to_bytes("summary")}};
    REQUIRE(error_code(ws->call(accept)) == "");

    auto ended = lena_ws->next_event();
    CHECK(ended["ev"] == "case_closed");
    CHECK(ended["reason"] == "handed-off");
    CHECK(error_code(lena_ws->call(
              protocol::SendRequest{case_id, to_bytes("hello?"), std::nullopt})) == "not_found");
    auto taken = take_next(*ivan_ws);
    REQUIRE(taken.contains("taken"));
    CHECK(taken["taken"]["queue"] == "immigration");
    auto intake = ivan_ws->next_event();
    CHECK(intake["kind"] == "intake");
    CHECK(intake["seq"] == 1);
    CHECK(b64(intake["body"]) == to_bytes("summary"));
    auto claimed = ws->next_event_where([](const json& j) { return j["ev"] == "case_claimed"; },
                                        std::chrono::seconds(10));
    CHECK(b64(claimed["claimed_by"]) == ivan.certificate_hash());
    CHECK(error_code(ws->call(protocol::SendRequest{case_id, to_bytes("thanks"), std::nullopt})) ==
          "");
  }
  CHECK(hearthd.terminate() == 0);
  check_logs_clean(hearthd, {"papers", "summary"});
}

TEST_CASE("closing a case with an outcome ends it for both and keeps only a count",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = WsClient::connect(hearthd.port());
  auto login = responder_login(*ana_ws, ana);
  REQUIRE(error_code(login) == "");
  REQUIRE(login["outcomes"].size() > 0);
  std::string outcome = login["outcomes"][0];
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  Bytes case_id = open_new_case(*ws, envelope_for(Need::kShelter), survivor);
  REQUIRE(take_case(*ana_ws) == case_id);
  ws->next_event();  // case_claimed
  REQUIRE(error_code(ana_ws->call(
              protocol::SendRequest{case_id, to_bytes("take care"), std::nullopt})) == "");

  CHECK(error_code(ana_ws->call(protocol::CloseCaseRequest{case_id, "no-such-outcome"})) ==
        "bad_field");
  REQUIRE(error_code(ana_ws->call(protocol::CloseCaseRequest{case_id, outcome})) == "");
  // The last reply still reaches the survivor, then the notice.
  auto last = ws->next_event();
  CHECK(last["ev"] == "envelope");
  auto closed = ws->next_event();
  CHECK(closed["ev"] == "case_closed");
  CHECK(closed["reason"] == "closed");
  CHECK(error_code(ws->call(protocol::SendRequest{case_id, to_bytes("wait"), std::nullopt})) ==
        "closed");
  CHECK(error_code(ana_ws->call(protocol::SendRequest{case_id, to_bytes("x"), std::nullopt})) ==
        "closed");
  CHECK(error_code(ana_ws->call(protocol::CloseCaseRequest{case_id, outcome})) == "closed");
  auto relog = WsClient::connect(hearthd.port());
  auto again = vault_login(*relog, survivor);
  REQUIRE(error_code(again) == "");
  CHECK(again["cases"][0]["closed"] == true);
  // The survivor can still delete it.
  CHECK(error_code(relog->call(protocol::DeleteCaseRequest{case_id})) == "");
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("queue health is for supervisors and holds counts only", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  auto& sam = org.add_responder("sam", {"supervisor"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto sam_ws = responder_online(hearthd, sam);
  CHECK(error_code(ana_ws->call(protocol::QueueHealthRequest{})) == "forbidden");
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  open_new_case(*ws, envelope_for(Need::kShelter), survivor);

  auto health = sam_ws->call(protocol::QueueHealthRequest{});
  REQUIRE(error_code(health) == "");
  const json* shelter = nullptr;
  for (const auto& q : health["queues"]) {
    if (q["queue"] == "shelter") shelter = &q;
  }
  REQUIRE(shelter != nullptr);
  CHECK((*shelter)["responders_available"] == 1);
  std::int64_t waiting = 0;
  for (const auto& c : (*shelter)["classes"]) waiting += c["waiting"].get<std::int64_t>();
  CHECK(waiting == 1);
  CHECK(health.dump().find("case") == std::string::npos);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a survivor who drops off keeps their place and is told it on return", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  { auto ana_ws = responder_online(hearthd, ana); }
  wait_connections_open(hearthd, 0);
  TestSurvivor survivor = TestSurvivor::make();
  Bytes case_id;
  {
    auto ws = WsClient::connect(hearthd.port());
    case_id = open_new_case(*ws, envelope_for(Need::kShelter), survivor);
    auto place = ws->next_status_event();
    CHECK(place["position"] == 1);
    CHECK(place["wait_band"] == "nobody-online");
  }
  // The survivor is gone; the case still waits and is handed out.
  auto back = WsClient::connect(hearthd.port());
  REQUIRE(error_code(vault_login(*back, survivor)) == "");
  auto place = back->next_status_event();
  CHECK(b64(place["case"]) == case_id);
  CHECK(place["position"] == 1);
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(take_case(*ana_ws) == case_id);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test

namespace hearth::test {
namespace {

bool wait_for_log(const HearthdProcess& hearthd, std::string_view event) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!hearthd.log_events(event).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_CASE("past max_waiting_cases a new request is turned away with unavailable", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits", {{"max_waiting_cases", 1}}}});
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor first = TestSurvivor::make();
  open_new_case(*ws, envelope_for(Need::kShelter), first);
  auto other = WsClient::connect(hearthd.port());
  auto refused = route(*other, envelope_for(Need::kShelter));
  CHECK(error_code(refused) == "unavailable");
  // Once it is taken there is room again.
  take_case(*ana_ws);
  CHECK(error_code(route(*other, envelope_for(Need::kShelter))) == "");
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("SIGHUP reloads the routing rules and refuses a bad file", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter", "help"});
  TempDir dir;
  const auto rules_path = dir.path() / "routing.json";
  auto write_rules = [&](const std::string& text) {
    REQUIRE(write_private_file(rules_path, as_bytes(text), Overwrite::kAllow).is_ok());
  };
  auto rules = json::parse(triage::default_rules_json());
  write_rules(rules.dump());
  HearthdProcess hearthd(org, json{{"rules_file", rules_path.string()}});
  hearthd.start();
  REQUIRE(wait_for_log(hearthd, "rules_loaded"));
  auto ana_ws = responder_online(hearthd, ana);

  // A broken file is refused and the running rules stay.
  write_rules("{\"version\": 2, \"classes\": []}");
  hearthd.hangup();
  REQUIRE(wait_for_log(hearthd, "rules_reload_refused"));
  auto ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*ws, envelope_for(Need::kShelter));
  REQUIRE(error_code(routed) == "");
  CHECK(routed["queue"] == "shelter");

  // A good one takes over: every request now goes to the queue "help".
  rules["version"] = 2;
  rules["filters"] = json::array();
  rules["default"] = json::array({{{"queue", "help"}, {"eligible", "anyone"}, {"class", "today"}}});
  write_rules(rules.dump());
  hearthd.hangup();
  REQUIRE(wait_for_log(hearthd, "rules_reloaded"));
  auto routed_again = route(*ws, envelope_for(Need::kShelter));
  REQUIRE(error_code(routed_again) == "");
  CHECK(routed_again["queue"] == "help");
  CHECK(hearthd.log_events("rules_reloaded").front()["version"] == 2);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
