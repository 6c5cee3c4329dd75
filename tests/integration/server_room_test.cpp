// The waiting room's bounds through the real hearthd (issue 12, holes 3 and
// 9): the cap holds at open_case, danger-now has reserved room, cases whose
// survivor left and nobody took are parked (across a restart too) and come
// back with their survivor, and a supervisor can dismiss a flood, with an
// audit entry.
#include <catch2/catch.hpp>
#include <thread>

#include "storage/storage.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/support/test_support.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using protocol::Need;
using protocol::Urgency;

std::unique_ptr<WsClient> responder_online(const HearthdProcess& hearthd, const TestResponder& r) {
  auto ws = WsClient::connect(hearthd.port());
  if (error_code(responder_login(*ws, r)) != "") throw std::runtime_error("login failed");
  if (error_code(upload_prekeys(*ws, r)) != "") throw std::runtime_error("upload failed");
  return ws;
}

// Every waiting case of every queue, as a supervisor sees it.
std::int64_t waiting_total(WsClient& supervisor) {
  auto health = supervisor.call(protocol::QueueHealthRequest{});
  if (error_code(health) != "") throw std::runtime_error("queue_health: " + health.dump());
  std::int64_t n = 0;
  for (const auto& q : health["queues"]) {
    for (const auto& c : q["classes"]) n += c["waiting"].get<std::int64_t>();
  }
  return n;
}

// Polls until the supervisor sees `n` waiting (the room changes on hearthd's
// timer); false after 20 s.
bool wait_waiting(WsClient& supervisor, std::int64_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waiting_total(supervisor) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

protocol::RouteEnvelope with_urgency(Need need, Urgency urgency) {
  protocol::RouteEnvelope e = envelope_for(need);
  e.urgency = urgency;
  return e;
}

// route + open_case with a new vault on `ws`: "" or the error code of the
// step that failed.
std::string try_open(WsClient& ws, const protocol::RouteEnvelope& envelope,
                     const TestSurvivor& survivor) {
  auto routed = route(ws, envelope);
  if (error_code(routed) != "") return error_code(routed);
  return error_code(open_case(ws, routed, &survivor, "help"));
}

TEST_CASE("the waiting-room cap holds at open_case, not only at route", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"}, std::nullopt, std::nullopt, 20);
  auto& sam = org.add_responder("sam", {"supervisor"});
  HearthdProcess hearthd(org, json{{"limits", {{"max_waiting_cases", 4}}}});
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto sam_ws = responder_online(hearthd, sam);
  // Nine routes while the room is empty, three per connection...
  std::vector<std::unique_ptr<WsClient>> conns;
  std::vector<std::vector<json>> routes(3);
  for (std::size_t i = 0; i < 3; ++i) {
    conns.push_back(WsClient::connect(hearthd.port()));
    for (int r = 0; r < 3; ++r) {
      auto routed = route(*conns[i], envelope_for(Need::kShelter));
      REQUIRE(error_code(routed) == "");
      routes[i].push_back(routed);
    }
  }
  // ...then every open_case: only as many commit as the room holds.
  std::size_t opened = 0;
  std::size_t refused = 0;
  std::vector<TestSurvivor> survivors;
  for (std::size_t i = 0; i < 3; ++i) survivors.push_back(TestSurvivor::make());
  for (std::size_t i = 0; i < 3; ++i) {
    bool logged_in = false;
    for (const auto& routed : routes[i]) {
      auto reply = open_case(*conns[i], routed, logged_in ? nullptr : &survivors[i], "help");
      if (error_code(reply) == "") {
        ++opened;
        logged_in = true;
      } else {
        CHECK(error_code(reply) == "unavailable");
        ++refused;
      }
    }
  }
  CHECK(opened == 4);
  CHECK(refused == 5);
  CHECK(waiting_total(*sam_ws) == 4);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("the waiting-room cap holds at handoff_accept too", "[integration]") {
  TestOrg org;
  auto& lena = org.add_responder("lena", {"legal", "shelter"});
  auto& ivan = org.add_responder("ivan", {"immigration"});
  auto& sam = org.add_responder("sam", {"supervisor"});
  HearthdProcess hearthd(org, json{{"limits", {{"max_waiting_cases", 1}}}});
  hearthd.start();
  auto lena_ws = responder_online(hearthd, lena);
  auto ivan_ws = responder_online(hearthd, ivan);
  auto sam_ws = responder_online(hearthd, sam);
  auto ws = WsClient::connect(hearthd.port());
  auto routed = route(*ws, envelope_for(Need::kLegal));
  REQUIRE(error_code(routed) == "");
  TestSurvivor survivor = TestSurvivor::make();
  REQUIRE(error_code(open_case(*ws, routed, &survivor, "papers")) == "");
  const Bytes case_id = b64(routed["case"]);
  REQUIRE(take_case(*lena_ws) == case_id);
  REQUIRE(error_code(lena_ws->call(protocol::HandoffRequest{case_id, "immigration"})) == "");
  // Someone else fills the room meanwhile.
  auto other = WsClient::connect(hearthd.port());
  REQUIRE(try_open(*other, envelope_for(Need::kShelter), TestSurvivor::make()) == "");
  REQUIRE(waiting_total(*sam_ws) == 1);

  auto offer = ws->call(protocol::HandoffOfferRequest{case_id});
  REQUIRE(error_code(offer) == "");
  REQUIRE(offer["bundles"].size() == 1);
  protocol::HandoffAcceptRequest accept;
  accept.case_id = case_id;
  accept.share = protocol::HandoffShare::kNewOnly;
  accept.intake = {{ivan.certificate_hash(), to_bytes("summary")}};
  CHECK(error_code(ws->call(accept)) == "unavailable");
  CHECK(waiting_total(*sam_ws) == 1);
  // Nothing moved: lena still holds it and writes.
  CHECK(error_code(lena_ws->call(protocol::SendRequest{case_id, to_bytes("hi"), std::nullopt})) ==
        "");
  // Once there is room, the same accept goes through.
  take_case(*lena_ws);
  CHECK(error_code(ws->call(accept)) == "");
  CHECK(waiting_total(*sam_ws) == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a room full of other requests still takes a danger-now request", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter", "immediate-safety", "counselling"}, std::nullopt,
                                std::nullopt, 20);
  auto& sam = org.add_responder("sam", {"supervisor"});
  // 10 % of 10: one place only danger-now may take.
  HearthdProcess hearthd(org, json{{"limits", {{"max_waiting_cases", 10}}}});
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto sam_ws = responder_online(hearthd, sam);
  std::vector<std::unique_ptr<WsClient>> conns;
  std::size_t opened = 0;
  std::string refused;
  for (int i = 0; i < 12 && refused.empty(); ++i) {
    conns.push_back(WsClient::connect(hearthd.port()));
    refused = try_open(*conns.back(), envelope_for(Need::kShelter), TestSurvivor::make());
    if (refused.empty()) ++opened;
  }
  CHECK(refused == "unavailable");
  CHECK(opened == 9);
  auto danger = WsClient::connect(hearthd.port());
  CHECK(try_open(*danger, with_urgency(Need::kShelter, Urgency::kDangerNow),
                 TestSurvivor::make()) == "");
  CHECK(waiting_total(*sam_ws) == 10);
  // The cap itself still holds for danger-now.
  auto second = WsClient::connect(hearthd.port());
  CHECK(try_open(*second, with_urgency(Need::kShelter, Urgency::kDangerNow),
                 TestSurvivor::make()) == "unavailable");
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("cases whose survivor left and nobody took are parked, across a restart too",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"}, std::nullopt, std::nullopt, 20);
  auto& sam = org.add_responder("sam", {"supervisor"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_waiting_cases", 3}, {"park_away_after_seconds", 2}}}});
  hearthd.start();
  auto sam_ws = responder_online(hearthd, sam);
  { auto ana_ws = responder_online(hearthd, ana); }
  std::vector<TestSurvivor> survivors;
  std::vector<Bytes> case_ids;
  for (int i = 0; i < 3; ++i) {
    survivors.push_back(TestSurvivor::make());
    auto ws = WsClient::connect(hearthd.port());
    auto routed = route(*ws, envelope_for(Need::kShelter));
    REQUIRE(error_code(routed) == "");
    REQUIRE(error_code(open_case(*ws, routed, &survivors.back(), "help")) == "");
    case_ids.push_back(b64(routed["case"]));
  }  // every survivor leaves
  CHECK(waiting_total(*sam_ws) <= 3);
  // Gone past the window: out of the room, which takes new requests again.
  REQUIRE(wait_waiting(*sam_ws, 0));
  auto newcomer = WsClient::connect(hearthd.port());
  CHECK(error_code(route(*newcomer, envelope_for(Need::kShelter))) == "");
  newcomer->close();
  sam_ws->close();
  wait_connections_open(hearthd, 0);

  // Still parked after a restart: the room is empty from the start.
  REQUIRE(hearthd.terminate() == 0);
  hearthd.start();
  sam_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*sam_ws, sam)) == "");
  CHECK(waiting_total(*sam_ws) == 0);

  // A survivor who comes back brings their case back, at the head of the line.
  auto back = WsClient::connect(hearthd.port());
  REQUIRE(error_code(vault_login(*back, survivors[1])) == "");
  REQUIRE(wait_waiting(*sam_ws, 1));
  auto place = back->next_status_event();
  CHECK(b64(place["case"]) == case_ids[1]);
  CHECK(place["position"] == 1);
  auto ana_ws = WsClient::connect(hearthd.port());  // her prekeys are stored already
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  CHECK(take_case(*ana_ws) == case_ids[1]);
  CHECK(waiting_total(*sam_ws) == 0);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a supervisor dismisses waiting cases in bulk, with one audit entry each time",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter", "legal"}, std::nullopt, std::nullopt, 20);
  auto& sam = org.add_responder("sam", {"supervisor"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ana_ws = responder_online(hearthd, ana);
  auto sam_ws = responder_online(hearthd, sam);
  // Three fake cases whose "survivors" left, and a real survivor still there.
  for (int i = 0; i < 3; ++i) {
    auto ws = WsClient::connect(hearthd.port());
    REQUIRE(try_open(*ws, envelope_for(Need::kShelter), TestSurvivor::make()) == "");
  }
  auto present = WsClient::connect(hearthd.port());
  auto routed = route(*present, envelope_for(Need::kLegal));
  REQUIRE(error_code(routed) == "");
  TestSurvivor real = TestSurvivor::make();
  REQUIRE(error_code(open_case(*present, routed, &real, "help")) == "");
  const Bytes real_case = b64(routed["case"]);
  wait_connections_open(hearthd, 3);  // ana, sam, the real survivor
  REQUIRE(wait_waiting(*sam_ws, 4));

  // Supervisors only; and a window must be a window.
  protocol::DismissWaitingRequest away_only{std::nullopt, std::nullopt, std::nullopt, true};
  CHECK(error_code(ana_ws->call(away_only)) == "forbidden");
  CHECK(error_code(sam_ws->call(protocol::DismissWaitingRequest{10, 10, std::nullopt, false})) ==
        "bad_field");
  CHECK(error_code(sam_ws->call(protocol::DismissWaitingRequest{std::nullopt, std::nullopt,
                                                                "nowhere", false})) == "bad_field");
  CHECK(waiting_total(*sam_ws) == 4);

  auto dismissed = sam_ws->call(away_only);
  REQUIRE(error_code(dismissed) == "");
  CHECK(dismissed["dismissed"] == 3);
  CHECK(dismissed["remaining"] == 0);
  CHECK(waiting_total(*sam_ws) == 1);

  // By queue and arrival window, survivor connected or not: they are told.
  const UnixSeconds now = SystemClock().now();
  auto by_queue = sam_ws->call(
      protocol::DismissWaitingRequest{now - 3600, now + 3600, std::string("legal"), false});
  REQUIRE(error_code(by_queue) == "");
  CHECK(by_queue["dismissed"] == 1);
  auto closed = present->next_event_where([](const json& e) { return e["ev"] == "case_closed"; },
                                          std::chrono::seconds(10));
  CHECK(b64(closed["case"]) == real_case);
  CHECK(closed["reason"] == "deleted");
  CHECK(waiting_total(*sam_ws) == 0);
  // Its vault had no other case: it went in the same storage job (a survivor
  // asks again with a new case, and a new codename).
  auto relog = WsClient::connect(hearthd.port());
  CHECK(error_code(vault_login(*relog, real)) == "auth_failed");
  relog->close();
  ana_ws->close();
  sam_ws->close();
  present->close();
  wait_connections_open(hearthd, 0);
  REQUIRE(hearthd.terminate() == 0);

  // In the database: no case left, two audit entries with counts only.
  storage::StorageOptions options;
  options.database_path = hearthd.data_dir() / "hearth.db";
  options.key_path = hearthd.data_dir() / "master.key";
  auto opened = storage::Storage::open(options);
  REQUIRE(opened.is_ok());
  auto& stores = (*opened)->stores();
  CHECK(stores.cases.list_open().value().empty());
  // No vault left either: each of the four had only the dismissed case.
  CHECK(stores.vaults.remove_all_but({}).value() == 0);
  auto entries = stores.audit.entries(0, 100).value();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].action == "dismiss_waiting");
  CHECK(entries[0].detail == "by sam: dismissed 3 waiting, 0 more matching");
  CHECK(entries[1].detail == "by sam: dismissed 1 waiting, 0 more matching");
  CHECK(stores.audit.verify_chain().is_ok());
}

}  // namespace
}  // namespace hearth::test
