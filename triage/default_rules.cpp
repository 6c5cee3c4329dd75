// The shipped default routing rules (docs/routing.md explains each choice).
//
// Nine services, one queue each, named as the envelope's needs. "danger now"
// goes to immediate-safety whatever the need, in the strict class: language
// match for 30 s, then an interpreter for 30 s, then the counsellors; both
// early steps are skipped at once when nobody who could take it is online.
// Every other request goes to the queue of its most pressing need (the
// filters list the needs in this order: immediate-safety, medical, shelter,
// legal, immigration, counselling, culturally-specific, work-education,
// peer-support) in the class of its urgency: language match (skipped at
// once when no speaker is online), then interpreter, then the counsellors,
// who are the generalists of a small organisation. The accumulating classes' rates
// are inversely proportional to their targets (rate × target = 2.5 h each),
// so under overload every class reaches the same fraction of its target at
// the same time instead of one class absorbing the whole backlog.
#include "triage/rules.h"

namespace hearth::triage {

std::string_view default_rules_json() {
  static constexpr std::string_view kDefault = R"json(
{
  "version": 1,
  "classes": [
    {"name": "danger-now", "strict": true, "target_s": 300},
    {"name": "today", "rate": 5, "target_s": 1800},
    {"name": "this-week", "rate": 1.5, "target_s": 6000},
    {"name": "information", "rate": 1, "target_s": 9000}
  ],
  "filters": [
    {"name": "danger-now", "when": {"urgency": ["danger-now"]}, "targets": [
      {"queue": "immediate-safety", "eligible": "language", "class": "danger-now", "timeout_s": 30, "skip_if_empty": true},
      {"queue": "immediate-safety", "eligible": "interpreter", "class": "danger-now", "timeout_s": 30, "skip_if_empty": true},
      {"queue": "counselling", "eligible": "anyone", "class": "danger-now"}]},
    {"name": "immediate-safety-today", "when": {"urgency": ["today"], "needs": ["immediate-safety"]}, "targets": [
      {"queue": "immediate-safety", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "immediate-safety", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "medical-today", "when": {"urgency": ["today"], "needs": ["medical"]}, "targets": [
      {"queue": "medical", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "medical", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "shelter-today", "when": {"urgency": ["today"], "needs": ["shelter"]}, "targets": [
      {"queue": "shelter", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "shelter", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "legal-today", "when": {"urgency": ["today"], "needs": ["legal"]}, "targets": [
      {"queue": "legal", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "legal", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "immigration-today", "when": {"urgency": ["today"], "needs": ["immigration"]}, "targets": [
      {"queue": "immigration", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "immigration", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "counselling-today", "when": {"urgency": ["today"], "needs": ["counselling"]}, "targets": [
      {"queue": "counselling", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "counselling", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "culturally-specific-today", "when": {"urgency": ["today"], "needs": ["culturally-specific"]}, "targets": [
      {"queue": "culturally-specific", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "culturally-specific", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "work-education-today", "when": {"urgency": ["today"], "needs": ["work-education"]}, "targets": [
      {"queue": "work-education", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "work-education", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "peer-support-today", "when": {"urgency": ["today"], "needs": ["peer-support"]}, "targets": [
      {"queue": "peer-support", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
      {"queue": "peer-support", "eligible": "interpreter", "class": "today", "timeout_s": 600},
      {"queue": "counselling", "eligible": "anyone", "class": "today"}]},
    {"name": "immediate-safety-this-week", "when": {"urgency": ["this-week"], "needs": ["immediate-safety"]}, "targets": [
      {"queue": "immediate-safety", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "immediate-safety", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "medical-this-week", "when": {"urgency": ["this-week"], "needs": ["medical"]}, "targets": [
      {"queue": "medical", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "medical", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "shelter-this-week", "when": {"urgency": ["this-week"], "needs": ["shelter"]}, "targets": [
      {"queue": "shelter", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "shelter", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "legal-this-week", "when": {"urgency": ["this-week"], "needs": ["legal"]}, "targets": [
      {"queue": "legal", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "legal", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "immigration-this-week", "when": {"urgency": ["this-week"], "needs": ["immigration"]}, "targets": [
      {"queue": "immigration", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "immigration", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "counselling-this-week", "when": {"urgency": ["this-week"], "needs": ["counselling"]}, "targets": [
      {"queue": "counselling", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "counselling", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "culturally-specific-this-week", "when": {"urgency": ["this-week"], "needs": ["culturally-specific"]}, "targets": [
      {"queue": "culturally-specific", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "culturally-specific", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "work-education-this-week", "when": {"urgency": ["this-week"], "needs": ["work-education"]}, "targets": [
      {"queue": "work-education", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "work-education", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "peer-support-this-week", "when": {"urgency": ["this-week"], "needs": ["peer-support"]}, "targets": [
      {"queue": "peer-support", "eligible": "language", "class": "this-week", "timeout_s": 900, "skip_if_empty": true},
      {"queue": "peer-support", "eligible": "interpreter", "class": "this-week", "timeout_s": 1800},
      {"queue": "counselling", "eligible": "anyone", "class": "this-week"}]},
    {"name": "immediate-safety-information", "when": {"urgency": ["information"], "needs": ["immediate-safety"]}, "targets": [
      {"queue": "immediate-safety", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "immediate-safety", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "medical-information", "when": {"urgency": ["information"], "needs": ["medical"]}, "targets": [
      {"queue": "medical", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "medical", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "shelter-information", "when": {"urgency": ["information"], "needs": ["shelter"]}, "targets": [
      {"queue": "shelter", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "shelter", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "legal-information", "when": {"urgency": ["information"], "needs": ["legal"]}, "targets": [
      {"queue": "legal", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "legal", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "immigration-information", "when": {"urgency": ["information"], "needs": ["immigration"]}, "targets": [
      {"queue": "immigration", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "immigration", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "counselling-information", "when": {"urgency": ["information"], "needs": ["counselling"]}, "targets": [
      {"queue": "counselling", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "counselling", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "culturally-specific-information", "when": {"urgency": ["information"], "needs": ["culturally-specific"]}, "targets": [
      {"queue": "culturally-specific", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "culturally-specific", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "work-education-information", "when": {"urgency": ["information"], "needs": ["work-education"]}, "targets": [
      {"queue": "work-education", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "work-education", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]},
    {"name": "peer-support-information", "when": {"urgency": ["information"], "needs": ["peer-support"]}, "targets": [
      {"queue": "peer-support", "eligible": "language", "class": "information", "timeout_s": 1800, "skip_if_empty": true},
      {"queue": "peer-support", "eligible": "interpreter", "class": "information", "timeout_s": 3600},
      {"queue": "counselling", "eligible": "anyone", "class": "information"}]}
  ],
  "default": [
    {"queue": "counselling", "eligible": "language", "class": "today", "timeout_s": 300, "skip_if_empty": true},
    {"queue": "counselling", "eligible": "anyone", "class": "today"}
  ],
  "outcomes": ["referred", "safety-plan", "information-given", "emotional-support", "no-further-contact", "abandoned"],
  "away_grace_s": 900,
  "handle_s": 900
}
)json";
  return kDefault;
}

}  // namespace hearth::triage
