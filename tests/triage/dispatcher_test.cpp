// The dispatcher as a state machine driven by injected times: take_next,
// capacity, offers, escalation, away grace, handoff, removal, positions,
// health and rule changes.
#include <catch2/catch.hpp>

#include "tests/triage/fixtures.h"
#include "triage/dispatcher.h"

namespace hearth::triage {
namespace {

using protocol::Mode;
using protocol::Need;
using protocol::Urgency;
using protocol::WaitBand;
using test::envelope;
using test::responder;

CaseKey key(std::string_view name) { return to_bytes(name); }

// Adds a case: preview, then add with the candidates.
Decision add_case(Dispatcher& d, std::string_view name, const protocol::RouteEnvelope& e,
                  UnixSeconds now, std::optional<std::vector<std::string>> offered = {}) {
  Decision decision = d.preview(e, now);
  d.add(key(name), e, decision, offered ? *offered : decision.candidates, now);
  return decision;
}

const auto kShelterToday = envelope({Need::kShelter}, Urgency::kToday, {"en"});
const auto kShelterInfo = envelope({Need::kShelter}, Urgency::kInformation, {"en"}, Mode::kAsync);
const auto kDangerEs = envelope({Need::kShelter}, Urgency::kDangerNow, {"es"});

}  // namespace

TEST_CASE("take_next hands out the best case once, strict first", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("amy", {"safety", "general"}, {"en", "es"}, true, 5));
  d.upsert_responder(responder("bob", {"safety", "general"}, {"en", "es"}, true, 5));
  add_case(d, "info", kShelterInfo, 0);      // general, info (rate 1)
  add_case(d, "today", kShelterToday, 100);  // general, today (rate 4)
  add_case(d, "danger", kDangerEs, 280);     // safety, strict (its first timeout: 30 s)
  CHECK(d.waiting_count() == 3);

  // At 300: danger first (strict); then today (4 × 200 = 800) over info (300).
  auto t = d.take_next("amy", 300);
  REQUIRE(t);
  CHECK(t->key == key("danger"));
  CHECK(t->queue == "safety");
  CHECK(t->priority_class == test::kDangerClass);
  CHECK(t->waited == 20);
  CHECK(t->envelope == kDangerEs);
  CHECK_FALSE(t->interpreter);
  CHECK(d.holder(key("danger")) == std::optional<std::string>("amy"));
  CHECK_FALSE(d.waiting(key("danger")));

  t = d.take_next("bob", 300);
  REQUIRE(t);
  CHECK(t->key == key("today"));
  t = d.take_next("amy", 300);
  REQUIRE(t);
  CHECK(t->key == key("info"));
  // Nothing is handed out twice.
  CHECK_FALSE(d.take_next("bob", 300));
  CHECK(d.waiting_count() == 0);
  CHECK(d.responder("amy")->load == 2);
  CHECK(d.responder("bob")->load == 1);
}

TEST_CASE("accumulating priority overtakes by rate × wait", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("amy", {"general"}, {"en"}, true, 5));
  add_case(d, "info", kShelterInfo, 0);
  add_case(d, "today", kShelterToday, 800);
  // At 1000: info 1 × 1000 = 1000 beats today 4 × 200 = 800.
  auto t = d.take_next("amy", 1000);
  REQUIRE(t);
  CHECK(t->key == key("info"));
  CHECK(t->waited == 1000);
}

TEST_CASE("take_next respects capacity, availability and offers", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("amy", {"general"}, {"en"}, true, 1));
  d.upsert_responder(responder("bob", {"general"}, {"en"}, true, 1));
  add_case(d, "a", kShelterToday, 0);
  add_case(d, "b", kShelterToday, 10);
  add_case(d, "only-bob", kShelterToday, 5, std::vector<std::string>{"bob"});

  auto t = d.take_next("amy", 100);
  REQUIRE(t);
  CHECK(t->key == key("a"));
  // At capacity: nothing more, though cases wait.
  CHECK_FALSE(d.take_next("amy", 100));
  CHECK(d.waiting_for("amy", 100) == std::pair<std::size_t, std::size_t>{1, 0});
  // Closing the case frees the slot; the case bob alone was offered is skipped.
  d.remove(key("a"));
  CHECK(d.responder("amy")->load == 0);
  CHECK_FALSE(d.holder(key("a")));
  t = d.take_next("amy", 100);
  REQUIRE(t);
  CHECK(t->key == key("b"));
  t = d.take_next("bob", 100);
  REQUIRE(t);
  CHECK(t->key == key("only-bob"));

  // Away (presence) or gone: nothing, and unknown responders get nothing.
  add_case(d, "c", kShelterToday, 200);
  d.upsert_responder(responder("bob", {"general"}, {"en"}, false, 2));
  CHECK(d.responder("bob")->load == 1);  // the dispatcher's count survives an update
  CHECK_FALSE(d.take_next("bob", 300));
  d.responder_gone("bob");
  CHECK_FALSE(d.take_next("bob", 300));
  CHECK_FALSE(d.take_next("nobody", 300));
  CHECK(d.waiting_count() == 1);
}

TEST_CASE("escalation widens who may take a case", "[triage]") {
  Dispatcher d(test::test_rules());
  // zed speaks Spanish but is busy; amy is on safety without Spanish; gus
  // is a generalist.
  d.upsert_responder(responder("zed", {"safety"}, {"es"}, true, 1));
  d.upsert_responder(responder("amy", {"safety"}, {"en"}, true, 1));
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 1));
  d.assign(key("earlier"), "zed");
  add_case(d, "danger", kDangerEs, 1000);
  REQUIRE(d.waiting(key("danger"))->placement.target == 0);  // zed is online, so no skip

  CHECK_FALSE(d.take_next("amy", 1010));
  CHECK(d.waiting_for("amy", 1010).first == 0);
  // The language target times out at 1030: amy may take it, flagged for an interpreter.
  CHECK(d.tick(1030));
  CHECK(d.waiting_for("amy", 1030) == std::pair<std::size_t, std::size_t>{1, 1});
  CHECK(d.waiting_for("gus", 1030).first == 0);
  // take_next applies escalations due by now even without a tick: the
  // generalist gets it once the interpreter target ran out too.
  CHECK_FALSE(d.take_next("gus", 1089));
  auto t = d.take_next("gus", 1090);
  REQUIRE(t);
  CHECK(t->key == key("danger"));
  CHECK(t->queue == "general");
  CHECK_FALSE(t->interpreter);  // reached through "anyone": no flag

  // Through the interpreter target, a non-speaker is told so.
  add_case(d, "danger2", kDangerEs, 2000);
  t = d.take_next("amy", 2030);
  REQUIRE(t);
  CHECK(t->key == key("danger2"));
  CHECK(t->queue == "safety");
  CHECK(t->interpreter);
  CHECK_FALSE(d.tick(5000));  // nothing left to move
}

TEST_CASE("skip_if_empty places a case past an empty target at once", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("amy", {"safety"}, {"en"}));
  const Decision decision = add_case(d, "danger", kDangerEs, 50);
  CHECK(decision.placement.target == 1);
  CHECK(decision.interpreter);
  CHECK(d.waiting(key("danger"))->placement.target == 1);
  auto t = d.take_next("amy", 51);
  REQUIRE(t);
  CHECK(t->interpreter);
}

TEST_CASE("away: the place is kept through the grace, then lost, never removed", "[triage]") {
  Dispatcher d(test::test_rules());  // away_grace_s 600
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 5));
  add_case(d, "a", kShelterToday, 0);
  add_case(d, "b", kShelterToday, 100);
  d.survivor_away(key("a"), 200);
  REQUIRE(d.waiting(key("a"))->away);

  auto first = [&](UnixSeconds now) {
    for (const Position& p : d.positions(now))
      if (p.position == 1) return p.key;
    return CaseKey{};
  };
  d.tick(700);  // both have moved past the default chain's language target by now
  CHECK_FALSE(d.tick(799));
  CHECK(first(799) == key("a"));
  // The grace ran out at 800: a now counts from then, behind b.
  CHECK(d.tick(800));
  CHECK(d.waiting(key("a"))->arrived == 800);
  CHECK(first(800) == key("b"));
  // Only once per absence; and a day later it still waits.
  CHECK_FALSE(d.tick(1400));
  CHECK(d.waiting(key("a"))->arrived == 800);
  CHECK_FALSE(d.tick(86400));
  REQUIRE(d.waiting(key("a")));
  CHECK(d.waiting(key("a"))->arrived == 800);

  // Back, then away again: a new grace from the new absence.
  d.survivor_back(key("a"));
  CHECK_FALSE(d.waiting(key("a"))->away);
  d.survivor_away(key("a"), 90000);
  d.survivor_away(key("a"), 90300);  // a second close does not restart the grace
  CHECK_FALSE(d.tick(90599));
  CHECK(d.tick(90600));
  CHECK(d.waiting(key("a"))->arrived == 90600);

  // Back within the grace: nothing lost.
  add_case(d, "c", kShelterToday, 100000);
  d.survivor_away(key("c"), 100100);
  d.survivor_back(key("c"));
  d.tick(101000);
  CHECK(d.waiting(key("c"))->arrived == 100000);
}

TEST_CASE("a handed-off case waits only in its new queue, keeping its arrival", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 3));
  d.upsert_responder(responder("lea", {"legal"}, {"en"}, true, 3));
  const auto legal = envelope({Need::kLegal}, Urgency::kToday, {"en"});
  add_case(d, "case", legal, 1000);
  auto t = d.take_next("lea", 1100);
  REQUIRE(t);
  CHECK(d.responder("lea")->load == 1);

  // lea hands it to general; the survivor consents at 2000.
  d.requeue(key("case"), legal, "general", {"gus", "lea"}, 1000, 2000);
  CHECK(d.responder("lea")->load == 0);
  CHECK_FALSE(d.holder(key("case")));
  auto w = d.waiting(key("case"));
  REQUIRE(w);
  CHECK(w->forced_queue == std::optional<std::string>("general"));
  CHECK(w->arrived == 1000);
  // Its normal chain is legal → general; only the general target is kept.
  // lea (legal only) can never take it back, however long it waits.
  CHECK_FALSE(d.take_next("lea", 100000));
  t = d.take_next("gus", 100000);
  REQUIRE(t);
  CHECK(t->queue == "general");
  CHECK(t->priority_class == test::kToday);
  CHECK(t->waited == 99000);

  // Handed to a queue its normal chain never names: one "anyone" target in
  // the class of the normal first target.
  d.upsert_responder(responder("nia", {"north"}, {"fr"}, true, 3));
  d.requeue(key("case"), legal, "north", {"nia", "gus"}, 1000, 100100);
  CHECK(d.responder("gus")->load == 0);
  CHECK(handoff_chain(d.rules(), legal, "north").size() == 1);
  CHECK_FALSE(d.take_next("gus", 100200));
  t = d.take_next("nia", 100200);
  REQUIRE(t);
  CHECK(t->queue == "north");
  CHECK(t->priority_class == test::kToday);
  CHECK_FALSE(t->interpreter);
}

TEST_CASE("remove drops a waiting or held case, and assign counts load once", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 3));
  add_case(d, "w", kShelterToday, 0);
  add_case(d, "h", kShelterToday, 0);
  d.remove(key("w"));
  CHECK_FALSE(d.waiting(key("w")));
  CHECK(d.waiting_count() == 1);
  auto t = d.take_next("gus", 10);
  REQUIRE(t);
  d.assign(key("h"), "gus");  // hearthd may confirm what take_next did
  CHECK(d.responder("gus")->load == 1);
  d.remove(key("h"));
  CHECK(d.responder("gus")->load == 0);
  d.remove(key("h"));  // twice is harmless
  CHECK(d.responder("gus")->load == 0);

  // At start-up, held cases are assigned before their responder connects.
  Dispatcher fresh(test::test_rules());
  fresh.assign(key("x"), "ivy");
  fresh.assign(key("y"), "ivy");
  REQUIRE(fresh.responder("ivy"));
  CHECK(fresh.responder("ivy")->load == 2);
  CHECK_FALSE(fresh.responder("ivy")->available);
  fresh.upsert_responder(responder("ivy", {"general"}, {"en"}, true, 2));
  CHECK(fresh.responder("ivy")->load == 2);
  add_case(fresh, "z", kShelterToday, 0);
  CHECK_FALSE(fresh.take_next("ivy", 10));  // at capacity
  // Reassigning moves the load from one holder to the other.
  fresh.assign(key("x"), "jo");
  CHECK(fresh.responder("ivy")->load == 1);
  CHECK(fresh.responder("jo")->load == 1);
}

TEST_CASE("enter places a case afresh and keeps its arrival", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 3));
  d.enter(key("r"), kDangerEs, std::nullopt, {"gus"}, 100, 5000);
  auto w = d.waiting(key("r"));
  REQUIRE(w);
  CHECK(w->arrived == 100);
  CHECK(w->placement.target == 1);  // nobody on safety speaks Spanish: skipped at once
  CHECK(w->placement.entered == 5000);
  CHECK_FALSE(d.take_next("gus", 5059));
  auto t = d.take_next("gus", 5060);
  REQUIRE(t);
  CHECK(t->waited == 4960);
}

TEST_CASE("positions and wait bands per queue", "[triage]") {
  {
    // Nobody known at all: every band is "nobody online".
    Dispatcher empty(test::test_rules());
    add_case(empty, "g1", kShelterToday, 0);
    add_case(empty, "s1", kDangerEs, 30);
    for (const Position& p : empty.positions(40)) CHECK(p.band == WaitBand::kNobodyOnline);
  }
  Dispatcher d(test::test_rules());  // handle_s 600
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 1));
  d.upsert_responder(responder("hal", {"general"}, {"en"}, true, 1));
  add_case(d, "g1", kShelterToday, 0);
  add_case(d, "g2", kShelterToday, 10);
  add_case(d, "g3", kShelterInfo, 20);
  add_case(d, "s1", kDangerEs, 30);
  std::map<CaseKey, Position> by_key;
  for (const Position& p : d.positions(100)) by_key[p.key] = p;
  REQUIRE(by_key.size() == 4);
  // general at 100: g1 4×100=400, g2 4×90=360, g3 1×80=80.
  CHECK(by_key[key("g1")] == Position{key("g1"), 1, WaitBand::kQuarterHour});
  CHECK(by_key[key("g2")] == Position{key("g2"), 2, WaitBand::kQuarterHour});
  CHECK(by_key[key("g3")] == Position{key("g3"), 3, WaitBand::kHour});
  // The danger case is alone in safety, and nobody there is online.
  CHECK(by_key[key("s1")] == Position{key("s1"), 1, WaitBand::kNobodyOnline});
  // The info case never overtakes g2: 1 × (t − 20) < 4 × (t − 10).
  by_key.clear();
  for (const Position& p : d.positions(100000)) by_key[p.key] = p;
  CHECK(by_key[key("g3")].position == 3);
  // After the danger case escalates to general (at 30+60 when skipped, then
  // 60 more), it is first there: strict.
  d.tick(1000);
  by_key.clear();
  for (const Position& p : d.positions(1000)) by_key[p.key] = p;
  CHECK(by_key[key("s1")].position == 1);
  CHECK(by_key[key("s1")].band == WaitBand::kQuarterHour);
  CHECK(by_key[key("g1")].position == 2);
  CHECK(by_key[key("g3")].position == 4);
}

TEST_CASE("positions_changed reports a place once, again when it moves, leaves or is asked",
          "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 1));
  add_case(d, "g1", kShelterToday, 0);
  add_case(d, "g2", kShelterToday, 10);
  std::vector<Position> buffer;
  REQUIRE(d.positions_changed(100, buffer) == 2);
  CHECK(buffer[0].key == key("g1"));
  CHECK(buffer[1] == Position{key("g2"), 2, WaitBand::kHour});
  CHECK(d.positions_changed(100, buffer) == 0);  // nothing moved
  // g1 is taken: g2 moves up (and only g2 is reported).
  REQUIRE(d.take_next("gus", 100));
  REQUIRE(d.positions_changed(100, buffer) == 1);
  CHECK(buffer[0] == Position{key("g2"), 1, WaitBand::kQuarterHour});
  // A survivor's new connection must hear its place though it did not move.
  d.report_again(key("g2"));
  REQUIRE(d.positions_changed(100, buffer) == 1);
  CHECK(buffer[0].key == key("g2"));
  // A case that left and came back is news again.
  d.remove(key("g2"));
  add_case(d, "g2", kShelterToday, 110);
  CHECK(d.positions_changed(120, buffer) == 1);
  CHECK(d.positions_changed(120, buffer) == 0);
}

TEST_CASE("queue health: per queue and class, counts and times only", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 3));
  d.upsert_responder(responder("hal", {"general", "legal"}, {"en"}, false, 2));
  d.upsert_responder(responder("ivy", {"general"}, {"en"}, true, 2));
  d.upsert_responder(responder("jo", {"legal"}, {"en"}, true, 1));
  d.responder_gone("jo");
  d.assign(key("held"), "gus");
  add_case(d, "g1", kShelterToday, 0);
  add_case(d, "g2", kShelterToday, 50);
  add_case(d, "g3", kShelterInfo, 20);

  const auto health = d.health(200);
  REQUIRE(health.size() == 4);
  CHECK(health[0].queue == "general");
  CHECK(health[1].queue == "legal");
  CHECK(health[2].queue == "north");
  CHECK(health[3].queue == "safety");
  const QueueHealth& g = health[0];
  REQUIRE(g.classes.size() == 3);
  CHECK(g.classes[0].name == "danger-now");
  CHECK(g.classes[0].waiting == 0);
  CHECK(g.classes[0].target == 60);
  CHECK(g.classes[1].name == "today");
  CHECK(g.classes[1].waiting == 2);
  CHECK(g.classes[1].longest_wait == 200);
  CHECK(g.classes[1].target == 900);
  CHECK(g.classes[2].waiting == 1);
  CHECK(g.classes[2].longest_wait == 180);
  CHECK(g.responders_available == 2);  // gus, ivy
  CHECK(g.responders_away == 1);       // hal: connected, not available
  CHECK(g.load == 1);
  CHECK(g.capacity == 5);
  const QueueHealth& legal = health[1];
  CHECK(legal.responders_available == 0);
  CHECK(legal.responders_away == 1);  // hal; jo is disconnected
  CHECK(legal.classes[1].waiting == 0);
}

TEST_CASE("set_rules places waiting cases afresh under the new rules", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 3));
  d.upsert_responder(responder("lea", {"legal"}, {"en"}, true, 3));
  const auto legal = envelope({Need::kLegal}, Urgency::kToday, {"en"});
  add_case(d, "case", legal, 100);
  REQUIRE(d.waiting(key("case"))->placement.target == 0);

  // Version 8 drops the legal filters: the case falls to the default chain.
  Rules v8 = test::test_rules();
  v8.version = 8;
  v8.filters.erase(v8.filters.begin() + 1, v8.filters.begin() + 3);
  d.set_rules(v8, 500);
  CHECK(d.rules().version == 8);
  auto w = d.waiting(key("case"));
  REQUIRE(w);
  CHECK(w->placement.filter == kDefaultChain);
  CHECK(w->placement.target == 0);
  CHECK(w->placement.entered == 500);
  CHECK(w->arrived == 100);
  auto t = d.take_next("gus", 600);
  REQUIRE(t);
  CHECK(t->queue == "general");
  CHECK(t->waited == 500);

  // A decision previewed under the old rules is placed afresh when added.
  const Decision old = Dispatcher(test::test_rules()).preview(legal, 700);
  REQUIRE(old.rules_version == 7);
  d.add(key("late"), legal, old, {"gus", "lea"}, 700);
  CHECK(d.waiting(key("late"))->placement.filter == kDefaultChain);
}

TEST_CASE("waiting_for counts what a responder could take, and the strict ones", "[triage]") {
  Dispatcher d(test::test_rules());
  d.upsert_responder(responder("zed", {"safety", "general"}, {"es", "en"}, true, 1));
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 1));
  add_case(d, "d", kDangerEs, 0);
  add_case(d, "g", kShelterToday, 0);
  CHECK(d.waiting_for("zed", 0) == std::pair<std::size_t, std::size_t>{2, 1});
  CHECK(d.waiting_for("gus", 0) == std::pair<std::size_t, std::size_t>{1, 0});
  // Capacity is ignored here (the push says what is waiting, not what fits).
  d.assign(key("other"), "gus");
  CHECK(d.waiting_for("gus", 0).first == 1);
  CHECK(d.waiting_for("nobody", 0) == std::pair<std::size_t, std::size_t>{0, 0});
}

}  // namespace hearth::triage

namespace hearth::triage {

TEST_CASE("the room: trunk reservation keeps the last places for danger-now", "[triage]") {
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{3, 1, std::nullopt});
  CHECK(d.reserve_place(kShelterToday));
  add_case(d, "a", kShelterToday, 0);
  d.release_place();
  CHECK(d.reserve_place(kShelterToday));  // held: counts until released
  CHECK_FALSE(d.has_room(kShelterToday));
  CHECK(d.has_room(kDangerEs));
  add_case(d, "b", kShelterToday, 1);
  d.release_place();
  CHECK_FALSE(d.reserve_place(kShelterInfo));
  CHECK(d.reserve_place(kDangerEs));
  add_case(d, "c", kDangerEs, 2);
  d.release_place();
  CHECK_FALSE(d.has_room(kDangerEs));
  CHECK(d.waiting_count() == 3);
  d.release_place();  // nothing held: no underflow
  CHECK_FALSE(d.has_room(kDangerEs));
  d.remove(key("a"));
  CHECK(d.has_room(kDangerEs));
  CHECK_FALSE(d.has_room(kShelterToday));
}

TEST_CASE("the room: a never-taken case away too long is parked and comes back", "[triage]") {
  Dispatcher d(test::test_rules());  // away_grace_s 600
  d.set_room(RoomLimits{2, 0, 1000});
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 5));
  add_case(d, "a", kShelterToday, 0);
  add_case(d, "b", kShelterToday, 10);
  d.survivor_away(key("a"), 100);
  CHECK_FALSE(d.has_room(kShelterToday));
  d.tick(1099);
  CHECK(d.waiting_count() == 2);
  CHECK(d.tick(1100));
  CHECK(d.waiting_count() == 1);
  CHECK(d.parked_count() == 1);
  CHECK(d.is_parked(key("a")));
  CHECK_FALSE(d.waiting(key("a")));
  // Out of the room: not handed out, not counted.
  auto t = d.take_next("gus", 1100);
  REQUIRE(t);
  CHECK(t->key == key("b"));
  CHECK_FALSE(d.take_next("gus", 1100));

  // The room fills; the survivor comes back and waits for a place.
  add_case(d, "c", kShelterToday, 1200);
  add_case(d, "e", kShelterToday, 1201);
  d.survivor_back(key("a"));
  CHECK(d.is_parked(key("a")));
  d.remove(key("c"));
  CHECK(d.tick(1300));
  REQUIRE(d.waiting(key("a")));
  // Its old place: it keeps the arrival it had (the grace lapsed at 700).
  CHECK(d.waiting(key("a"))->arrived == 700);
  t = d.take_next("gus", 1300);
  REQUIRE(t);
  CHECK(t->key == key("a"));
}

TEST_CASE("the room: parking counts from arrival at start-up, never for handed-off cases",
          "[triage]") {
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{10, 0, 1000});
  d.enter(key("old"), kShelterToday, std::nullopt, {"gus"}, 0, 5000);
  d.survivor_away(key("old"), 5000, 0);
  CHECK(d.is_parked(key("old")));
  d.enter(key("new"), kShelterToday, std::nullopt, {"gus"}, 4500, 5000);
  d.survivor_away(key("new"), 5000, 4500);
  CHECK_FALSE(d.is_parked(key("new")));
  CHECK(d.tick(5500));
  CHECK(d.is_parked(key("new")));
  d.enter(key("handed"), kShelterToday, std::string("general"), {"gus"}, 0, 5000);
  d.survivor_away(key("handed"), 5000, 0);
  d.tick(100000);
  CHECK(d.waiting(key("handed")));
  CHECK(d.parked_count() == 2);
}

TEST_CASE("the room: dismiss removes never-taken cases by filter, oldest first", "[triage]") {
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{10, 0, 1000});
  d.upsert_responder(responder("gus", {"general"}, {"en"}, true, 5));
  add_case(d, "a", kShelterToday, 0);
  add_case(d, "b", kShelterToday, 100);
  add_case(d, "c", kShelterToday, 200);
  add_case(d, "d", kShelterToday, 300);
  d.enter(key("handed"), kShelterToday, std::string("general"), {"gus"}, 50, 300);
  d.survivor_away(key("a"), 300);
  d.survivor_away(key("c"), 300);
  d.survivor_away(key("handed"), 300);
  d.tick(1300);  // a and c parked
  REQUIRE(d.parked_count() == 2);

  std::size_t more = 0;
  DismissFilter away;
  away.away_only = true;
  auto gone = d.dismiss(away, 1, &more);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].key == key("a"));
  CHECK(more == 1);
  DismissFilter window;
  window.arrived_from = 100;
  window.arrived_until = 300;
  window.queue = "nowhere";
  CHECK(d.dismiss(window, 10, &more).empty());
  window.queue.reset();
  gone = d.dismiss(window, 10, &more);
  REQUIRE(gone.size() == 2);
  CHECK(gone[0].key == key("b"));
  CHECK(gone[1].key == key("c"));
  CHECK(more == 0);
  CHECK(d.parked_count() == 0);
  // The handed-off case and d stay.
  CHECK(d.waiting_count() == 2);
  CHECK(d.dismiss(DismissFilter{}, 10, &more).size() == 1);
  CHECK(d.waiting(key("handed")));
}

TEST_CASE("the room: take_parked hands out parked cases away since a cutoff, not those back",
          "[triage]") {
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{10, 0, 1000});
  add_case(d, "a", kShelterToday, 0);
  add_case(d, "b", kShelterToday, 0);
  add_case(d, "c", kShelterToday, 0);
  d.survivor_away(key("a"), 100);
  d.survivor_away(key("b"), 500);
  d.survivor_away(key("c"), 100);
  d.tick(2000);
  REQUIRE(d.parked_count() == 3);
  d.survivor_back(key("c"));  // back (the room has space: waiting again)
  CHECK(d.take_parked(99, 10).empty());
  auto due = d.take_parked(100, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].key == key("a"));
  CHECK(d.parked_count() == 1);
  CHECK(d.take_parked(10000, 10).size() == 1);  // b
  CHECK(d.parked_count() == 0);
  CHECK(d.waiting(key("c")));
}

TEST_CASE("the room: parked expiry restarts each time a parked case's survivor leaves again",
          "[triage]") {
  constexpr UnixSeconds kDay = 86400;
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{1, 0, 1000});
  add_case(d, "victim", kShelterToday, 0);
  d.survivor_away(key("victim"), 100);
  d.tick(2000);
  REQUIRE(d.is_parked(key("victim")));
  add_case(d, "filler", kShelterToday, 2000);  // the room is full from now on
  // The survivor comes back every day for an hour, while the room stays full.
  UnixSeconds now = 2000;
  for (int day = 1; day <= 31; ++day) {
    now = day * kDay;
    d.survivor_back(key("victim"));
    d.tick(now);
    REQUIRE(d.is_parked(key("victim")));
    now += 3600;
    d.survivor_away(key("victim"), now);
    d.tick(now);
  }
  // Away for an hour only: a 30-day expiry must not take it.
  CHECK(d.take_parked(now + 3600 - 30 * kDay, 10).empty());
  CHECK(d.is_parked(key("victim")));
  // Away 30 days from the last leaving: it goes.
  CHECK(d.take_parked(now, 10).size() == 1);
}

TEST_CASE("the room: after a restart parked expiry counts from the start, not from arrival",
          "[triage]") {
  constexpr UnixSeconds kDay = 86400;
  const UnixSeconds start = 100 * kDay;
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{10, 0, 1000});
  // Arrived 40 days before the restart; nobody knows when its survivor left.
  const UnixSeconds arrived = start - 40 * kDay;
  d.enter(key("old"), kShelterToday, std::nullopt, {"gus"}, arrived, start);
  d.survivor_away(key("old"), start, arrived);
  CHECK(d.is_parked(key("old")));  // parking still counts from arrival
  // The first hourly sweep after the restart.
  CHECK(d.take_parked(start + 3600 - 30 * kDay, 10).empty());
  CHECK(d.is_parked(key("old")));
  CHECK(d.take_parked(start, 10).size() == 1);  // 30 days after the restart
}

TEST_CASE("the room: a parked case put back after a failed sweep keeps its away time", "[triage]") {
  Dispatcher d(test::test_rules());
  d.set_room(RoomLimits{10, 0, 1000});
  add_case(d, "a", kShelterToday, 0);
  d.survivor_away(key("a"), 100);
  d.tick(2000);
  auto due = d.take_parked(100, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].expire_from == 100);
  d.enter(key("a"), kShelterToday, std::nullopt, {}, 0, 5000);
  d.survivor_away(key("a"), 5000, 0, due[0].expire_from);
  CHECK(d.is_parked(key("a")));
  CHECK(d.take_parked(100, 10).size() == 1);
}

}  // namespace hearth::triage
