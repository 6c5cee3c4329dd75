// WsSession: the transport half of one public connection's Session
// (server/session.h) — optional TLS handshake, HTTP requests
// (GET/HEAD /healthz, the survivor's page's files, or 404; keep-alive) until
// the /v1/ws upgrade, then the WebSocket: a reader
// loop (rate-limited; requests pipelined as session.h says) and a writer loop draining the
// bounded write queue. The same code serves plain TCP and TLS: it is
// templated on the stream (beast::tcp_stream or beast::ssl_stream of one).
//
// The front door (server/admission.h, docs/operations.md "Connection limits"):
// the session holds an admission ticket from accept on (handshake pool, then
// anonymous, then survivor or responder); an anonymous WebSocket must log in
// within anonymous_lifetime; a message is read in chunks, must be complete
// within frame_deadline once its first bytes arrived, is limited to
// max_anonymous_frame_bytes before login (max_frame_bytes once logged in or
// holding a route), is charged to a per-connection byte bucket, and what the
// connection holds (message in hand, requests in flight, write queue) is
// reported to the global byte budget.
//
// No peer address is read here (the listener hands over only an opaque source
// key, server/source_key.h): nothing about the peer can reach a log line.
//
// Thread safety: everything runs on the connection's strand (the socket's
// executor); see session.h.
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
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "host/static_site.h"
#include "protocol/codec.h"
#include "server/admission.h"
#include "server/log_throttle.h"
#include "server/session.h"
#include "server/token_bucket.h"

namespace hearth::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// 1013 (try again later): closed to make room for another connection.
inline constexpr std::uint16_t kCloseTryAgainLater = 1013;
// 4001 (private use): a newer login of the same vault or responder took this
// connection's place (limits.max_connections_per_vault / _per_responder).
inline constexpr std::uint16_t kCloseReplaced = 4001;

// The seam for tests and fuzzing: a stream without a socket or a deadline
// (Beast's in-memory test::stream) works too; sockets and deadlines are used
// where the stream has them.
template <typename S>
concept StreamWithSocket = requires(S& s) {
  s.socket();
};
template <typename S>
concept StreamWithExpiry = requires(S& s) {
  s.expires_after(std::chrono::seconds(1));
  s.expires_never();
};

// Lines a flood can write once per attacker connection: each is written once,
// then at most once per LogThrottle::kInterval with the count held back
// (the metrics count every event).
enum class FloodLine {
  kAnonymousEvicted,
  kLoginReplaced,
  kSurvivorMadeWay,
  kBufferBudgetClose,
  kAnonymousExpired,
  kFrameDeadlinePassed,
  kFrameTooBig,
  kSurvivorRefused,
  kCount
};
inline LogThrottle& flood_throttle(FloodLine line) {
  static LogThrottle throttles[static_cast<int>(FloodLine::kCount)];
  return throttles[static_cast<int>(line)];
}
// Logs `event` at `level` (with `field`, if any) unless its throttle holds it
// back; a line written after held-back ones carries "suppressed": how many.
inline void log_flood_line(FloodLine line, log::Level level, log::LogText event,
                           std::optional<log::LogField> field = std::nullopt) {
  std::uint64_t suppressed = 0;
  if (!flood_throttle(line).allow(LogThrottle::Clock::now(), suppressed)) return;
  const log::Logger& out = log::logger();
  if (field && suppressed > 0) {
    out.write(level, event, {*field, {"suppressed", suppressed}});
  } else if (field) {
    out.write(level, event, {*field});
  } else if (suppressed > 0) {
    out.write(level, event, {{"suppressed", suppressed}});
  } else {
    out.write(level, event);
  }
}

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
class WsSession final : public Session {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `args` construct the stream; its executor must be a strand.
  template <typename... Args>
  WsSession(Services& services, boost::asio::any_io_executor strand, Args&&... args)
      : Session(services, strand), slot_(services.metrics), ws_(std::forward<Args>(args)...) {}

  // Runs the connection until it closes. Nothing escapes: an exception is
  // logged and ends this connection only.
  // Takes the session's admission ticket at once (which may close the oldest
  // handshake: the refusal happens at accept, before anything is read).
  // `source`: the peer's source key (server/source_key.h); the address
  // itself never reaches the session.
  static void start(std::shared_ptr<WsSession> self,
                    const Admission::SourceKey& source = Admission::SourceKey{}) {
    auto strand = self->strand_;
    std::weak_ptr<WsSession> weak = self;
    self->ticket_ = self->services_.admission.enter(
        [weak, strand](Admission::Reason reason) {
          boost::asio::post(strand, [weak, reason] {
            if (auto s = weak.lock()) s->on_admission_close(reason);
          });
        },
        source);
    boost::asio::co_spawn(strand, self->run(), [self](const std::exception_ptr& e) {
      if (e) log::logger().error("session_exception");
      self->mark_closed();
      self->ticket_.reset();
      self->frame_timer_.cancel();
      self->lifetime_timer_.cancel();
      self->finished();
    });
  }

 private:
  // Reads are taken this much at a time, so a message's bytes are counted
  // (and its deadline started) as they arrive.
  static constexpr std::size_t kReadChunk = Admission::kFreeReadBytes;
  // Beast keeps bytes that arrived right behind the upgrade request in a
  // buffer of this size (websocket::stream's tcp_frame_size): request and
  // early frames together must fit.
  static constexpr std::size_t kMaxEarlyUpgradeBytes = 1536;
  // Requests one keep-alive HTTP connection may make: a page load is a
  // handful (document, style, scripts, worker, wasm, catalogue).
  static constexpr unsigned kMaxHttpRequests = 64;
  // A response gets handshake_timeout plus its size at this rate to be
  // written: 400 kbit/s (50 KB/s) gets the page's bundle, a reader slower
  // than this loses its place.
  static constexpr std::size_t kMinSendBytesPerSecond = 8 * 1024;
  static constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

  void abort_transport() override {
    auto& lowest = beast::get_lowest_layer(ws_);
    if constexpr (StreamWithSocket<std::remove_reference_t<decltype(lowest)>>) {
      boost::system::error_code ec;
      lowest.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
      lowest.socket().close(ec);
    } else {
      lowest.close();
    }
  }

  // Admission asks this connection to close (on the strand).
  void on_admission_close(Admission::Reason reason) {
    if (closed()) return;
    if (!upgraded_ || reason == Admission::Reason::kHandshakeEvicted) {
      // Still in its handshake: nothing to say, the socket just closes.
      abort_transport();
      return;
    }
    if (reason == Admission::Reason::kAnonymousEvicted) {
      log_flood_line(FloodLine::kAnonymousEvicted, log::Level::kInfo, "anonymous_evicted");
      begin_close(kCloseTryAgainLater, /*flush=*/false);
    } else if (reason == Admission::Reason::kReplaced) {
      // What was queued stays in storage (unacknowledged) for the newer login.
      log_flood_line(FloodLine::kLoginReplaced, log::Level::kInfo, "login_replaced");
      begin_close(kCloseReplaced, /*flush=*/false);
    } else if (reason == Admission::Reason::kMadeWay) {
      log_flood_line(FloodLine::kSurvivorMadeWay, log::Level::kInfo, "survivor_made_way");
      begin_close(kCloseTryAgainLater, /*flush=*/false);
    } else {
      log_flood_line(FloodLine::kBufferBudgetClose, log::Level::kWarn, "buffer_budget_close",
                     log::LogField("queued_bytes", queued_bytes()));
      begin_close(kClosePolicyViolation, /*flush=*/false);
    }
  }

  void cases_changed() override {
    if (promoted_ && !client().is_responder())
      services_.admission.set_live_case(ticket_, client().vault_has_live_case());
  }

  bool hold_in_flight(std::size_t bytes) override {
    return services_.admission.hold_in_flight(ticket_, bytes);
  }

  // Closes the HTTP side after a reply (TLS: close_notify).
  boost::asio::awaitable<void> shutdown_send() {
    boost::system::error_code ec;
    if constexpr (kTls) {
      co_await ws_.next_layer().async_shutdown(
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    } else if constexpr (StreamWithSocket<Stream>) {
      ws_.next_layer().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    } else {
      ws_.next_layer().close();
    }
  }

  boost::asio::awaitable<void> run() {
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    // The HTTP side (its parser, buffer and request) lives in a coroutine
    // frame of its own, freed before the WebSocket's long wait begins.
    if (!co_await serve_until_upgrade()) co_return;
    co_await run_websocket();
  }

  // TLS handshake, HTTP requests, and the upgrade: true once the WebSocket is
  // accepted.
  boost::asio::awaitable<bool> serve_until_upgrade() {
    const Limits& limits = services_.config.limits;
    boost::system::error_code ec;
    auto& lowest = beast::get_lowest_layer(ws_);
    if constexpr (StreamWithExpiry<std::remove_reference_t<decltype(lowest)>>)
      lowest.expires_after(limits.handshake_timeout);
    if constexpr (kTls) {
      co_await ws_.next_layer().async_handshake(
          boost::asio::ssl::stream_base::server,
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return false;
    }
    beast::flat_buffer buffer;
    // HTTP/1.1 keep-alive: a browser fetches the page's files one after the
    // other on one connection. All of it happens in the handshake pool (the
    // oldest is closed when it is full), each request must arrive within
    // handshake_timeout, and a connection makes at most kMaxHttpRequests and
    // takes at most web.max_bytes_per_connection of response bodies (a few
    // bytes of requests must not buy megabytes of answers).
    std::size_t body_bytes_sent = 0;
    for (unsigned served = 0;; ++served) {
      if (served > 0) {
        if constexpr (StreamWithExpiry<std::remove_reference_t<decltype(lowest)>>)
          lowest.expires_after(limits.handshake_timeout);
      }
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8 * 1024);  // a hostile header block must not cost memory
      parser.body_limit(0);
      co_await http::async_read(ws_.next_layer(), buffer, parser,
                                boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return false;
      auto& req = parser.get();

      if (services_.draining.load()) {
        services_.admission.leave_handshake(ticket_);
        services_.metrics.connections_refused.fetch_add(1);
        co_await respond(req, http::status::service_unavailable, "busy\n");
        co_return false;
      }
      if (websocket::is_upgrade(req)) {
        if (req.target() !=
            beast::string_view(protocol::kWebSocketPath.data(), protocol::kWebSocketPath.size())) {
          services_.admission.leave_handshake(ticket_);
          co_await respond(req, http::status::not_found, "not found\n");
          co_return false;
        }
        // Frames sent in the upgrade's own write (before our 101) are already
        // in `buffer`: they are handed to the WebSocket with the request when
        // they fit Beast's buffer, and refused visibly when not.
        std::string early;
        if (buffer.size() > 0) {
          std::ostringstream head;
          head << req;
          early = head.str() + beast::buffers_to_string(buffer.data());
          if (early.size() > kMaxEarlyUpgradeBytes) {
            services_.admission.leave_handshake(ticket_);
            co_await respond(req, http::status::bad_request,
                             "wait for the 101 response before sending frames\n");
            co_return false;
          }
        }
        if (!services_.admission.upgrade(ticket_)) {
          services_.metrics.connections_refused.fetch_add(1);
          co_await respond(req, http::status::service_unavailable, "busy\n");
          co_return false;
        }
        upgraded_ = true;
        const bool accepted = co_await accept_websocket(req, early);
        co_return accepted;
      }
      bool keep_alive = req.keep_alive() && served + 1 < kMaxHttpRequests;
      if (!co_await serve_http(req, keep_alive, body_bytes_sent)) co_return false;
    }
  }

  // Answers a request that is not an upgrade: /healthz, a file of the
  // survivor's page (host/static_site.h), gzip-compressed when the file has
  // a compressed copy and the request accepts it, or 404. GET and HEAD only.
  // `body_bytes_sent` counts this connection's response bodies: the response
  // that takes it past the cap closes the connection. True when the
  // connection stays open for another request.
  boost::asio::awaitable<bool> serve_http(const http::request<http::empty_body>& req,
                                          bool keep_alive, std::size_t& body_bytes_sent) {
    const bool head = req.method() == http::verb::head;
    std::string_view target(req.target().data(), req.target().size());
    http::status status = http::status::ok;
    std::string_view type = kPlainText;
    std::string_view body;
    const StaticFile* file = nullptr;
    bool gzip = false;
    if (req.method() != http::verb::get && !head) {
      status = http::status::method_not_allowed;
      body = "method not allowed\n";
      keep_alive = false;
    } else if (target.substr(0, target.find('?')) == "/healthz") {
      body = "ok\n";
    } else if (services_.site != nullptr && (file = services_.site->find(target)) != nullptr) {
      type = file->content_type;
      gzip = !file->gzip_body.empty() && request_accepts_gzip(req);
      body = gzip ? std::string_view(file->gzip_body) : std::string_view(file->body);
    } else {
      status = http::status::not_found;
      body = "not found\n";
    }
    if (!head) {
      const std::size_t cap = services_.config.web_max_bytes_per_connection.value_or(
          services_.site != nullptr ? services_.site->default_bytes_per_connection()
                                    : StaticSite::kMinBytesPerConnection);
      body_bytes_sent += body.size();
      if (body_bytes_sent > cap) keep_alive = false;
    }
    const Limits& limits = services_.config.limits;
    auto& lowest = beast::get_lowest_layer(ws_);
    if constexpr (StreamWithExpiry<std::remove_reference_t<decltype(lowest)>>) {
      // A slow link still gets the page; a reader slower than
      // kMinSendBytesPerSecond loses its place.
      lowest.expires_after(limits.handshake_timeout +
                           std::chrono::seconds(body.size() / kMinSendBytesPerSecond));
    }
    boost::system::error_code ec;
    co_await write_response(req, status, type, head ? std::string_view() : body, body.size(),
                            keep_alive, ec, file != nullptr, gzip);
    if (ec) co_return false;
    if (!keep_alive) {
      co_await shutdown_send();
      co_return false;
    }
    co_return true;
  }

  // True when the request's Accept-Encoding fields (all of them) allow gzip.
  static bool request_accepts_gzip(const http::request<http::empty_body>& req) {
    std::string joined;
    for (auto range = req.equal_range(http::field::accept_encoding); range.first != range.second;
         ++range.first) {
      if (!joined.empty()) joined += ',';
      joined.append(range.first->value().data(), range.first->value().size());
    }
    return accepts_gzip(joined);
  }

  // Writes one response with the public listener's headers (no-store, CSP,
  // ...; static_site.h) and no Server, cookie, ETag or Last-Modified header.
  // `length` is the Content-Length (the body's, also for HEAD's empty one).
  // A page file's response says `Vary: Accept-Encoding`, and
  // `Content-Encoding: gzip` when `body` is the compressed copy.
  boost::asio::awaitable<void> write_response(const http::request<http::empty_body>& req,
                                              http::status status, std::string_view type,
                                              std::string_view body, std::size_t length,
                                              bool keep_alive, boost::system::error_code& ec,
                                              bool page_file = false, bool gzip = false) {
    http::response<http::span_body<const char>> res{status, req.version()};
    for (const auto& [name, value] : public_response_headers())
      res.set(beast::string_view(name.data(), name.size()),
              beast::string_view(value.data(), value.size()));
    res.set(http::field::content_type, beast::string_view(type.data(), type.size()));
    if (status == http::status::method_not_allowed) res.set(http::field::allow, "GET, HEAD");
    if (page_file) res.set(http::field::vary, "Accept-Encoding");
    if (gzip) res.set(http::field::content_encoding, "gzip");
    res.keep_alive(keep_alive);
    res.body() = boost::beast::span<const char>(body.data(), body.size());
    res.content_length(length);
    co_await http::async_write(ws_.next_layer(), res,
                               boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }

  boost::asio::awaitable<void> respond(const http::request<http::empty_body>& req,
                                       http::status status, const char* body) {
    boost::system::error_code ec;
    std::string_view text(body);
    co_await write_response(req, status, kPlainText, text, text.size(), /*keep_alive=*/false, ec);
    co_await shutdown_send();
  }

  // `early`: empty, or the request re-serialized followed by the bytes that
  // came right behind it (the peer's first frames). True once accepted.
  boost::asio::awaitable<bool> accept_websocket(const http::request<http::empty_body>& req,
                                                const std::string& early) {
    const Limits& limits = services_.config.limits;
    if constexpr (StreamWithExpiry<std::remove_reference_t<decltype(beast::get_lowest_layer(ws_))>>)
      beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = limits.handshake_timeout;
    timeouts.idle_timeout = limits.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "hearthd"); }));
    // A frame over the limit fails the read and closes with 1009 (too big);
    // the limit is set again before each message (it depends on the role).
    ws_.read_message_max(anonymous_frame_limit());
    ws_.text(true);
    boost::system::error_code ec;
    if (early.empty()) {
      co_await ws_.async_accept(req, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    } else {
      co_await ws_.async_accept(boost::asio::buffer(early),
                                boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    co_return !ec;
  }

  boost::asio::awaitable<void> run_websocket() {
    start_lifetime();
    services_.hub.add_peer(shared_from_this());
    ws_open_ = true;
    wake_writer();  // a close begun during the upgrade is sent now
    co_await read_loop();
    // The reader is done: the peer closed, the connection failed, or we are
    // closing. Let the writer finish (it sends our close frame, if any).
    if (!close_code()) mark_closed();
    wake_writer();
    while (writer_running_) co_await writer_done_.wait();
    mark_closed();
  }

  std::size_t anonymous_frame_limit() const {
    const Limits& limits = services_.config.limits;
    return std::min(limits.max_anonymous_frame_bytes, limits.max_frame_bytes);
  }

  // An anonymous WebSocket that has not logged in (or opened its case) by
  // anonymous_lifetime is closed: idle anonymous sockets cannot pile up.
  void start_lifetime() {
    lifetime_timer_.expires_after(services_.config.limits.anonymous_lifetime);
    start_lifetime_wait();
  }
  void start_lifetime_wait() {
    std::weak_ptr<WsSession> weak = std::static_pointer_cast<WsSession>(shared_from_this());
    lifetime_timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed() || self->close_code() || self->close_sent() ||
          self->client().logged_in())
        return;
      if (self->handling()) {
        self->lifetime_timer_.expires_after(std::chrono::seconds(1));
        self->start_lifetime_wait();
        return;
      }
      self->services_.metrics.anonymous_expired.fetch_add(1);
      log_flood_line(FloodLine::kAnonymousExpired, log::Level::kInfo, "anonymous_expired");
      self->begin_close(kClosePolicyViolation, /*flush=*/true);
    });
  }

  // Reads one message into `buffer` (empty on entry), a chunk at a time:
  // once its first bytes are in, it must be complete within frame_deadline;
  // past kFreeReadBytes each further chunk needs room in the global budget.
  boost::asio::awaitable<boost::system::error_code> read_message(beast::flat_buffer& buffer) {
    const Limits& limits = services_.config.limits;
    boost::system::error_code ec;
    bool started = false;
    // First a zero-byte read: it completes once a data frame has begun
    // (Beast answers pings and handles the close meanwhile), so `buffer`
    // takes memory only when a message is arriving. The empty buffer points
    // at a real byte: Beast 1.74's UTF-8 check of a text frame reads through
    // a null pointer even for zero bytes.
    char none = 0;
    co_await ws_.async_read_some(boost::asio::mutable_buffer(&none, 0),
                                 boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec || ws_.is_message_done()) co_return ec;  // failed, or an empty message
    std::optional<boost::asio::steady_timer> pause;
    do {
      // What the next chunk may add: never past the message limit.
      const std::size_t next =
          buffer.size() + std::min(kReadChunk, ws_.read_message_max() > buffer.size()
                                                   ? ws_.read_message_max() - buffer.size()
                                                   : std::size_t{1});
      while (next > Admission::kFreeReadBytes && !services_.admission.hold_read(ticket_, next)) {
        // Over the budget: read nothing more until room frees up (or the
        // frame deadline closes this connection). Its bytes wait in TCP.
        if (!pause) pause.emplace(strand_);
        pause->expires_after(std::chrono::milliseconds(20));
        boost::system::error_code ignored;
        co_await pause->async_wait(
            boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
        if (close_code() || closed()) co_return boost::asio::error::operation_aborted;
      }
      co_await ws_.async_read_some(buffer, kReadChunk,
                                   boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) break;
      (void)services_.admission.hold_read(ticket_, buffer.size());  // never more than held
      if (!started && !ws_.is_message_done()) {
        started = true;
        // A message begun and not finished pins its bytes: it gets a deadline.
        frame_timer_.expires_after(limits.frame_deadline);
        std::weak_ptr<WsSession> weak = std::static_pointer_cast<WsSession>(shared_from_this());
        frame_timer_.async_wait([weak](boost::system::error_code timer_ec) {
          auto self = weak.lock();
          if (timer_ec || !self || self->closed() || self->close_code() || self->close_sent())
            return;
          self->services_.metrics.frames_cut_off.fetch_add(1);
          log_flood_line(FloodLine::kFrameDeadlinePassed, log::Level::kInfo,
                         "frame_deadline_passed");
          self->begin_close(kClosePolicyViolation, /*flush=*/false);
        });
      }
      if (close_code() || closed()) break;
    } while (!ws_.is_message_done());
    if (started) frame_timer_.cancel();
    co_return ec;
  }

  boost::asio::awaitable<void> read_loop() {
    const Limits& limits = services_.config.limits;
    auto now = [] { return std::chrono::steady_clock::now().time_since_epoch(); };
    TokenBucket bucket(limits.frames_per_second, limits.frame_burst, now());
    // Bytes, read side: a big-frame flooder is slowed to this rate and pays
    // for what it sent before its next message is read. A logged-in party
    // pays from a larger bucket of its own: its client's vault uploads are
    // legitimate bytes (config.h).
    TokenBucket bytes(limits.read_bytes_per_second, limits.read_burst_bytes, now());
    TokenBucket logged_in_bytes(limits.logged_in_read_bytes_per_second,
                                limits.logged_in_read_burst_bytes, now());
    TokenBucket::Duration bytes_wait = TokenBucket::Duration::zero();
    boost::asio::steady_timer throttle(strand_);
    beast::flat_buffer buffer;
    for (;;) {
      if (draining() || close_code() || closed()) break;
      auto wait = bucket.take(now());
      if (wait > TokenBucket::Duration::zero()) services_.metrics.throttled_waits.fetch_add(1);
      if (bytes_wait > wait) {
        services_.metrics.read_throttled_waits.fetch_add(1);
        wait = bytes_wait;
      }
      bytes_wait = TokenBucket::Duration::zero();
      if (wait > TokenBucket::Duration::zero()) {
        // Out of tokens: wait before reading on. The flooder's frames sit in
        // its own TCP buffers; nobody else is slowed.
        throttle.expires_after(wait);
        boost::system::error_code ignored;
        co_await throttle.async_wait(
            boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
        if (draining() || close_code() || closed()) break;
      }
      // The next request's reply must fit: a client that does not read its
      // replies is not read from (the write-stall timeout then closes it).
      co_await wait_for_reply_room();
      if (draining() || close_code() || closed()) break;
      // The buffer holds no memory between messages (an idle connection
      // waits in read_message's zero-byte read, with no buffer).
      buffer.clear();
      buffer.shrink_to_fit();
      // Before login only small messages: the anonymous ops (route,
      // pow_challenge, challenge, logins) fit; open_case with its vault may be
      // big, so a connection holding a route (paid for with proof of work)
      // gets the full limit.
      ws_.read_message_max(client().logged_in() || client().holds_route()
                               ? limits.max_frame_bytes
                               : anonymous_frame_limit());
      boost::system::error_code ec = co_await read_message(buffer);
      if (ec) {
        // The stream sends nothing more once it is not open: Beast answered
        // the peer's close frame (or closed 1009 on a message too big), or
        // the connection failed. The replies of the requests in flight and
        // the events that arrive meanwhile are dropped, not written. (A close
        // of ours begun during the read leaves the stream open: the writer
        // flushes and sends it.) Beast 1.74 itself refuses a write after its
        // close (operation_aborted): what this adds is that their bytes leave
        // the byte budget now and no writer runs on a closed stream.
        if (!ws_.is_open()) {
          mark_close_sent(/*writing=*/writer_running_);
          report_queue();
        }
        if (ec == websocket::error::message_too_big) {
          services_.metrics.oversize_frames.fetch_add(1);
          log_flood_line(FloodLine::kFrameTooBig, log::Level::kInfo, "frame_too_big",
                         log::LogField("limit", ws_.read_message_max()));
        }
        break;
      }
      if (close_code() || closed()) break;
      services_.metrics.frames_received.fetch_add(1);
      bytes_wait = (client().logged_in() ? logged_in_bytes : bytes).take(now(), buffer.size());
      std::optional<ClientState::Answer> answer;
      if (!ws_.got_text()) {
        answer = co_await handle_binary();  // after the replies of the requests in flight
      } else {
        // Named, not a temporary: see storage_bridge.h on GCC 12 and co_await.
        std::string text = beast::buffers_to_string(buffer.data());
        answer = co_await handle_text(text);
      }
      // Before its reply goes out: a login in flight, or a route paid for
      // with proof of work, is not pushed out by a flood of idle sockets.
      if (!client().logged_in()) {
        if (client().holds_route()) {
          services_.admission.protect(ticket_, Admission::Shield::kPaid);
        } else if (client().awaiting_login()) {
          services_.admission.protect(ticket_, Admission::Shield::kLoggingIn);
        }
      }
      (void)services_.admission.hold_read(ticket_, 0);
      if (answer) send_reply(std::move(*answer));
      if (!promoted_ && client().logged_in()) {
        promoted_ = true;
        lifetime_timer_.cancel();
        const ClientState& c = client();
        if (!services_.admission.promote(ticket_, c.is_responder(), c.party(),
                                         c.is_responder() || c.vault_has_live_case())) {
          // Survivors would take the room kept for responders.
          services_.metrics.survivors_refused.fetch_add(1);
          log_flood_line(FloodLine::kSurvivorRefused, log::Level::kWarn,
                         "survivor_refused_reserve");
          begin_close(kCloseTryAgainLater, /*flush=*/true);
          break;
        }
      }
      if (draining()) {
        co_await settle();  // the replies in flight go out before the close
        begin_close(kCloseGoingAway, /*flush=*/true);
        break;
      }
    }
    (void)services_.admission.hold_read(ticket_, 0);
    // The session ends only once every request read has its answer.
    co_await settle();
    // When we started a close and no read is pending, async_close itself
    // reads until the peer's close frame arrives (Beast's close operation).
  }

  // Starts the writer unless it runs: it writes until the queue is empty (and
  // sends the close frame once the close begins), then ends.
  void wake_writer() override {
    if (!ws_open_ || writer_running_ || closed() || close_sent()) return;
    writer_running_ = true;
    auto self = std::static_pointer_cast<WsSession>(shared_from_this());
    boost::asio::co_spawn(strand_, write_loop(), [self](const std::exception_ptr& e) {
      if (!e) return;  // write_loop cleared writer_running_ itself
      self->writer_running_ = false;
      self->writer_done_.notify();
    });
  }

  // Tells the global byte budget what the write queue holds now.
  void report_queue() {
    if (queued_bytes() == queued_reported_) return;
    queued_reported_ = queued_bytes();
    services_.admission.hold_queued(ticket_, queued_reported_);
  }

  boost::asio::awaitable<void> write_loop() {
    for (;;) {
      report_queue();
      if (const std::string* frame = next_frame()) {
        boost::system::error_code ec;
        co_await ws_.async_write(boost::asio::buffer(*frame),
                                 boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        if (ec) {
          mark_close_sent(/*writing=*/false);  // this frame too: nothing more goes out
          mark_closed();
          break;
        }
        frame_written();
        continue;
      }
      if (close_code() && !closed() && !close_sent()) {
        // Nothing is written after the close frame, and no writer starts.
        mark_close_sent(/*writing=*/false);
        boost::system::error_code ec;
        websocket::close_reason reason(*close_code());
        co_await ws_.async_close(reason,
                                 boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        break;
      }
      if (closed()) break;
      // Nothing to write: this writer ends (wake_writer() starts the next
      // one). No suspension between the check above and the flag.
      break;
    }
    // The writer is done: after a close frame, what is still queued goes
    // (and leaves the budget).
    if (close_sent()) mark_close_sent(/*writing=*/false);
    report_queue();
    writer_running_ = false;
    writer_done_.notify();
  }

  ConnectionSlot slot_;
  websocket::stream<Stream> ws_;
  bool ws_open_ = false;  // accepted: the writer may run
  bool writer_running_ = false;
  AsyncSignal writer_done_{strand_};
  Admission::Ticket ticket_;
  bool upgraded_ = false;  // holds an anonymous (or better) place
  bool promoted_ = false;  // moved to the survivor or responder pool
  std::size_t queued_reported_ = 0;
  boost::asio::steady_timer frame_timer_{strand_};     // frame_deadline
  boost::asio::steady_timer lifetime_timer_{strand_};  // anonymous_lifetime
};

}  // namespace hearth::server
