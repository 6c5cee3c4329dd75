// Simulation: replays synthetic arrivals through the real Dispatcher with a
// simulated clock, to size shifts and to check the ordering model
// (`hearth-admin simulate`; docs/routing.md "The simulator").
//
// The clock is an integer that the event loop moves forward; randomness is a
// seeded std::mt19937_64 with hand-rolled draws, so one seed gives the same
// figures on every machine. Survivors arrive as a Poisson process; each
// envelope's urgency, need and language are drawn from the scenario's shares;
// handle times are exponential. Responders pull: whenever one is available
// and below capacity (an arrival, a completion, a shift start, a tick) they
// take_next at once, longest idle first.
//
// Waits: a taken case's wait is take time − arrival; a case still waiting at
// the end counts with its wait so far (a lower bound), so the percentiles
// never look better by leaving the worst cases out.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "protocol/messages.h"
#include "triage/rules.h"

namespace hearth::triage {

// One responder's shift: on from `on_from` until `on_until` (seconds from the
// start). They finish the cases they hold after it ends.
struct Shift {
  std::string id;
  std::vector<std::string> queues;
  std::vector<std::string> languages;
  std::uint32_t capacity = 1;
  UnixSeconds on_from = 0;
  UnixSeconds on_until = 0;
};

template <typename T>
struct Share {
  T value;
  double weight = 1;  // relative; need not sum to 1
};

struct Scenario {
  std::string name;
  UnixSeconds duration_s = 4 * 3600;
  double arrivals_per_hour = 10;
  std::vector<Share<protocol::Urgency>> urgency;  // 1.. entries
  std::vector<Share<protocol::Need>> needs;       // 1.. entries: the first need
  double second_need = 0;                         // probability of a second, different need
  std::vector<Share<std::string>> languages;      // 1.. entries
  double async_share = 0;           // probability the survivor asked for async replies
  UnixSeconds handle_mean_s = 900;  // exponential, at least 60 s
  double away_probability = 0;      // a waiting survivor drops off once
  UnixSeconds away_mean_s = 600;    // exponential time away; they come back
  std::vector<Shift> shifts;
  UnixSeconds tick_s = 10;  // escalations and away grace are applied this often
  std::uint64_t seed = 1;
  // Independent runs (seeds seed, seed+1, ...) whose waits are pooled: one
  // window of a small organisation is a noisy sample.
  std::size_t runs = 1;
};

// Parses a scenario file (docs/routing.md lists the fields). kInvalidArgument
// naming the field; unknown fields refused.
Result<Scenario> parse_scenario(std::string_view json);
// A built-in scenario: "overload" (1.3× capacity for 4 h) or "normal"
// (about 0.75× capacity over a day of shifts). nullopt for another name.
std::optional<Scenario> preset_scenario(std::string_view name);
// The presets' JSON text (what preset_scenario parses), for documentation.
std::optional<std::string_view> preset_scenario_json(std::string_view name);

// Wait figures for one class or queue.
struct WaitStats {
  std::string name;
  UnixSeconds target_s = 0;  // the class target (queues: 0)
  std::size_t cases = 0;     // arrivals counted here
  std::size_t untaken = 0;   // still waiting at the end
  UnixSeconds p50 = 0;
  UnixSeconds p95 = 0;
  UnixSeconds max = 0;
};

struct SimulationResult {
  std::size_t arrivals = 0;
  std::size_t taken = 0;
  std::size_t untaken = 0;
  std::size_t escalated = 0;    // taken past the first target of their chain
  std::size_t interpreter = 0;  // taken with the interpreter flag
  std::size_t lost_place = 0;   // away past the grace
  // Takes where the responder was handed a case while a strict-class case
  // they could take waited longer (or in a higher strict class): "danger now
  // stays first" holds when this is 0. Checked independently of take_next.
  std::size_t strict_passed_over = 0;
  double offered_load = 0;  // arrival work ÷ on-shift capacity over the run
  // Classes in rules order (by the class a case was taken in, or waits in
  // at the end); queues sorted by name (the queue it was taken from).
  std::vector<WaitStats> by_class;
  std::vector<WaitStats> by_queue;
};

// Runs `scenario` through a Dispatcher holding `rules`. kInvalidArgument
// when the scenario cannot run (no shares, no shifts, a bad duration).
Result<SimulationResult> simulate(const Rules& rules, const Scenario& scenario);

}  // namespace hearth::triage
