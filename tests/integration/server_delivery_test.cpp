// Delivery under load through the real hearthd: a responder's backlog in many
// mailboxes at login, and many survivors writing at once to one responder,
// are delivered in full, in order per mailbox, exactly once, without the
// responder being cut off (issue 12, hole 4). A client that stops reading is
// still closed: server_lifecycle_test.cpp.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/support/test_support.h"

namespace hearth::test {
namespace {

using nlohmann::json;

struct OpenedCase {
  std::unique_ptr<WsClient> ws;  // the survivor's connection
  TestSurvivor survivor;
  Bytes id;
};

// `n` cases, each opened by its own survivor and taken by `responder` (who
// must have the capacity); each survivor has seen its case_claimed.
std::vector<OpenedCase> open_taken_cases(const HearthdProcess& hearthd, WsClient& responder,
                                         int n) {
  std::vector<OpenedCase> out;
  for (int i = 0; i < n; ++i) {
    OpenedCase c{WsClient::connect(hearthd.port()), TestSurvivor::make(), {}};
    auto routed = route(*c.ws, envelope_for());
    if (error_code(routed) != "") throw std::runtime_error("route: " + routed.dump());
    auto opened = open_case(*c.ws, routed, &c.survivor, "intake");
    if (error_code(opened) != "") throw std::runtime_error("open_case: " + opened.dump());
    c.id = b64(routed["case"]);
    if (take_case(responder) != c.id) throw std::runtime_error("took another case");
    auto claimed = c.ws->next_event();
    if (claimed["ev"] != "case_claimed") throw std::runtime_error("no case_claimed");
    out.push_back(std::move(c));
  }
  return out;
}

std::string body_of(std::size_t c, int m, std::size_t pad) {
  std::string s = "c" + std::to_string(c) + "m" + std::to_string(m) + ":";
  s.resize(s.size() + pad, 'x');
  return s;
}

// Reads `messages` message envelopes per case (intake copies are skipped)
// and checks that each case's arrive exactly once, in order, with the
// bodies body_of(case index, 1..messages, pad).
void read_all_in_order(WsClient& ws, const std::vector<OpenedCase>& cases, int messages,
                       std::size_t pad) {
  std::map<Bytes, std::size_t> index;
  for (std::size_t i = 0; i < cases.size(); ++i) index[cases[i].id] = i;
  std::map<Bytes, int> got;
  std::map<Bytes, std::int64_t> last_seq;
  const int total = messages * static_cast<int>(cases.size());
  for (int received = 0; received < total;) {
    auto ev = ws.next_event(std::chrono::seconds(30));
    REQUIRE(ev["ev"] == "envelope");
    Bytes id = b64(ev["case"]);
    REQUIRE(index.contains(id));
    std::int64_t seq = ev["seq"].get<std::int64_t>();
    // Strictly increasing per mailbox: nothing twice, nothing out of order.
    REQUIRE(seq > last_seq[id]);
    last_seq[id] = seq;
    if (ev["kind"] == "intake") continue;
    int m = ++got[id];
    REQUIRE(m <= messages);
    REQUIRE(b64(ev["body"]) == to_bytes(body_of(index[id], m, pad)));
    ++received;
  }
  for (const auto& c : cases) CHECK(got[c.id] == messages);
}

bool no_slow_reader_dropped(const HearthdProcess& hearthd) {
  auto m = http_get(hearthd.metrics_port(), "/metrics");
  return m.body.find("hearth_slow_readers_dropped_total 0") != std::string::npos;
}

TEST_CASE("a responder with backlog in ten mailboxes gets all of it in order at login",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);  // default write queue: 64 frames
  hearthd.start();
  constexpr int kCases = 10;
  constexpr int kMessages = 20;
  std::vector<OpenedCase> cases;
  {
    auto ana_ws = WsClient::connect(hearthd.port());
    REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
    REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
    REQUIRE(error_code(ana_ws->call(
                protocol::PresenceRequest{protocol::Presence::kAvailable, kCases})) == "");
    cases = open_taken_cases(hearthd, *ana_ws, kCases);
  }  // ana goes offline; her mailboxes fill
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (int m = 1; m <= kMessages; ++m) {
      auto sent = cases[i].ws->call(
          protocol::SendRequest{cases[i].id, to_bytes(body_of(i, m, 0)), std::nullopt});
      REQUIRE(error_code(sent) == "");
    }
  }
  // 10 mailboxes x 21 envelopes: over three times the queue, all at login.
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  read_all_in_order(*ana_ws, cases, kMessages, 0);
  CHECK(error_code(ana_ws->call(protocol::ChallengeRequest{})) == "");
  CHECK(no_slow_reader_dropped(hearthd));
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("fifty survivors writing at once to one responder who reads are all delivered",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  // The watchdog for clients that stop reading is not what is tested here:
  // ana pauses while the survivors write, however long a loaded machine takes.
  HearthdProcess hearthd(org, json{{"limits", {{"write_stall_timeout_seconds", 600}}}});
  hearthd.start();
  constexpr int kCases = 50;
  constexpr int kMessages = 10;
  constexpr std::size_t kPad = 48 * 1024;  // 24 MB in all: far past socket buffers
  auto ana_ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ana_ws, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*ana_ws, ana)) == "");
  REQUIRE(error_code(ana_ws->call(
              protocol::PresenceRequest{protocol::Presence::kAvailable, kCases})) == "");
  std::vector<OpenedCase> cases = open_taken_cases(hearthd, *ana_ws, kCases);

  // Every survivor writes at once while ana, busy, reads nothing; then she
  // reads. Everything committed was pushed live or comes from storage.
  std::vector<std::thread> writers;
  std::vector<std::string> failures(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    writers.emplace_back([&, i] {
      try {
        for (int m = 1; m <= kMessages; ++m) {
          auto sent = cases[i].ws->call(
              protocol::SendRequest{cases[i].id, to_bytes(body_of(i, m, kPad)), std::nullopt},
              std::chrono::seconds(60));
          if (error_code(sent) != "") failures[i] = error_code(sent);
        }
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  }
  for (auto& t : writers) t.join();
  for (const auto& f : failures) REQUIRE(f == "");
  read_all_in_order(*ana_ws, cases, kMessages, kPad);
  CHECK(error_code(ana_ws->call(protocol::ChallengeRequest{})) == "");
  CHECK(no_slow_reader_dropped(hearthd));
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
