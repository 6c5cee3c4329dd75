// Shared fixtures for the triage tests: a small rule set that exercises every
// feature, and builders for envelopes and responders.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "triage/engine.h"
#include "triage/rules.h"

namespace hearth::triage::test {

// Filters: 0 danger (language → interpreter → general, strict), 1 legal in
// Spanish (one target), 2 legal or immigration (language → general), 3 async
// information, 4 the north region; default: general (language → anyone).
inline constexpr std::string_view kTestRules = R"json({
  "version": 7,
  "classes": [{"name": "danger-now", "strict": true, "target_s": 60},
              {"name": "today", "rate": 4, "target_s": 900},
              {"name": "info", "rate": 1, "target_s": 3600}],
  "filters": [
    {"name": "danger", "when": {"urgency": ["danger-now"]}, "targets": [
      {"queue": "safety", "eligible": "language", "class": "danger-now", "timeout_s": 30,
       "skip_if_empty": true},
      {"queue": "safety", "eligible": "interpreter", "class": "danger-now", "timeout_s": 60},
      {"queue": "general", "eligible": "anyone", "class": "danger-now"}]},
    {"name": "legal-es", "when": {"needs": ["legal"], "languages": ["es"]}, "targets": [
      {"queue": "legal", "eligible": "language", "class": "today"}]},
    {"name": "legal", "when": {"needs": ["legal", "immigration"]}, "targets": [
      {"queue": "legal", "eligible": "language", "class": "today", "timeout_s": 600},
      {"queue": "general", "eligible": "anyone", "class": "today"}]},
    {"name": "async-info", "when": {"urgency": ["information"], "mode": "async"}, "targets": [
      {"queue": "general", "eligible": "anyone", "class": "info"}]},
    {"name": "north", "when": {"regions": ["north"]}, "targets": [
      {"queue": "north", "eligible": "anyone", "class": "today"}]}],
  "default": [{"queue": "general", "eligible": "language", "class": "today", "timeout_s": 300},
              {"queue": "general", "eligible": "anyone", "class": "today"}],
  "outcomes": ["referred", "no-further-contact"],
  "away_grace_s": 600,
  "handle_s": 600
})json";

inline constexpr std::size_t kDanger = 0, kLegalEs = 1, kLegal = 2, kAsyncInfo = 3, kNorth = 4;
inline constexpr std::size_t kDangerClass = 0, kToday = 1, kInfo = 2;

inline Rules test_rules() {
  auto r = parse_rules(kTestRules);
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

inline protocol::RouteEnvelope envelope(std::vector<protocol::Need> needs,
                                        protocol::Urgency urgency,
                                        std::vector<std::string> languages,
                                        protocol::Mode mode = protocol::Mode::kLive,
                                        std::optional<std::string> region = std::nullopt) {
  protocol::RouteEnvelope e;
  e.needs = std::move(needs);
  e.urgency = urgency;
  e.languages = std::move(languages);
  e.mode = mode;
  e.region = std::move(region);
  return e;
}

inline ResponderView responder(std::string id, std::vector<std::string> queues,
                               std::vector<std::string> languages, bool available = true,
                               std::uint32_t capacity = 1, std::uint32_t load = 0) {
  ResponderView r;
  r.id = std::move(id);
  r.queues = std::move(queues);
  r.languages = std::move(languages);
  r.available = available;
  r.capacity = capacity;
  r.load = load;
  return r;
}

}  // namespace hearth::triage::test
