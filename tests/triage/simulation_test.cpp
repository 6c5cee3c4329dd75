// The simulator: scenario files, determinism, and the starvation bound under
// overload with the shipped default rules (and its failure under static
// priority, so the bound is a real test).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/triage/fixtures.h"
#include "triage/simulation.h"

namespace hearth::triage {
namespace {

using json = nlohmann::json;

Rules default_rules() {
  auto r = parse_rules(default_rules_json());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

SimulationResult run(const Rules& rules, const Scenario& s) {
  auto r = simulate(rules, s);
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("the presets parse, and scenario errors name their field", "[triage]") {
  auto overload = preset_scenario("overload");
  REQUIRE(overload);
  CHECK(overload->duration_s == 4 * 3600);
  CHECK(overload->runs == 20);
  CHECK(overload->shifts.size() == 10);
  CHECK(overload->shifts[0].id == "bilingual-1");
  CHECK(overload->shifts[9].id == "arabic");
  CHECK(overload->shifts[0].on_until == 4 * 3600);
  auto normal = preset_scenario("normal");
  REQUIRE(normal);
  CHECK(normal->shifts.front().on_until == 8 * 3600);
  CHECK_FALSE(preset_scenario("holiday"));

  const json base = json::parse(*preset_scenario_json("overload"));
  struct Bad {
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::vector<Bad> table = {
      {[](json& j) { j["weather"] = 1; }, "weather: unknown field"},
      {[](json& j) { j.erase("shifts"); }, "shifts: missing"},
      {[](json& j) { j["hours"] = 0; }, "hours: must be a number in [0.01, 8784.0]"},
      {[](json& j) { j["urgency"]["soon"] = 1; }, "urgency.soon: unknown urgency"},
      {[](json& j) { j["needs"] = json::object(); }, "needs: must be an object of need → weight"},
      {[](json& j) { j["languages"]["eng"] = 1; }, "languages.eng: unknown language"},
      {[](json& j) {
         j["urgency"] = {{"today", 0}};
       },
       "urgency: the weights sum to 0"},
      {[](json& j) { j["shifts"][0]["until_h"] = 0; }, "shifts[0].until_h: must be after from_h"},
      {[](json& j) { j["shifts"][1]["team"] = "a"; }, "shifts[1].team: unknown field"},
      {[](json& j) { j["shifts"][1].erase("languages"); }, "shifts[1].languages: missing"},
      {[](json& j) { j["seed"] = -1; }, "seed: must be a non-negative integer"},
      {[](json& j) { j["runs"] = 0; }, "runs: must be a number in [1.0, 1000.0]"},
  };
  for (const Bad& bad : table) {
    json j = base;
    bad.edit(j);
    auto r = parse_scenario(j.dump());
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().message() == bad.message);
  }
  CHECK(parse_scenario("[").status().message() == "scenario: not valid JSON");
}

TEST_CASE("a simulation is deterministic for a seed and accounts for every case", "[triage]") {
  const Rules rules = default_rules();
  Scenario s = *preset_scenario("normal");
  s.duration_s = 6 * 3600;
  const SimulationResult a = run(rules, s);
  const SimulationResult b = run(rules, s);
  CHECK(a.arrivals > 0);
  CHECK(a.arrivals == a.taken + a.untaken);
  CHECK(a.taken == b.taken);
  CHECK(a.escalated == b.escalated);
  REQUIRE(a.by_class.size() == rules.classes.size());
  std::size_t counted = 0;
  for (std::size_t c = 0; c < a.by_class.size(); ++c) {
    CHECK(a.by_class[c].p95 == b.by_class[c].p95);
    CHECK(a.by_class[c].p50 <= a.by_class[c].p95);
    CHECK(a.by_class[c].p95 <= a.by_class[c].max);
    counted += a.by_class[c].cases;
  }
  CHECK(counted == a.arrivals);
  CHECK(a.by_queue.size() == rules.queues().size());
  CHECK(a.strict_passed_over == 0);
  // Below capacity, everything is taken well within target.
  CHECK(a.offered_load < 0.9);
  for (const WaitStats& w : a.by_class) CHECK(w.p95 <= w.target_s);

  s.seed = 2;
  CHECK(run(rules, s).arrivals != a.arrivals);
}

TEST_CASE(
    "starvation bound: under sustained overload danger-now stays first and every other "
    "class meets its target",
    "[triage]") {
  const Rules rules = default_rules();
  const Scenario s = *preset_scenario("overload");
  REQUIRE(s.runs == 20);  // waits pooled over 20 four-hour windows
  for (std::uint64_t seed : {1, 101}) {
    Scenario run_s = s;
    run_s.seed = seed;
    const SimulationResult r = run(rules, run_s);
    INFO("seed " << seed);
    CHECK(r.offered_load > 1.25);
    CHECK(r.offered_load < 1.35);
    CHECK(r.untaken > 0);  // it really is overloaded
    CHECK(r.strict_passed_over == 0);
    for (std::size_t c = 0; c < rules.classes.size(); ++c) {
      INFO(r.by_class[c].name << " p50 " << r.by_class[c].p50 << " p95 " << r.by_class[c].p95);
      if (rules.classes[c].strict) continue;
      CHECK(r.by_class[c].p95 <= rules.classes[c].target_s);
    }
  }
}

TEST_CASE("contrast: static priority (every class strict) starves the lowest class", "[triage]") {
  Rules all_strict = default_rules();
  for (PriorityClass& c : all_strict.classes) c.strict = true;
  for (std::uint64_t seed : {1, 101}) {
    Scenario s = *preset_scenario("overload");
    s.seed = seed;
    const SimulationResult r = run(all_strict, s);
    const WaitStats& lowest = r.by_class.back();
    INFO("seed " << seed << ": " << lowest.name << " p95 " << lowest.p95 << " target "
                 << lowest.target_s);
    CHECK(lowest.p95 > lowest.target_s);
    CHECK(r.strict_passed_over == 0);
  }
}

}  // namespace hearth::triage
