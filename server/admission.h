// Admission: who may hold a connection, and how many bytes all connections
// may hold between them (docs/operations.md, "Connection limits").
//
// Every public connection holds one Ticket from accept to its end, in one of
// four pools:
//   handshake  -- TLS, the HTTP request, the WebSocket upgrade. At most
//                 max_handshakes; at accept, when the pool is full, the oldest
//                 handshake is closed at once, so stalled handshakes (a
//                 slowloris) cannot keep a fresh one out. Never counted in
//                 max_connections.
//   anonymous  -- an upgraded WebSocket not logged in. At most
//                 max_anonymous_connections, and all WebSockets together at
//                 most max_connections; when there is no room the oldest
//                 anonymous connection is closed (1013), so a responder or
//                 survivor arriving now gets in and logs in before it could be
//                 pushed out in turn.
//   survivor   -- logged into a vault (vault_login or open_case); at most
//                 max_connections minus the responder reserve.
//   responder  -- after responder_login.
// A responder arrives anonymous; since survivors stay out of the reserve and
// anonymous connections make way, a responder can always connect and log in
// while responders hold fewer than the reserve.
//
// The byte budget: each ticket reports what its connection holds -- the
// message being read and the write queue -- and the total is kept below
// max_buffered_bytes. A read of a message past kFreeReadBytes that would pass
// the budget is refused (the session waits and tries again, until its frame
// deadline cuts it off); a write queue that takes the total past the budget
// makes the connection holding the most bytes close (1008).
//
// Admission never reads a peer address: connections are told apart by an
// internal number only.
//
// Thread safety: every method may be called from any thread (one mutex). The
// Closer callbacks are called with no lock held; they must only post to the
// connection's strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "server/config.h"
#include "server/metrics.h"

namespace hearth::server {

class Admission {
 public:
  enum class Pool { kHandshake, kAnonymous, kSurvivor, kResponder, kNone };
  // Why a connection is asked to close.
  enum class Reason { kHandshakeEvicted, kAnonymousEvicted, kBufferBudget };
  // Asks the connection to close; called from any thread, must only post.
  using Closer = std::function<void(Reason)>;

  // Reads below this (a message in hand this size or smaller) never wait for
  // the budget: small requests stay fast however full it is.
  static constexpr std::size_t kFreeReadBytes = 64 * 1024;

  Admission(const Limits& limits, Metrics& metrics);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  class Ticket {
   public:
    Ticket() = default;
    ~Ticket() { reset(); }
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    // Leaves its pool and gives back the bytes it held.
    void reset();
    Pool pool() const;

   private:
    friend class Admission;
    Admission* owner_ = nullptr;
    std::uint64_t id_ = 0;
  };

  // A new accepted connection enters the handshake pool. When the pool was
  // full, the oldest handshake's closer is called (kHandshakeEvicted).
  Ticket enter(Closer closer);
  // The WebSocket upgrade: handshake -> anonymous. Makes room by closing the
  // oldest anonymous connection when needed; false when there is no room
  // even so (every slot is held by logged-in connections).
  bool upgrade(Ticket& ticket);
  // The upgrade, or the HTTP request, is over without a WebSocket: leaves the
  // handshake pool (an HTTP reply is being written; the ticket is kept).
  void leave_handshake(Ticket& ticket);
  // anonymous -> survivor or responder. False (nothing changes) when a
  // survivor would take the responders' reserve.
  bool promote(Ticket& ticket, bool responder);

  // The message being read now holds `bytes`. True when it may: under the
  // budget, or at most kFreeReadBytes. False: nothing changed, wait and retry.
  bool hold_read(Ticket& ticket, std::size_t bytes);
  // The write queue holds `bytes` now. Past the budget, the connection holding
  // the most is asked to close (kBufferBudget); it may be this one.
  void hold_queued(Ticket& ticket, std::size_t bytes);

  std::size_t buffered() const;

 private:
  struct Entry {
    Pool pool = Pool::kHandshake;
    Closer closer;
    std::size_t read = 0;
    std::size_t queued = 0;
    bool asked_to_close = false;
  };
  void erase(std::uint64_t id);
  void adjust(Pool pool, int delta);  // mu_ held
  void publish();                     // gauges into metrics_; mu_ held
  // The oldest entry in `pool` not asked to close yet, or end().
  std::map<std::uint64_t, Entry>::iterator oldest(Pool pool);
  std::size_t reserve() const;

  const Limits& limits_;
  Metrics& metrics_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, Entry> entries_;  // by admission order: oldest first
  std::uint64_t next_id_ = 1;
  std::size_t handshakes_ = 0;
  std::size_t anonymous_ = 0;
  std::size_t survivors_ = 0;
  std::size_t responders_ = 0;
  std::size_t buffered_ = 0;
};

}  // namespace hearth::server
