// Rules: the organization's routing rules, parsed from JSON and validated.
//
// docs/routing.md is the reference for the file; default_rules_json() is the
// shipped default (all nine services). In short:
//
//   {"version": 3,
//    "classes": [{"name": "danger-now", "strict": true, "target_s": 60},
//                {"name": "today", "rate": 4, "target_s": 900}, ...],
//    "filters": [{"name": "danger", "when": {"urgency": ["danger-now"]},
//                 "targets": [{"queue": "immediate-safety", "eligible": "language",
//                              "class": "danger-now", "timeout_s": 30,
//                              "skip_if_empty": true}, ...]}, ...],
//    "default": [{"queue": "counselling", "eligible": "anyone", "class": "today"}],
//    "outcomes": ["referred", "safety-plan", ...],
//    "away_grace_s": 900, "handle_s": 900}
//
// Filters are tried in order and the first whose `when` matches the envelope
// gives the chain of targets; when none matches, `default` does. Every
// condition inside one `when` must hold; a list condition holds when any
// of its values matches. Unknown fields are refused, as in the protocol.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "protocol/messages.h"

namespace hearth::triage {

// Who may take a case while it sits at a target (besides being listed under
// the target's queue on the roster):
//   kLanguage    – the responder's certificate shares a language with the envelope;
//   kInterpreter – anyone on the queue; the case is flagged as needing an
//                  interpreter when no language is shared;
//   kAnyone      – anyone on the queue, no flag.
enum class Eligibility { kLanguage, kInterpreter, kAnyone };
std::string_view eligibility_name(Eligibility e);  // "language", "interpreter", "anyone"

// A priority class. Strict classes are served before every other class, in
// the order they are listed, first come first served within each. The other
// classes accumulate priority while they wait: score = rate × seconds waited,
// highest first, earliest arrival on a tie. `target_s` is the wait the org
// aims for; the supervisor view and the simulator measure against it.
struct PriorityClass {
  std::string name;  // [a-z0-9-]{1,32}
  bool strict = false;
  double rate = 1;           // > 0; ignored for strict classes
  UnixSeconds target_s = 0;  // > 0
};

struct Target {
  std::string queue;  // [a-z0-9-]{1,64}, a roster queue name
  Eligibility eligible = Eligibility::kAnyone;
  std::size_t priority_class = 0;  // index into Rules::classes
  // Seconds at this target before the case moves on to the next one. None:
  // it stays (the last target of a chain must have none).
  std::optional<UnixSeconds> timeout_s;
  // Move on at once when no responder eligible for this target is available.
  bool skip_if_empty = false;
};

// Conditions on the envelope; an empty list or absent value is "any".
struct Condition {
  std::vector<protocol::Urgency> urgency;  // the envelope's urgency is one of these
  std::vector<protocol::Need> needs;       // one of the envelope's needs is one of these
  std::vector<std::string> languages;      // one of the envelope's languages is one of these
  std::optional<protocol::Mode> mode;
  std::vector<std::string> regions;  // the envelope has a region and it is one of these
};

struct Filter {
  std::string name;  // [a-z0-9-]{1,64}, for people and logs
  Condition when;
  std::vector<Target> targets;  // 1..16
};

struct Rules {
  std::uint64_t version = 0;           // >= 1; every decision records it
  std::vector<PriorityClass> classes;  // 1..8
  std::vector<Filter> filters;         // 0..64
  std::vector<Target> default_chain;   // 1..16
  std::vector<std::string> outcomes;   // 1..32, [a-z0-9-]{1,32}: codes a responder closes with
  UnixSeconds away_grace_s = 900;  // a waiting case whose survivor left keeps its place this long
  UnixSeconds handle_s = 900;      // typical minutes a responder spends per case (wait bands)

  // The chain for `filter` (an index into filters, or kDefaultChain).
  const std::vector<Target>& chain(std::size_t filter) const;
  // Every queue named by any target, sorted, without duplicates.
  std::vector<std::string> queues() const;
  std::optional<std::size_t> class_index(std::string_view name) const;
  bool has_outcome(std::string_view outcome) const;
};
inline constexpr std::size_t kDefaultChain = static_cast<std::size_t>(-1);

// Parses and validates. kInvalidArgument with a message that names the field,
// e.g. `filters[2].targets[0].class: no class named "urgent"`. Refuses unknown
// fields, duplicate class or filter names, a class or outcome list that is
// empty, a chain whose last target has a timeout, an earlier target without
// one that is not the last... (docs/routing.md lists every check).
Result<Rules> parse_rules(std::string_view json);
// Reads and parses a file (at most 1 MiB). kNotFound / kInvalidArgument.
Result<Rules> load_rules(const std::string& path);
// The shipped default, as JSON text (parse_rules of it always succeeds).
std::string_view default_rules_json();

}  // namespace hearth::triage
