// Admission's fair shares per source (server/admission.h): whom a full pool
// closes, with one source (a proxy, Tor: the oldest first, as always) and
// with several (the source holding the most gives up its own); the source
// keys (server/source_key.h), the per-group index (server/fair_share.h) and
// the throttle of flood log lines (server/log_throttle.h).
#include <catch2/catch.hpp>

#include <boost/asio/ip/address.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/admission.h"
#include "server/fair_share.h"
#include "server/log_throttle.h"
#include "server/source_key.h"

namespace hearth::server {
namespace {

using Reason = Admission::Reason;
using Shield = Admission::Shield;

Admission::SourceKey source(std::uint8_t n) {
  Admission::SourceKey key{};
  key[0] = n;
  return key;
}

// Admission with small limits; every ticket remembers why it was asked to close.
struct Door {
  Limits limits;
  Metrics metrics;
  std::unique_ptr<Admission> admission;
  std::vector<Admission::Ticket> tickets;
  std::map<std::size_t, Reason> closed;  // ticket index -> reason

  explicit Door(Limits l) : limits(l), admission(std::make_unique<Admission>(limits, metrics)) {}
  // A new handshake from source `s`; its index.
  std::size_t enter(std::uint8_t s) {
    std::size_t i = tickets.size();
    tickets.push_back(admission->enter([this, i](Reason r) { closed.emplace(i, r); }, source(s)));
    return i;
  }
  // A new anonymous connection from source `s`.
  std::size_t anonymous(std::uint8_t s) {
    std::size_t i = enter(s);
    REQUIRE(admission->upgrade(tickets[i]));
    return i;
  }
  bool open(std::size_t i) const { return !closed.contains(i); }
};

Limits small() {
  Limits l;
  l.max_handshakes = 4;
  l.max_anonymous_connections = 8;  // 2 protections of each kind
  l.max_connections = 40;
  l.reserved_responder_connections = 2;
  l.max_protected_anonymous = 64;
  l.anonymous_protection = std::chrono::seconds(60);
  return l;
}

TEST_CASE("one source: a full handshake pool closes the oldest handshake", "[server]") {
  Door door(small());
  for (int i = 0; i < 6; ++i) door.enter(1);
  CHECK(door.closed.size() == 2);
  CHECK(door.closed.at(0) == Reason::kHandshakeEvicted);
  CHECK(door.closed.contains(1));
  CHECK(door.metrics.handshakes_open.load() == 4);
}

TEST_CASE("a full handshake pool closes the source holding the most, not the oldest", "[server]") {
  Door door(small());
  std::size_t legit = door.enter(1);
  for (int i = 0; i < 20; ++i) door.enter(2);
  CHECK(door.open(legit));
  CHECK(door.closed.size() == 17);
  CHECK(door.metrics.handshakes_evicted.load() == 17);
  // Another source arriving takes a place from the flooder, not from 1.
  std::size_t third = door.enter(3);
  CHECK(door.open(legit));
  CHECK(door.open(third));
  // Sources holding equal shares keep them: a newcomer from a source that
  // would hold as many as the top one closes its own oldest.
  Door even(small());
  for (std::uint8_t s = 1; s <= 2; ++s) {
    even.enter(s);
    even.enter(s);
  }
  even.enter(2);
  CHECK(even.closed.size() == 1);
  CHECK(even.closed.contains(2));  // source 2's oldest (tickets 0, 1 are source 1's)
}

TEST_CASE("a full anonymous pool closes the unprotected of the source holding the most",
          "[server]") {
  Door door(small());
  std::size_t legit = door.anonymous(1);  // between pow_challenge and route: unprotected
  std::vector<std::size_t> flood;
  for (int i = 0; i < 24; ++i) flood.push_back(door.anonymous(2));
  CHECK(door.open(legit));
  CHECK(door.closed.size() == 17);
  CHECK(door.closed.at(flood[0]) == Reason::kAnonymousEvicted);
  CHECK(door.metrics.anonymous_open.load() == 8);
  // One source (behind a proxy): the oldest unprotected goes, as always.
  Door one(small());
  std::vector<std::size_t> all;
  for (int i = 0; i < 9; ++i) all.push_back(one.anonymous(1));
  CHECK(one.closed.size() == 1);
  CHECK(one.closed.contains(all[0]));
}

TEST_CASE("a flood of protections from one source ends its own, not another's", "[server]") {
  Door door(small());
  std::size_t console = door.anonymous(1);
  door.admission->protect(door.tickets[console], Shield::kLoggingIn);
  std::vector<std::size_t> flood;
  for (int i = 0; i < 24; ++i) {
    flood.push_back(door.anonymous(2));
    door.admission->protect(door.tickets[flood.back()], Shield::kLoggingIn);
  }
  CHECK(door.open(console));
  CHECK(door.metrics.protections_displaced.load() > 0);
  // The console's login completes: it is promoted.
  CHECK(door.admission->promote(door.tickets[console], /*responder=*/true, "ana"));
  // One source: a newer protection ends the oldest one, as always.
  Door one(small());
  std::vector<std::size_t> mine;
  for (int i = 0; i < 3; ++i) {
    mine.push_back(one.anonymous(1));
    one.admission->protect(one.tickets[mine.back()], Shield::kLoggingIn);
  }
  CHECK(one.metrics.protections_displaced.load() == 1);
  // mine[0] lost its protection: the next idle ones push it out first.
  for (int i = 0; i < 6; ++i) one.anonymous(1);
  CHECK(one.closed.size() == 1);
  CHECK(one.closed.contains(mine[0]));
}

TEST_CASE("protected places stay while the source holding the most has unprotected ones",
          "[server]") {
  Limits l = small();
  l.max_anonymous_connections = 4;  // one protection of each kind
  l.max_protected_anonymous = 1;
  Door door(l);
  std::size_t paid = door.anonymous(1);
  door.admission->protect(door.tickets[paid], Shield::kPaid);
  std::size_t login = door.anonymous(1);
  door.admission->protect(door.tickets[login], Shield::kLoggingIn);
  std::size_t a = door.anonymous(2);
  std::size_t b = door.anonymous(2);
  // Full: the newcomer from 3 takes an unprotected one of source 2.
  door.anonymous(3);
  CHECK(door.closed.size() == 1);
  CHECK(door.closed.contains(a));
  (void)b;
  CHECK(door.open(paid));
  CHECK(door.open(login));
}

TEST_CASE("a survivor pool full of one source's vaults admits a survivor from another",
          "[server]") {
  Limits l = small();
  l.max_connections = 8;  // 6 survivor places
  Door door(l);
  std::vector<std::size_t> attacker;
  for (int i = 0; i < 6; ++i) {
    attacker.push_back(door.anonymous(2));
    REQUIRE(door.admission->promote(door.tickets[attacker.back()], false,
                                    "vault" + std::to_string(i), true));
  }
  std::size_t mine = door.anonymous(1);
  CHECK(door.admission->promote(door.tickets[mine], false, "mine", true));
  CHECK(door.closed.at(attacker[0]) == Reason::kMadeWay);
  CHECK(door.metrics.survivors_made_way.load() == 1);
  // Every source now holds one place per vault: a vault from a third source
  // takes from source 2 (5 places) too; one from source 2 takes nothing.
  std::size_t third = door.anonymous(3);
  CHECK(door.admission->promote(door.tickets[third], false, "third", true));
  std::size_t more = door.anonymous(2);
  CHECK_FALSE(door.admission->promote(door.tickets[more], false, "vault9", true));
  CHECK(door.open(mine));
  CHECK(door.open(third));
}

TEST_CASE("a full survivor pool of distinct sources with one vault each refuses", "[server]") {
  Limits l = small();
  l.max_connections = 8;
  Door door(l);
  for (std::uint8_t s = 1; s <= 6; ++s) {
    std::size_t i = door.anonymous(s);
    REQUIRE(door.admission->promote(door.tickets[i], false, "v" + std::to_string(s), true));
  }
  std::size_t late = door.anonymous(7);
  CHECK_FALSE(door.admission->promote(door.tickets[late], false, "late", true));
  CHECK(door.closed.empty());
  // A vault without a live case gives way first, whatever its source.
  door.admission->set_live_case(door.tickets[3], false);
  std::size_t again = door.anonymous(7);
  CHECK(door.admission->promote(door.tickets[again], false, "again", true));
  CHECK(door.closed.at(3) == Reason::kMadeWay);
}

TEST_CASE("a survivor pool full of one source takes from it, not another's caseless vault",
          "[server]") {
  Limits l = small();
  l.max_connections = 20;  // 18 survivor places
  Door door(l);
  std::vector<std::size_t> attacker;
  for (int i = 0; i < 16; ++i) {
    attacker.push_back(door.anonymous(1));
    REQUIRE(door.admission->promote(door.tickets[attacker.back()], false, "a" + std::to_string(i),
                                    true));
  }
  // Two survivors whose case a responder closed, reading the last replies.
  std::size_t b = door.anonymous(2);
  REQUIRE(door.admission->promote(door.tickets[b], false, "b", false));
  std::size_t c = door.anonymous(3);
  REQUIRE(door.admission->promote(door.tickets[c], false, "c", false));
  // Caseless newcomers from other addresses take from source 1, one each.
  std::size_t d = door.anonymous(4);
  CHECK(door.admission->promote(door.tickets[d], false, "d", false));
  CHECK(door.closed.size() == 1);
  CHECK(door.closed.at(attacker[0]) == Reason::kMadeWay);
  std::size_t e = door.anonymous(5);
  CHECK(door.admission->promote(door.tickets[e], false, "e", false));
  CHECK(door.closed.size() == 2);
  CHECK(door.closed.at(attacker[1]) == Reason::kMadeWay);
  // A live case from a sixth address: source 1 still holds the most.
  std::size_t f = door.anonymous(6);
  CHECK(door.admission->promote(door.tickets[f], false, "f", true));
  CHECK(door.closed.at(attacker[2]) == Reason::kMadeWay);
  for (std::size_t i : {b, c, d, e, f}) CHECK(door.open(i));
  // Source 1's own vault without a live case goes before its others.
  door.admission->set_live_case(door.tickets[attacker[9]], false);
  std::size_t g = door.anonymous(7);
  CHECK(door.admission->promote(door.tickets[g], false, "g", false));
  CHECK(door.closed.at(attacker[9]) == Reason::kMadeWay);
  CHECK(door.closed.size() == 4);
}

TEST_CASE("one source: a full survivor pool takes from the vault holding the most", "[server]") {
  Limits l = small();
  l.max_connections = 8;
  Door door(l);
  std::vector<std::size_t> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(door.anonymous(1));
    REQUIRE(door.admission->promote(door.tickets[held.back()], false, i % 2 ? "a" : "b", true));
  }
  std::size_t c = door.anonymous(1);
  CHECK(door.admission->promote(door.tickets[c], false, "c", true));
  CHECK(door.closed.size() == 1);
  CHECK(door.closed.contains(held[0]));  // "b" (3 places) holds the oldest
}

TEST_CASE("a source's entry lives exactly as long as its connections", "[server]") {
  Door door(small());
  door.enter(1);
  door.enter(2);
  door.enter(2);
  CHECK(door.admission->sources() == 2);
  door.tickets[0].reset();
  CHECK(door.admission->sources() == 1);
  door.tickets[1].reset();
  CHECK(door.admission->sources() == 1);
  door.tickets[2].reset();
  CHECK(door.admission->sources() == 0);
}

TEST_CASE("the byte budget closes the largest holder, the oldest of equals", "[server]") {
  Limits l = small();
  l.max_buffered_bytes = 1000;
  Door door(l);
  std::size_t a = door.anonymous(1);
  std::size_t b = door.anonymous(2);
  door.admission->hold_queued(door.tickets[a], 600);
  door.admission->hold_queued(door.tickets[b], 600);
  CHECK(door.closed.size() == 1);
  CHECK(door.closed.at(a) == Reason::kBufferBudget);
}

TEST_CASE("requests in flight count in the byte budget and are refused past it", "[server]") {
  Limits l = small();
  l.max_buffered_bytes = 1000;
  Door door(l);
  std::size_t a = door.anonymous(1);
  std::size_t b = door.anonymous(2);
  CHECK(door.admission->hold_in_flight(door.tickets[a], 700));
  CHECK(door.admission->buffered() == 700);
  // b may not take what a holds in flight; nothing changed.
  CHECK_FALSE(door.admission->hold_in_flight(door.tickets[b], 400));
  CHECK(door.admission->buffered() == 700);
  CHECK(door.admission->hold_in_flight(door.tickets[b], 300));
  // A decrease is always taken, and frees room.
  CHECK(door.admission->hold_in_flight(door.tickets[a], 200));
  CHECK(door.admission->buffered() == 500);
  // Past the budget, the holder closed is the one whose close frees bytes (its
  // read and its queue): requests in flight run to their commit regardless.
  CHECK(door.admission->hold_in_flight(door.tickets[a], 600));
  door.admission->hold_queued(door.tickets[b], 200);
  CHECK(door.closed.size() == 1);
  CHECK(door.closed.at(b) == Reason::kBufferBudget);
  // b's queue is about to be dropped: a frame queued meanwhile closes nobody
  // more (600 + 300 in flight + 50 is within the budget).
  std::size_t c = door.anonymous(3);
  door.admission->hold_queued(door.tickets[c], 50);
  CHECK(door.closed.size() == 1);
  // A connection's end takes its bytes in flight out of the budget.
  door.tickets[b].reset();
  door.tickets[a].reset();
  door.tickets[c].reset();
  CHECK(door.admission->buffered() == 0);
}

TEST_CASE("FairShare finds the group holding the most, then the oldest", "[server]") {
  FairShare<int> s;
  CHECK(s.top() == nullptr);
  s.add(1, 10);
  s.add(2, 5);
  REQUIRE(s.top() != nullptr);
  CHECK(*s.top() == 2);  // equal counts: the oldest member wins
  s.add(1, 11);
  CHECK(*s.top() == 1);
  CHECK(s.count(1) == 2);
  CHECK(*s.oldest(1) == 10);
  s.remove(1, 10);
  s.remove(1, 11);
  CHECK(s.count(1) == 0);
  CHECK(s.size() == 1);
  CHECK(*s.top() == 2);
}

TEST_CASE("source keys: an IPv4 address, an IPv6 /48, a mapped or NAT64 address is its IPv4 one",
          "[server]") {
  using boost::asio::ip::make_address;
  SourceKeys keys;
  auto a = keys.of(make_address("192.0.2.1"));
  CHECK(a == keys.of(make_address("192.0.2.1")));
  CHECK(a != keys.of(make_address("192.0.2.2")));
  CHECK(a == keys.of(make_address("::ffff:192.0.2.1")));
  // NAT64's well-known prefix (RFC 6052) and the deprecated IPv4-compatible
  // form carry an IPv4 address too: each IPv4 client behind a NAT64 is its own.
  CHECK(a == keys.of(make_address("64:ff9b::192.0.2.1")));
  CHECK(a == keys.of(make_address("::192.0.2.1")));
  CHECK(keys.of(make_address("64:ff9b::192.0.2.1")) != keys.of(make_address("64:ff9b::192.0.2.2")));
  CHECK(keys.of(make_address("::1")) != keys.of(make_address("0.0.0.1")));
  CHECK(keys.of(make_address("64:ff9b:1::192.0.2.1")) != a);  // a network-specific prefix: a /48
  CHECK(keys.of(make_address("2001:db8:1::1")) == keys.of(make_address("2001:db8:1:ffff::2")));
  CHECK(keys.of(make_address("2001:db8:1::1")) != keys.of(make_address("2001:db8:2::1")));
  // Another server (another random key) gives another key: nothing to match
  // a key against outside the process.
  SourceKeys other;
  CHECK(a != other.of(make_address("192.0.2.1")));
}

TEST_CASE("a flood log line is written once, then once per interval with a count", "[server]") {
  LogThrottle throttle;
  auto t = LogThrottle::Clock::now();
  std::uint64_t suppressed = 99;
  CHECK(throttle.allow(t, suppressed));
  CHECK(suppressed == 0);
  for (int i = 0; i < 1000; ++i)
    CHECK_FALSE(throttle.allow(t + std::chrono::seconds(1), suppressed));
  CHECK(throttle.allow(t + LogThrottle::kInterval, suppressed));
  CHECK(suppressed == 1000);
  CHECK_FALSE(throttle.allow(t + LogThrottle::kInterval, suppressed));
}

}  // namespace
}  // namespace hearth::server
