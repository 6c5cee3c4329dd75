// The front door under attack (issue 12, holes 5, 6 and 12): half-open
// handshakes, idle anonymous sockets, big and partial frames, byte floods,
// and frames sent right behind the upgrade request. Each test drives the real
// hearthd on loopback with raw sockets where a well-behaved client cannot
// misbehave enough.
#include <poll.h>
#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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

const std::string kUpgrade =
    "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// A client frame header (FIN, masked with an all-zero key, so the payload
// goes on the wire as it is) announcing `length` payload bytes.
std::string frame_header(std::uint8_t opcode, std::uint64_t length) {
  std::string h;
  h += static_cast<char>(0x80 | opcode);
  if (length < 126) {
    h += static_cast<char>(0x80 | length);
  } else if (length < 65536) {
    h += static_cast<char>(0x80 | 126);
    h += static_cast<char>(length >> 8);
    h += static_cast<char>(length & 0xff);
  } else {
    h += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) h += static_cast<char>((length >> (8 * i)) & 0xff);
  }
  h += std::string(4, '\0');  // the masking key
  return h;
}
std::string text_frame(const std::string& text) { return frame_header(0x1, text.size()) + text; }

// A raw TCP connection to hearthd: sends any bytes, reads with deadlines.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads what arrives within `timeout` into the buffer; false once the
  // server closed (EOF or reset).
  bool fill(milliseconds timeout) {
    pollfd p{socket_.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return true;
    char chunk[65536];
    boost::system::error_code ec;
    std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
    if (ec) return false;
    in_.append(chunk, n);
    return true;
  }
  // True when the server closes the socket within `timeout`.
  bool closed_within(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (!fill(milliseconds(50))) return true;
      in_.clear();
    }
    return false;
  }
  // Sends the upgrade (followed by `extra` in the same write) and waits for
  // the 101. False on any other answer.
  bool upgrade(const std::string& extra = "") {
    send(kUpgrade + extra);
    auto deadline = Clock::now() + seconds(10);
    while (in_.find("\r\n\r\n") == std::string::npos && Clock::now() < deadline) {
      if (!fill(milliseconds(50))) return false;
    }
    auto end = in_.find("\r\n\r\n");
    if (end == std::string::npos || in_.rfind("HTTP/1.1 101", 0) != 0) return false;
    in_.erase(0, end + 4);
    return true;
  }
  struct Frame {
    int opcode = -1;  // -1: timed out, -2: the socket closed
    std::string payload;
    std::uint16_t close_code() const {
      return payload.size() >= 2
                 ? static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                              static_cast<unsigned char>(payload[1]))
                 : 0;
    }
  };
  // The server's next frame (unmasked, as servers send them).
  Frame next_frame(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (in_.size() >= 2) {
        auto b1 = static_cast<unsigned char>(in_[1]) & 0x7f;
        std::size_t header = 2;
        std::uint64_t length = b1;
        if (b1 == 126) header = 4;
        if (b1 == 127) header = 10;
        if (in_.size() >= header) {
          if (b1 >= 126) {
            length = 0;
            for (std::size_t i = 2; i < header; ++i)
              length = (length << 8) | static_cast<unsigned char>(in_[i]);
          }
          if (in_.size() >= header + length) {
            Frame f{static_cast<unsigned char>(in_[0]) & 0x0f, in_.substr(header, length)};
            in_.erase(0, header + length);
            return f;
          }
        }
      }
      if (Clock::now() >= deadline) return Frame{};
      if (!fill(milliseconds(50))) return Frame{-2, {}};
    }
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  std::string in_;
};

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

// A survivor that connects now can still route, /healthz answers, and a
// responder can still log in.
void check_door_open(HearthdProcess& hearthd, TestResponder& ana) {
  CHECK(http_get(hearthd.port(), "/healthz").status == 200);
  auto responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*responder, ana)) == "");
  auto survivor = WsClient::connect(hearthd.port());
  auto routed = route(*survivor, envelope_for());
  CHECK(error_code(routed) == "");
}

TEST_CASE("half-open handshakes past max_connections lock nobody out", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  // Only fields the server has always had: on the old server every one of
  // these half-open sockets counted against max_connections.
  HearthdProcess hearthd(org, json{{"limits", {{"max_connections", 20}}}});
  hearthd.start();
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 40; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(hearthd.port()));
    // Half of them send half a request; the others nothing at all.
    if (i % 2 == 0) stalled.back()->send("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  }
  REQUIRE(wait_metric(hearthd, "hearth_connections_open", 40));
  check_door_open(hearthd, ana);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("past max_handshakes the oldest handshake is closed at accept", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(
      org, json{{"limits", {{"max_handshakes", 8}, {"handshake_timeout_seconds", 60}}}});
  hearthd.start();
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 30; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(hearthd.port()));
    stalled.back()->send("GET /v1/ws HTTP/1.1\r\n");
  }
  // The first ones are closed long before their 60 s handshake deadline.
  CHECK(stalled.front()->closed_within(seconds(10)));
  CHECK(wait_metric(hearthd, "hearth_handshakes_evicted_total", 22));
  CHECK(metric(hearthd, "hearth_handshakes_open") <= 8);
  check_door_open(hearthd, ana);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("idle anonymous WebSockets make way for a responder and expire", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits",
                                    {{"max_connections", 10},
                                     {"max_anonymous_connections", 6},
                                     {"anonymous_lifetime_seconds", 5}}}});
  hearthd.start();
  std::vector<std::unique_ptr<WsClient>> idle;
  for (int i = 0; i < 6; ++i) idle.push_back(WsClient::connect(hearthd.port()));
  // The pool is full: a responder still gets in (the oldest idle one goes,
  // told 1013) and logs in.
  auto responder = WsClient::connect(hearthd.port());
  CHECK(error_code(responder_login(*responder, ana)) == "");
  CHECK(idle.front()->wait_closed() == 1013);
  CHECK(metric(hearthd, "hearth_anonymous_evicted_total") >= 1);
  // The rest are closed at their lifetime (1008); the responder stays.
  CHECK(idle.back()->wait_closed(seconds(30)) == 1008);
  CHECK(wait_metric(hearthd, "hearth_anonymous_expired_total", 5));
  CHECK(error_code(responder->call(protocol::ChallengeRequest{})) == "");
  CHECK(metric(hearthd, "hearth_responders_open") == 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("before login a frame over max_anonymous_frame_bytes closes with 1009", "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);  // defaults: 32 KiB before login, 256 KiB after
  hearthd.start();
  std::string big =
      R"({"v":1,"op":"challenge","id":1,"pad":")" + std::string(40 * 1024, 'a') + "\"}";
  auto anonymous = WsClient::connect(hearthd.port());
  anonymous->send_text(big);
  // The server closes with 1009 at once; while the client is still sending
  // the rest of the frame, its TCP stack may reset the connection before the
  // close frame is read, so a reset counts too. The refusal itself is counted.
  const std::uint16_t code = anonymous->wait_closed();
  INFO(anonymous->last_error);
  CHECK((code == 1009 || code == 0));
  // Counted when the server's read completes, and Beast completes it only
  // after it has sent the close and torn the socket down: the client can see
  // the close first. Waited for, not read once (that read failed by chance
  // on a loaded machine); then exactly one.
  CHECK(wait_metric(hearthd, "hearth_oversize_frames_total", 1));
  CHECK(metric(hearthd, "hearth_oversize_frames_total") == 1);
  // Logged in, the same frame is an ordinary (refused) request.
  auto responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*responder, ana)) == "");
  CHECK(error_code(responder->call_raw(big)) == "unknown_field");
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a big partial frame is cut off at frame_deadline", "[integration]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits", {{"frame_deadline_seconds", 2}}}});
  hearthd.start();
  RawConnection raw(hearthd.port());
  REQUIRE(raw.upgrade());
  // Announce 30 KiB, send 20 KiB, stall.
  raw.send(frame_header(0x1, 30 * 1024) + std::string(20 * 1024, ' '));
  auto started = Clock::now();
  auto f = raw.next_frame(seconds(30));
  CHECK(f.opcode == 0x8);
  CHECK(f.close_code() == 1008);
  CHECK(Clock::now() - started < seconds(30));
  CHECK(metric(hearthd, "hearth_frames_cut_off_total") == 1);
  // A message that is merely slow but finishes in time is served.
  RawConnection slow(hearthd.port());
  REQUIRE(slow.upgrade());
  std::string request = R"({"v":1,"op":"challenge","id":5})";
  std::string wire = text_frame(request);
  slow.send(wire.substr(0, 10));
  std::this_thread::sleep_for(milliseconds(200));
  slow.send(wire.substr(10));
  auto reply = slow.next_frame(seconds(10));
  REQUIRE(reply.opcode == 0x1);
  CHECK(json::parse(reply.payload)["re"] == 5);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("the byte rate limit slows a big-frame flooder, not the others", "[integration]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, json{{"limits",
                                    {{"max_anonymous_frame_bytes", 65536},
                                     {"read_bytes_per_second", 4096},
                                     {"read_burst_bytes", 16384}}}});
  hearthd.start();
  constexpr int kFlood = 6;
  auto flooder = WsClient::connect(hearthd.port());
  for (int i = 0; i < kFlood; ++i) {
    flooder->send_text(R"({"v":1,"op":"challenge","id":)" + std::to_string(100 + i) +
                       R"(,"pad":")" + std::string(40 * 1024, 'a') + "\"}");
  }
  // The first 40 KiB frame overdraws the 16 KiB burst: the next one is read
  // only ~6 s later, the one after ~10 s more.
  REQUIRE(flooder->read(seconds(10)).is_text());
  auto other = WsClient::connect(hearthd.port());
  for (int i = 0; i < 5; ++i) CHECK(error_code(other->call(protocol::ChallengeRequest{})) == "");
  // Structure, not timing: all five small requests were answered while the
  // flooder still had most of its frames unread.
  int answered = 1;
  while (flooder->read(milliseconds(500)).is_text()) ++answered;
  INFO(answered << " flood replies so far");
  CHECK(answered < kFlood - 2);
  CHECK(metric(hearthd, "hearth_read_throttled_waits_total") >= 1);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("a frame nested too deeply is refused under its id", "[integration]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto ws = WsClient::connect(hearthd.port());
  auto reply = ws->call_raw(R"({"v":1,"op":"challenge","id":77,"x":)" + std::string(40, '[') +
                            std::string(40, ']') + "}");
  CHECK(error_code(reply) == "malformed");
  CHECK(reply["re"] == 77);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("frames sent in the upgrade's own write are answered", "[integration]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  RawConnection raw(hearthd.port());
  REQUIRE(raw.upgrade(text_frame(R"({"v":1,"op":"challenge","id":1})") +
                      text_frame(R"({"v":1,"op":"pow_challenge","id":2})")));
  auto first = raw.next_frame(seconds(10));
  REQUIRE(first.opcode == 0x1);
  CHECK(json::parse(first.payload)["re"] == 1);
  auto second = raw.next_frame(seconds(10));
  REQUIRE(second.opcode == 0x1);
  CHECK(json::parse(second.payload)["re"] == 2);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
