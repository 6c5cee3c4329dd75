// Admission: who may hold a connection, and how many bytes all connections
// may hold between them (docs/operations.md, "Connection limits").
//
// Every public connection holds one Ticket from accept to its end, in one of
// four pools, and belongs to a source (below). When a pool is full, the
// source holding the most of that pool gives up its oldest: one address
// cannot push out another's connection by opening more of its own.
//   handshake  -- TLS, the HTTP request, the WebSocket upgrade. At most
//                 max_handshakes; at accept, when the pool is full, the oldest
//                 handshake of the source holding the most handshakes is
//                 closed at once, so stalled handshakes (a slowloris) cannot
//                 keep a fresh one out. Never counted in max_connections.
//   anonymous  -- an upgraded WebSocket not logged in. At most
//                 max_anonymous_connections, and all WebSockets together at
//                 most max_connections; when there is no room the oldest
//                 unprotected anonymous connection of the source holding the
//                 most unprotected ones is closed (1013), so a responder or
//                 survivor arriving now gets in. Protected for
//                 anonymous_protection: one that asked for a login challenge
//                 (logging in) and one that paid a proof of work for a route
//                 (paid); they are evicted only when every anonymous
//                 connection is protected (logging in first, then paid; again
//                 from the source holding the most of that kind, oldest
//                 granted first). Each kind holds at most
//                 max_protected_anonymous (and a quarter of the pool); a newer
//                 protection ends the oldest of that kind held by the source
//                 holding the most of it. The upgrade is refused (503) only
//                 when there is no anonymous connection to evict.
//   survivor   -- logged into a vault (vault_login or open_case); at most
//                 max_connections minus the responder reserve. When full, a
//                 source holding at least two more survivor connections than
//                 the newcomer's gives one up (1013): its oldest of a vault
//                 without a live (not closed) case, else the oldest such of
//                 the source holding the most of them if it too holds two
//                 more, else its vault holding the most, if more than one,
//                 else its oldest. Failing that, a newcomer with a live case
//                 takes the oldest without one of the source holding the most
//                 of them, if that holds at least one more than the
//                 newcomer's. Failing that, the newcomer's own source gives up
//                 its oldest without a live case, else its vault holding the
//                 most connections, if more than one, its oldest; else the
//                 login is refused (1013). One source: the oldest without a
//                 live case, then the vault holding the most.
//   responder  -- after responder_login.
// "The source holding the most": when the newcomer's own source holds some
// and would then hold at least as many as the top source, its own oldest goes
// (so sources that hold equal shares keep them; an address evicts itself).
// Per party: at most max_connections_per_vault connections of one vault and
// max_connections_per_responder of one responder id; a newer login past it
// closes that party's oldest connection (4001).
// A responder arrives anonymous; since survivors stay out of the reserve and
// anonymous connections make way, a responder can always connect and log in
// while responders hold fewer than the reserve; its login in flight is
// protected from a flood of idle anonymous connections.
//
// Sources: the server derives a source key from the peer's address (an IPv4
// address, an IPv6 /48) with a keyed hash under a random key made at start
// and never written anywhere (server/source_key.h). Admission keeps only that
// opaque key, and only while a connection from it lives: the source's entry
// is erased with its last connection. The kernel's socket table holds the
// address itself for exactly as long, so memory holds nothing more. Every
// connection from one address (or behind one proxy, or Tor) is one source:
// then every rule above is the rule for a single source, the oldest first.
//
// Victims are found in O(log n): per pool, per source and per vault indexes
// (server/fair_share.h), never a scan of every connection.
//
// The byte budget: each ticket reports what its connection holds -- the
// message being read, the requests in flight and the write queue -- and the
// total is kept below max_buffered_bytes. A read of a message past
// kFreeReadBytes that would pass the budget is refused (the session waits and
// tries again, until its frame deadline cuts it off); so is a request going in
// flight (the session runs it alone instead); a write queue that takes the
// total past the budget makes the connection holding the most bytes a close
// frees (read + queue; in flight runs to its commit anyway) close (1008).
// Bytes of connections already asked to close do not count toward that
// trigger: they are about to be freed.
//
// Admission never reads a peer address: connections are told apart by an
// internal number and their source key only.
//
// Thread safety: every method may be called from any thread (one mutex). The
// Closer callbacks are called with no lock held; they must only post to the
// connection's strand.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "host/config.h"
#include "server/fair_share.h"
#include "server/metrics.h"

namespace hearth::server {

class Admission {
 public:
  enum class Pool { kHandshake, kAnonymous, kSurvivor, kResponder, kNone };
  // Why a connection is asked to close.
  enum class Reason {
    kHandshakeEvicted,
    kAnonymousEvicted,
    kBufferBudget,
    kReplaced,  // a newer login of the same vault or responder, past its cap
    kMadeWay,   // the survivor pool was full: this vault held the most
  };
  // What protects an anonymous connection from eviction (ranked: paid wins).
  enum class Shield { kNone, kLoggingIn, kPaid };
  // Asks the connection to close; called from any thread, must only post.
  using Closer = std::function<void(Reason)>;
  // Where a connection comes from, opaque (server/source_key.h).
  using SourceKey = std::array<std::uint8_t, 16>;

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

  // A new accepted connection from `source` enters the handshake pool. When
  // the pool was full, the closer of the oldest handshake of the source
  // holding the most is called (kHandshakeEvicted).
  Ticket enter(Closer closer, const SourceKey& source = SourceKey{});
  // The WebSocket upgrade: handshake -> anonymous. Makes room by closing the
  // oldest anonymous connection when needed; false when there is no room
  // even so (every slot is held by logged-in connections).
  bool upgrade(Ticket& ticket);
  // The upgrade, or the HTTP request, is over without a WebSocket: leaves the
  // handshake pool (an HTTP reply is being written; the ticket is kept).
  void leave_handshake(Ticket& ticket);
  // anonymous -> survivor or responder, for `party` (the vault's login key,
  // or the responder id; kept in memory only while the connection lives).
  // When the party already holds its cap, its oldest connection is asked to
  // close (kReplaced). A survivor finding the pool full makes way for itself
  // (kMadeWay), by the survivor rule above (fair shares per source, vaults
  // without a live case first within them); otherwise false (nothing
  // changes): the survivor would take the responders' reserve.
  // `live_case`: the vault has a case not closed (see set_live_case).
  bool promote(Ticket& ticket, bool responder, std::string_view party, bool live_case = true);
  // A survivor connection's vault has a case not closed (true), or none: a
  // full survivor pool takes places from the second kind first.
  void set_live_case(Ticket& ticket, bool live_case);
  // The anonymous connection asked for a login challenge (kLoggingIn) or was
  // given a route for a valid proof (kPaid): not evicted for
  // anonymous_protection. Each kind is granted once per connection; past the
  // kind's cap its oldest protection ends (it becomes evictable again).
  void protect(Ticket& ticket, Shield shield);

  // The message being read now holds `bytes`. True when it may: under the
  // budget, or at most kFreeReadBytes. False: nothing changed, wait and retry.
  bool hold_read(Ticket& ticket, std::size_t bytes);
  // The write queue holds `bytes` now. Past the budget, the connection holding
  // the most is asked to close (kBufferBudget); it may be this one.
  void hold_queued(Ticket& ticket, std::size_t bytes);
  // The connection's requests in flight (decoded, waiting for their commits;
  // docs/protocol.md "Pipelining") hold `bytes` now. True when they may: a
  // decrease always, an increase only under the budget. False: nothing
  // changed (the session then handles the request as a barrier instead).
  bool hold_in_flight(Ticket& ticket, std::size_t bytes);

  std::size_t buffered() const;
  // Sources with a connection now (tests: an entry goes with its last one).
  std::size_t sources() const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Source;
  // What a full pool may take, per source: handshakes, unprotected anonymous
  // connections, the two protections, survivors.
  enum Share { kHandshakes, kUnprotected, kLoggingIn, kPaid, kSurvivors, kShares };
  struct Entry {
    Pool pool = Pool::kHandshake;
    Closer closer;
    Source* source = nullptr;
    std::size_t read = 0;
    std::size_t queued = 0;
    std::size_t in_flight = 0;
    std::size_t held() const { return read + queued + in_flight; }
    bool asked_to_close = false;
    // Anonymous: the protection held (kNone once it ended), until when, and
    // its order of grant.
    Shield shield = Shield::kNone;
    TimePoint shield_until{};
    std::uint64_t shield_order = 0;
    bool granted_logging_in = false;
    bool granted_paid = false;
    // Survivor or responder: "s" or "r" + the party (see promote).
    std::string party;
    bool live_case = true;  // survivor: its vault has a case not closed
  };
  struct Source {
    SourceKey key{};
    std::size_t tickets = 0;        // live tickets from this source
    FairShare<std::string> vaults;  // its survivor connections, by vault
  };
  using Entries = std::map<std::uint64_t, Entry>;
  void erase(std::uint64_t id);
  // Takes `it` out of its pool at once (it is closing) and returns its closer.
  Closer take_out(Entries::iterator it);  // mu_ held
  // Puts an entry into (takes it out of) the indexes its state belongs to.
  // Every change of pool, shield, party, live_case, bytes or asked_to_close
  // happens between unlist and list. mu_ held.
  void list(std::uint64_t id, Entry& e);
  void unlist(std::uint64_t id, Entry& e);
  // Protections that have ended by `now` leave their index: those
  // connections are unprotected anonymous ones again. mu_ held.
  void expire_shields(TimePoint now);
  // The victim of a full share: from the source holding the most, or from
  // `newcomer`'s own when it would hold as many (see the header). An entry
  // id, or 0. mu_ held.
  std::uint64_t fair_victim(Share share, Source* newcomer) const;
  std::uint64_t member_to_id(Share share, std::uint64_t member) const;
  void adjust(Pool pool, int delta);  // mu_ held
  void publish();                     // gauges into metrics_; mu_ held
  std::size_t reserve() const;
  std::size_t shield_cap() const;

  const Limits& limits_;
  Metrics& metrics_;
  mutable std::mutex mu_;
  Entries entries_;  // by admission order: oldest first
  std::uint64_t next_id_ = 1;
  std::size_t handshakes_ = 0;
  std::size_t anonymous_ = 0;
  std::size_t survivors_ = 0;
  std::size_t responders_ = 0;
  std::size_t buffered_ = 0;
  std::size_t closable_ = 0;   // read + queued of the entries not asked to close
  std::size_t in_flight_ = 0;  // in flight, all entries
  std::uint64_t next_shield_order_ = 1;
  // Live logged-in connections per party key (Entry::party).
  std::map<std::string, std::size_t, std::less<>> parties_;
  // The indexes (entries not asked to close). Members are entry ids, but
  // shield_order for the protections.
  std::map<SourceKey, Source> sources_;
  FairShare<Source*> shares_[kShares];
  std::map<std::uint64_t, std::uint64_t> shields_[2];  // per kind: order -> id
  std::map<std::string, std::set<std::uint64_t>, std::less<>> party_members_;
  FairShare<Source*> caseless_;  // survivors whose vault has no live case, by source
  // (bytes read + queued, ~id): the largest holder, the oldest of equals, is last.
  std::set<std::pair<std::size_t, std::uint64_t>> holders_;
};

}  // namespace hearth::server
