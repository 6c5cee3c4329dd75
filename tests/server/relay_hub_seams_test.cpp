// RelayHub at its seams, without processes or wall time: a ManualClock for
// the time of day, a steady time the test moves for the refresh spacing, a
// real roster and certificates (tests/integration/support/test_org.h), and
// connections as RecordingPeers. Each test pins one of the rules the hub's
// header and its four concerns state (relay_hub_handoff_test.cpp: handoff).
#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/server/hub_fixture.h"

namespace hearth::server::test {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> ids_of(const std::vector<KnownCertificate>& certs) {
  std::vector<std::string> out;
  for (const auto& c : certs) out.push_back(c.certificate.fields.responder_id);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("relay hub: a roster change drops the certificates it no longer accepts", "[server]") {
  HubWorld w;
  const auto& ana = w.org.add_responder("ana", {"general"});
  const auto& bob = w.org.add_responder("bob", {"general"});
  auto first = w.roster(1);
  w.hub.set_roster(first);
  w.log_in(ana);
  w.log_in(bob);
  CHECK(ids_of(w.hub.current_certificates()) == std::vector<std::string>{"ana", "bob"});
  REQUIRE(w.hub.responder_view("bob"));
  CHECK(w.hub.responder_view("bob")->queues == std::vector<std::string>{"general"});
  // Checked in full once under this roster (at remember_certificate): later
  // checks skip the signature.
  bool cached = false;
  CHECK(w.hub
            .check_certificate(*first, bob.certificate, bob.certificate_hash(), w.clock.now(),
                               std::nullopt, &cached)
            .is_ok());
  CHECK(cached);

  // Roster 2 revokes bob: his certificate no longer counts, nothing is
  // routed to him, and his signature is checked afresh.
  auto second = w.roster(2, {bob.certificate_hash()});
  w.hub.set_roster(second);
  CHECK(w.hub.roster() == second);
  CHECK(ids_of(w.hub.current_certificates()) == std::vector<std::string>{"ana"});
  REQUIRE(w.hub.responder_view("bob"));
  CHECK(w.hub.responder_view("bob")->queues.empty());
  CHECK(w.hub.responder_view("ana")->queues == std::vector<std::string>{"general"});
  CHECK_FALSE(w.hub
                  .check_certificate(*second, bob.certificate, bob.certificate_hash(),
                                     w.clock.now(), std::nullopt, &cached)
                  .is_ok());
  CHECK_FALSE(cached);
  // The certificate itself is still known (stored; a later roster may list it again).
  CHECK(w.hub.certificate(bob.certificate_hash()).has_value());

  const Bytes vault(32, 0xa1);
  OpenCase c = w.add_case(vault, envelope("en"), {&ana, &bob});
  w.hub.track_case(c);
  CHECK_FALSE(w.hub.take_next("bob").has_value());
  auto taken = w.hub.take_next("ana");
  REQUIRE(taken.has_value());
  CHECK(taken->key == Bytes(c.id.bytes.begin(), c.id.bytes.end()));
}

TEST_CASE("relay hub: escalation follows the clock, and the responder hears the new count",
          "[server]") {
  HubWorld w;
  const auto& ana = w.org.add_responder("ana", {"general"});  // speaks "en" only
  w.hub.set_roster(w.roster(1));
  w.log_in(ana);
  auto console = std::make_shared<RecordingPeer>();
  auto survivor = std::make_shared<RecordingPeer>();
  const Bytes vault(32, 0xa1);
  w.hub.add_peer(console);
  w.hub.register_responder("ana", console);
  w.hub.add_peer(survivor);
  w.hub.register_survivor(vault, survivor);

  // In Spanish: "general" in the survivor's language for 300 s, then anyone.
  OpenCase c = w.add_case(vault, envelope("es"), {&ana});
  w.hub.track_case(c);
  w.hub.refresh();
  auto counts = console->take_events<protocol::WaitingEvent>();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].waiting == 0);
  auto places = survivor->take_events<protocol::QueueStatusEvent>();
  REQUIRE(places.size() == 1);
  CHECK(places[0].position == 1);
  CHECK_FALSE(w.hub.take_next("ana").has_value());

  w.clock.advance(299);
  w.steady.advance(RelayHub::kRefreshSpacing);
  w.hub.refresh();
  CHECK(console->take_events<protocol::WaitingEvent>().empty());  // unchanged: not told again
  CHECK_FALSE(w.hub.take_next("ana").has_value());

  w.clock.advance(1);
  w.steady.advance(RelayHub::kRefreshSpacing);
  w.hub.refresh();
  counts = console->take_events<protocol::WaitingEvent>();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].waiting == 1);
  CHECK(counts[0].urgent == 0);
  auto taken = w.hub.take_next("ana");
  REQUIRE(taken.has_value());
  CHECK(taken->queue == "general");
  CHECK(taken->waited == 300);
  CHECK(w.hub.waiting_count() == 0);
}

TEST_CASE("relay hub: refreshes are spaced on the steady time it is given", "[server]") {
  HubWorld w;
  const auto& ana = w.org.add_responder("ana", {"general"});
  w.hub.set_roster(w.roster(1));
  w.log_in(ana);
  auto console = std::make_shared<RecordingPeer>();
  w.hub.add_peer(console);
  w.hub.register_responder("ana", console);
  const Bytes vault_a(32, 0xa1), vault_b(32, 0xb2);
  auto survivor_a = std::make_shared<RecordingPeer>();
  auto survivor_b = std::make_shared<RecordingPeer>();
  for (auto& [vault, peer] : {std::pair{vault_a, survivor_a}, std::pair{vault_b, survivor_b}}) {
    w.hub.add_peer(peer);
    w.hub.register_survivor(vault, peer);
  }

  w.hub.track_case(w.add_case(vault_a, envelope("en"), {&ana}));
  w.hub.refresh();
  CHECK(survivor_a->take_events<protocol::QueueStatusEvent>().size() == 1);
  CHECK(console->take_events<protocol::WaitingEvent>().size() == 1);

  // Too soon: left pending, for the timer.
  w.hub.track_case(w.add_case(vault_b, envelope("es"), {&ana}));
  w.hub.refresh();
  CHECK(survivor_b->take_events<protocol::QueueStatusEvent>().empty());
  w.steady.advance(RelayHub::kRefreshSpacing - milliseconds(1));
  w.hub.refresh_due(std::chrono::seconds(1));
  CHECK(survivor_b->take_events<protocol::QueueStatusEvent>().empty());
  w.steady.advance(milliseconds(1));
  w.hub.refresh_due(std::chrono::seconds(1));  // pending, and the spacing has passed
  CHECK(survivor_b->take_events<protocol::QueueStatusEvent>().size() == 1);

  // Nothing pending: the timer refreshes only once `idle` has passed, and
  // only then does an escalation on the clock reach the console.
  w.clock.advance(300);
  w.steady.advance(milliseconds(999));
  w.hub.refresh_due(std::chrono::seconds(1));
  CHECK(console->take_events<protocol::WaitingEvent>().empty());
  w.steady.advance(milliseconds(1));
  w.hub.refresh_due(std::chrono::seconds(1));
  auto counts = console->take_events<protocol::WaitingEvent>();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].waiting == 2);
}

TEST_CASE("relay hub: a parked case expires counted from when its survivor left", "[server]") {
  HubWorld w;
  const auto& ana = w.org.add_responder("ana", {"general"});
  w.hub.set_roster(w.roster(1));
  triage::RoomLimits room;
  room.max_waiting = 10;
  room.park_after_s = 600;
  w.hub.set_room(room);
  const Bytes vault(32, 0xa1);
  auto survivor = std::make_shared<RecordingPeer>();
  w.hub.add_peer(survivor);
  w.hub.register_survivor(vault, survivor);
  OpenCase c = w.add_case(vault, envelope("en"), {&ana});
  w.hub.track_case(c);
  CHECK(w.hub.waiting_count() == 1);

  w.clock.advance(100);
  const UnixSeconds left = w.clock.now();
  w.hub.remove_peer(survivor.get());
  w.clock.advance(599);
  w.steady.advance(RelayHub::kRefreshSpacing);
  w.hub.refresh();
  CHECK(w.hub.parked_count() == 0);
  w.clock.advance(1);  // away park_after_s: parked
  w.steady.advance(RelayHub::kRefreshSpacing);
  w.hub.refresh();
  CHECK(w.hub.parked_count() == 1);
  CHECK(w.hub.waiting_count() == 0);
  CHECK_FALSE(w.hub.take_next("ana").has_value());

  // Retention's sweep: away since `left`, not a second earlier.
  CHECK(w.hub.withdraw_parked(left - 1, 10).empty());
  std::vector<UnixSeconds> since;
  auto swept = w.hub.withdraw_parked(left, 10, &since);
  REQUIRE(swept.size() == 1);
  CHECK(swept[0].id == c.id);
  CHECK(since == std::vector<UnixSeconds>{left});
  CHECK(w.hub.parked_count() == 0);

  // The deletion failed: put back with the time its survivor left, it is
  // parked again at once and its expiry does not start over.
  w.hub.track_case(c, std::nullopt, since[0]);
  CHECK(w.hub.parked_count() == 1);
  since.clear();
  CHECK(w.hub.withdraw_parked(left, 10, &since).size() == 1);
  CHECK(since == std::vector<UnixSeconds>{left});
  w.hub.track_case(c, std::nullopt, left);

  // The survivor comes back: the case waits again and they hear its place.
  auto back = std::make_shared<RecordingPeer>();
  w.hub.add_peer(back);
  w.hub.register_survivor(vault, back);
  w.steady.advance(RelayHub::kRefreshSpacing);
  w.hub.refresh();
  CHECK(w.hub.parked_count() == 0);
  CHECK(w.hub.waiting_count() == 1);
  CHECK(back->take_events<protocol::QueueStatusEvent>().size() == 1);

  // A case dropped from the hub meanwhile is not put back (a failed claim
  // of a case deleted since).
  REQUIRE(w.hub.remove_case(c.id));
  w.hub.untrack_case(c.id);
  w.hub.untake(c);
  CHECK(w.hub.waiting_count() == 0);
}

TEST_CASE("relay hub: case slots count a vault's open cases and reservations", "[server]") {
  HubWorld w;
  const Bytes vault_a(32, 0xa1), vault_b(32, 0xb2);
  OpenCase a1 = w.add_case(vault_a, envelope("en"), {});
  constexpr std::size_t kLimit = 2;

  CHECK(w.hub.reserve_case_slot(vault_a, kLimit));        // 1 open + 0 reserved
  CHECK_FALSE(w.hub.reserve_case_slot(vault_a, kLimit));  // 1 open + 1 reserved
  CHECK(w.hub.reserve_case_slot(vault_b, kLimit));        // each vault its own
  CHECK(w.hub.reserve_case_slot(vault_b, kLimit));
  CHECK_FALSE(w.hub.reserve_case_slot(vault_b, kLimit));
  w.hub.release_case_slot(vault_a);
  CHECK(w.hub.reserve_case_slot(vault_a, kLimit));
  w.hub.release_case_slot(vault_a);

  // Closed by its responder: no longer counts.
  CaseRecord closed = a1.record;
  closed.closed = true;
  closed.routing.reset();
  w.hub.update_case(a1.id, 2, closed);
  CHECK(w.hub.reserve_case_slot(vault_a, kLimit));
  CHECK(w.hub.reserve_case_slot(vault_a, kLimit));
  CHECK_FALSE(w.hub.reserve_case_slot(vault_a, kLimit));
  // Releasing more than was reserved never makes room that is not there.
  for (int i = 0; i < 4; ++i) w.hub.release_case_slot(vault_a);
  w.add_case(vault_a, envelope("en"), {});
  w.add_case(vault_a, envelope("en"), {});
  CHECK_FALSE(w.hub.reserve_case_slot(vault_a, kLimit));
  CHECK(w.hub.cases_of_vault(vault_a).size() == 3);
  CHECK(w.hub.vault_index_exact());
}

TEST_CASE("relay hub: fan-out reaches each live connection of the party, outside the lock",
          "[server]") {
  HubWorld w;
  const auto& ana = w.org.add_responder("ana", {"general"});
  w.hub.set_roster(w.roster(1));
  w.log_in(ana);
  const Bytes vault_a(32, 0xa1), vault_b(32, 0xb2);
  auto a1 = std::make_shared<RecordingPeer>(), a2 = std::make_shared<RecordingPeer>();
  auto b1 = std::make_shared<RecordingPeer>();
  auto r1 = std::make_shared<RecordingPeer>(), r2 = std::make_shared<RecordingPeer>();
  auto anonymous = std::make_shared<RecordingPeer>();
  for (const auto& p : {a1, a2, b1, r1, r2, anonymous}) w.hub.add_peer(p);
  w.hub.register_survivor(vault_a, a1);
  w.hub.register_survivor(vault_a, a2);
  w.hub.register_survivor(vault_b, b1);
  w.hub.register_responder("ana", r1);
  w.hub.register_responder("ana", r2);

  // A Peer is called without the hub's lock: it may call the hub back (a
  // std::mutex held here would deadlock).
  int reentered = 0;
  a1->on_call = [&] {
    ++reentered;
    (void)w.hub.case_count();
    w.hub.for_vault(vault_b, [](Peer&) {});
  };

  auto d = std::make_shared<const Delivery>();
  w.hub.deliver_to_vault(vault_a, d);
  CHECK(a1->deliveries() == 1);
  CHECK(a2->deliveries() == 1);
  CHECK(b1->deliveries() == 0);
  CHECK(reentered == 1);
  w.hub.deliver_to_responder("ana", d);
  CHECK(r1->deliveries() == 1);
  CHECK(r2->deliveries() == 1);
  CHECK(a1->deliveries() == 1);
  w.hub.deliver_to_responder("bob", d);  // nobody: nothing
  w.hub.for_each_peer([](Peer& p) { p.shut_down(); });
  for (const auto& p : {a1, a2, b1, r1, r2, anonymous}) CHECK(p->shut_downs() == 1);

  // A closed connection hears nothing more; one that went away without
  // remove_peer (its last reference dropped) is skipped.
  w.hub.remove_peer(a1.get());
  w.hub.deliver_to_vault(vault_a, d);
  CHECK(a1->deliveries() == 1);
  CHECK(a2->deliveries() == 2);
  std::weak_ptr<RecordingPeer> gone = b1;
  b1.reset();
  REQUIRE(gone.expired());
  w.hub.deliver_to_vault(vault_b, d);
  int live = 0;
  w.hub.for_each_peer([&](Peer&) { ++live; });
  CHECK(live == 4);  // a2, r1, r2 and the anonymous one

  // A responder's last connection closing makes them unavailable.
  w.hub.remove_peer(r1.get());
  REQUIRE(w.hub.responder_view("ana"));
  CHECK(w.hub.responder_view("ana")->available);
  w.hub.remove_peer(r2.get());
  CHECK_FALSE(w.hub.responder_view("ana")->available);
}

}  // namespace
}  // namespace hearth::server::test
