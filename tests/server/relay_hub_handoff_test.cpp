// RelayHub through a handoff, driven as server/handlers/handoff.cpp drives it,
// on test time: a responder holding a case proposes another queue, the
// survivor is offered it (PrekeyReservations keeps the offer until it
// expires) and lets it expire, declines, or accepts. Each step commits the
// case record to a real SQLite database first and then changes the hub, as
// the handlers do. An accepted case waits again only in the new queue, for
// the responders offered there, keeping its arrival, and its old holder's
// load drops; a hub rebuilt from the database (a restart) places it the same.
#include <catch2/catch.hpp>

#include <memory>
#include <utility>
#include <vector>

#include "server/prekey_reservations.h"
#include "storage/storage.h"
#include "tests/server/hub_fixture.h"
#include "tests/support/test_support.h"

namespace hearth::server::test {
namespace {

using hearth::test::TestResponder;

// The database the hub mirrors.
class CaseDb {
 public:
  CaseDb() {
    storage::StorageOptions options;
    options.database_path = dir_.path() / "hearth.db";
    options.key_path = dir_.path() / "master.key";
    auto opened = storage::Storage::open(options);
    REQUIRE(opened.is_ok());
    storage_ = std::move(*opened);
  }

  void create(const OpenCase& c, UnixSeconds now) {
    REQUIRE(storage_->stores().cases.create(c.id, encode_case_record(c.record), now).is_ok());
  }
  // Commits `record` over `c` (compare-and-swap on its version), then
  // mirrors it in `hub`: the order every handler keeps.
  void commit(RelayHub& hub, OpenCase& c, CaseRecord record, UnixSeconds now) {
    auto version =
        storage_->stores().cases.update(c.id, c.version, encode_case_record(record), now);
    REQUIRE(version.is_ok());
    c.version = *version;
    c.record = std::move(record);
    hub.update_case(c.id, c.version, c.record);
  }
  // Deletes case `id`, then drops it from `hub`.
  void remove(RelayHub& hub, const storage::CaseId& id) {
    REQUIRE(storage_->stores().cases.remove(id).is_ok());
    REQUIRE(hub.remove_case(id).has_value());
  }
  // Every open case, as hearthd reads them at start-up.
  std::vector<OpenCase> open_cases() {
    auto rows = storage_->stores().cases.list_open();
    REQUIRE(rows.is_ok());
    std::vector<OpenCase> out;
    for (auto& row : *rows) {
      auto record = decode_case_record(row.fields);
      REQUIRE(record.is_ok());
      out.push_back(OpenCase{row.id, row.version, row.opened_minute, std::move(*record)});
    }
    return out;
  }

 private:
  hearth::test::TempDir dir_;
  std::unique_ptr<storage::Storage> storage_;
};

CaseParty party(const TestResponder& r) { return CaseParty{r.certificate_hash(), r.id}; }

// The survivor is offered `queue` with one-time prekey 1 of each of
// `offered` reserved, as make_handoff_offer does; it lives `ttl` seconds.
PrekeyReservations::HandoffOffer offer_handoff(PrekeyReservations& reservations,
                                               const storage::CaseId& id, const std::string& queue,
                                               const std::vector<const TestResponder*>& offered,
                                               UnixSeconds now, UnixSeconds ttl) {
  PrekeyReservations::HandoffOffer offer;
  offer.token = reservations.new_token();
  offer.queue = queue;
  offer.expires = now + ttl;
  for (const auto* r : offered) {
    REQUIRE(reservations.try_reserve(r->id, 1, offer.token, now,
                                     offer.expires + PrekeyReservations::kGrace));
    offer.offers.push_back(party(*r));
    offer.reserved.push_back({r->id, 1, offer.token});
  }
  return reservations.put_handoff_offer(id, std::move(offer), now);
}

TEST_CASE("relay hub: a handoff offer expires, is declined, or is accepted, on test time",
          "[server]") {
  HubWorld w;
  const auto& ana = w.org.add_responder("ana", {"general"});
  const auto& sam = w.org.add_responder("sam", {"safety"});
  const auto& kim = w.org.add_responder("kim", {"safety"});
  w.hub.set_roster(w.roster(1));
  for (const auto* r : {&ana, &sam, &kim}) w.log_in(*r);
  w.hub.set_presence("ana", PresenceState{protocol::Presence::kAvailable, 1});
  triage::RoomLimits room;
  room.max_waiting = 1;
  w.hub.set_room(room);
  CaseDb db;
  PrekeyReservations reservations;
  constexpr UnixSeconds kTtl = 300;

  const Bytes vault(32, 0xa1);
  auto survivor = std::make_shared<RecordingPeer>();
  w.hub.add_peer(survivor);
  w.hub.register_survivor(vault, survivor);
  OpenCase c = w.add_case(vault, envelope("en"), {&ana});
  db.create(c, w.clock.now());
  w.hub.track_case(c);
  const UnixSeconds arrived = c.record.routing->arrived;

  // Ana takes it (her capacity: one case).
  w.clock.advance(60);
  REQUIRE(w.hub.take_next("ana").has_value());
  CaseRecord claimed = c.record;
  claimed.claimed_by = party(ana);
  db.commit(w.hub, c, claimed, w.clock.now());
  CHECK(w.hub.cases_of_responder("ana").size() == 1);

  // She proposes "safety": nothing moves in the waiting room.
  CaseRecord proposed = c.record;
  proposed.handoff_queue = "safety";
  db.commit(w.hub, c, proposed, w.clock.now());
  CHECK(w.hub.waiting_count() == 0);
  CHECK(w.hub.cases_of_responder("ana").size() == 1);

  // ---- the offer expires unused ----
  auto first = offer_handoff(reservations, c.id, "safety", {&sam, &kim}, w.clock.now(), kTtl);
  w.clock.advance(kTtl - 1);
  CHECK(reservations.handoff_offer(c.id, "safety", w.clock.now()).has_value());
  w.clock.advance(1);
  // An accept now finds no offer (handoff_accept answers not_found) and
  // changes nothing: the case stays ana's, out of the waiting room.
  CHECK_FALSE(reservations.handoff_offer(c.id, "safety", w.clock.now()).has_value());
  CHECK(w.hub.cases_of_responder("ana").size() == 1);
  CHECK(w.hub.waiting_count() == 0);
  CHECK_FALSE(w.hub.take_next("sam").has_value());
  // Its prekeys are anyone's again once the grace after the expiry is over.
  w.clock.advance(PrekeyReservations::kGrace);
  CHECK(reservations.reserved(w.clock.now()) == 0);
  CHECK(reservations.try_reserve("sam", 1, reservations.new_token(), w.clock.now(),
                                 w.clock.now() + 1));

  // ---- offered again, and declined ----
  w.clock.advance(1);
  auto second = offer_handoff(reservations, c.id, "safety", {&sam, &kim}, w.clock.now(), kTtl);
  CHECK(second.token != first.token);
  CaseRecord declined = c.record;
  declined.handoff_queue.reset();
  db.commit(w.hub, c, declined, w.clock.now());
  auto done = reservations.take_handoff_offer(c.id, 0);
  REQUIRE(done.has_value());
  reservations.release(done->reserved);
  CHECK(reservations.reserved(w.clock.now()) == 0);
  // Still ana's, and it still counts towards her load: a second case of
  // hers waits for her, and she cannot take it while she holds this one.
  CHECK(w.hub.cases_of_responder("ana").size() == 1);
  const Bytes other_vault(32, 0xb2);
  OpenCase other = w.add_case(other_vault, envelope("en"), {&ana});
  db.create(other, w.clock.now());
  w.hub.track_case(other);
  CHECK(w.hub.waiting_count() == 1);
  CHECK_FALSE(w.hub.take_next("ana").has_value());

  // ---- proposed again, offered, and accepted ----
  proposed = c.record;
  proposed.handoff_queue = "safety";
  db.commit(w.hub, c, proposed, w.clock.now());
  auto third = offer_handoff(reservations, c.id, "safety", {&sam, &kim}, w.clock.now(), kTtl);
  w.clock.advance(30);
  REQUIRE(reservations.handoff_offer(c.id, "safety", w.clock.now()).has_value());
  // The waiting room is full (the other case holds its one place): the
  // accept is refused before anything commits.
  CHECK_FALSE(w.hub.has_room(c.record.routing->envelope));
  CHECK_FALSE(static_cast<bool>(w.hub.hold_place(c.record.routing->envelope)));
  // The other case is dismissed (withdrawn, deleted, dropped): room now.
  std::size_t more = 0;
  auto withdrawn = w.hub.withdraw_waiting(triage::DismissFilter{}, 10, &more);
  REQUIRE(withdrawn.size() == 1);
  CHECK(withdrawn[0].id == other.id);
  CHECK(more == 0);
  db.remove(w.hub, other.id);
  {
    RelayHub::PlaceHold place = w.hub.hold_place(c.record.routing->envelope);
    REQUIRE(static_cast<bool>(place));
    // Held: nobody else gets the place while the accept commits.
    CHECK_FALSE(w.hub.has_room(envelope("en")));
    CaseRecord accepted = c.record;
    accepted.queue = "safety";
    accepted.offers = third.offers;
    accepted.claimed_by.reset();
    accepted.handoff_queue.reset();
    accepted.routing->forced_queue = "safety";
    db.commit(w.hub, c, accepted, w.clock.now());
    auto taken = reservations.take_handoff_offer(c.id, third.token);
    REQUIRE(taken.has_value());
    reservations.release(taken->reserved);
    w.hub.untrack_case(c.id);
    w.hub.track_case(OpenCase{c.id, 0, c.opened_minute, c.record});
  }
  CHECK(w.hub.waiting_count() == 1);
  CHECK_FALSE(w.hub.has_room(envelope("en")));  // its place, not the hold's as well
  CHECK(w.hub.cases_of_responder("ana").empty());
  // It waits in "safety" only, for those offered there: never for ana (in
  // "general", not offered) even past every escalation of the default chain.
  w.clock.advance(600);
  w.steady.advance(RelayHub::kRefreshSpacing);
  w.hub.refresh();
  auto places = survivor->take_events<protocol::QueueStatusEvent>();
  REQUIRE_FALSE(places.empty());
  CHECK(places.back().position == 1);
  CHECK_FALSE(w.hub.take_next("ana").has_value());

  // A restart: the hub rebuilt from the database places it the same.
  HubWorld restarted;
  restarted.clock.set(w.clock.now());
  restarted.hub.set_roster(w.roster(1));
  for (const auto* r : {&ana, &sam, &kim}) restarted.log_in(*r);
  auto back = std::make_shared<RecordingPeer>();
  restarted.hub.add_peer(back);
  restarted.hub.register_survivor(vault, back);
  auto cases = db.open_cases();
  REQUIRE(cases.size() == 1);
  CHECK(cases[0].record == c.record);
  restarted.hub.load_cases(cases);
  for (const auto& oc : cases) restarted.hub.track_case(oc);
  CHECK(restarted.hub.waiting_count() == 1);
  CHECK_FALSE(restarted.hub.take_next("ana").has_value());

  // Sam takes it, in "safety", its wait counted from its first arrival.
  for (RelayHub* hub : {&w.hub, &restarted.hub}) {
    auto by_sam = hub->take_next("sam");
    REQUIRE(by_sam.has_value());
    CHECK(by_sam->key == Bytes(c.id.bytes.begin(), c.id.bytes.end()));
    CHECK(by_sam->queue == "safety");
    CHECK(by_sam->waited == w.clock.now() - arrived);
    CHECK(hub->waiting_count() == 0);
  }
  // Ana's load dropped with the handoff: a new case of hers she can take.
  OpenCase next = w.add_case(other_vault, envelope("en"), {&ana});
  db.create(next, w.clock.now());
  w.hub.track_case(next);
  CHECK(w.hub.take_next("ana").has_value());
}

}  // namespace
}  // namespace hearth::server::test
