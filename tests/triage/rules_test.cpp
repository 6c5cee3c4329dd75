// The rules file: parsing, every validation error (naming its field), the
// loader, and the shipped default.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"
#include "tests/triage/fixtures.h"

namespace hearth::triage {
namespace {

using json = nlohmann::json;
using protocol::Need;
using protocol::Urgency;

json base() { return json::parse(test::kTestRules); }

std::string parse_error(const std::string& text) {
  auto r = parse_rules(text);
  if (r.is_ok()) return "(parsed)";
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

}  // namespace

TEST_CASE("the test rules parse into what they say", "[triage]") {
  Rules r = test::test_rules();
  CHECK(r.version == 7);
  REQUIRE(r.classes.size() == 3);
  CHECK(r.classes[0].name == "danger-now");
  CHECK(r.classes[0].strict);
  CHECK(r.classes[1].rate == 4);
  CHECK(r.classes[1].target_s == 900);
  REQUIRE(r.filters.size() == 5);
  const Filter& danger = r.filters[0];
  CHECK(danger.name == "danger");
  CHECK(danger.when.urgency == std::vector<Urgency>{Urgency::kDangerNow});
  REQUIRE(danger.targets.size() == 3);
  CHECK(danger.targets[0].queue == "safety");
  CHECK(danger.targets[0].eligible == Eligibility::kLanguage);
  CHECK(danger.targets[0].timeout_s == std::optional<UnixSeconds>(30));
  CHECK(danger.targets[0].skip_if_empty);
  CHECK(danger.targets[1].eligible == Eligibility::kInterpreter);
  CHECK_FALSE(danger.targets[1].skip_if_empty);
  CHECK(danger.targets[2].eligible == Eligibility::kAnyone);
  CHECK_FALSE(danger.targets[2].timeout_s);
  CHECK(r.filters[3].when.mode == protocol::Mode::kAsync);
  CHECK(r.filters[4].when.regions == std::vector<std::string>{"north"});
  CHECK(r.filters[1].when.languages == std::vector<std::string>{"es"});
  CHECK(r.filters[2].when.needs == std::vector<Need>{Need::kLegal, Need::kImmigration});
  CHECK(r.default_chain.size() == 2);
  CHECK(r.outcomes == std::vector<std::string>{"referred", "no-further-contact"});
  CHECK(r.away_grace_s == 600);
  CHECK(r.handle_s == 600);

  CHECK(r.queues() == std::vector<std::string>{"general", "legal", "north", "safety"});
  CHECK(r.class_index("info") == std::optional<std::size_t>(2));
  CHECK_FALSE(r.class_index("nope"));
  CHECK(r.has_outcome("referred"));
  CHECK_FALSE(r.has_outcome("closed"));
  CHECK(&r.chain(kDefaultChain) == &r.default_chain);
  CHECK(&r.chain(1) == &r.filters[1].targets);
  CHECK(eligibility_name(Eligibility::kInterpreter) == "interpreter");
}

TEST_CASE("optional fields take their defaults", "[triage]") {
  json j = base();
  j.erase("filters");
  j.erase("away_grace_s");
  j.erase("handle_s");
  j["classes"][1].erase("rate");
  j["default"][0].erase("eligible");
  auto r = parse_rules(j.dump());
  REQUIRE(r.is_ok());
  CHECK(r->filters.empty());
  CHECK(r->away_grace_s == 900);
  CHECK(r->handle_s == 900);
  CHECK(r->classes[1].rate == 1);
  CHECK(r->default_chain[0].eligible == Eligibility::kAnyone);
}

TEST_CASE("every refused rules file names its field", "[triage]") {
  struct Bad {
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::string int_range = "must be an integer in ";
  const std::vector<Bad> table = {
      {[](json& j) { j = json::array(); }, "rules: must be an object"},
      {[](json& j) { j["colour"] = "red"; }, "colour: unknown field"},
      {[](json& j) { j.erase("version"); }, "version: missing"},
      {[](json& j) { j.erase("classes"); }, "classes: missing"},
      {[](json& j) { j.erase("default"); }, "default: missing"},
      {[](json& j) { j.erase("outcomes"); }, "outcomes: missing"},
      {[](json& j) { j["version"] = 0; }, "version: " + int_range + "[1, 9223372036854775807]"},
      {[](json& j) { j["version"] = "3"; }, "version: " + int_range + "[1, 9223372036854775807]"},
      {[](json& j) { j["version"] = 1.5; }, "version: " + int_range + "[1, 9223372036854775807]"},
      {[](json& j) { j["classes"] = json::array(); }, "classes: must be a list of 1 to 8 entries"},
      {[](json& j) {
         for (int i = 0; i < 7; ++i)
           j["classes"].push_back({{"name", "c" + std::to_string(i)}, {"target_s", 1}});
       },
       "classes: must be a list of 1 to 8 entries"},
      {[](json& j) { j["classes"][1] = 4; }, "classes[1]: must be an object"},
      {[](json& j) { j["classes"][1]["name"] = "Today"; },
       "classes[1].name: must be a name of 1 to 32 of [a-z0-9-]"},
      {[](json& j) { j["classes"][1]["name"] = std::string(33, 'a'); },
       "classes[1].name: must be a name of 1 to 32 of [a-z0-9-]"},
      {[](json& j) { j["classes"][1]["name"] = "danger-now"; },
       "classes[1].name: a second class named \"danger-now\""},
      {[](json& j) { j["classes"][0]["strict"] = "yes"; },
       "classes[0].strict: must be true or false"},
      {[](json& j) { j["classes"][1]["rate"] = 0; },
       "classes[1].rate: must be a number above 0 and at most 1000000"},
      {[](json& j) { j["classes"][1]["rate"] = "fast"; },
       "classes[1].rate: must be a number above 0 and at most 1000000"},
      {[](json& j) { j["classes"][1]["rate"] = 2e6; },
       "classes[1].rate: must be a number above 0 and at most 1000000"},
      {[](json& j) { j["classes"][1]["target_s"] = 0; },
       "classes[1].target_s: " + int_range + "[1, 31536000]"},
      {[](json& j) { j["classes"][1].erase("target_s"); }, "classes[1].target_s: missing"},
      {[](json& j) { j["classes"][1]["weight"] = 2; }, "classes[1].weight: unknown field"},
      {[](json& j) { j["filters"] = json::object(); },
       "filters: must be a list of 0 to 64 entries"},
      {[](json& j) {
         for (int i = 0; i < 60; ++i) {
           json f = j["filters"][3];
           f["name"] = "f" + std::to_string(i);
           j["filters"].push_back(f);
         }
       },
       "filters: must be a list of 0 to 64 entries"},
      {[](json& j) { j["filters"][2].erase("name"); }, "filters[2].name: missing"},
      {[](json& j) { j["filters"][2].erase("when"); }, "filters[2].when: missing"},
      {[](json& j) { j["filters"][2].erase("targets"); }, "filters[2].targets: missing"},
      {[](json& j) { j["filters"][2]["name"] = "danger"; },
       "filters[2].name: a second filter named \"danger\""},
      {[](json& j) { j["filters"][2]["priority"] = 1; }, "filters[2].priority: unknown field"},
      {[](json& j) { j["filters"][0]["when"] = "urgency == 'danger-now'"; },
       "filters[0].when: must be an object"},
      {[](json& j) {
         j["filters"][0]["when"]["urgency"] = {"danger-now", "soon"};
       },
       "filters[0].when.urgency[1]: unknown urgency \"soon\""},
      {[](json& j) { j["filters"][0]["when"]["urgency"] = "danger-now"; },
       "filters[0].when.urgency: must be a list of 0 to 64 entries"},
      {[](json& j) {
         j["filters"][0]["when"]["urgency"] = {"today", "today"};
       },
       "filters[0].when.urgency[1]: listed twice"},
      {[](json& j) { j["filters"][2]["when"]["needs"] = {"food"}; },
       "filters[2].when.needs[0]: unknown need \"food\""},
      {[](json& j) { j["filters"][2]["when"]["needs"] = {1}; },
       "filters[2].when.needs[0]: must be a string"},
      {[](json& j) { j["filters"][1]["when"]["languages"] = {"eng"}; },
       "filters[1].when.languages[0]: must be a two-letter language code ([a-z]{2})"},
      {[](json& j) {
         j["filters"][1]["when"]["languages"] = {"es", "es"};
       },
       "filters[1].when.languages[1]: listed twice"},
      {[](json& j) { j["filters"][3]["when"]["mode"] = "video"; },
       "filters[3].when.mode: must be \"live\" or \"async\""},
      {[](json& j) { j["filters"][4]["when"]["regions"] = {"North"}; },
       "filters[4].when.regions[0]: must be a region name of 1 to 32 of [a-z0-9-]"},
      {[](json& j) { j["filters"][4]["when"]["age"] = {"adult"}; },
       "filters[4].when.age: unknown field"},
      {[](json& j) { j["filters"][0]["targets"] = json::array(); },
       "filters[0].targets: must be a list of 1 to 16 entries"},
      {[](json& j) { j["filters"][0]["targets"][1]["queue"] = "Safety Team"; },
       "filters[0].targets[1].queue: must be a name of 1 to 64 of [a-z0-9-]"},
      {[](json& j) { j["filters"][0]["targets"][1].erase("queue"); },
       "filters[0].targets[1].queue: missing"},
      {[](json& j) { j["filters"][0]["targets"][1]["eligible"] = "everyone"; },
       "filters[0].targets[1].eligible: must be \"language\", \"interpreter\" or \"anyone\""},
      {[](json& j) { j["filters"][0]["targets"][1]["class"] = "p0"; },
       "filters[0].targets[1].class: no class named \"p0\""},
      {[](json& j) { j["filters"][0]["targets"][1]["class"] = 0; },
       "filters[0].targets[1].class: must be a class name"},
      {[](json& j) { j["filters"][0]["targets"][1].erase("class"); },
       "filters[0].targets[1].class: missing"},
      {[](json& j) { j["filters"][0]["targets"][1]["timeout_s"] = 0; },
       "filters[0].targets[1].timeout_s: " + int_range + "[1, 31536000]"},
      {[](json& j) { j["filters"][0]["targets"][1].erase("timeout_s"); },
       "filters[0].targets[1].timeout_s: required on every target but the last"},
      {[](json& j) { j["filters"][0]["targets"][2]["timeout_s"] = 60; },
       "filters[0].targets[2].timeout_s: the last target of a chain has no timeout"},
      {[](json& j) { j["filters"][0]["targets"][0]["skip_if_empty"] = 1; },
       "filters[0].targets[0].skip_if_empty: must be true or false"},
      {[](json& j) { j["filters"][0]["targets"][2]["page"] = true; },
       "filters[0].targets[2].page: unknown field"},
      {[](json& j) { j["default"] = json::array(); }, "default: must be a list of 1 to 16 entries"},
      {[](json& j) { j["default"] = j["default"][0]; },
       "default: must be a list of 1 to 16 entries"},
      {[](json& j) { j["default"][1]["class"] = "urgent"; },
       "default[1].class: no class named \"urgent\""},
      {[](json& j) { j["default"][0].erase("timeout_s"); },
       "default[0].timeout_s: required on every target but the last"},
      {[](json& j) { j["outcomes"] = json::array(); },
       "outcomes: must be a list of 1 to 32 entries"},
      {[](json& j) {
         j["outcomes"] = {"referred", "referred"};
       },
       "outcomes[1]: listed twice"},
      {[](json& j) { j["outcomes"] = {"Referred"}; },
       "outcomes[0]: must be a name of 1 to 32 of [a-z0-9-]"},
      {[](json& j) { j["away_grace_s"] = -1; }, "away_grace_s: " + int_range + "[0, 604800]"},
      {[](json& j) { j["handle_s"] = 0; }, "handle_s: " + int_range + "[1, 86400]"},
      {[](json& j) { j["handle_s"] = 90000; }, "handle_s: " + int_range + "[1, 86400]"},
  };
  for (const Bad& bad : table) {
    json j = base();
    bad.edit(j);
    INFO(j.dump());
    CHECK(parse_error(j.dump()) == bad.message);
  }
  CHECK(parse_error("{\"version\": 1,") == "rules: not valid JSON");
  CHECK(parse_error("") == "rules: not valid JSON");
}

TEST_CASE("load_rules reads a file, refuses a missing or huge one", "[triage]") {
  hearth::test::TempDir dir;
  const std::string good = (dir.path() / "routing.json").string();
  std::ofstream(good) << test::kTestRules;
  auto r = load_rules(good);
  REQUIRE(r.is_ok());
  CHECK(r->version == 7);

  auto missing = load_rules((dir.path() / "nope.json").string());
  CHECK(missing.status().code() == Code::kNotFound);

  const std::string huge = (dir.path() / "huge.json").string();
  std::ofstream(huge) << std::string(1024 * 1024 + 1, ' ');
  auto big = load_rules(huge);
  CHECK(big.status().code() == Code::kInvalidArgument);
  CHECK_THAT(big.status().message(), Catch::Contains("larger than 1 MiB"));

  const std::string broken = (dir.path() / "broken.json").string();
  std::ofstream(broken) << "{\"version\": 2}";
  CHECK(load_rules(broken).status().message() == "classes: missing");
}

TEST_CASE("the default rules parse and route all nine needs at every urgency", "[triage]") {
  auto parsed = parse_rules(default_rules_json());
  REQUIRE(parsed.is_ok());
  const Rules& rules = *parsed;
  const std::vector<std::string> nine = {"immediate-safety", "shelter",      "medical",
                                         "counselling",      "legal",        "immigration",
                                         "work-education",   "peer-support", "culturally-specific"};
  for (const std::string& q : rules.queues())
    CHECK(std::find(nine.begin(), nine.end(), q) != nine.end());
  CHECK(rules.queues().size() == 9);
  CHECK(rules.class_index("danger-now"));
  CHECK(rules.classes[*rules.class_index("danger-now")].strict);

  const std::vector<Need> needs = {
      Need::kImmediateSafety, Need::kShelter,     Need::kMedical,
      Need::kCounselling,     Need::kLegal,       Need::kImmigration,
      Need::kWorkEducation,   Need::kPeerSupport, Need::kCulturallySpecific};
  const std::vector<Urgency> urgencies = {Urgency::kDangerNow, Urgency::kToday, Urgency::kThisWeek,
                                          Urgency::kInformation};
  for (Need n : needs) {
    for (Urgency u : urgencies) {
      INFO(protocol::need_name(n) << " " << protocol::urgency_name(u));
      auto e = test::envelope({n}, u, {"en"});
      const std::size_t f = match_filter(rules, e);
      REQUIRE(f != kDefaultChain);
      const auto& chain = rules.chain(f);
      for (const Target& t : chain)
        CHECK(std::find(nine.begin(), nine.end(), t.queue) != nine.end());
      const PriorityClass& cls = rules.classes[chain.front().priority_class];
      if (u == Urgency::kDangerNow) {
        CHECK(chain.front().queue == "immediate-safety");
        CHECK(cls.strict);
        CHECK(chain.front().timeout_s <= std::optional<UnixSeconds>(60));
        CHECK(chain.front().skip_if_empty);
      } else {
        CHECK(chain.front().queue == protocol::need_name(n));
        CHECK(cls.name == protocol::urgency_name(u));
        CHECK_FALSE(cls.strict);
      }
      // Language first, then interpreter, then anyone: widening only.
      CHECK(chain.front().eligible == Eligibility::kLanguage);
      CHECK(chain.back().eligible == Eligibility::kAnyone);
    }
  }
}

}  // namespace hearth::triage
