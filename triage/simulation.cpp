// The simulator: a discrete-event loop over the real Dispatcher.
#include "triage/simulation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "protocol/json_fields.h"
#include "triage/dispatcher.h"
#include "triage/engine.h"

namespace hearth::triage {
namespace {

using json = nlohmann::json;

// ---- Scenario files ----

using json_fields::at;
using json_fields::check_object;
Status bad(std::string_view field, std::string_view what) {
  return json_fields::field_error(field, what);
}

Result<double> get_number(const json& j, const std::string& field, double lo, double hi) {
  if (!j.is_number() || !std::isfinite(j.get<double>()) || j.get<double>() < lo ||
      j.get<double>() > hi) {
    std::string range = "[" + json(lo).dump() + ", " + json(hi).dump() + "]";
    return bad(field, "must be a number in " + range);
  }
  return j.get<double>();
}

template <typename T, typename Parse>
Status get_shares(const json& j, const std::string& field, std::string_view kind, Parse parse,
                  std::vector<Share<T>>& out) {
  if (!j.is_object() || j.empty())
    return bad(field, "must be an object of " + std::string(kind) + " → weight");
  for (const auto& item : j.items()) {
    auto value = parse(item.key());
    if (!value) return bad(field + "." + item.key(), "unknown " + std::string(kind));
    Result<double> w = get_number(item.value(), field + "." + item.key(), 0, 1e9);
    if (!w.is_ok()) return w.status();
    out.push_back({*value, *w});
  }
  double total = 0;
  for (const auto& s : out) total += s.weight;
  if (total <= 0) return bad(field, "the weights sum to 0");
  return Status();
}

std::optional<std::string> parse_language(std::string_view s) {
  if (!json_fields::is_language(s)) return std::nullopt;
  return std::string(s);
}

Result<std::vector<std::string>> get_strings(const json& j, const std::string& field) {
  if (!j.is_array() || j.empty() || j.size() > 64)
    return bad(field, "must be a list of 1 to 64 strings");
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty())
      return bad(field, "must be a list of 1 to 64 strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<Scenario> parse_scenario_json(const json& j) {
  if (!j.is_object()) return bad("scenario", "must be an object");
  HEARTH_TRY(
      check_object(j, "",
                   {"name", "hours", "arrivals_per_hour", "urgency", "needs", "second_need",
                    "languages", "async_share", "handle_mean_s", "away_probability", "away_mean_s",
                    "shifts", "tick_s", "seed", "runs"},
                   {"hours", "arrivals_per_hour", "urgency", "needs", "languages", "shifts"}));
  Scenario s;
  if (j.contains("name")) {
    if (!j["name"].is_string()) return bad("name", "must be a string");
    s.name = j["name"].get<std::string>();
  }
  HEARTH_ASSIGN_OR_RETURN(double hours, get_number(j["hours"], "hours", 0.01, 24 * 366));
  s.duration_s = static_cast<UnixSeconds>(std::llround(hours * 3600));
  HEARTH_ASSIGN_OR_RETURN(s.arrivals_per_hour,
                          get_number(j["arrivals_per_hour"], "arrivals_per_hour", 0, 100000));
  HEARTH_TRY(get_shares(j["urgency"], "urgency", "urgency", protocol::parse_urgency, s.urgency));
  HEARTH_TRY(get_shares(j["needs"], "needs", "need", protocol::parse_need, s.needs));
  HEARTH_TRY(get_shares(j["languages"], "languages", "language", parse_language, s.languages));
  if (j.contains("second_need")) {
    HEARTH_ASSIGN_OR_RETURN(s.second_need, get_number(j["second_need"], "second_need", 0, 1));
  }
  if (j.contains("async_share")) {
    HEARTH_ASSIGN_OR_RETURN(s.async_share, get_number(j["async_share"], "async_share", 0, 1));
  }
  if (j.contains("handle_mean_s")) {
    HEARTH_ASSIGN_OR_RETURN(double h, get_number(j["handle_mean_s"], "handle_mean_s", 60, 86400));
    s.handle_mean_s = static_cast<UnixSeconds>(h);
  }
  if (j.contains("away_probability")) {
    HEARTH_ASSIGN_OR_RETURN(s.away_probability,
                            get_number(j["away_probability"], "away_probability", 0, 1));
  }
  if (j.contains("away_mean_s")) {
    HEARTH_ASSIGN_OR_RETURN(double a, get_number(j["away_mean_s"], "away_mean_s", 1, 7 * 86400));
    s.away_mean_s = static_cast<UnixSeconds>(a);
  }
  if (j.contains("tick_s")) {
    HEARTH_ASSIGN_OR_RETURN(double t, get_number(j["tick_s"], "tick_s", 1, 3600));
    s.tick_s = static_cast<UnixSeconds>(t);
  }
  if (j.contains("runs")) {
    HEARTH_ASSIGN_OR_RETURN(double runs, get_number(j["runs"], "runs", 1, 1000));
    s.runs = static_cast<std::size_t>(runs);
  }
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned()) return bad("seed", "must be a non-negative integer");
    s.seed = j["seed"].get<std::uint64_t>();
  }

  const json& shifts = j["shifts"];
  if (!shifts.is_array() || shifts.empty() || shifts.size() > 1000)
    return bad("shifts", "must be a list of 1 to 1000 shifts");
  for (std::size_t i = 0; i < shifts.size(); ++i) {
    const std::string path = at("shifts", i);
    const json& sh = shifts[i];
    HEARTH_TRY(check_object(sh, path,
                            {"id", "count", "queues", "languages", "capacity", "from_h", "until_h"},
                            {"id", "queues", "languages"}));
    if (!sh["id"].is_string() || sh["id"].get_ref<const std::string&>().empty())
      return bad(path + ".id", "must be a non-empty string");
    const std::string id = sh["id"].get<std::string>();
    std::size_t count = 1;
    if (sh.contains("count")) {
      HEARTH_ASSIGN_OR_RETURN(double c, get_number(sh["count"], path + ".count", 1, 1000));
      count = static_cast<std::size_t>(c);
    }
    Shift shift;
    HEARTH_ASSIGN_OR_RETURN(shift.queues, get_strings(sh["queues"], path + ".queues"));
    HEARTH_ASSIGN_OR_RETURN(shift.languages, get_strings(sh["languages"], path + ".languages"));
    if (sh.contains("capacity")) {
      HEARTH_ASSIGN_OR_RETURN(double c, get_number(sh["capacity"], path + ".capacity", 1, 100));
      shift.capacity = static_cast<std::uint32_t>(c);
    }
    double from = 0;
    double until = hours;
    if (sh.contains("from_h")) {
      HEARTH_ASSIGN_OR_RETURN(from, get_number(sh["from_h"], path + ".from_h", 0, 24 * 366));
    }
    if (sh.contains("until_h")) {
      HEARTH_ASSIGN_OR_RETURN(until, get_number(sh["until_h"], path + ".until_h", 0, 24 * 366));
    }
    if (until <= from) return bad(path + ".until_h", "must be after from_h");
    shift.on_from = static_cast<UnixSeconds>(std::llround(from * 3600));
    shift.on_until = static_cast<UnixSeconds>(std::llround(until * 3600));
    for (std::size_t n = 1; n <= count; ++n) {
      shift.id = count == 1 ? id : id + "-" + std::to_string(n);
      s.shifts.push_back(shift);
    }
  }
  return s;
}

// ---- Presets ----

constexpr std::string_view kOverload = R"json({
  "name": "overload",
  "hours": 4,
  "arrivals_per_hour": 52,
  "urgency": {"danger-now": 5, "today": 35, "this-week": 35, "information": 25},
  "needs": {"immediate-safety": 10, "shelter": 20, "medical": 8, "counselling": 20, "legal": 12,
            "immigration": 10, "work-education": 8, "peer-support": 6, "culturally-specific": 6},
  "second_need": 0.2,
  "languages": {"en": 55, "es": 25, "fr": 8, "ar": 7, "uk": 5},
  "async_share": 0.3,
  "handle_mean_s": 900,
  "away_probability": 0.05,
  "away_mean_s": 600,
  "shifts": [
    {"id": "bilingual", "count": 6, "queues": ["*"], "languages": ["en", "es"]},
    {"id": "english", "count": 2, "queues": ["*"], "languages": ["en"]},
    {"id": "french", "queues": ["*"], "languages": ["en", "fr"]},
    {"id": "arabic", "queues": ["*"], "languages": ["ar", "fr"]}
  ],
  "tick_s": 10,
  "seed": 1,
  "runs": 20
})json";

constexpr std::string_view kNormal = R"json({
  "name": "normal",
  "hours": 24,
  "arrivals_per_hour": 12,
  "urgency": {"danger-now": 5, "today": 35, "this-week": 35, "information": 25},
  "needs": {"immediate-safety": 10, "shelter": 20, "medical": 8, "counselling": 20, "legal": 12,
            "immigration": 10, "work-education": 8, "peer-support": 6, "culturally-specific": 6},
  "second_need": 0.2,
  "languages": {"en": 55, "es": 25, "fr": 8, "ar": 7, "uk": 5},
  "async_share": 0.3,
  "handle_mean_s": 900,
  "away_probability": 0.1,
  "away_mean_s": 600,
  "shifts": [
    {"id": "night", "count": 3, "queues": ["*"], "languages": ["en", "es"],
     "from_h": 0, "until_h": 8},
    {"id": "night-fr", "queues": ["*"], "languages": ["en", "fr"], "from_h": 0, "until_h": 8},
    {"id": "day", "count": 4, "queues": ["*"], "languages": ["en", "es"],
     "from_h": 8, "until_h": 16},
    {"id": "day-legal", "queues": ["legal", "immigration", "counselling"],
     "languages": ["en", "es"], "from_h": 8, "until_h": 16},
    {"id": "day-ar", "queues": ["*"], "languages": ["ar", "fr", "en"], "from_h": 8,
     "until_h": 16},
    {"id": "evening", "count": 4, "queues": ["*"], "languages": ["en", "es"],
     "from_h": 16, "until_h": 24},
    {"id": "evening-uk", "queues": ["*"], "languages": ["uk", "en"], "from_h": 16,
     "until_h": 24}
  ],
  "tick_s": 10,
  "seed": 1
})json";

// ---- Deterministic draws (the same on every standard library) ----

class Draw {
 public:
  explicit Draw(std::uint64_t seed) : rng_(seed) {}
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }
  template <typename T>
  const T& pick(const std::vector<Share<T>>& shares) {
    double total = 0;
    for (const auto& s : shares) total += s.weight;
    double x = uniform() * total;
    for (const auto& s : shares) {
      if (x < s.weight) return s.value;
      x -= s.weight;
    }
    return shares.back().value;
  }

 private:
  std::mt19937_64 rng_;
};

// ---- The event loop ----

enum class Kind { kShiftEnd, kCompletion, kShiftStart, kAwayBack, kAway, kArrival, kTick };

struct Event {
  UnixSeconds at = 0;
  Kind kind = Kind::kTick;
  std::uint64_t seq = 0;  // insertion order: ties are deterministic
  std::size_t index = 0;  // shift or case index
  bool operator>(const Event& o) const {
    return std::tie(at, kind, seq) > std::tie(o.at, o.kind, o.seq);
  }
};

struct CaseLog {
  UnixSeconds arrived = 0;
  std::optional<UnixSeconds> taken_at;
  std::size_t priority_class = 0;
  std::string queue;
};

CaseKey key_of(std::size_t i) {
  CaseKey k(8);
  for (std::size_t b = 0; b < 8; ++b) k[7 - b] = static_cast<std::uint8_t>(i >> (8 * b));
  return k;
}

UnixSeconds percentile(const std::vector<UnixSeconds>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest wait with at least p of the cases at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

WaitStats stats(std::string name, UnixSeconds target, std::vector<UnixSeconds> waits,
                std::size_t untaken) {
  std::sort(waits.begin(), waits.end());
  WaitStats w;
  w.name = std::move(name);
  w.target_s = target;
  w.cases = waits.size();
  w.untaken = untaken;
  w.p50 = percentile(waits, 0.50);
  w.p95 = percentile(waits, 0.95);
  w.max = waits.empty() ? 0 : waits.back();
  return w;
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text) {
  HEARTH_ASSIGN_OR_RETURN(const json j, json_fields::parse(text, "scenario"));
  return parse_scenario_json(j);
}

std::optional<std::string_view> preset_scenario_json(std::string_view name) {
  if (name == "overload") return kOverload;
  if (name == "normal") return kNormal;
  return std::nullopt;
}

std::optional<Scenario> preset_scenario(std::string_view name) {
  auto text = preset_scenario_json(name);
  if (!text) return std::nullopt;
  auto s = parse_scenario(*text);
  if (!s.is_ok()) return std::nullopt;  // the presets are tested to parse
  return std::move(s).value();
}

namespace {

// What the runs of one simulation add up.
struct Pool {
  SimulationResult result;
  double work_seconds = 0;
  double capacity_seconds = 0;
  std::vector<std::vector<UnixSeconds>> class_waits;
  std::vector<std::size_t> class_untaken;
  std::map<std::string, std::vector<UnixSeconds>> queue_waits;
  std::map<std::string, std::size_t> queue_untaken;
};

void run_once(const Rules& rules, const Scenario& scenario, std::uint64_t seed, Pool& pool) {
  SimulationResult& result = pool.result;
  Draw draw(seed);
  Dispatcher dispatcher(rules);
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  std::uint64_t seq = 0;
  auto push = [&](UnixSeconds at, Kind kind, std::size_t index) {
    events.push(Event{at, kind, seq++, index});
  };

  // Responders: every shift's person is on the roster from the start (so the
  // intake copies name them), disconnected until their shift begins.
  std::vector<ResponderView> shift_views;
  std::map<std::string, UnixSeconds> idle_since;
  double capacity_seconds = 0;
  for (std::size_t i = 0; i < scenario.shifts.size(); ++i) {
    const Shift& sh = scenario.shifts[i];
    ResponderView v;
    v.id = sh.id;
    v.queues = sh.queues;
    if (v.queues.size() == 1 && v.queues[0] == "*") v.queues = rules.queues();
    v.languages = sh.languages;
    v.capacity = sh.capacity;
    v.available = false;
    shift_views.push_back(v);
    if (!dispatcher.responder(sh.id)) {
      dispatcher.upsert_responder(v);
      dispatcher.responder_gone(sh.id);
    }
    const UnixSeconds from = std::clamp<UnixSeconds>(sh.on_from, 0, scenario.duration_s);
    const UnixSeconds until = std::clamp<UnixSeconds>(sh.on_until, 0, scenario.duration_s);
    capacity_seconds += static_cast<double>(sh.capacity) * static_cast<double>(until - from);
    push(sh.on_from, Kind::kShiftStart, i);
    push(sh.on_until, Kind::kShiftEnd, i);
  }
  for (UnixSeconds t = scenario.tick_s; t <= scenario.duration_s; t += scenario.tick_s)
    push(t, Kind::kTick, 0);

  // Arrivals: a Poisson process, drawn up front.
  std::vector<CaseLog> cases;
  std::vector<protocol::RouteEnvelope> envelopes;
  if (scenario.arrivals_per_hour > 0) {
    const double mean_gap = 3600.0 / scenario.arrivals_per_hour;
    double t = draw.exponential(mean_gap);
    while (t < static_cast<double>(scenario.duration_s)) {
      protocol::RouteEnvelope e;
      e.urgency = draw.pick(scenario.urgency);
      e.needs.push_back(draw.pick(scenario.needs));
      if (draw.uniform() < scenario.second_need) {
        const protocol::Need second = draw.pick(scenario.needs);
        if (second != e.needs[0]) e.needs.push_back(second);
      }
      e.languages.push_back(draw.pick(scenario.languages));
      e.mode =
          draw.uniform() < scenario.async_share ? protocol::Mode::kAsync : protocol::Mode::kLive;
      CaseLog log;
      log.arrived = static_cast<UnixSeconds>(t);
      push(log.arrived, Kind::kArrival, cases.size());
      if (draw.uniform() < scenario.away_probability) {
        const auto away_at = log.arrived + 1 + static_cast<UnixSeconds>(draw.exponential(300));
        push(away_at, Kind::kAway, cases.size());
        push(away_at + 1 +
                 static_cast<UnixSeconds>(
                     draw.exponential(static_cast<double>(scenario.away_mean_s))),
             Kind::kAwayBack, cases.size());
      }
      cases.push_back(log);
      envelopes.push_back(std::move(e));
      t += draw.exponential(mean_gap);
    }
  }

  result.arrivals += cases.size();
  pool.work_seconds +=
      static_cast<double>(cases.size()) * static_cast<double>(scenario.handle_mean_s);
  pool.capacity_seconds += capacity_seconds;
  std::set<std::size_t> waiting;  // case indexes
  std::map<CaseKey, std::size_t> index_of;
  std::set<std::string> on_shift;

  // One responder pulls once. Returns true when they took a case.
  auto pull = [&](const std::string& id, UnixSeconds now) {
    const ResponderView* r = dispatcher.responder(id);
    if (r == nullptr || !r->available || r->load >= r->capacity) return false;
    // The independent check: the best strict case this responder may take.
    dispatcher.tick(now);
    std::optional<std::pair<std::size_t, UnixSeconds>> best_strict;  // (class, arrived)
    std::map<std::size_t, std::size_t> target_of;
    for (std::size_t i : waiting) {
      auto w = dispatcher.waiting(key_of(i));
      if (!w) continue;
      const auto& chain = rules.chain(w->placement.filter);
      const std::size_t at = std::min(w->placement.target, chain.size() - 1);
      target_of[i] = at;
      const std::size_t cls = chain[at].priority_class;
      if (!rules.classes[cls].strict) continue;
      if (std::find(w->offered.begin(), w->offered.end(), id) == w->offered.end()) continue;
      if (!eligible_upto(chain, at, w->envelope, *r)) continue;
      const std::pair<std::size_t, UnixSeconds> p{cls, w->arrived};
      if (!best_strict || p < *best_strict) best_strict = p;
    }
    auto taken = dispatcher.take_next(id, now);
    if (!taken) {
      if (best_strict) ++result.strict_passed_over;
      return false;
    }
    const std::size_t i = index_of.at(taken->key);
    if (best_strict) {
      const bool strict = rules.classes[taken->priority_class].strict;
      const UnixSeconds arrived = now - taken->waited;
      if (!strict || std::pair{taken->priority_class, arrived} > *best_strict)
        ++result.strict_passed_over;
    }
    waiting.erase(i);
    CaseLog& log = cases[i];
    log.taken_at = now;
    log.priority_class = taken->priority_class;
    log.queue = taken->queue;
    if (target_of[i] > 0) ++result.escalated;
    if (taken->interpreter) ++result.interpreter;
    if (now - taken->waited > log.arrived) ++result.lost_place;
    ++result.taken;
    const auto handle = std::max<UnixSeconds>(
        60,
        static_cast<UnixSeconds>(draw.exponential(static_cast<double>(scenario.handle_mean_s))));
    push(now + handle, Kind::kCompletion, i);
    return true;
  };
  // Every free responder pulls, longest idle first, until nobody takes anything.
  auto pull_all = [&](UnixSeconds now) {
    for (bool any = true; any;) {
      any = false;
      std::vector<std::pair<UnixSeconds, std::string>> free;
      for (const std::string& id : on_shift) {
        const ResponderView* r = dispatcher.responder(id);
        if (r && r->available && r->load < r->capacity) free.emplace_back(idle_since[id], id);
      }
      std::sort(free.begin(), free.end());
      for (const auto& [since, id] : free) {
        if (pull(id, now)) {
          any = true;
          idle_since[id] = now;
        }
      }
    }
  };

  while (!events.empty()) {
    const Event ev = events.top();
    if (ev.at > scenario.duration_s) break;
    events.pop();
    const UnixSeconds now = ev.at;
    switch (ev.kind) {
      case Kind::kArrival: {
        const CaseKey k = key_of(ev.index);
        // Intake copies for the preview's candidates, then in by the door
        // hearthd's new cases take (RelayHub::track_case → enter).
        const Decision d = dispatcher.preview(envelopes[ev.index], now);
        dispatcher.enter(k, envelopes[ev.index], std::nullopt, d.candidates, now, now);
        index_of[k] = ev.index;
        waiting.insert(ev.index);
        break;
      }
      case Kind::kCompletion: {
        const CaseKey k = key_of(ev.index);
        if (auto h = dispatcher.holder(k)) idle_since[*h] = now;
        dispatcher.remove(k);
        break;
      }
      case Kind::kShiftStart: {
        ResponderView v = shift_views[ev.index];
        v.available = true;
        dispatcher.upsert_responder(v);
        on_shift.insert(v.id);
        idle_since[v.id] = now;
        break;
      }
      case Kind::kShiftEnd:
        dispatcher.responder_gone(scenario.shifts[ev.index].id);
        on_shift.erase(scenario.shifts[ev.index].id);
        break;
      case Kind::kAway:
        dispatcher.survivor_away(key_of(ev.index), now);
        break;
      case Kind::kAwayBack:
        dispatcher.survivor_back(key_of(ev.index));
        break;
      case Kind::kTick:
        dispatcher.tick(now);
        break;
    }
    pull_all(now);
  }

  // Cases still waiting at the end count with their wait so far.
  const UnixSeconds end = scenario.duration_s;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CaseLog& log = cases[i];
    if (!log.taken_at) {
      auto w = dispatcher.waiting(key_of(i));
      if (!w) continue;
      const auto& chain = rules.chain(w->placement.filter);
      const Target& t = chain[std::min(w->placement.target, chain.size() - 1)];
      log.priority_class = t.priority_class;
      log.queue = t.queue;
      ++result.untaken;
      ++pool.class_untaken[log.priority_class];
      ++pool.queue_untaken[log.queue];
    }
    const UnixSeconds wait = (log.taken_at ? *log.taken_at : end) - log.arrived;
    pool.class_waits[log.priority_class].push_back(wait);
    pool.queue_waits[log.queue].push_back(wait);
  }
}

}  // namespace

Result<SimulationResult> simulate(const Rules& rules, const Scenario& scenario) {
  if (scenario.duration_s <= 0) return bad("hours", "must be above 0");
  if (scenario.urgency.empty() || scenario.needs.empty() || scenario.languages.empty())
    return bad("scenario", "urgency, needs and languages need at least one share each");
  if (scenario.shifts.empty()) return bad("shifts", "at least one shift");
  if (scenario.tick_s <= 0) return bad("tick_s", "must be above 0");
  if (scenario.runs < 1) return bad("runs", "must be at least 1");

  Pool pool;
  pool.class_waits.resize(rules.classes.size());
  pool.class_untaken.resize(rules.classes.size());
  for (const std::string& q : rules.queues()) {
    pool.queue_waits[q];
    pool.queue_untaken[q];
  }
  // Independent runs with consecutive seeds, their waits pooled: one 4-hour
  // window of a small organisation is a noisy sample.
  for (std::size_t run = 0; run < scenario.runs; ++run)
    run_once(rules, scenario, scenario.seed + run, pool);

  SimulationResult result = std::move(pool.result);
  result.offered_load = pool.capacity_seconds > 0 ? pool.work_seconds / pool.capacity_seconds : 0;
  for (std::size_t c = 0; c < rules.classes.size(); ++c)
    result.by_class.push_back(stats(rules.classes[c].name, rules.classes[c].target_s,
                                    std::move(pool.class_waits[c]), pool.class_untaken[c]));
  for (auto& [q, waits] : pool.queue_waits)
    result.by_queue.push_back(stats(q, 0, std::move(waits), pool.queue_untaken[q]));
  return result;
}

}  // namespace hearth::triage
