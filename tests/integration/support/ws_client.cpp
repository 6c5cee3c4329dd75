#include "tests/integration/support/ws_client.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <stdexcept>
#include <variant>

#include "protocol/codec.h"

namespace hearth::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// Runs `io` until `done` or the timeout; true when done.
bool run_until(asio::io_context& io, const bool& done, std::chrono::milliseconds timeout) {
  io.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.run_one_until(deadline);
    if (io.stopped()) io.restart();
  }
  return done;
}

asio::ssl::context make_client_tls() {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);  // a throwaway self-signed test certificate
  return ctx;
}

}  // namespace

struct WsClient::Impl {
  asio::io_context io;
  asio::ssl::context tls_ctx = make_client_tls();
  std::variant<std::unique_ptr<websocket::stream<beast::tcp_stream>>,
               std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>>
      ws;
  bool broken = false;

  template <typename F>
  auto with(F&& f) {
    return std::visit([&](auto& p) { return f(*p); }, ws);
  }
};

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsClient::~WsClient() = default;

std::unique_ptr<WsClient> WsClient::connect(std::uint16_t port, Options options) {
  return connect(port, std::move(options), std::string());
}

std::unique_ptr<WsClient> WsClient::connect(std::uint16_t port, Options options,
                                            const std::string& local_address) {
  auto impl = std::make_unique<Impl>();
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  boost::system::error_code ec;
  if (options.tls) {
    auto ws = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(
        impl->io, impl->tls_ctx);
    beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(10));
    bind_local(beast::get_lowest_layer(*ws).socket(), local_address);
    beast::get_lowest_layer(*ws).connect(ep, ec);
    if (ec) throw std::runtime_error("connect: " + ec.message());
    ws->next_layer().handshake(asio::ssl::stream_base::client, ec);
    if (ec) throw std::runtime_error("tls handshake: " + ec.message());
    ws->handshake("127.0.0.1", options.path, ec);
    if (ec) throw std::runtime_error("websocket handshake: " + ec.message());
    beast::get_lowest_layer(*ws).expires_never();
    impl->ws = std::move(ws);
  } else {
    auto ws = std::make_unique<websocket::stream<beast::tcp_stream>>(impl->io);
    bind_local(beast::get_lowest_layer(*ws).socket(), local_address);
    beast::get_lowest_layer(*ws).connect(ep, ec);
    if (ec) throw std::runtime_error("connect: " + ec.message());
    ws->handshake("127.0.0.1", options.path, ec);
    if (ec) throw std::runtime_error("websocket handshake: " + ec.message());
    impl->ws = std::move(ws);
  }
  impl->with([](auto& ws) { ws.read_message_max(64 * 1024 * 1024); });
  return std::unique_ptr<WsClient>(new WsClient(std::move(impl)));
}

void WsClient::send_text(std::string_view text) {
  impl_->with([&](auto& ws) {
    ws.text(true);
    boost::system::error_code ec;
    ws.write(asio::buffer(text.data(), text.size()), ec);
    if (ec) impl_->broken = true;
  });
}

void WsClient::send_binary(std::string_view bytes) {
  impl_->with([&](auto& ws) {
    ws.binary(true);
    boost::system::error_code ec;
    ws.write(asio::buffer(bytes.data(), bytes.size()), ec);
    ws.text(true);
    if (ec) impl_->broken = true;
  });
}

WsFrame WsClient::read(std::chrono::milliseconds timeout) {
  WsFrame frame;
  if (impl_->broken) return frame;
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code result;
  impl_->with([&](auto& ws) {
    ws.async_read(buffer, [&](boost::system::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
  });
  if (!run_until(impl_->io, done, timeout)) {
    // Give up on this connection: cancel the read and mark it unusable.
    impl_->with([](auto& ws) {
      boost::system::error_code ec;
      beast::get_lowest_layer(ws).socket().close(ec);
    });
    run_until(impl_->io, done, std::chrono::seconds(5));
    impl_->broken = true;
    frame.kind = WsFrame::Kind::kTimeout;
    return frame;
  }
  if (result) {
    impl_->broken = true;
    // A close frame may have arrived even when the teardown after it failed
    // (the peer closing its socket first): the code is what matters.
    std::uint16_t code = impl_->with([](auto& ws) { return ws.reason().code; });
    if (result == websocket::error::closed || code != 0) {
      frame.kind = WsFrame::Kind::kClosed;
      frame.close_code = code;
    } else {
      frame.kind = WsFrame::Kind::kError;
      frame.text = result.message();
    }
    return frame;
  }
  bool text = impl_->with([](auto& ws) { return ws.got_text(); });
  frame.kind = text ? WsFrame::Kind::kText : WsFrame::Kind::kBinary;
  frame.text = beast::buffers_to_string(buffer.data());
  return frame;
}

nlohmann::json WsClient::call(const protocol::Request& request, std::chrono::milliseconds timeout) {
  return call_raw(protocol::encode(protocol::RequestFrame{next_id++, request}), timeout);
}

nlohmann::json WsClient::call_raw(std::string_view text, std::chrono::milliseconds timeout) {
  send_text(text);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    WsFrame f = read(std::max(left, std::chrono::milliseconds(1)));
    if (!f.is_text())
      throw std::runtime_error(
          "no reply: connection " +
          std::string(f.kind == WsFrame::Kind::kTimeout ? "timed out" : "closed") +
          " (close code " + std::to_string(f.close_code) + ")");
    auto j = nlohmann::json::parse(f.text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw std::runtime_error("the server sent a frame that is not JSON");
    if (j.contains("ev")) {
      events.push_back(std::move(j));
      continue;
    }
    return j;
  }
}

namespace {

// Informational pushes a test of something else can ignore.
bool is_status(const nlohmann::json& j) {
  return j.contains("ev") && (j["ev"] == "waiting" || j["ev"] == "queue_status");
}

}  // namespace

nlohmann::json WsClient::next_event(std::chrono::milliseconds timeout) {
  return next_event_where([](const nlohmann::json& j) { return !is_status(j); }, timeout);
}

nlohmann::json WsClient::next_status_event(std::chrono::milliseconds timeout) {
  return next_event_where(is_status, timeout);
}

nlohmann::json WsClient::next_event_where(const std::function<bool(const nlohmann::json&)>& want,
                                          std::chrono::milliseconds timeout) {
  for (auto it = events.begin(); it != events.end(); ++it) {
    if (!want(*it)) continue;
    auto j = std::move(*it);
    events.erase(it);
    return j;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    WsFrame f = read(std::max(left, std::chrono::milliseconds(1)));
    if (!f.is_text()) throw std::runtime_error("no event: connection timed out or closed");
    auto j = nlohmann::json::parse(f.text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw std::runtime_error("the server sent a frame that is not JSON");
    if (!j.contains("ev")) throw std::runtime_error("expected an event, got: " + f.text);
    if (want(j)) return j;
    events.push_back(std::move(j));
  }
}

std::uint16_t WsClient::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    WsFrame f = read(std::max(left, std::chrono::milliseconds(1)));
    switch (f.kind) {
      case WsFrame::Kind::kText:
      case WsFrame::Kind::kBinary:
        continue;
      case WsFrame::Kind::kClosed:
        return f.close_code;
      case WsFrame::Kind::kError:
        last_error = f.text;
        return 0;
      case WsFrame::Kind::kTimeout:
        throw std::runtime_error("the server did not close the connection");
    }
  }
}

void WsClient::close() {
  impl_->with([](auto& ws) {
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(2));
    ws.close(websocket::close_code::normal, ec);
  });
  impl_->broken = true;
}

void bind_local(tcp::socket& socket, const std::string& local_address) {
  if (local_address.empty()) return;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(local_address, ec);
  if (!ec) socket.open(address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (!ec) socket.bind(tcp::endpoint(address, 0), ec);
  if (ec) throw std::runtime_error("bind " + local_address + ": " + ec.message());
}

HttpResult http_get(std::uint16_t port, const std::string& target, bool tls) {
  asio::io_context io;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  if (tls) {
    auto ctx = make_client_tls();
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(stream).connect(ep, ec);
    if (!ec) stream.handshake(asio::ssl::stream_base::client, ec);
    if (!ec) http::write(stream, req, ec);
    if (!ec) http::read(stream, buffer, res, ec);
  } else {
    beast::tcp_stream stream(io);
    stream.connect(ep, ec);
    if (!ec) http::write(stream, req, ec);
    if (!ec) http::read(stream, buffer, res, ec);
  }
  if (ec && ec != http::error::end_of_stream) throw std::runtime_error("http: " + ec.message());
  return {static_cast<int>(res.result_int()), res.body()};
}

}  // namespace hearth::test
