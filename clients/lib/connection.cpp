#include "clients/lib/connection.h"

#include <openssl/ssl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "protocol/codec.h"

namespace hearth::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Replies to calls that timed out are remembered (so a late one still decodes
// and is dropped) up to this many; then the oldest are forgotten.
constexpr std::size_t kMaxAbandonedCalls = 4096;
// How long a graceful close waits for the server's close frame.
constexpr std::chrono::seconds kCloseTimeout{2};
// Every queued event costs at least this much against max_event_bytes.
constexpr std::size_t kEventOverheadBytes = 128;

// What this library keeps in Status::detail(): a server error reply's wire
// code as kWireDetailBase + the code, or kReplacedDetail for the end by 4001.
constexpr std::uint32_t kWireDetailBase = 0x100;
constexpr std::uint32_t kReplacedDetail = 0x200;
static_assert(kWireDetailBase + protocol::kErrorCodeCount <= kReplacedDetail);

struct ParsedUrl {
  bool tls = false;
  std::string host;         // without brackets: what the resolver and SNI get
  std::string port;         // decimal
  std::string host_header;  // host[:port] as sent in the handshake
  std::string target;       // the path
};

bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value >= 1 && value <= 65535;
}

Result<ParsedUrl> parse_url(std::string_view url) {
  ParsedUrl out;
  std::string_view rest;
  if (url.starts_with("ws://")) {
    rest = url.substr(5);
  } else if (url.starts_with("wss://")) {
    out.tls = true;
    rest = url.substr(6);
  } else {
    return error(Code::kInvalidArgument, "the server address must start with ws:// or wss://");
  }
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? std::string(protocol::kWebSocketPath)
                                               : std::string(rest.substr(slash));
  std::string_view port;
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return error(Code::kInvalidArgument, "unterminated IPv6 address in the server address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(":"))
        return error(Code::kInvalidArgument, "bad port in the server address");
      port = after.substr(1);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return error(Code::kInvalidArgument, "no host in the server address");
  if (out.host.find_first_of(" \t\r\n@") != std::string::npos)
    return error(Code::kInvalidArgument, "bad host in the server address");
  if (!port.empty() && !is_port(port))
    return error(Code::kInvalidArgument, "bad port in the server address");
  out.port = port.empty() ? (out.tls ? "443" : "80") : std::string(port);
  out.host_header = std::string(authority);
  if (out.target.find_first_of(" \t\r\n") != std::string::npos)
    return error(Code::kInvalidArgument, "bad path in the server address");
  return out;
}

Status unavailable(std::string what) { return error(Code::kUnavailable, std::move(what)); }

std::size_t event_cost(const Incoming& incoming) {
  std::size_t cost = kEventOverheadBytes;
  if (const auto* ev = std::get_if<protocol::Event>(&incoming)) {
    if (const auto* env = std::get_if<protocol::EnvelopeEvent>(ev)) cost += env->body.size();
  }
  return cost;
}

// One WebSocket stream's I/O, on the I/O thread only.
class Driver {
 public:
  virtual ~Driver() = default;
  virtual void start(const ParsedUrl& url) = 0;
  virtual void send(std::string text) = 0;
  virtual void close() = 0;
  virtual void abort() = 0;
};

}  // namespace

class Connection::Impl {
 public:
  explicit Impl(const ConnectionOptions& options) : options_(options) {
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~Impl();

  Status start(const ParsedUrl& url, const Endpoint& endpoint);
  Result<protocol::Reply> call(protocol::Request request, std::chrono::milliseconds timeout);
  std::vector<Result<protocol::Reply>> call_all(std::vector<protocol::Request> requests,
                                                std::chrono::milliseconds timeout);
  Result<protocol::Reply> raw_call(std::string text, std::uint32_t id, protocol::Op op,
                                   std::chrono::milliseconds timeout);
  Status raw_send(std::string text);
  Result<std::optional<Incoming>> next_event(std::chrono::milliseconds timeout);
  int event_fd() const { return event_fd_; }
  bool is_open() const {
    std::lock_guard lock(mu_);
    return !closed_;
  }
  void close();
  void abort();

  // ---- Called by the driver, on the I/O thread ----
  void on_connected(Status status) { connected_.set_value(std::move(status)); }
  // Returns false when the connection must be dropped (a frame this client
  // cannot accept, or the event queue is full); `reason` says why.
  bool on_frame(std::string_view text, Status& reason);
  void on_closed(Status reason);
  const ConnectionOptions& options() const { return options_; }

 private:
  struct PendingCall {
    protocol::Op op = protocol::Op::kPowChallenge;
    std::optional<Result<protocol::Reply>> result;
  };

  std::uint32_t allocate_id_locked();
  // Registers a call and encodes its frame; the error when it cannot be sent.
  Result<std::string> prepare(protocol::Request request, std::uint32_t& id,
                              const std::shared_ptr<PendingCall>& call);
  Result<protocol::Reply> wait_for(std::uint32_t id, const std::shared_ptr<PendingCall>& call,
                                   std::chrono::steady_clock::time_point deadline);
  Result<protocol::Reply> send_and_wait(std::uint32_t id, const std::shared_ptr<PendingCall>& call,
                                        std::string text, std::chrono::milliseconds timeout);
  void post_send(std::string text);
  bool push_event_locked(Incoming incoming);
  void update_fd_locked();
  void wait_closed(std::chrono::milliseconds timeout);

  const ConnectionOptions options_;
  // Declared before the driver and thread so it is destroyed after them.
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<asio::ssl::context> tls_;
  std::unique_ptr<Driver> driver_;
  std::thread thread_;
  std::promise<Status> connected_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;  // guarded by mu_
  Status close_reason_;  // guarded by mu_
  std::uint32_t next_id_ = 1;
  std::map<std::uint32_t, std::shared_ptr<PendingCall>> pending_;  // guarded by mu_
  std::map<std::uint32_t, protocol::Op> abandoned_;                // guarded by mu_
  std::deque<std::pair<Incoming, std::size_t>> events_;            // guarded by mu_
  std::size_t event_bytes_ = 0;                                    // guarded by mu_
  int event_fd_ = -1;
  bool fd_signalled_ = false;  // guarded by mu_
};

namespace {

template <typename Stream>
class WsDriver final : public Driver {
 public:
  template <typename... Args>
  WsDriver(Connection::Impl& impl, asio::io_context& io, Args&&... args)
      : impl_(impl), resolver_(io), timer_(io), ws_(std::forward<Args>(args)...) {}

  void start(const ParsedUrl& url) override {
    url_ = url;
    beast::get_lowest_layer(ws_).expires_after(impl_.options().connect_timeout);
    resolver_.async_resolve(url_.host, url_.port,
                            [this](beast::error_code ec, tcp::resolver::results_type results) {
                              on_resolve(ec, std::move(results));
                            });
  }

  void send(std::string text) override {
    if (failed_ || closing_) return;
    writes_.push_back(std::move(text));
    if (writes_.size() == 1) do_write();
  }

  void close() override {
    if (failed_ || closing_) return;
    closing_ = true;
    timer_.expires_after(kCloseTimeout);
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) abort();
    });
    if (!connected_) {
      abort();
      return;
    }
    if (writes_.empty())
      do_close();  // else after the last write: a write and a close may not overlap
  }

  void abort() override {
    timer_.cancel();
    resolver_.cancel();
    beast::get_lowest_layer(ws_).close();  // pending operations complete with an error
    if (!connected_) fail(unavailable("connection aborted"));
  }

 private:
  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return fail_connect("cannot resolve the server's name");
    beast::get_lowest_layer(ws_).async_connect(
        results, [this](beast::error_code e, const tcp::endpoint&) { on_tcp(e); });
  }

  void on_tcp(beast::error_code ec) {
    if (ec) return fail_connect("cannot connect to the server");
    // Small interactive frames: do not let Nagle's algorithm hold them back.
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      // SNI, and verification of the certificate's name against the host.
      // SSL_set_tlsext_host_name() without its C cast.
      if (SSL_ctrl(ws_.next_layer().native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                   TLSEXT_NAMETYPE_host_name, const_cast<char*>(url_.host.c_str())) != 1)
        return fail_connect("cannot set the TLS server name");
      ws_.next_layer().set_verify_callback(asio::ssl::host_name_verification(url_.host));
      ws_.next_layer().async_handshake(asio::ssl::stream_base::client,
                                       [this](beast::error_code e) { on_tls(e); });
    } else {
      on_tls({});
    }
  }

  void on_tls(beast::error_code ec) {
    if (ec) return fail_connect("TLS handshake failed (is the server's certificate trusted?)");
    // The WebSocket layer keeps its own timeouts from here on.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts =
        websocket::stream_base::timeout::suggested(beast::role_type::client);
    timeouts.handshake_timeout =
        std::chrono::duration_cast<std::chrono::seconds>(impl_.options().connect_timeout) +
        std::chrono::seconds(1);
    ws_.set_option(timeouts);
    // A fixed, uninformative user agent: nothing about this client's build or platform.
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(http::field::user_agent, "hearth"); }));
    ws_.read_message_max(impl_.options().max_frame_bytes);
    ws_.async_handshake(url_.host_header, url_.target,
                        [this](beast::error_code e) { on_handshake(e); });
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return fail_connect("the server refused the WebSocket upgrade");
    connected_ = true;
    ws_.text(true);
    impl_.on_connected(Status::ok());
    do_read();
  }

  void fail_connect(std::string what) { fail(unavailable(std::move(what))); }

  void do_read() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed) {
        auto reason = ws_.reason();
        // 1013, try again later: the server made room under load
        // (docs/protocol.md). It says nothing about this client, so it reads
        // as the wire error `unavailable`, which a login retries with backoff.
        if (!closing_ && reason.code == websocket::close_code::try_again_later)
          return fail(server_error(protocol::ErrorCode::kUnavailable,
                                   "the server is busy and closed the connection (1013)"));
        // 4001: a newer login of the same vault or responder took this
        // connection's place (docs/protocol.md). Not a network failure:
        // reconnecting would close that newer session in turn.
        if (!closing_ && reason.code == kCloseReplaced)
          return fail(Status(Code::kConflict, std::string(kReplacedPrefix) +
                                                  "a newer login of the same vault or responder "
                                                  "took this connection's place (4001)")
                          .with_detail(kReplacedDetail));
        return fail(unavailable(closing_ ? "connection closed"
                                         : "the server closed the connection (code " +
                                               std::to_string(reason.code) + ")"));
      }
      if (ec == websocket::error::message_too_big)
        return fail(unavailable("the server sent a frame larger than this client accepts"));
      return fail(unavailable(closing_ ? "connection closed" : "connection lost"));
    }
    if (!ws_.got_text()) return fail(unavailable("the server sent a binary frame"));
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    Status reason;
    if (!impl_.on_frame(text, reason)) return fail(std::move(reason));
    do_read();
  }

  void do_write() {
    ws_.async_write(asio::buffer(writes_.front()),
                    [this](beast::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return fail(unavailable("connection lost while sending"));
    writes_.pop_front();
    if (!writes_.empty()) return do_write();
    if (closing_) do_close();
  }

  void do_close() {
    ws_.async_close(websocket::close_code::normal, [this](beast::error_code ec) {
      // The pending read ends with websocket::error::closed and reports it.
      if (ec) abort();
    });
  }

  void fail(Status reason) {
    if (failed_) return;
    failed_ = true;
    timer_.cancel();
    beast::get_lowest_layer(ws_).close();
    writes_.clear();
    if (!connected_) impl_.on_connected(reason);  // connect() is still waiting
    impl_.on_closed(std::move(reason));
  }

  static constexpr bool kTls = !std::is_same_v<Stream, websocket::stream<beast::tcp_stream>>;

  Connection::Impl& impl_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  Stream ws_;
  ParsedUrl url_;
  beast::flat_buffer buffer_;
  std::deque<std::string> writes_;
  bool connected_ = false;
  bool closing_ = false;
  bool failed_ = false;
};

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

// ---- Connection::Impl ----

Status Connection::Impl::start(const ParsedUrl& url, const Endpoint& endpoint) {
  if (event_fd_ < 0) return unavailable("cannot create an event descriptor");
  if (url.tls) {
    tls_.emplace(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    tls_->set_verify_mode(asio::ssl::verify_peer);
    beast::error_code ec;
    if (!endpoint.ca_file.empty()) {
      tls_->load_verify_file(endpoint.ca_file.string(), ec);
      if (ec) return error(Code::kInvalidArgument, "cannot read the CA file");
    } else {
      tls_->set_default_verify_paths(ec);
      if (ec) return unavailable("cannot load the system's CA certificates");
    }
    driver_ = std::make_unique<WsDriver<TlsWs>>(*this, io_, io_, *tls_);
  } else if (!endpoint.ca_file.empty()) {
    return error(Code::kInvalidArgument, "a CA file needs a wss:// address");
  } else {
    driver_ = std::make_unique<WsDriver<PlainWs>>(*this, io_, io_);
  }
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
  std::future<Status> connected = connected_.get_future();
  asio::post(io_, [this, url] { driver_->start(url); });
  if (connected.wait_for(options_.connect_timeout + std::chrono::seconds(2)) !=
      std::future_status::ready) {
    abort();
    return unavailable("timed out connecting to the server");
  }
  return connected.get();
}

Connection::Impl::~Impl() {
  if (thread_.joinable()) {
    close();  // a close handshake when still open, bounded by kCloseTimeout
    // Once closed nothing is left to finish. Beast's WebSocket keeps an
    // internal timer waiting after the socket is gone, so the loop would not
    // run dry by itself: stop it; pending handlers are destroyed with io_.
    work_.reset();
    io_.stop();
    thread_.join();
  }
  driver_.reset();
  if (event_fd_ >= 0) ::close(event_fd_);
}

std::uint32_t Connection::Impl::allocate_id_locked() {
  while (pending_.count(next_id_) != 0 || abandoned_.count(next_id_) != 0) ++next_id_;
  return next_id_++;
}

void Connection::Impl::post_send(std::string text) {
  asio::post(io_, [this, t = std::move(text)]() mutable { driver_->send(std::move(t)); });
}

Result<std::string> Connection::Impl::prepare(protocol::Request request, std::uint32_t& id,
                                              const std::shared_ptr<PendingCall>& call) {
  call->op = protocol::op_of(request);
  {
    std::lock_guard lock(mu_);
    if (closed_) return close_reason_;
    if (pending_.size() >= options_.max_pending_calls)
      return error(Code::kLimitExceeded, "too many requests in flight");
    id = allocate_id_locked();
    pending_[id] = call;
  }
  std::string text = protocol::encode(protocol::RequestFrame{id, std::move(request)});
  if (text.size() > options_.max_request_bytes) {
    std::lock_guard lock(mu_);
    pending_.erase(id);
    return error(Code::kLimitExceeded, "the request is larger than the server accepts");
  }
  return text;
}

Result<protocol::Reply> Connection::Impl::call(protocol::Request request,
                                               std::chrono::milliseconds timeout) {
  auto pending = std::make_shared<PendingCall>();
  std::uint32_t id = 0;
  HEARTH_ASSIGN_OR_RETURN(std::string text, prepare(std::move(request), id, pending));
  return send_and_wait(id, pending, std::move(text), timeout);
}

std::vector<Result<protocol::Reply>> Connection::Impl::call_all(
    std::vector<protocol::Request> requests, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::optional<Result<protocol::Reply>>> failed(requests.size());
  std::vector<std::pair<std::uint32_t, std::shared_ptr<PendingCall>>> sent(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto pending = std::make_shared<PendingCall>();
    std::uint32_t id = 0;
    auto text = prepare(std::move(requests[i]), id, pending);
    if (!text.is_ok()) {
      failed[i].emplace(text.status());
      continue;
    }
    sent[i] = {id, pending};
    post_send(std::move(text).value());
  }
  std::vector<Result<protocol::Reply>> out;
  out.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (failed[i]) {
      out.push_back(std::move(*failed[i]));
    } else {
      out.push_back(wait_for(sent[i].first, sent[i].second, deadline));
    }
  }
  return out;
}

Result<protocol::Reply> Connection::Impl::raw_call(std::string text, std::uint32_t id,
                                                   protocol::Op op,
                                                   std::chrono::milliseconds timeout) {
  auto pending = std::make_shared<PendingCall>();
  pending->op = op;
  {
    std::lock_guard lock(mu_);
    if (closed_) return close_reason_;
    if (pending_.count(id) != 0 || abandoned_.count(id) != 0)
      return error(Code::kInvalidArgument, "that request id is in use");
    pending_[id] = pending;
  }
  return send_and_wait(id, pending, std::move(text), timeout);
}

Result<protocol::Reply> Connection::Impl::send_and_wait(std::uint32_t id,
                                                        const std::shared_ptr<PendingCall>& call,
                                                        std::string text,
                                                        std::chrono::milliseconds timeout) {
  post_send(std::move(text));
  return wait_for(id, call, std::chrono::steady_clock::now() + timeout);
}

Result<protocol::Reply> Connection::Impl::wait_for(std::uint32_t id,
                                                   const std::shared_ptr<PendingCall>& call,
                                                   std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return call->result.has_value(); });
  if (call->result.has_value()) return std::move(*call->result);
  pending_.erase(id);
  abandoned_[id] = call->op;
  while (abandoned_.size() > kMaxAbandonedCalls) abandoned_.erase(abandoned_.begin());
  return unavailable("timed out waiting for the server's reply");
}

Status Connection::Impl::raw_send(std::string text) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return close_reason_;
  }
  post_send(std::move(text));
  return Status::ok();
}

bool Connection::Impl::on_frame(std::string_view text, Status& reason) {
  auto lookup = [this](std::uint32_t re) -> std::optional<protocol::Op> {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(re); it != pending_.end()) return it->second->op;
    if (auto it = abandoned_.find(re); it != abandoned_.end()) return it->second;
    return std::nullopt;
  };
  auto decoded = protocol::decode_server_frame(text, lookup);
  if (auto* bad = std::get_if<protocol::ProtocolError>(&decoded)) {
    // The message names the field, never a value.
    reason =
        unavailable("the server sent a frame this client cannot read (" +
                    std::string(protocol::error_code_name(bad->code)) + ": " + bad->message + ")");
    return false;
  }
  auto& frame = std::get<protocol::ServerFrame>(decoded);
  std::lock_guard lock(mu_);
  if (auto* event = std::get_if<protocol::EventFrame>(&frame)) {
    if (!push_event_locked(Incoming(std::move(event->event)))) {
      reason = unavailable("too many server events waiting; reconnect to receive the rest");
      return false;
    }
    return true;
  }
  auto& reply = std::get<protocol::ReplyFrame>(frame);
  if (!reply.re.has_value()) {
    // An error that answers no request: the server could not read one of ours.
    if (auto* err = std::get_if<protocol::ProtocolError>(&reply.result)) {
      if (!push_event_locked(Incoming(std::move(*err)))) {
        reason = unavailable("too many server events waiting");
        return false;
      }
    }
    return true;
  }
  if (auto it = pending_.find(*reply.re); it != pending_.end()) {
    if (auto* value = std::get_if<protocol::Reply>(&reply.result)) {
      it->second->result.emplace(std::move(*value));
    } else {
      const auto& err = std::get<protocol::ProtocolError>(reply.result);
      it->second->result.emplace(server_error(err.code, err.message));
    }
    pending_.erase(it);
    cv_.notify_all();
  } else {
    abandoned_.erase(*reply.re);  // a reply that came after its call timed out
  }
  return true;
}

bool Connection::Impl::push_event_locked(Incoming incoming) {
  std::size_t cost = event_cost(incoming);
  if (events_.size() >= options_.max_events || event_bytes_ + cost > options_.max_event_bytes)
    return false;
  events_.emplace_back(std::move(incoming), cost);
  event_bytes_ += cost;
  update_fd_locked();
  cv_.notify_all();
  return true;
}

void Connection::Impl::on_closed(Status reason) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  closed_ = true;
  close_reason_ = std::move(reason);
  for (auto& [id, call] : pending_) call->result.emplace(close_reason_);
  pending_.clear();
  update_fd_locked();
  cv_.notify_all();
}

void Connection::Impl::update_fd_locked() {
  if (event_fd_ < 0) return;
  const bool want = !events_.empty() || closed_;
  if (want && !fd_signalled_) {
    std::uint64_t one = 1;
    if (::write(event_fd_, &one, sizeof one) == sizeof one) fd_signalled_ = true;
  } else if (!want && fd_signalled_) {
    std::uint64_t value = 0;
    if (::read(event_fd_, &value, sizeof value) == sizeof value) fd_signalled_ = false;
  }
}

Result<std::optional<Incoming>> Connection::Impl::next_event(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || closed_; });
  if (!events_.empty()) {
    auto [incoming, cost] = std::move(events_.front());
    events_.pop_front();
    event_bytes_ -= cost;
    update_fd_locked();
    return std::optional<Incoming>(std::move(incoming));
  }
  if (closed_) return close_reason_;
  return std::optional<Incoming>();
}

void Connection::Impl::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_; });
}

void Connection::Impl::close() {
  if (!thread_.joinable() || !is_open()) return;
  asio::post(io_, [this] { driver_->close(); });
  wait_closed(kCloseTimeout + std::chrono::seconds(1));
}

void Connection::Impl::abort() {
  if (!thread_.joinable() || !is_open()) return;
  asio::post(io_, [this] { driver_->abort(); });
  wait_closed(std::chrono::seconds(2));
}

// ---- Connection ----

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

Result<std::unique_ptr<Connection>> Connection::connect(const Endpoint& endpoint,
                                                        const ConnectionOptions& options) {
  HEARTH_ASSIGN_OR_RETURN(ParsedUrl url, parse_url(endpoint.url));
  auto impl = std::make_unique<Impl>(options);
  HEARTH_TRY(impl->start(url, endpoint));
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Result<protocol::Reply> Connection::call(protocol::Request request,
                                         std::chrono::milliseconds timeout) {
  return impl_->call(std::move(request), timeout);
}

std::vector<Result<protocol::Reply>> Connection::call_all(std::vector<protocol::Request> requests,
                                                          std::chrono::milliseconds timeout) {
  return impl_->call_all(std::move(requests), timeout);
}

Status Connection::raw_send(std::string text) { return impl_->raw_send(std::move(text)); }

Result<protocol::Reply> Connection::raw_call(std::string text, std::uint32_t id, protocol::Op op,
                                             std::chrono::milliseconds timeout) {
  return impl_->raw_call(std::move(text), id, op, timeout);
}

Result<std::optional<Incoming>> Connection::next_event(std::chrono::milliseconds timeout) {
  return impl_->next_event(timeout);
}

int Connection::event_fd() const { return impl_->event_fd(); }
bool Connection::is_open() const { return impl_->is_open(); }
void Connection::close() { impl_->close(); }
void Connection::abort() { impl_->abort(); }

// ---- Errors ----

Code code_for(protocol::ErrorCode code) {
  using E = protocol::ErrorCode;
  switch (code) {
    case E::kMalformed:
    case E::kUnsupportedVersion:
    case E::kUnknownOp:
    case E::kUnknownField:
    case E::kMissingField:
    case E::kBadField:
    case E::kForbidden:
      return Code::kInvalidArgument;
    case E::kRateLimited:
    case E::kLimitExceeded:
      return Code::kLimitExceeded;
    case E::kNotAuthenticated:
    case E::kAuthFailed:
    case E::kRevoked:
    case E::kPowInsufficient:
      return Code::kAuthFailed;
    case E::kNotFound:
    case E::kNotOnRoster:
    case E::kClosed:  // the case is over for writing: as gone as a missing one
      return Code::kNotFound;
    case E::kConflict:
      return Code::kConflict;
    case E::kCertificateExpired:
    case E::kPowStale:
      return Code::kExpired;
    case E::kPowReplayed:
      return Code::kReplay;
    case E::kNoResponder:
    case E::kNotClaimed:
    case E::kUnavailable:
      return Code::kUnavailable;
    case E::kInternal:
      return Code::kInternal;
  }
  return Code::kInternal;
}

bool replaced_by_newer_login(const Status& status) {
  return status.code() == Code::kConflict && status.detail() == kReplacedDetail;
}

std::optional<protocol::ErrorCode> protocol_error(const Status& status) {
  if (status.is_ok()) return std::nullopt;
  const std::uint32_t d = status.detail();
  if (d < kWireDetailBase || d >= kWireDetailBase + protocol::kErrorCodeCount) return std::nullopt;
  return static_cast<protocol::ErrorCode>(d - kWireDetailBase);
}

Status server_error(protocol::ErrorCode code, std::string_view message) {
  return Status(code_for(code),
                std::string(protocol::error_code_name(code)) + ": " + std::string(message))
      .with_detail(kWireDetailBase + static_cast<std::uint32_t>(code));
}

}  // namespace hearth::client
