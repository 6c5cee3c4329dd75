// Connection failures that need no server: bad addresses, refused connections,
// a peer that does not speak WebSocket, TLS options; and the wire error mapping.
// Exchanges with a real hearthd are in tests/integration/relay_*.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "clients/lib/connection.h"

namespace hearth::client {
namespace {

// A loopback listener on port 0 (the kernel picks the port).
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 4) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/v1/ws"; }

 private:
  int fd_ = -1;
  unsigned port_ = 0;
};

TEST_CASE("malformed server addresses are refused before connecting", "[client]") {
  for (const char* url : {"http://127.0.0.1/v1/ws", "ws://", "ws://:80/", "ws://host:0/",
                          "ws://host:65536/", "ws://host:8a/", "ws://[::1/v1/ws", "ws://a b/"}) {
    INFO(url);
    CHECK(Connection::connect({url, {}}).status().code() == Code::kInvalidArgument);
  }
  CHECK(Connection::connect({"ws://127.0.0.1:1/v1/ws", "/tmp/ca.pem"}).status().code() ==
        Code::kInvalidArgument);
  CHECK(Connection::connect({"wss://127.0.0.1:1/v1/ws", "/nonexistent/ca.pem"}).status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("a refused connection is unavailable", "[client]") {
  std::string url;
  {
    Listener l;
    url = l.url();
  }  // closed: nothing listens on that port now
  auto c = Connection::connect({url, {}});
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().code() == Code::kUnavailable);
}

TEST_CASE("a peer that does not speak WebSocket is unavailable", "[client]") {
  Listener l;
  std::thread peer([&] {
    int conn = ::accept(l.fd(), nullptr, nullptr);
    if (conn < 0) return;
    const char reply[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    char buf[2048];
    if (::read(conn, buf, sizeof buf) > 0) {
      if (::write(conn, reply, sizeof reply - 1) < 0) FAIL_CHECK("write failed");
    }
    ::close(conn);
  });
  auto c = Connection::connect({l.url(), {}});
  peer.join();
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().code() == Code::kUnavailable);
}

TEST_CASE("a silent peer makes connect time out", "[client]") {
  Listener l;  // the kernel completes the TCP handshake; nobody answers the upgrade
  ConnectionOptions options;
  options.connect_timeout = std::chrono::milliseconds(300);
  auto started = std::chrono::steady_clock::now();
  auto c = Connection::connect({l.url(), {}}, options);
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().code() == Code::kUnavailable);
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("wire errors map to codes and back", "[client]") {
  using protocol::ErrorCode;
  Status conflict = server_error(ErrorCode::kConflict, "the vault moved on");
  CHECK(conflict.code() == Code::kConflict);
  CHECK(conflict.message() == "conflict: the vault moved on");  // the wording people see
  CHECK(protocol_error(conflict) == ErrorCode::kConflict);
  CHECK(protocol_error(server_error(ErrorCode::kAuthFailed, "login failed")) ==
        ErrorCode::kAuthFailed);
  CHECK(protocol_error(server_error(ErrorCode::kNotClaimed, "nobody took it")) ==
        ErrorCode::kNotClaimed);
  CHECK_FALSE(protocol_error(Status(Code::kUnavailable, "timed out waiting for the reply")));
  CHECK_FALSE(protocol_error(Status::ok()));
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    auto code = static_cast<ErrorCode>(i);
    Status s = server_error(code, "x");
    CHECK(s.code() == code_for(code));
    CHECK(s.message() == std::string(protocol::error_code_name(code)) + ": x");
    CHECK(protocol_error(s) == code);
    CHECK_FALSE(replaced_by_newer_login(s));
    Status copied = s;  // the code travels with the value, not its text
    CHECK(protocol_error(copied) == code);
  }
}

TEST_CASE("a local error whose text looks like a server error is not one", "[client]") {
  using protocol::ErrorCode;
  // The wire code is carried as a type, never parsed back from the message:
  // the same code and the same text, made locally, carry no wire code.
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    auto code = static_cast<ErrorCode>(i);
    Status local(code_for(code), std::string(protocol::error_code_name(code)) + ": local");
    CHECK_FALSE(protocol_error(local).has_value());
  }
  // Built in place, not as `std::string(kReplacedPrefix) + "..."`: with the
  // precompiled header GCC 12 reports a false -Warray-bounds on that temporary.
  std::string conflict(kReplacedPrefix);
  conflict += "a local conflict";
  CHECK_FALSE(replaced_by_newer_login(Status(Code::kConflict, conflict)));
}

}  // namespace
}  // namespace hearth::client
