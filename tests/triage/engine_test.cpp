// The engine as a pure function: (rules, envelope, time, presence) → decision.
// Every time below is injected; nothing reads a clock.
#include <catch2/catch.hpp>

#include "tests/triage/fixtures.h"

namespace hearth::triage {
namespace {

using protocol::Mode;
using protocol::Need;
using protocol::Urgency;
using protocol::WaitBand;
using test::envelope;
using test::responder;

}  // namespace

TEST_CASE("match_filter: first match wins, each condition kind, default", "[triage]") {
  const Rules r = test::test_rules();
  // Danger now goes to the danger filter even though legal would match too.
  CHECK(match_filter(r, envelope({Need::kLegal}, Urgency::kDangerNow, {"es"})) == test::kDanger);
  // Needs and languages: one of the envelope's values is enough.
  CHECK(match_filter(r, envelope({Need::kLegal}, Urgency::kToday, {"en", "es"})) == test::kLegalEs);
  CHECK(match_filter(r, envelope({Need::kLegal}, Urgency::kToday, {"en"})) == test::kLegal);
  CHECK(match_filter(r, envelope({Need::kShelter, Need::kImmigration}, Urgency::kToday, {"fr"})) ==
        test::kLegal);
  // Urgency and mode must both hold.
  CHECK(match_filter(r, envelope({Need::kCounselling}, Urgency::kInformation, {"en"},
                                 Mode::kAsync)) == test::kAsyncInfo);
  CHECK(match_filter(r, envelope({Need::kCounselling}, Urgency::kInformation, {"en"},
                                 Mode::kLive)) == kDefaultChain);
  CHECK(match_filter(r, envelope({Need::kCounselling}, Urgency::kToday, {"en"}, Mode::kAsync)) ==
        kDefaultChain);
  // Regions: the envelope must have one, and it must be listed.
  CHECK(match_filter(r, envelope({Need::kShelter}, Urgency::kToday, {"en"}, Mode::kLive,
                                 "north")) == test::kNorth);
  CHECK(match_filter(r, envelope({Need::kShelter}, Urgency::kToday, {"en"}, Mode::kLive,
                                 "south")) == kDefaultChain);
  CHECK(match_filter(r, envelope({Need::kShelter}, Urgency::kToday, {"en"})) == kDefaultChain);
  // No filters at all: everything takes the default.
  Rules bare = r;
  bare.filters.clear();
  CHECK(match_filter(bare, envelope({Need::kLegal}, Urgency::kDangerNow, {"es"})) == kDefaultChain);
}

TEST_CASE("eligible: language, interpreter, anyone, always under the queue", "[triage]") {
  const Rules r = test::test_rules();
  const auto& danger = r.filters[test::kDanger].targets;
  const auto es = envelope({Need::kShelter}, Urgency::kDangerNow, {"es", "pt"});
  const auto speaker = responder("zed", {"safety"}, {"pt"});
  const auto other = responder("amy", {"safety"}, {"en"});
  const auto elsewhere = responder("bob", {"general"}, {"es"});

  // kLanguage: one shared language is enough; the queue must be listed.
  CHECK(eligible(danger[0], es, speaker));
  CHECK_FALSE(eligible(danger[0], es, other));
  CHECK_FALSE(eligible(danger[0], es, elsewhere));
  CHECK(shares_language(es, speaker));
  CHECK_FALSE(shares_language(es, other));
  // kInterpreter and kAnyone: anyone listed under the queue.
  CHECK(eligible(danger[1], es, other));
  CHECK_FALSE(eligible(danger[1], es, elsewhere));
  CHECK(eligible(danger[2], es, elsewhere));
  CHECK_FALSE(eligible(danger[2], es, other));
  // Presence and load do not matter here.
  CHECK(eligible(danger[0], es, responder("zed", {"safety"}, {"es"}, false, 1, 1)));

  // eligible_upto widens: never narrows as the case moves on.
  CHECK_FALSE(eligible_upto(danger, 0, es, other));
  CHECK(eligible_upto(danger, 1, es, other));
  CHECK(eligible_upto(danger, 2, es, other));
  CHECK_FALSE(eligible_upto(danger, 1, es, elsewhere));
  CHECK(eligible_upto(danger, 2, es, elsewhere));
  CHECK(eligible_upto(danger, 99, es, elsewhere));
  CHECK(eligible_upto(danger, 0, es, speaker));
}

TEST_CASE("advance: timeouts chain, skip_if_empty at once, never back, stops at last", "[triage]") {
  const Rules r = test::test_rules();
  const auto es = envelope({Need::kShelter}, Urgency::kDangerNow, {"es"});
  const std::vector<ResponderView> online = {responder("zed", {"safety"}, {"es"}),
                                             responder("amy", {"safety"}, {"en"})};
  const Placement start{test::kDanger, 0, 1000};

  // Before the timeout it stays; at it, the next target is entered then.
  CHECK(advance(r, es, start, 1029, online).target == 0);
  Placement p = advance(r, es, start, 1030, online);
  CHECK(p.target == 1);
  CHECK(p.entered == 1030);
  // A late look moves through several timeouts, each entered when it ran out.
  p = advance(r, es, start, 1100, online);
  CHECK(p.target == 2);
  CHECK(p.entered == 1090);
  // Stops at the last target however long it waits.
  p = advance(r, es, start, 1000 + 86400 * 30, online);
  CHECK(p.target == 2);
  CHECK(p.entered == 1090);
  // Never back, even if asked about an earlier time.
  CHECK(advance(r, es, p, 1000, online).target == 2);
  CHECK(advance(r, es, Placement{test::kDanger, 1, 1030}, 1031, online).target == 1);

  // skip_if_empty: nobody available who speaks Arabic → interpreter at once.
  const auto ar = envelope({Need::kShelter}, Urgency::kDangerNow, {"ar"});
  p = advance(r, ar, start, 1005, online);
  CHECK(p.target == 1);
  CHECK(p.entered == 1005);
  // A speaker who is listed but not available does not count.
  const std::vector<ResponderView> away = {responder("zed", {"safety"}, {"es"}, false),
                                           responder("amy", {"safety"}, {"en"})};
  CHECK(advance(r, es, start, 1001, away).target == 1);
  // One available at capacity still counts as online (they will free up).
  const std::vector<ResponderView> busy = {responder("zed", {"safety"}, {"es"}, true, 1, 1)};
  CHECK(advance(r, es, start, 1001, busy).target == 0);
  // The interpreter target has no skip_if_empty: with nobody at all it waits
  // there for its timeout, then reaches the last target.
  CHECK(advance(r, es, start, 1001, {}).target == 1);
  CHECK(advance(r, es, start, 1091, {}).target == 2);
  // A one-target chain never moves.
  CHECK(advance(r, es, Placement{test::kLegalEs, 0, 0}, 1'000'000, {}).target == 0);
}

TEST_CASE("decide: placement, queue, class, version and candidates best first", "[triage]") {
  const Rules r = test::test_rules();
  const std::vector<ResponderView> people = {
      responder("zed", {"safety"}, {"es"}),
      responder("amy", {"safety"}, {"en"}),
      responder("bob", {"general"}, {"es"}, false),
      responder("cat", {"general"}, {"en"}, true, 3, 2),
      responder("dan", {"general"}, {"en"}, true, 3, 0),
      responder("fay", {"general"}, {"en"}, false, 3, 0),
      responder("eve", {"legal"}, {"es"}),
  };
  const auto es = envelope({Need::kShelter}, Urgency::kDangerNow, {"es"});
  Decision d = decide(r, es, 5000, people);
  CHECK(d.rules_version == 7);
  CHECK(d.placement.filter == test::kDanger);
  CHECK(d.placement.target == 0);
  CHECK(d.placement.entered == 5000);
  CHECK(d.queue == "safety");
  CHECK(d.priority_class == test::kDangerClass);
  CHECK_FALSE(d.interpreter);
  // Language match first (zed at target 0, bob at 2), then earlier target
  // (amy at 1), then available (dan, cat before fay), then lower load (dan
  // before cat). eve is on no queue of the chain.
  CHECK(d.candidates == std::vector<std::string>{"zed", "bob", "amy", "dan", "cat", "fay"});

  // Nobody available speaks Arabic: placed at the interpreter target, flagged.
  const auto ar = envelope({Need::kShelter}, Urgency::kDangerNow, {"ar"});
  d = decide(r, ar, 5000, people);
  CHECK(d.placement.target == 1);
  CHECK(d.queue == "safety");
  CHECK(d.interpreter);
  CHECK(d.candidates == std::vector<std::string>{"amy", "zed", "dan", "cat", "bob", "fay"});

  // The Spanish speaker on safety is away: interpreter target, flagged
  // (amy, the one available there, shares no language).
  std::vector<ResponderView> zed_away = people;
  zed_away[0].available = false;
  d = decide(r, es, 5000, zed_away);
  CHECK(d.placement.target == 1);
  CHECK(d.interpreter);
  CHECK(d.candidates.front() == "zed");  // still offered: escalation never needs the survivor

  // Other filters: their own queue and class; the rules version is recorded.
  Rules v8 = r;
  v8.version = 8;
  d = decide(v8, envelope({Need::kLegal}, Urgency::kToday, {"es"}), 10, people);
  CHECK(d.rules_version == 8);
  CHECK(d.placement.filter == test::kLegalEs);
  CHECK(d.queue == "legal");
  CHECK(d.priority_class == test::kToday);
  CHECK_FALSE(d.interpreter);  // no interpreter target on that chain
  CHECK(d.candidates == std::vector<std::string>{"eve"});
  d = decide(r, envelope({Need::kCounselling}, Urgency::kInformation, {"en"}, Mode::kAsync), 10,
             people);
  CHECK(d.queue == "general");
  CHECK(d.priority_class == test::kInfo);
  CHECK(d.candidates == std::vector<std::string>{"dan", "cat", "fay", "bob"});
  // Nobody on the roster at all: no candidates; the server answers no_responder.
  CHECK(decide(r, es, 10, {}).candidates.empty());
}

TEST_CASE("priority: strict first, then rate × wait, ties to the earlier arrival", "[triage]") {
  const Rules r = test::test_rules();
  // Strict beats any accumulated score, however long the other waited.
  const Priority danger = priority_of(r, test::kDangerClass, 999'000, 1'000'000);
  const Priority old_info = priority_of(r, test::kInfo, 0, 1'000'000);
  CHECK(danger.strict);
  CHECK(outranks(danger, old_info));
  CHECK_FALSE(outranks(old_info, danger));
  // Two strict cases of one class: first come, first served.
  const Priority danger_earlier = priority_of(r, test::kDangerClass, 998'000, 1'000'000);
  CHECK(outranks(danger_earlier, danger));

  // today has rate 4, info rate 1: 100 s of today (400) beats 300 s of info
  // (300), but 500 s of info (500) beats it.
  const UnixSeconds now = 10'000;
  const Priority today = priority_of(r, test::kToday, now - 100, now);
  CHECK(today.score == 400);
  CHECK(outranks(today, priority_of(r, test::kInfo, now - 300, now)));
  CHECK(outranks(priority_of(r, test::kInfo, now - 500, now), today));
  // Equal scores: the earlier arrival wins.
  const Priority info400 = priority_of(r, test::kInfo, now - 400, now);
  CHECK(info400.score == today.score);
  CHECK(outranks(info400, today));
  CHECK_FALSE(outranks(today, info400));
  // Identical: neither outranks the other.
  CHECK_FALSE(outranks(today, today));
  // Not yet arrived (clock skew in a caller) scores 0, not negative.
  CHECK(priority_of(r, test::kToday, now + 50, now).score == 0);

  // Several strict classes rank by list position.
  Rules two = r;
  two.classes.insert(two.classes.begin(), PriorityClass{"life", true, 1, 30});
  const Priority life = priority_of(two, 0, 2000, 2001);
  const Priority d2 = priority_of(two, 1, 1000, 2001);
  CHECK(outranks(life, d2));
  CHECK(life.strict_rank < d2.strict_rank);
}

TEST_CASE("wait bands from position, responders available and handle time", "[triage]") {
  Rules r = test::test_rules();  // handle_s 600
  CHECK(wait_band(r, 1, 0) == WaitBand::kNobodyOnline);
  CHECK(wait_band(r, 1, 1) == WaitBand::kQuarterHour);  // 600 s
  CHECK(wait_band(r, 2, 2) == WaitBand::kQuarterHour);  // ceil(2/2) = 1 round
  CHECK(wait_band(r, 3, 2) == WaitBand::kHour);         // 2 rounds: 1200 s
  CHECK(wait_band(r, 6, 1) == WaitBand::kHour);         // 3600 s exactly
  CHECK(wait_band(r, 7, 1) == WaitBand::kHours);        // 4200 s
  r.handle_s = 300;
  CHECK(wait_band(r, 1, 1) == WaitBand::kMinutes);  // 300 s exactly
  CHECK(wait_band(r, 4, 1) == WaitBand::kHour);     // 1200 s
}

}  // namespace hearth::triage
