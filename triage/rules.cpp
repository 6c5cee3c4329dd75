// Parsing and validating the routing rules (docs/routing.md lists every check).
//
// The file is untrusted input in the sense that an admin can make mistakes:
// it is parsed without exceptions and every refusal names the field, so the
// admin can fix it and hearthd keeps the rules it runs with.
#include "triage/rules.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>

#include "protocol/json_fields.h"

namespace hearth::triage {
namespace {

using json = nlohmann::json;

// Bounds on every duration: a year is far beyond any sane target, and the
// bound keeps rate × wait and sums of timeouts far from overflow.
constexpr UnixSeconds kMaxSeconds = 365LL * 86400;
constexpr std::size_t kMaxClasses = 8;
constexpr std::size_t kMaxFilters = 64;
constexpr std::size_t kMaxTargets = 16;
constexpr std::size_t kMaxOutcomes = 32;
constexpr std::size_t kMaxConditionValues = 64;
constexpr double kMaxRate = 1e6;
constexpr std::size_t kMaxRulesFileBytes = 1024 * 1024;

using json_fields::at;
using json_fields::check_object;
using json_fields::is_language;
Status bad(std::string_view field, std::string_view what) {
  return json_fields::field_error(field, what);
}

bool is_name(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// An integer in [lo, hi], from a JSON integer (not 3.0, not "3").
Result<std::int64_t> get_int(const json& j, const std::string& field, std::int64_t lo,
                             std::int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!j.is_number_integer()) return bad(field, "must be an integer in " + range);
  if (j.is_number_unsigned()) {
    const auto v = j.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(hi) || static_cast<std::int64_t>(v) < lo)
      return bad(field, "must be an integer in " + range);
    return static_cast<std::int64_t>(v);
  }
  const auto v = j.get<std::int64_t>();
  if (v < lo || v > hi) return bad(field, "must be an integer in " + range);
  return v;
}

Result<bool> get_bool(const json& j, const std::string& field) {
  if (!j.is_boolean()) return bad(field, "must be true or false");
  return j.get<bool>();
}

Result<std::string> get_name(const json& j, const std::string& field, std::size_t max) {
  const std::string rule = "must be a name of 1 to " + std::to_string(max) + " of [a-z0-9-]";
  if (!j.is_string()) return bad(field, rule);
  const auto& s = j.get_ref<const std::string&>();
  if (!is_name(s, max)) return bad(field, rule);
  return s;
}

// An array of `lo`..`hi` elements.
Status check_array(const json& j, const std::string& field, std::size_t lo, std::size_t hi) {
  if (!j.is_array() || j.size() < lo || j.size() > hi)
    return bad(field, "must be a list of " + std::to_string(lo) + " to " + std::to_string(hi) +
                          " entries");
  return Status();
}

// A list of enum values from the protocol's closed vocabulary.
template <typename E, typename Parse>
Status get_enum_list(const json& j, const std::string& field, std::string_view kind, Parse parse,
                     std::vector<E>& out) {
  HEARTH_TRY(check_array(j, field, 0, kMaxConditionValues));
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& v = j[i];
    if (!v.is_string()) return bad(at(field, i), "must be a string");
    auto e = parse(v.get_ref<const std::string&>());
    if (!e)
      return bad(at(field, i),
                 "unknown " + std::string(kind) + " \"" + v.get<std::string>() + "\"");
    if (std::find(out.begin(), out.end(), *e) != out.end())
      return bad(at(field, i), "listed twice");
    out.push_back(*e);
  }
  return Status();
}

Status get_string_list(const json& j, const std::string& field, bool (*valid)(std::string_view),
                       std::string_view rule, std::vector<std::string>& out) {
  HEARTH_TRY(check_array(j, field, 0, kMaxConditionValues));
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& v = j[i];
    if (!v.is_string() || !valid(v.get_ref<const std::string&>()))
      return bad(at(field, i), "must be " + std::string(rule));
    const auto& s = v.get_ref<const std::string&>();
    if (std::find(out.begin(), out.end(), s) != out.end()) return bad(at(field, i), "listed twice");
    out.push_back(s);
  }
  return Status();
}

bool is_region(std::string_view s) { return is_name(s, 32); }

Result<Condition> parse_condition(const json& j, const std::string& path) {
  HEARTH_TRY(check_object(j, path, {"urgency", "needs", "languages", "mode", "regions"}, {}));
  Condition c;
  if (j.contains("urgency"))
    HEARTH_TRY(get_enum_list(j["urgency"], path + ".urgency", "urgency", protocol::parse_urgency,
                             c.urgency));
  if (j.contains("needs"))
    HEARTH_TRY(get_enum_list(j["needs"], path + ".needs", "need", protocol::parse_need, c.needs));
  if (j.contains("languages"))
    HEARTH_TRY(get_string_list(j["languages"], path + ".languages", is_language,
                               "a two-letter language code ([a-z]{2})", c.languages));
  if (j.contains("mode")) {
    const json& m = j["mode"];
    std::optional<protocol::Mode> mode;
    if (m.is_string()) mode = protocol::parse_mode(m.get_ref<const std::string&>());
    if (!mode) return bad(path + ".mode", "must be \"live\" or \"async\"");
    c.mode = *mode;
  }
  if (j.contains("regions"))
    HEARTH_TRY(get_string_list(j["regions"], path + ".regions", is_region,
                               "a region name of 1 to 32 of [a-z0-9-]", c.regions));
  return c;
}

Result<Target> parse_target(const json& j, const std::string& path, const Rules& rules) {
  HEARTH_TRY(check_object(j, path, {"queue", "eligible", "class", "timeout_s", "skip_if_empty"},
                          {"queue", "class"}));
  Target t;
  HEARTH_ASSIGN_OR_RETURN(t.queue, get_name(j["queue"], path + ".queue", 64));
  if (j.contains("eligible")) {
    const json& e = j["eligible"];
    const std::string s = e.is_string() ? e.get<std::string>() : "";
    if (s == "language") {
      t.eligible = Eligibility::kLanguage;
    } else if (s == "interpreter") {
      t.eligible = Eligibility::kInterpreter;
    } else if (s == "anyone") {
      t.eligible = Eligibility::kAnyone;
    } else {
      return bad(path + ".eligible", "must be \"language\", \"interpreter\" or \"anyone\"");
    }
  }
  const json& c = j["class"];
  if (!c.is_string()) return bad(path + ".class", "must be a class name");
  auto index = rules.class_index(c.get_ref<const std::string&>());
  if (!index) return bad(path + ".class", "no class named \"" + c.get<std::string>() + "\"");
  t.priority_class = *index;
  if (j.contains("timeout_s")) {
    HEARTH_ASSIGN_OR_RETURN(t.timeout_s,
                            get_int(j["timeout_s"], path + ".timeout_s", 1, kMaxSeconds));
  }
  if (j.contains("skip_if_empty")) {
    HEARTH_ASSIGN_OR_RETURN(t.skip_if_empty, get_bool(j["skip_if_empty"], path + ".skip_if_empty"));
  }
  return t;
}

Result<std::vector<Target>> parse_chain(const json& j, const std::string& path,
                                        const Rules& rules) {
  HEARTH_TRY(check_array(j, path, 1, kMaxTargets));
  std::vector<Target> chain;
  for (std::size_t i = 0; i < j.size(); ++i) {
    HEARTH_ASSIGN_OR_RETURN(Target t, parse_target(j[i], at(path, i), rules));
    const bool last = i + 1 == j.size();
    // The last target is where a case waits for as long as it takes: a
    // timeout there would have nowhere to go. Every earlier target needs one,
    // or the targets after it could be reached only when nobody is online.
    if (last && t.timeout_s)
      return bad(at(path, i) + ".timeout_s", "the last target of a chain has no timeout");
    if (!last && !t.timeout_s)
      return bad(at(path, i) + ".timeout_s", "required on every target but the last");
    chain.push_back(std::move(t));
  }
  return chain;
}

Result<Rules> parse_document(const json& j) {
  if (!j.is_object()) return bad("rules", "must be an object");
  HEARTH_TRY(check_object(
      j, "", {"version", "classes", "filters", "default", "outcomes", "away_grace_s", "handle_s"},
      {"version", "classes", "default", "outcomes"}));
  Rules rules;
  HEARTH_ASSIGN_OR_RETURN(std::int64_t version, get_int(j["version"], "version", 1, INT64_MAX));
  rules.version = static_cast<std::uint64_t>(version);

  const json& classes = j["classes"];
  HEARTH_TRY(check_array(classes, "classes", 1, kMaxClasses));
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const std::string path = at("classes", i);
    const json& c = classes[i];
    HEARTH_TRY(check_object(c, path, {"name", "strict", "rate", "target_s"}, {"name", "target_s"}));
    PriorityClass pc;
    HEARTH_ASSIGN_OR_RETURN(pc.name, get_name(c["name"], path + ".name", 32));
    if (rules.class_index(pc.name))
      return bad(path + ".name", "a second class named \"" + pc.name + "\"");
    if (c.contains("strict")) {
      HEARTH_ASSIGN_OR_RETURN(pc.strict, get_bool(c["strict"], path + ".strict"));
    }
    if (c.contains("rate")) {
      const json& r = c["rate"];
      if (!r.is_number() || !std::isfinite(r.get<double>()) || r.get<double>() <= 0 ||
          r.get<double>() > kMaxRate)
        return bad(path + ".rate", "must be a number above 0 and at most 1000000");
      pc.rate = r.get<double>();
    }
    HEARTH_ASSIGN_OR_RETURN(pc.target_s,
                            get_int(c["target_s"], path + ".target_s", 1, kMaxSeconds));
    rules.classes.push_back(std::move(pc));
  }

  if (j.contains("filters")) {
    const json& filters = j["filters"];
    HEARTH_TRY(check_array(filters, "filters", 0, kMaxFilters));
    std::set<std::string> names;
    for (std::size_t i = 0; i < filters.size(); ++i) {
      const std::string path = at("filters", i);
      const json& f = filters[i];
      HEARTH_TRY(check_object(f, path, {"name", "when", "targets"}, {"name", "when", "targets"}));
      Filter filter;
      HEARTH_ASSIGN_OR_RETURN(filter.name, get_name(f["name"], path + ".name", 64));
      if (!names.insert(filter.name).second)
        return bad(path + ".name", "a second filter named \"" + filter.name + "\"");
      HEARTH_ASSIGN_OR_RETURN(filter.when, parse_condition(f["when"], path + ".when"));
      HEARTH_ASSIGN_OR_RETURN(filter.targets, parse_chain(f["targets"], path + ".targets", rules));
      rules.filters.push_back(std::move(filter));
    }
  }

  HEARTH_ASSIGN_OR_RETURN(rules.default_chain, parse_chain(j["default"], "default", rules));

  const json& outcomes = j["outcomes"];
  HEARTH_TRY(check_array(outcomes, "outcomes", 1, kMaxOutcomes));
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    HEARTH_ASSIGN_OR_RETURN(std::string o, get_name(outcomes[i], at("outcomes", i), 32));
    if (rules.has_outcome(o)) return bad(at("outcomes", i), "listed twice");
    rules.outcomes.push_back(std::move(o));
  }

  if (j.contains("away_grace_s")) {
    HEARTH_ASSIGN_OR_RETURN(rules.away_grace_s,
                            get_int(j["away_grace_s"], "away_grace_s", 0, 7 * 86400));
  }
  if (j.contains("handle_s")) {
    HEARTH_ASSIGN_OR_RETURN(rules.handle_s, get_int(j["handle_s"], "handle_s", 1, 86400));
  }
  return rules;
}

}  // namespace

std::string_view eligibility_name(Eligibility e) {
  switch (e) {
    case Eligibility::kLanguage:
      return "language";
    case Eligibility::kInterpreter:
      return "interpreter";
    case Eligibility::kAnyone:
      return "anyone";
  }
  return "anyone";
}

const std::vector<Target>& Rules::chain(std::size_t filter) const {
  if (filter == kDefaultChain || filter >= filters.size()) return default_chain;
  return filters[filter].targets;
}

std::vector<std::string> Rules::queues() const {
  std::set<std::string> all;
  for (const auto& f : filters)
    for (const auto& t : f.targets) all.insert(t.queue);
  for (const auto& t : default_chain) all.insert(t.queue);
  return {all.begin(), all.end()};
}

std::optional<std::size_t> Rules::class_index(std::string_view name) const {
  for (std::size_t i = 0; i < classes.size(); ++i)
    if (classes[i].name == name) return i;
  return std::nullopt;
}

bool Rules::has_outcome(std::string_view outcome) const {
  return std::find(outcomes.begin(), outcomes.end(), outcome) != outcomes.end();
}

Result<Rules> parse_rules(std::string_view text) {
  // No exceptions: a malformed file is an answer, not a crash.
  HEARTH_ASSIGN_OR_RETURN(const json j, json_fields::parse(text, "rules"));
  return parse_document(j);
}

Result<Rules> load_rules(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kNotFound, path + ": cannot be opened");
  std::string text;
  // Read at most one byte past the limit, so a huge file is refused without
  // being read whole.
  text.resize(kMaxRulesFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxRulesFileBytes)
    return error(Code::kInvalidArgument, path + ": larger than 1 MiB");
  return parse_rules(text);
}

}  // namespace hearth::triage
