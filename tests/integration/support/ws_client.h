// WsClient: a minimal raw WebSocket client for tests — sends any text (or
// binary) frame, reads frames with a timeout, and reports close codes — plus
// an HTTP GET helper. Plain TCP or TLS (certificate not verified: tests use a
// throwaway self-signed one). Built on Beast; every wait is bounded.
//
// Thread safety: none; one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "protocol/messages.h"

namespace hearth::test {

struct WsFrame {
  enum class Kind { kText, kBinary, kClosed, kTimeout, kError };
  Kind kind = Kind::kError;
  std::string text;
  std::uint16_t close_code = 0;  // kClosed: the code the server sent
  bool is_text() const { return kind == Kind::kText; }
};

class WsClient {
 public:
  struct Options {
    bool tls = false;
    std::string path = "/v1/ws";
  };
  // Connects to 127.0.0.1:port and upgrades. Throws std::runtime_error on failure.
  static std::unique_ptr<WsClient> connect(std::uint16_t port, Options options);
  // The same from `local_address` (empty: the system's choice). On Linux
  // every 127.0.0.0/8 address is loopback: "127.0.0.2", "127.0.0.3", ... are
  // other sources to the server (server/source_key.h).
  static std::unique_ptr<WsClient> connect(std::uint16_t port, Options options,
                                           const std::string& local_address);
  static std::unique_ptr<WsClient> connect(std::uint16_t port) { return connect(port, Options{}); }
  ~WsClient();

  void send_text(std::string_view text);
  void send_binary(std::string_view bytes);
  // The next frame from the server (or how the wait ended).
  WsFrame read(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Sends a typed request with a fresh id and returns the reply frame as JSON
  // (events read meanwhile are kept in events). Throws on timeout or close.
  nlohmann::json call(const protocol::Request& request,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends raw text and returns the next reply (a frame with "re"), keeping
  // events. Throws on timeout or close.
  nlohmann::json call_raw(std::string_view text,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next event (a frame with "ev"), from events or the wire, passing
  // over (and keeping) the informational "waiting" and "queue_status" pushes.
  nlohmann::json next_event(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next "waiting" or "queue_status" push, keeping other events.
  nlohmann::json next_status_event(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  nlohmann::json next_event_where(const std::function<bool(const nlohmann::json&)>& want,
                                  std::chrono::milliseconds timeout);
  // Reads until the server closes; returns its close code (0 if the
  // connection ended without a close frame). Throws on timeout.
  std::uint16_t wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void close();

  std::deque<nlohmann::json> events;
  std::string last_error;  // why wait_closed() saw no close frame
  std::uint32_t next_id = 1;

  struct Impl;

 private:
  explicit WsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct HttpResult {
  int status = 0;
  std::string body;
};
// GET http(s)://127.0.0.1:port<target>. Throws on connection failure.
HttpResult http_get(std::uint16_t port, const std::string& target, bool tls = false);

// Opens `socket` bound to `local_address` (port 0) when it is not empty.
// Throws std::runtime_error on failure.
void bind_local(boost::asio::ip::tcp::socket& socket, const std::string& local_address);

}  // namespace hearth::test
