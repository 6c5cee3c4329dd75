// Connection: one WebSocket to hearthd, with pipelined requests and a bounded
// queue of server pushes.
//
// A Connection runs its own I/O thread (Boost.Beast, asynchronous). call()
// sends a request and blocks the calling thread until its reply, an error
// reply, a timeout, or the connection dropping; several threads may have calls
// in flight at once (pipelined: replies are matched by id, not order). Server
// pushes ("ev" frames) go to a bounded queue read with next_event(); event_fd()
// is readable whenever an event or the disconnect is waiting, so a poll()-based
// UI can sleep on it. When the connection drops, every pending call completes
// with kUnavailable and next_event() reports the disconnect (after the events
// that arrived before it). A server that sends a frame this client cannot
// decode is treated as broken: the connection is closed.
//
// A close with code 4001 (a newer login of the same vault or responder took
// this connection's place, past the server's per-party connection cap) is its
// own outcome: pending calls and next_event() get kConflict with a message
// starting "replaced: ", marked so that replaced_by_newer_login() recognises
// it. A client must not log in again on its own after it: that would close
// the newer session in turn (docs/protocol.md).
//
// Errors from the server come back as a Status whose code is mapped from the
// wire code, which the Status carries as its detail (protocol_error() reads
// it; nothing parses the message), and whose message is
// "<wire_code>: <server message>". A close with 1013 reads as the wire error
// `unavailable`. Local failures: kUnavailable (not connected, dropped, timed
// out), kLimitExceeded (request larger than
// ConnectionOptions::max_request_bytes, too many calls in flight); they carry
// no wire code, whatever their message says.
//
// Thread safety: every public method is safe to call from any thread. The
// destructor closes the connection and joins the I/O thread; it must not run
// on that thread (it never does: no user code runs there).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/status.h"
#include "protocol/messages.h"

namespace hearth::client {

// Where hearthd listens: "ws://host:port/v1/ws" or "wss://host:port/v1/ws"
// (IPv6 hosts in brackets; the port defaults to 80 / 443, the path to /v1/ws).
struct Endpoint {
  std::string url;
  // wss only: PEM file of the CA certificates to trust instead of the
  // system's. The server's certificate is always verified, host name included.
  std::filesystem::path ca_file;
};

struct ConnectionOptions {
  // TCP connect + TLS + WebSocket handshake, in total.
  std::chrono::milliseconds connect_timeout{10000};
  // The largest frame accepted from the server (a route reply carries the
  // roster and up to 64 bundles; a vault login reply a vault blob).
  std::size_t max_frame_bytes = 8u * 1024 * 1024;
  // The largest request this client sends: hearthd's default max_frame_bytes.
  // A bigger frame would make the server close the connection (1009), so it is
  // refused locally with kLimitExceeded instead.
  std::size_t max_request_bytes = 256u * 1024;
  // Server pushes waiting for next_event(): past either bound the connection is
  // closed rather than memory growing (the server redelivers unacknowledged
  // envelopes after the next login, so nothing is lost).
  std::size_t max_events = 8192;
  std::size_t max_event_bytes = 256u * 1024 * 1024;
  std::size_t max_pending_calls = 1024;
};

inline constexpr std::chrono::milliseconds kDefaultCallTimeout{30000};

// What next_event() yields: a server push, or an error reply that answered no
// request (sent with "re": null, e.g. after raw_send of a malformed frame).
using Incoming = std::variant<protocol::Event, protocol::ProtocolError>;

// The reply type of request type R (the variants pair up by index). For a
// type that is not a request there is none (a substitution failure, so the
// typed call() below simply does not apply to it).
namespace detail {
template <typename R, std::size_t I = 0>
constexpr std::size_t request_index() {
  // Nested, not one condition: the alternative I exists only below the size.
  if constexpr (I < std::variant_size_v<protocol::Request>) {
    if constexpr (std::is_same_v<R, std::variant_alternative_t<I, protocol::Request>>) {
      return I;
    } else {
      return request_index<R, I + 1>();
    }
  } else {
    return I;
  }
}
template <typename R, std::size_t I = request_index<R>(),
          bool = (I < std::variant_size_v<protocol::Request>)>
struct ReplyOfImpl {};
template <typename R, std::size_t I>
struct ReplyOfImpl<R, I, true> {
  using type = std::variant_alternative_t<I, protocol::Reply>;
};
}  // namespace detail
template <typename R>
using ReplyOf = typename detail::ReplyOfImpl<R>::type;

class Connection {
 public:
  // Connects and completes the WebSocket handshake (TLS first for wss://).
  // kInvalidArgument: a malformed URL. kUnavailable: cannot resolve, connect,
  // verify the server's certificate, or upgrade; or the connect timed out.
  static Result<std::unique_ptr<Connection>> connect(const Endpoint& endpoint,
                                                     const ConnectionOptions& options = {});

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends `request` and waits for its reply. On a server error the Status
  // carries the mapped code and "<wire_code>: <message>". A timeout leaves the
  // connection open (a late reply is dropped).
  Result<protocol::Reply> call(protocol::Request request,
                               std::chrono::milliseconds timeout = kDefaultCallTimeout);

  // Typed form: call(protocol::ChallengeRequest{}) -> Result<ChallengeReply>.
  template <typename R>
  Result<ReplyOf<R>> call(R request, std::chrono::milliseconds timeout = kDefaultCallTimeout) {
    HEARTH_ASSIGN_OR_RETURN(protocol::Reply reply,
                            call(protocol::Request(std::move(request)), timeout));
    if (auto* typed = std::get_if<ReplyOf<R>>(&reply)) return std::move(*typed);
    return error(Code::kInternal, "reply of the wrong type");  // the codec decodes by op
  }

  // Sends every request at once and waits for all the replies (pipelined: one
  // round trip instead of one per request). Results are in request order; each
  // is what call() would have returned.
  std::vector<Result<protocol::Reply>> call_all(
      std::vector<protocol::Request> requests,
      std::chrono::milliseconds timeout = kDefaultCallTimeout);

  // For tests: sends `text` verbatim as one frame.
  Status raw_send(std::string text);
  // For tests: sends `text` verbatim and waits for the reply with id `id`,
  // decoded as the reply of `op`. kInvalidArgument if `id` is already in flight.
  Result<protocol::Reply> raw_call(std::string text, std::uint32_t id, protocol::Op op,
                                   std::chrono::milliseconds timeout = kDefaultCallTimeout);

  // The next server push: an Incoming, nullopt after `timeout` with none, or
  // kUnavailable (with the reason) once the connection is closed and every
  // event received before that has been taken.
  Result<std::optional<Incoming>> next_event(std::chrono::milliseconds timeout);

  // Readable while next_event() would return at once (an event or the
  // disconnect is waiting). Owned by the Connection: do not read or close it.
  int event_fd() const;

  // False once the connection dropped or close() was called.
  bool is_open() const;

  // Sends a WebSocket close (waiting at most ~2 s for the server's) and fails
  // pending calls with kUnavailable. Idempotent.
  void close();

  // Drops the TCP connection at once, without a close handshake: what a lost
  // network looks like to the server. For tests. Idempotent.
  void abort();

  class Impl;  // opaque: keeps Boost out of this header

 private:
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The WebSocket close code hearthd uses when a newer login of the same vault
// or responder takes a connection's place.
inline constexpr std::uint16_t kCloseReplaced = 4001;
inline constexpr std::string_view kReplacedPrefix = "replaced: ";

// True when `status` is a connection's end by close 4001: this vault or
// responder logged in again elsewhere (or here) and the server closed this,
// its oldest connection. Do not reconnect automatically.
bool replaced_by_newer_login(const Status& status);

// The wire error code a Status from call() carries, or nullopt when the Status
// did not come from a server error reply (a local failure, or ok). Read from
// the Status's detail, never from its message.
std::optional<protocol::ErrorCode> protocol_error(const Status& status);

// The Status call() returns for a server error reply `code` with `message`:
// code_for(code), the message "<wire name>: <message>", and the wire code as
// its detail.
Status server_error(protocol::ErrorCode code, std::string_view message);

// The hearth::Code a wire error code maps to in call()'s Status.
Code code_for(protocol::ErrorCode code);

}  // namespace hearth::client
