// hearth-admin's routing commands: `rules validate FILE` checks a routing
// rules file as hearthd would load it; `rules default` prints the shipped
// default (docs/routing.md); `simulate` replays synthetic arrivals through the
// real triage dispatcher with a simulated clock and prints wait percentiles per
// class and queue against the class targets (docs/routing.md "The simulator").
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "admin/command.h"
#include "common/clock.h"
#include "triage/rules.h"
#include "triage/simulation.h"

namespace hearth::admin {
namespace {

int rules_validate(const std::string& file) {
  auto rules = triage::load_rules(file);
  if (!rules.is_ok()) {
    std::fprintf(stderr, "hearth-admin: %s: %s\n", file.c_str(), rules.status().message().c_str());
    return 1;
  }
  std::printf("ok: version %" PRIu64 ", %zu filters, %zu queues\n", rules->version,
              rules->filters.size(), rules->queues().size());
  return 0;
}

int rules_default() {
  std::string_view text = triage::default_rules_json();
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

// ---- simulate ----

// "45s", "12m03s", "2h05m".
std::string duration(UnixSeconds s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

void print_row(const triage::WaitStats& w, const char* kind) {
  std::printf("  %-20s %-7s %7s %7zu %7zu %8s %8s %8s", w.name.c_str(), kind,
              w.target_s > 0 ? duration(w.target_s).c_str() : "-", w.cases, w.untaken,
              duration(w.p50).c_str(), duration(w.p95).c_str(), duration(w.max).c_str());
  if (w.target_s > 0)
    std::printf("  %5.0f%%%s", 100.0 * static_cast<double>(w.p95) / static_cast<double>(w.target_s),
                w.p95 > w.target_s ? "  over target" : "");
  std::printf("\n");
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kNotFound, path + ": cannot be opened");
  std::string text(1024 * 1024 + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > 1024 * 1024) return error(Code::kInvalidArgument, path + ": larger than 1 MiB");
  return text;
}

struct SimulateOptions {
  std::string rules_file;
  std::string scenario_file;
  std::string preset;
  std::optional<double> hours;
  std::optional<std::uint64_t> seed;
  std::optional<std::size_t> runs;
};

int simulate(const SimulateOptions& o) {
  triage::Rules rules;
  if (!o.rules_file.empty()) {
    auto r = triage::load_rules(o.rules_file);
    if (!r.is_ok()) return fail(o.rules_file, r.status());
    rules = std::move(r).value();
  } else {
    auto r = triage::parse_rules(triage::default_rules_json());
    if (!r.is_ok()) return fail("default rules", r.status());
    rules = std::move(r).value();
  }

  triage::Scenario scenario;
  if (!o.scenario_file.empty()) {
    auto text = read_text(o.scenario_file);
    if (!text.is_ok()) return fail(o.scenario_file, text.status());
    auto parsed = triage::parse_scenario(*text);
    if (!parsed.is_ok()) return fail(o.scenario_file, parsed.status());
    scenario = std::move(parsed).value();
  } else {
    const std::string name = o.preset.empty() ? "overload" : o.preset;
    auto preset = triage::preset_scenario(name);
    if (!preset) return fail(name, error(Code::kNotFound, "no such preset (overload, normal)"));
    scenario = std::move(*preset);
  }
  if (o.hours) {
    // Shifts that ran to the end of the scenario still do.
    const UnixSeconds old_end = scenario.duration_s;
    scenario.duration_s = static_cast<UnixSeconds>(*o.hours * 3600);
    for (auto& shift : scenario.shifts)
      if (shift.on_until == old_end) shift.on_until = scenario.duration_s;
  }
  if (o.seed) scenario.seed = *o.seed;
  if (o.runs) scenario.runs = *o.runs;

  auto result = triage::simulate(rules, scenario);
  if (!result.is_ok()) return fail("simulate", result.status());
  const triage::SimulationResult& r = *result;

  std::printf("Scenario %s: %.1f h x %zu run%s (seeds %" PRIu64 "..%" PRIu64
              "), %.0f arrivals/h, %zu shifts, handle %s mean\n",
              scenario.name.empty() ? "(unnamed)" : scenario.name.c_str(),
              static_cast<double>(scenario.duration_s) / 3600.0, scenario.runs,
              scenario.runs == 1 ? "" : "s", scenario.seed, scenario.seed + scenario.runs - 1,
              scenario.arrivals_per_hour, scenario.shifts.size(),
              duration(scenario.handle_mean_s).c_str());
  std::printf("Rules version %" PRIu64 ": %zu classes, %zu filters, %zu queues\n", rules.version,
              rules.classes.size(), rules.filters.size(), rules.queues().size());
  std::printf(
      "Offered load %.2f x capacity. Arrivals %zu, taken %zu, still waiting at the end %zu\n",
      r.offered_load, r.arrivals, r.taken, r.untaken);
  std::printf("Taken after escalating %zu, with an interpreter %zu, after losing their place %zu\n",
              r.escalated, r.interpreter, r.lost_place);
  std::printf("Strict cases passed over: %zu%s\n\n", r.strict_passed_over,
              r.strict_passed_over == 0 ? " (danger now stayed first)" : "  ** ordering broken **");
  std::printf("Waits (cases still waiting count with their wait so far):\n");
  std::printf("  %-20s %-7s %7s %7s %7s %8s %8s %8s  %s\n", "class", "kind", "target", "cases",
              "waiting", "p50", "p95", "max", "p95/target");
  for (std::size_t c = 0; c < r.by_class.size(); ++c)
    print_row(r.by_class[c], rules.classes[c].strict ? "strict" : "accum");
  std::printf("\n  %-20s %-7s %7s %7s %7s %8s %8s %8s\n", "queue", "", "", "cases", "waiting",
              "p50", "p95", "max");
  for (const auto& w : r.by_queue) print_row(w, "");
  return 0;
}

}  // namespace

void add_routing_commands(CLI::App& app, Commands& commands) {
  auto* rules_cmd = app.add_subcommand("rules", "check or print routing rules");
  rules_cmd->require_subcommand(1);
  auto* validate_cmd = rules_cmd->add_subcommand("validate", "check a routing rules file");
  auto rules_file = std::make_shared<std::string>();
  validate_cmd->add_option("file", *rules_file, "the rules file")->required();
  commands.add(validate_cmd, [rules_file] { return rules_validate(*rules_file); });
  auto* default_cmd = rules_cmd->add_subcommand("default", "print the shipped default rules");
  commands.add(default_cmd, [] { return rules_default(); });

  auto* sim_cmd = app.add_subcommand(
      "simulate", "replay synthetic arrivals through the routing rules; print wait percentiles");
  auto sim = std::make_shared<SimulateOptions>();
  sim_cmd->add_option("--rules", sim->rules_file,
                      "routing rules file (default: the shipped rules)");
  auto* scenario_opt =
      sim_cmd->add_option("--scenario", sim->scenario_file, "scenario file (docs/routing.md)");
  sim_cmd->add_option("--preset", sim->preset, "built-in scenario: overload (default) or normal")
      ->check(CLI::IsMember({"overload", "normal"}))
      ->excludes(scenario_opt);
  sim_cmd->add_option("--hours", sim->hours, "simulated hours per run")
      ->check(CLI::Range(0.01, 8784.0));
  sim_cmd->add_option("--seed", sim->seed, "first random seed");
  sim_cmd->add_option("--runs", sim->runs, "independent runs, waits pooled")
      ->check(CLI::Range(1, 1000));
  commands.add(sim_cmd, [sim] { return simulate(*sim); });
}

}  // namespace hearth::admin
