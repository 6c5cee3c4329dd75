// Engine: the routing decisions, as pure functions of the rules, the
// envelope, the clock and a snapshot of responder presence.
//
// Nothing here reads a clock, a socket or a file: hearthd and
// `hearth-admin simulate` call the same functions, and the tests drive them
// with whatever time and presence they like.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "protocol/messages.h"
#include "triage/rules.h"

namespace hearth::triage {

// One responder as routing sees them: the queues the roster lists their
// certificate under, the languages it names, and what they said about
// themselves (presence op). `load` is how many open cases they hold now.
struct ResponderView {
  std::string id;
  std::vector<std::string> queues;
  std::vector<std::string> languages;
  bool available = false;  // connected and presence "available"
  std::uint32_t capacity = 1;
  std::uint32_t load = 0;
};

// Does `r`'s certificate name one of the envelope's languages?
bool shares_language(const protocol::RouteEnvelope& envelope, const ResponderView& r);

// May `r` take a case of `envelope` while it sits at `target`? (Listed under
// the queue, and the eligibility holds; presence and load are not considered.)
bool eligible(const Target& target, const protocol::RouteEnvelope& envelope,
              const ResponderView& r);
// Ditto for any target of `chain` up to and including `upto`: escalation
// widens who may take a case, it never narrows it.
bool eligible_upto(const std::vector<Target>& chain, std::size_t upto,
                   const protocol::RouteEnvelope& envelope, const ResponderView& r);

// The index of the first filter whose condition matches, or kDefaultChain.
std::size_t match_filter(const Rules& rules, const protocol::RouteEnvelope& envelope);

// Where a case stands in its chain.
struct Placement {
  std::size_t filter = kDefaultChain;
  std::size_t target = 0;
  UnixSeconds entered = 0;  // when it reached this target (timeouts count from here)
};

// Moves `from` along its chain as far as the rules say at `now`: past every
// target whose timeout has run out (the next one is entered when it did) and
// past every skip_if_empty target for which no responder in `responders` is
// eligible and available (entered now). Never moves back; stops at the last.
Placement advance(const Rules& rules, const protocol::RouteEnvelope& envelope, Placement from,
                  UnixSeconds now, std::span<const ResponderView> responders);

// advance() over an explicit chain (a handed-off case's, see handoff_chain).
Placement advance_chain(const std::vector<Target>& chain, const protocol::RouteEnvelope& envelope,
                        Placement from, UnixSeconds now, std::span<const ResponderView> responders);

// The chain of a case handed off to `queue`: the targets of its normal chain
// (match_filter) whose queue is `queue`, in order; when there is none, one
// target {queue, anyone, the class of its normal chain's first target}. A
// handed-off case waits only in the queue the survivor consented to.
std::vector<Target> handoff_chain(const Rules& rules, const protocol::RouteEnvelope& envelope,
                                  const std::string& queue);

// The decision for a new request arriving at `now`.
struct Decision {
  std::uint64_t rules_version = 0;
  Placement placement;
  std::string queue;  // the current target's queue
  std::size_t priority_class = 0;
  // No language shared with whoever may take it where it is placed: the
  // chain up to its placement has an interpreter target, and none of the
  // responders eligible there (the available ones; everyone eligible when
  // nobody is available) names one of the envelope's languages.
  bool interpreter = false;
  // Everyone who may take it anywhere along the chain (roster-eligible,
  // whatever their presence), best first: language match, then earlier
  // target, then available, then lower load, then id. Intake copies are made
  // for these, so escalation never needs the survivor again.
  std::vector<std::string> candidates;
};
Decision decide(const Rules& rules, const protocol::RouteEnvelope& envelope, UnixSeconds now,
                std::span<const ResponderView> responders);

// Priority of a waiting case at `now`: strict classes by list position
// before every accumulating class; then rate × wait. Compare with
// outranks(); ties go to the earlier arrival.
struct Priority {
  bool strict = false;
  std::size_t strict_rank = 0;  // lower first
  double score = 0;
  UnixSeconds arrived = 0;
};
Priority priority_of(const Rules& rules, std::size_t priority_class, UnixSeconds arrived,
                     UnixSeconds now);
bool outranks(const Priority& a, const Priority& b);

// A coarse wait band for a survivor (protocol::WaitBand): what their client
// shows while they wait: kNobodyOnline when `available` (responders who may
// take it and are available) is 0, else from ceil(position ÷ available) ×
// handle_s. `position` is 1 for the next case to be taken.
protocol::WaitBand wait_band(const Rules& rules, std::size_t position, std::size_t available);

}  // namespace hearth::triage
