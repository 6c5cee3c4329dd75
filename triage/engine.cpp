// The routing decisions: pure functions of rules, envelope, time and presence.
#include "triage/engine.h"

#include <algorithm>
#include <tuple>

namespace hearth::triage {
namespace {

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool matches(const Condition& c, const protocol::RouteEnvelope& e) {
  if (!c.urgency.empty() &&
      std::find(c.urgency.begin(), c.urgency.end(), e.urgency) == c.urgency.end())
    return false;
  if (!c.needs.empty() && std::none_of(e.needs.begin(), e.needs.end(), [&](protocol::Need n) {
        return std::find(c.needs.begin(), c.needs.end(), n) != c.needs.end();
      }))
    return false;
  if (!c.languages.empty() &&
      std::none_of(e.languages.begin(), e.languages.end(),
                   [&](const std::string& l) { return contains(c.languages, l); }))
    return false;
  if (c.mode && *c.mode != e.mode) return false;
  if (!c.regions.empty() && !(e.region && contains(c.regions, *e.region))) return false;
  return true;
}

// The index of the first target of `chain` at which `r` is eligible, or
// chain.size() when there is none.
std::size_t first_eligible(const std::vector<Target>& chain, const protocol::RouteEnvelope& e,
                           const ResponderView& r) {
  for (std::size_t i = 0; i < chain.size(); ++i)
    if (eligible(chain[i], e, r)) return i;
  return chain.size();
}

}  // namespace

bool shares_language(const protocol::RouteEnvelope& envelope, const ResponderView& r) {
  return std::any_of(envelope.languages.begin(), envelope.languages.end(),
                     [&](const std::string& l) { return contains(r.languages, l); });
}

bool eligible(const Target& target, const protocol::RouteEnvelope& envelope,
              const ResponderView& r) {
  if (!contains(r.queues, target.queue)) return false;
  switch (target.eligible) {
    case Eligibility::kLanguage:
      return shares_language(envelope, r);
    case Eligibility::kInterpreter:
    case Eligibility::kAnyone:
      return true;
  }
  return false;
}

bool eligible_upto(const std::vector<Target>& chain, std::size_t upto,
                   const protocol::RouteEnvelope& envelope, const ResponderView& r) {
  for (std::size_t i = 0; i < chain.size() && i <= upto; ++i)
    if (eligible(chain[i], envelope, r)) return true;
  return false;
}

std::size_t match_filter(const Rules& rules, const protocol::RouteEnvelope& envelope) {
  for (std::size_t i = 0; i < rules.filters.size(); ++i)
    if (matches(rules.filters[i].when, envelope)) return i;
  return kDefaultChain;
}

Placement advance_chain(const std::vector<Target>& chain, const protocol::RouteEnvelope& envelope,
                        Placement from, UnixSeconds now,
                        std::span<const ResponderView> responders) {
  Placement p = from;
  if (chain.empty()) return p;
  if (p.target >= chain.size()) p.target = chain.size() - 1;
  while (p.target + 1 < chain.size()) {
    const Target& t = chain[p.target];
    if (t.timeout_s && now >= p.entered + *t.timeout_s) {
      // The next target is entered when the timeout ran out, not when we
      // noticed: a late tick must not stretch the chain.
      p.entered += *t.timeout_s;
      ++p.target;
      continue;
    }
    if (t.skip_if_empty &&
        std::none_of(responders.begin(), responders.end(), [&](const ResponderView& r) {
          return r.available && eligible(t, envelope, r);
        })) {
      p.entered = std::max(p.entered, now);
      ++p.target;
      continue;
    }
    break;
  }
  return p;
}

Placement advance(const Rules& rules, const protocol::RouteEnvelope& envelope, Placement from,
                  UnixSeconds now, std::span<const ResponderView> responders) {
  return advance_chain(rules.chain(from.filter), envelope, from, now, responders);
}

std::vector<Target> handoff_chain(const Rules& rules, const protocol::RouteEnvelope& envelope,
                                  const std::string& queue) {
  const std::vector<Target>& normal = rules.chain(match_filter(rules, envelope));
  std::vector<Target> chain;
  for (const Target& t : normal)
    if (t.queue == queue) chain.push_back(t);
  if (chain.empty()) {
    Target t;
    t.queue = queue;
    t.eligible = Eligibility::kAnyone;
    t.priority_class = normal.empty() ? 0 : normal.front().priority_class;
    chain.push_back(std::move(t));
  }
  // Only the last target may wait for ever; the filtered chain's last one
  // may carry a timeout, which advance() ignores at the end of a chain.
  return chain;
}

Decision decide(const Rules& rules, const protocol::RouteEnvelope& envelope, UnixSeconds now,
                std::span<const ResponderView> responders) {
  Decision d;
  d.rules_version = rules.version;
  const std::size_t filter = match_filter(rules, envelope);
  const std::vector<Target>& chain = rules.chain(filter);
  d.placement = advance(rules, envelope, Placement{filter, 0, now}, now, responders);
  if (chain.empty()) return d;  // parse_rules never lets this happen
  const Target& at = chain[d.placement.target];
  d.queue = at.queue;
  d.priority_class = at.priority_class;

  const bool interpreter_target = std::any_of(
      chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(d.placement.target) + 1,
      [](const Target& t) { return t.eligible == Eligibility::kInterpreter; });
  if (interpreter_target) {
    bool any_available = false;
    bool shared_available = false;
    bool shared_any = false;
    for (const ResponderView& r : responders) {
      if (!eligible_upto(chain, d.placement.target, envelope, r)) continue;
      const bool shared = shares_language(envelope, r);
      shared_any = shared_any || shared;
      if (r.available) {
        any_available = true;
        shared_available = shared_available || shared;
      }
    }
    d.interpreter = any_available ? !shared_available : !shared_any;
  }

  // Everyone eligible anywhere along the chain, best first.
  struct Ranked {
    bool language;
    std::size_t first;
    bool available;
    std::uint32_t load;
    const std::string* id;
  };
  std::vector<Ranked> ranked;
  for (const ResponderView& r : responders) {
    const std::size_t first = first_eligible(chain, envelope, r);
    if (first == chain.size()) continue;
    ranked.push_back({shares_language(envelope, r), first, r.available, r.load, &r.id});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    return std::make_tuple(!a.language, a.first, !a.available, a.load, std::cref(*a.id)) <
           std::make_tuple(!b.language, b.first, !b.available, b.load, std::cref(*b.id));
  });
  for (const Ranked& r : ranked) {
    if (d.candidates.empty() || d.candidates.back() != *r.id) d.candidates.push_back(*r.id);
  }
  return d;
}

Priority priority_of(const Rules& rules, std::size_t priority_class, UnixSeconds arrived,
                     UnixSeconds now) {
  Priority p;
  p.arrived = arrived;
  if (priority_class >= rules.classes.size()) return p;  // unknown: lowest, score 0
  const PriorityClass& c = rules.classes[priority_class];
  if (c.strict) {
    p.strict = true;
    p.strict_rank = priority_class;  // list position: earlier classes first
    return p;
  }
  p.score = c.rate * static_cast<double>(std::max<UnixSeconds>(0, now - arrived));
  return p;
}

bool outranks(const Priority& a, const Priority& b) {
  if (a.strict != b.strict) return a.strict;
  if (a.strict) {
    if (a.strict_rank != b.strict_rank) return a.strict_rank < b.strict_rank;
  } else if (a.score != b.score) {
    return a.score > b.score;
  }
  return a.arrived < b.arrived;
}

protocol::WaitBand wait_band(const Rules& rules, std::size_t position, std::size_t available) {
  if (available == 0) return protocol::WaitBand::kNobodyOnline;
  const std::size_t rounds = (std::max<std::size_t>(position, 1) + available - 1) / available;
  const auto estimate = static_cast<UnixSeconds>(rounds) * rules.handle_s;
  if (estimate <= 5 * 60) return protocol::WaitBand::kMinutes;
  if (estimate <= 15 * 60) return protocol::WaitBand::kQuarterHour;
  if (estimate <= 60 * 60) return protocol::WaitBand::kHour;
  return protocol::WaitBand::kHours;
}

}  // namespace hearth::triage
