// Fair shares per source at the front door (server/admission.h): a flood from
// one address (127.0.0.2) larger than a pool pushes out its own connections,
// not a legitimate client's on another (127.0.0.1) -- mid-login, between
// pow_challenge and route, with half its upgrade request sent, or logging into
// a new vault while the attacker's vaults fill the survivor pool. Every
// 127.0.0.0/8 address is loopback on Linux. The real hearthd on loopback.
#include <poll.h>
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crypto/pow.h"
#include "crypto/trust.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::string kAttacker = "127.0.0.2";

double metric(const HearthdProcess& hearthd, const std::string& name) {
  return metric_value(http_get(hearthd.metrics_port(), "/metrics").body, name);
}

// Waits (up to 20 s) until `name` reaches `at_least`.
bool wait_metric(const HearthdProcess& hearthd, const std::string& name, double at_least) {
  auto deadline = Clock::now() + seconds(20);
  while (Clock::now() < deadline) {
    if (metric(hearthd, name) >= at_least) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

std::unique_ptr<WsClient> connect_from(const HearthdProcess& hearthd, const std::string& local) {
  return WsClient::connect(hearthd.port(), WsClient::Options{}, local);
}

// `n` anonymous WebSockets from `local` that do nothing.
std::vector<std::unique_ptr<WsClient>> idle_flood(const HearthdProcess& hearthd, int n,
                                                  const std::string& local) {
  std::vector<std::unique_ptr<WsClient>> idle;
  for (int i = 0; i < n; ++i) idle.push_back(connect_from(hearthd, local));
  return idle;
}

std::unique_ptr<WsClient> responder_online(const HearthdProcess& hearthd, const TestResponder& r) {
  auto ws = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*ws, r)) == "");
  REQUIRE(error_code(upload_prekeys(*ws, r)) == "");
  REQUIRE(error_code(ws->call(protocol::PresenceRequest{protocol::Presence::kAvailable, 50})) ==
          "");
  return ws;
}

// The connection still answers (it was not closed).
bool answers(WsClient& ws) { return error_code(ws.call(protocol::ChallengeRequest{})) == ""; }

// A raw TCP connection from a chosen local address: sends any bytes.
class RawConnection {
 public:
  RawConnection(std::uint16_t port, const std::string& local) : socket_(io_) {
    bind_local(socket_, local);
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  // False when the server has closed the connection.
  bool send(const std::string& bytes) {
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(bytes), ec);
    return !ec;
  }
  // What arrives until the reply head is complete, or "" when the server
  // closed first (or nothing came within `timeout`).
  std::string reply_head(milliseconds timeout) {
    std::string in;
    auto deadline = Clock::now() + timeout;
    while (in.find("\r\n\r\n") == std::string::npos && Clock::now() < deadline) {
      pollfd p{socket_.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char chunk[4096];
      boost::system::error_code ec;
      std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
      if (ec) return "";
      in.append(chunk, n);
    }
    return in;
  }
  // True when the server closes the socket within `timeout`.
  bool closed_within(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{socket_.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char chunk[4096];
      boost::system::error_code ec;
      socket_.read_some(asio::buffer(chunk), ec);
      if (ec) return true;
    }
    return false;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

TEST_CASE("a flood of login challenges from one address leaves another's login protected",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  // 8 anonymous places: at most 2 logging-in protections at once.
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 40}, {"max_anonymous_connections", 8}}}});
  hearthd.start();
  // A responder on a slow link asks for its challenge...
  auto console = WsClient::connect(hearthd.port());
  auto challenge = console->call(protocol::ChallengeRequest{});
  REQUIRE(error_code(challenge) == "");
  // ...and before its login frame arrives, one address opens three times the
  // pool, every connection claiming a logging-in protection.
  std::vector<std::unique_ptr<WsClient>> flood;
  for (int i = 0; i < 24; ++i) {
    flood.push_back(connect_from(hearthd, kAttacker));
    REQUIRE(error_code(flood.back()->call(protocol::ChallengeRequest{})) == "");
  }
  CHECK(wait_metric(hearthd, "hearth_anonymous_evicted_total", 17));
  CHECK(flood.front()->wait_closed() == 1013);
  auto sig = crypto::sign_responder_login(ana.signing, b64(challenge["challenge"]));
  auto login = console->call(protocol::ResponderLoginRequest{
      ana.certificate_bytes(), Bytes(sig.bytes.begin(), sig.bytes.end())});
  CHECK(error_code(login) == "");
  CHECK(metric(hearthd, "hearth_responders_open") == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a survivor solving its proof of work survives an idle flood from another address",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 40}, {"max_anonymous_connections", 8}}}});
  hearthd.start();
  auto responder = responder_online(hearthd, ana);
  // pow_challenge, then seconds of solving on a phone: nothing protects the
  // connection until its route is paid.
  auto survivor = WsClient::connect(hearthd.port());
  auto envelope = envelope_for();
  auto pc = survivor->call(protocol::PowChallengeRequest{envelope.urgency});
  REQUIRE(error_code(pc) == "");
  auto idle = idle_flood(hearthd, 24, kAttacker);
  CHECK(idle.front()->wait_closed() == 1013);
  CHECK(wait_metric(hearthd, "hearth_anonymous_evicted_total", 17));
  crypto::PowChallenge challenge{b64(pc["challenge"]), pc["effort"].get<std::uint32_t>()};
  Bytes hash = crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(envelope)));
  auto solution = crypto::solve_pow(challenge, "route", hash);
  REQUIRE(solution.is_ok());
  json routed;
  REQUIRE_NOTHROW(
      routed = survivor->call(protocol::RouteRequest{envelope, {challenge.seed, solution->nonce}}));
  CHECK(error_code(routed) == "");
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a half-sent upgrade request survives a handshake flood from another address",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_handshakes", 8}, {"handshake_timeout_seconds", 60}}}});
  hearthd.start();
  // A survivor on a slow link: the first half of its upgrade request is in.
  RawConnection survivor(hearthd.port(), "127.0.0.1");
  REQUIRE(survivor.send("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"));
  REQUIRE(wait_metric(hearthd, "hearth_handshakes_open", 1));
  // Three times the handshake pool from one address, each stalled.
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 24; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(hearthd.port(), kAttacker));
    (void)stalled.back()->send("GET /v1/ws HTTP/1.1\r\n");
  }
  CHECK(stalled.front()->closed_within(seconds(10)));
  CHECK(wait_metric(hearthd, "hearth_handshakes_evicted_total", 17));
  // The rest of the survivor's request arrives: it is upgraded.
  (void)survivor.send(
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n");
  CHECK(survivor.reply_head(seconds(10)).rfind("HTTP/1.1 101", 0) == 0);
  CHECK(metric(hearthd, "hearth_anonymous_open") == 1);
  (void)ana;
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a survivor pool filled by one address's vaults still admits a survivor from another",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"}, std::nullopt, std::nullopt, 10);
  // 8 places, 2 kept for responders: survivors hold at most 6.
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_connections", 8}, {"reserved_responder_connections", 2}}}});
  hearthd.start();
  auto responder = responder_online(hearthd, ana);
  // Six vaults from one address, each with a live case and one connection.
  std::vector<std::unique_ptr<WsClient>> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(connect_from(hearthd, kAttacker));
    auto routed = route(*held.back(), envelope_for());
    REQUIRE(error_code(routed) == "");
    TestSurvivor vault = TestSurvivor::make();
    REQUIRE(error_code(open_case(*held.back(), routed, &vault, "intake")) == "");
  }
  REQUIRE(metric(hearthd, "hearth_survivors_open") == 6);
  // A survivor from another address opens a case with a new vault: it stays
  // logged in, and the attacker's oldest connection gives way (1013).
  auto newcomer = WsClient::connect(hearthd.port());
  auto routed = route(*newcomer, envelope_for());
  REQUIRE(error_code(routed) == "");
  TestSurvivor mine = TestSurvivor::make();
  CHECK(error_code(open_case(*newcomer, routed, &mine, "intake")) == "");
  CHECK(held.front()->wait_closed() == 1013);
  CHECK(answers(*newcomer));
  CHECK(metric(hearthd, "hearth_survivors_made_way_total") == 1);
  CHECK(metric(hearthd, "hearth_survivors_refused_total") == 0);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
