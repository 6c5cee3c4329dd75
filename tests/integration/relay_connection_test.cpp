// hearth_client's Connection against a real hearthd: pipelined and typed
// calls, exact wire error codes, unsolicited errors on the event queue and its
// descriptor, timeouts, and what a dropped connection does to calls, events
// and sessions.
#include <poll.h>

#include <thread>

#include "clients/lib/login_retry.h"
#include "tests/integration/relay_support.h"
#include "tests/integration/support/checks.h"

namespace hearth::test {
namespace {

using client::Connection;
using client::protocol_error;
using namespace std::chrono_literals;

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

TEST_CASE("connection: pipelined and typed calls, wire errors, the event descriptor",
          "[integration][relay]") {
  Relay relay;
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto conn = Connection::connect(relay.endpoint()).value();
  CHECK(conn->is_open());

  auto pow = conn->call(protocol::PowChallengeRequest{});
  REQUIRE(pow.is_ok());
  CHECK(pow->effort == 16);
  CHECK(pow->challenge.size() == protocol::kPowChallengeBytes);
  CHECK(pow->expires_in == 90);

  std::vector<protocol::Request> many(20, protocol::Request(protocol::ChallengeRequest{}));
  auto replies = conn->call_all(std::move(many));
  REQUIRE(replies.size() == 20);
  for (auto& r : replies) {
    REQUIRE(r.is_ok());
    CHECK(std::get<protocol::ChallengeReply>(r.value()).challenge.size() == 32);
  }

  // A server error keeps its exact wire code.
  auto not_logged_in = conn->call(protocol::VaultGetRequest{});
  REQUIRE_FALSE(not_logged_in.is_ok());
  CHECK(protocol_error(not_logged_in.status()) == protocol::ErrorCode::kNotAuthenticated);
  CHECK(not_logged_in.status().message().starts_with("not_authenticated: "));
  auto unknown = conn->raw_call(R"({"v":1,"op":"challenge","id":4000000000,"extra":1})",
                                4000000000u, protocol::Op::kChallenge);
  REQUIRE_FALSE(unknown.is_ok());
  CHECK(protocol_error(unknown.status()) == protocol::ErrorCode::kUnknownField);

  // An error that answers no request lands on the event queue, and the
  // descriptor says so.
  CHECK_FALSE(readable(conn->event_fd(), 0));
  REQUIRE(conn->raw_send("this is not JSON").is_ok());
  CHECK(readable(conn->event_fd(), 20000));
  auto event = conn->next_event(1s);
  REQUIRE(event.is_ok());
  REQUIRE(event->has_value());
  auto* err = std::get_if<protocol::ProtocolError>(&**event);
  REQUIRE(err != nullptr);
  CHECK(err->code == protocol::ErrorCode::kMalformed);
  CHECK_FALSE(readable(conn->event_fd(), 0));
  auto none = conn->next_event(50ms);
  REQUIRE(none.is_ok());
  CHECK_FALSE(none->has_value());

  // A request larger than the server accepts is refused before it is sent.
  protocol::SendRequest huge;
  huge.case_id = Bytes(16, 1);
  huge.body = Bytes(300 * 1024, 7);
  CHECK(conn->call(std::move(huge)).status().code() == Code::kLimitExceeded);
  CHECK(conn->is_open());

  // The server goes away: the disconnect is an event-queue state.
  relay.hearthd->kill();
  CHECK(readable(conn->event_fd(), 20000));
  auto closed = conn->next_event(1s);
  CHECK(closed.status().code() == Code::kUnavailable);
  CHECK_FALSE(conn->is_open());
  CHECK(conn->call(protocol::ChallengeRequest{}).status().code() == Code::kUnavailable);
}

TEST_CASE("connection: a dropped connection completes every pending call", "[integration][relay]") {
  // One frame a second: the later calls stay unanswered for seconds.
  nlohmann::json slow = nlohmann::json::object();
  slow["limits"] = {{"frames_per_second", 1}, {"frame_burst", 1}};
  Relay relay(slow);
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto conn = Connection::connect(relay.endpoint()).value();
  std::vector<protocol::Request> calls(6, protocol::Request(protocol::ChallengeRequest{}));
  std::vector<Result<protocol::Reply>> results;
  auto started = std::chrono::steady_clock::now();
  std::thread caller([&] { results = conn->call_all(std::move(calls), 30s); });
  std::this_thread::sleep_for(300ms);
  conn->abort();
  caller.join();
  // Well before the calls' own 30 s timeout: the abort completed them.
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  REQUIRE(results.size() == 6);
  CHECK(results.back().status().code() == Code::kUnavailable);
  std::size_t failed = 0;
  for (auto& r : results) failed += r.is_ok() ? 0 : 1;
  CHECK(failed >= 3);
}

TEST_CASE("connection: a close with 1013 reads as unavailable and a login retries it",
          "[integration][relay]") {
  nlohmann::json small = nlohmann::json::object();
  small["limits"] = {{"max_connections", 10}, {"max_anonymous_connections", 2}};
  Relay relay(small);
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto oldest = Connection::connect(relay.endpoint()).value();
  REQUIRE(oldest->call(protocol::PowChallengeRequest{}).is_ok());
  // Two newer anonymous connections: the pool holds two, so the oldest
  // (unprotected: a route challenge alone does not protect) makes way.
  auto second = Connection::connect(relay.endpoint()).value();
  auto third = Connection::connect(relay.endpoint()).value();
  REQUIRE(second->call(protocol::PowChallengeRequest{}).is_ok());
  REQUIRE(third->call(protocol::PowChallengeRequest{}).is_ok());
  auto event = oldest->next_event(20s);
  REQUIRE_FALSE(event.is_ok());
  CHECK(protocol_error(event.status()) == protocol::ErrorCode::kUnavailable);
  CHECK(client::login_retryable(event.status()));
  CHECK(event.status().message().find("1013") != std::string::npos);
}

double replaced_total(const Relay& relay, const char* kind) {
  return metric_value(http_get(relay.hearthd->metrics_port(), "/metrics").body,
                      std::string("hearth_logins_replaced_total{kind=\"") + kind + "\"}");
}

TEST_CASE("sessions: a 4th login of a vault closes the 1st with 4001, reported as replaced",
          "[integration][relay]") {
  // The defaults: three connections per vault; a responder gets two here.
  nlohmann::json two = nlohmann::json::object();
  two["limits"] = {{"max_connections_per_responder", 2}};
  Relay relay(two);
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto first_responder = relay.login(*store);
  auto started = relay.open_case("is anyone there");

  // Three newer logins of the same vault: the first session is the oldest of four.
  std::vector<std::unique_ptr<client::SurvivorSession>> newer;
  for (int i = 0; i < 3; ++i) newer.push_back(relay.resume(started.codename));
  auto gone = poll_until(*started.session, [](auto& u) {
    return count_kind(u, client::SurvivorUpdate::Kind::kReplaced) +
               count_kind(u, client::SurvivorUpdate::Kind::kDisconnected) >=
           1;
  });
  // Its own outcome, not a lost connection: the client must not reconnect.
  CHECK(count_kind(gone, client::SurvivorUpdate::Kind::kReplaced) == 1);
  CHECK(count_kind(gone, client::SurvivorUpdate::Kind::kDisconnected) == 0);
  for (const auto& u : gone) {
    if (u.kind != client::SurvivorUpdate::Kind::kReplaced) continue;
    CHECK(u.text.find("4001") != std::string::npos);
    // What the connection's calls fail with: its own outcome, neither a
    // wire error nor one a login retries.
    // The outcome is carried as a type (Kind::kReplaced above, Status::detail on
    // the calls), never read back from text: the same words rebuilt are not it.
    const Status replaced(Code::kConflict, u.text);
    CHECK_FALSE(client::replaced_by_newer_login(replaced));
    CHECK_FALSE(client::login_retryable(replaced));
    CHECK_FALSE(client::protocol_error(replaced).has_value());
  }
  CHECK(replaced_total(relay, "vault") == 1);
  // The three newer sessions stay.
  for (auto& s : newer) {
    auto u = s->poll(std::chrono::milliseconds(0));
    REQUIRE(u.is_ok());
    CHECK(count_kind(*u, client::SurvivorUpdate::Kind::kReplaced) == 0);
    CHECK(count_kind(*u, client::SurvivorUpdate::Kind::kDisconnected) == 0);
  }

  // A responder past its cap (2 here): the same outcome.
  auto second_responder = relay.login(*store);
  auto third_responder = relay.login(*store);
  auto kicked = poll_until(*first_responder, [](auto& u) {
    return count_kind(u, client::ResponderUpdate::Kind::kReplaced) +
               count_kind(u, client::ResponderUpdate::Kind::kDisconnected) >=
           1;
  });
  CHECK(count_kind(kicked, client::ResponderUpdate::Kind::kReplaced) == 1);
  CHECK(count_kind(kicked, client::ResponderUpdate::Kind::kDisconnected) == 0);
  CHECK(replaced_total(relay, "responder") == 1);
}

TEST_CASE("connection: a call that times out leaves the connection usable",
          "[integration][relay]") {
  // One frame a second, burst one: the second of two calls is answered after ~1 s.
  nlohmann::json slow = nlohmann::json::object();
  slow["limits"] = {{"frames_per_second", 1}, {"frame_burst", 1}};
  Relay relay(slow);
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto conn = Connection::connect(relay.endpoint()).value();
  std::vector<protocol::Request> calls(2, protocol::Request(protocol::ChallengeRequest{}));
  auto results = conn->call_all(std::move(calls), 300ms);
  REQUIRE(results.size() == 2);
  CHECK(results[1].status().code() == Code::kUnavailable);
  CHECK(results[1].status().message().find("timed out") != std::string::npos);
  // The late reply arrives meanwhile, is dropped, and the connection goes on.
  auto later = conn->call(protocol::ChallengeRequest{}, 10s);
  INFO(later.status().to_string());
  CHECK(later.is_ok());
  CHECK(conn->is_open());
}

TEST_CASE("sessions report a disconnect and reconnect to a restarted server",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("stay with me");
  auto offered = take_case(*responder, started.case_id);
  REQUIRE(count_kind(offered, client::ResponderUpdate::Kind::kNewCase) == 1);

  const std::uint16_t port = relay.hearthd->port();
  relay.hearthd->kill();
  auto lost = poll_until(*started.session, [](auto& u) {
    return count_kind(u, client::SurvivorUpdate::Kind::kDisconnected) >= 1;
  });
  CHECK(count_kind(lost, client::SurvivorUpdate::Kind::kDisconnected) >= 1);
  auto lost_too = poll_until(*responder, [](auto& u) {
    return count_kind(u, client::ResponderUpdate::Kind::kDisconnected) >= 1;
  });
  CHECK(count_kind(lost_too, client::ResponderUpdate::Kind::kDisconnected) >= 1);
  CHECK(started.session->send(started.case_id, "anyone?").code() == Code::kUnavailable);

  relay.hearthd->patch_config({{"listen", {{"port", port}}}});
  relay.hearthd->start();
  REQUIRE(started.session->reconnect().is_ok());
  REQUIRE(responder->reconnect().is_ok());
  REQUIRE(started.session->send(started.case_id, "still there?").is_ok());
  auto got = poll_until(*responder, [](auto& u) {
    return count_kind(u, client::ResponderUpdate::Kind::kMessage) >= 1;
  });
  CHECK(texts(got, client::ResponderUpdate::Kind::kMessage) ==
        std::vector<std::string>{"still there?"});
}

}  // namespace
}  // namespace hearth::test
