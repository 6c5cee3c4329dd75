// WsSession: one public connection — optional TLS handshake, one HTTP request
// (GET /healthz, the /v1/ws upgrade, or 404), then the WebSocket: a reader
// loop (rate-limited, one request at a time) and a writer loop draining the
// bounded write queue. The same code serves plain TCP and TLS: it is
// templated on the stream (beast::tcp_stream or beast::ssl_stream of one).
//
// No peer address is read here: nothing about the peer can reach a log line.
//
// Thread safety: everything runs on the connection's strand (the socket's
// executor); see connection.h.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>

#include "protocol/codec.h"
#include "server/connection.h"
#include "server/token_bucket.h"

namespace hearth::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Counts a connection open for as long as it lives (metrics and max_connections).
class ConnectionSlot {
 public:
  explicit ConnectionSlot(Metrics& metrics) : metrics_(metrics) {
    metrics_.connections_open.fetch_add(1);
    metrics_.connections_total.fetch_add(1);
  }
  ~ConnectionSlot() { metrics_.connections_open.fetch_sub(1); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  Metrics& metrics_;
};

template <typename Stream>
class WsSession final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `args` construct the stream; its executor must be a strand.
  template <typename... Args>
  WsSession(Services& services, boost::asio::any_io_executor strand, Args&&... args)
      : Connection(services, strand), slot_(services.metrics), ws_(std::forward<Args>(args)...) {}

  // Runs the connection until it closes. Nothing escapes: an exception is
  // logged and ends this connection only.
  static void start(std::shared_ptr<WsSession> self) {
    auto strand = self->strand_;
    boost::asio::co_spawn(strand, self->run(), [self](std::exception_ptr e) {
      if (e) log::logger().error("session_exception");
      self->closed_ = true;
      self->finished();
    });
  }

 private:
  void abort_transport() override {
    boost::system::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  boost::asio::awaitable<void> run() {
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    const Limits& limits = services_.config.limits;
    boost::system::error_code ec;
    auto& lowest = beast::get_lowest_layer(ws_);
    lowest.expires_after(limits.handshake_timeout);
    if constexpr (kTls) {
      co_await ws_.next_layer().async_handshake(
          boost::asio::ssl::stream_base::server,
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
    }
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);  // a hostile header block must not cost memory
    parser.body_limit(0);
    co_await http::async_read(ws_.next_layer(), buffer, parser,
                              boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;
    auto& req = parser.get();

    if (services_.metrics.connections_open.load() >
            static_cast<std::int64_t>(limits.max_connections) ||
        services_.draining.load()) {
      services_.metrics.connections_refused.fetch_add(1);
      co_await respond(req, http::status::service_unavailable, "busy\n");
      co_return;
    }
    if (websocket::is_upgrade(req)) {
      if (req.target() !=
          beast::string_view(protocol::kWebSocketPath.data(), protocol::kWebSocketPath.size())) {
        co_await respond(req, http::status::not_found, "not found\n");
        co_return;
      }
      co_await run_websocket(req, buffer);
      co_return;
    }
    if (req.method() == http::verb::get && req.target() == "/healthz") {
      co_await respond(req, http::status::ok, "ok\n");
      co_return;
    }
    co_await respond(req, http::status::not_found, "not found\n");
  }

  boost::asio::awaitable<void> respond(const http::request<http::empty_body>& req,
                                       http::status status, const char* body) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "hearthd");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(false);
    res.body() = body;
    res.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(ws_.next_layer(), res,
                               boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if constexpr (kTls) {
      co_await ws_.next_layer().async_shutdown(
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    } else {
      ws_.next_layer().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    }
  }

  boost::asio::awaitable<void> run_websocket(const http::request<http::empty_body>& req,
                                             beast::flat_buffer& buffer) {
    const Limits& limits = services_.config.limits;
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = limits.handshake_timeout;
    timeouts.idle_timeout = limits.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "hearthd"); }));
    // A frame over the limit fails the read and closes with 1009 (too big).
    ws_.read_message_max(limits.max_frame_bytes);
    ws_.text(true);
    boost::system::error_code ec;
    co_await ws_.async_accept(req, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;
    buffer.consume(buffer.size());

    services_.hub.add_peer(shared_from_this());
    writer_running_ = true;
    auto self = shared_from_this();
    boost::asio::co_spawn(strand_, write_loop(), [self, this](std::exception_ptr) {
      writer_running_ = false;
      writer_done_.notify();
    });
    co_await read_loop();
    // The reader is done: the peer closed, the connection failed, or we are
    // closing. Let the writer finish (it sends our close frame, if any).
    if (!close_code_) closed_ = true;
    writer_wake_.notify();
    while (writer_running_) co_await writer_done_.wait();
    closed_ = true;
  }

  boost::asio::awaitable<void> read_loop() {
    const Limits& limits = services_.config.limits;
    auto now = [] { return std::chrono::steady_clock::now().time_since_epoch(); };
    TokenBucket bucket(limits.frames_per_second, limits.frame_burst, now());
    boost::asio::steady_timer throttle(strand_);
    beast::flat_buffer buffer;
    for (;;) {
      if (draining_ || close_code_ || closed_) break;
      auto wait = bucket.take(now());
      if (wait > TokenBucket::Duration::zero()) {
        // Out of tokens: wait before reading on. The flooder's frames sit in
        // its own TCP buffers; nobody else is slowed.
        services_.metrics.throttled_waits.fetch_add(1);
        throttle.expires_after(wait);
        boost::system::error_code ignored;
        co_await throttle.async_wait(
            boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
        if (draining_ || close_code_ || closed_) break;
      }
      // The next request's reply must fit: a client that does not read its
      // replies is not read from (the write-stall timeout then closes it).
      co_await wait_for_reply_room();
      if (draining_ || close_code_ || closed_) break;
      buffer.consume(buffer.size());
      boost::system::error_code ec;
      co_await ws_.async_read(buffer, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::message_too_big) {
          services_.metrics.oversize_frames.fetch_add(1);
          log::logger().info("frame_too_big", {{"limit", limits.max_frame_bytes}});
        }
        break;
      }
      services_.metrics.frames_received.fetch_add(1);
      std::string reply;
      if (!ws_.got_text()) {
        reply = protocol::encode(protocol::ReplyFrame{
            std::nullopt,
            protocol::ProtocolError{protocol::ErrorCode::kMalformed, "binary frames are refused"}});
        services_.metrics.count_error(protocol::ErrorCode::kMalformed);
      } else {
        handling_ = true;
        // Named, not a temporary: see storage_bridge.h on GCC 12 and co_await.
        std::string text = beast::buffers_to_string(buffer.data());
        reply = co_await handle_text(text);
        handling_ = false;
      }
      enqueue(std::move(reply));
      run_after_reply();
      if (draining_) {
        begin_close(kCloseGoingAway, /*flush=*/true);
        break;
      }
    }
    // When we started a close and no read is pending, async_close itself
    // reads until the peer's close frame arrives (Beast's close operation).
  }

  boost::asio::awaitable<void> write_loop() {
    for (;;) {
      if (!out_.empty() && !closed_) {
        boost::system::error_code ec;
        co_await ws_.async_write(boost::asio::buffer(out_.front()),
                                 boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        if (ec) {
          closed_ = true;
          break;
        }
        std::size_t n = out_.front().size();
        out_.pop_front();
        frame_written(n);
        continue;
      }
      if (close_code_ && !closed_) {
        boost::system::error_code ec;
        websocket::close_reason reason(*close_code_);
        co_await ws_.async_close(reason,
                                 boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        break;
      }
      if (closed_) break;
      co_await writer_wake_.wait();
    }
  }

  ConnectionSlot slot_;
  websocket::stream<Stream> ws_;
  bool writer_running_ = false;
  AsyncSignal writer_done_{strand_};
};

}  // namespace hearth::server
