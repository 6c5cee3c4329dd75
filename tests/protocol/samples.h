// Valid protocol structs with non-trivial values: one of every request, reply
// and event (and a few with optional fields left out), for the codec tests and
// the protocol fuzz target's starting points.
//
// Thread safety: pure functions returning fresh values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/messages.h"

namespace hearth::protocol::test {

// `n` bytes that differ from each other and from another field's (`seed`).
inline Bytes sample_bytes(std::size_t n, std::uint8_t seed) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(seed + 31 * i);
  return out;
}

inline RouteEnvelope sample_envelope() {
  return {{Need::kShelter, Need::kLegal},
          Urgency::kThisWeek,
          {"en", "fr", "ar"},
          Mode::kAsync,
          "north-2"};
}

// Every request, in the order of the Request variant (index i is Op i).
inline std::vector<Request> sample_requests() {
  const Bytes case_id = sample_bytes(kCaseIdBytes, 1);
  return {
      PowChallengeRequest{Urgency::kDangerNow},
      RouteRequest{sample_envelope(),
                   {sample_bytes(kPowChallengeBytes, 2), sample_bytes(kPowNonceBytes, 3)}},
      OpenCaseRequest{case_id,
                      NewVault{sample_bytes(kLoginIdBytes, 4), sample_bytes(kPublicKeyBytes, 5),
                               sample_bytes(kSignatureBytes, 75), sample_bytes(4096, 6)},
                      {{sample_bytes(kHashBytes, 7), sample_bytes(1100, 8)},
                       {sample_bytes(kHashBytes, 9), sample_bytes(1100, 10)}}},
      ChallengeRequest{},
      VaultLoginRequest{sample_bytes(kLoginIdBytes, 11), sample_bytes(kSignatureBytes, 12)},
      VaultGetRequest{},
      VaultPutRequest{{41, sample_bytes(8192, 13)}},
      SendRequest{case_id, sample_bytes(300, 14), VaultPut{42, sample_bytes(4096, 15)}},
      AckRequest{case_id, 9'007'199'254'740'993},
      DeleteCaseRequest{case_id},
      ResponderLoginRequest{sample_bytes(400, 16), sample_bytes(kSignatureBytes, 17)},
      UploadPrekeysRequest{sample_bytes(110, 18), {sample_bytes(40, 19), sample_bytes(40, 20)}},
      PresenceRequest{Presence::kAway, 50},
      TakeNextRequest{},
      HandoffRequest{case_id, "immigration"},
      HandoffOfferRequest{case_id},
      HandoffAcceptRequest{case_id,
                           HandoffShare::kSummary,
                           {{sample_bytes(kHashBytes, 28), sample_bytes(1100, 29)},
                            {sample_bytes(kHashBytes, 30), sample_bytes(1100, 56)}}},
      HandoffDeclineRequest{case_id},
      CloseCaseRequest{case_id, "safety-plan"},
      QueueHealthRequest{},
      DismissWaitingRequest{1'800'000'000, 1'800'003'600, "shelter", true},
  };
}

// Requests whose optional fields are all left out.
inline std::vector<Request> sample_requests_without_options() {
  RouteEnvelope envelope{{Need::kImmediateSafety}, Urgency::kDangerNow, {"es"}, Mode::kLive, {}};
  return {
      RouteRequest{envelope,
                   {sample_bytes(kPowChallengeBytes, 21), sample_bytes(kPowNonceBytes, 22)}},
      OpenCaseRequest{sample_bytes(kCaseIdBytes, 23),
                      std::nullopt,
                      {{sample_bytes(kHashBytes, 24), sample_bytes(1, 25)}}},
      SendRequest{sample_bytes(kCaseIdBytes, 26), sample_bytes(256, 27), std::nullopt},
      UploadPrekeysRequest{std::nullopt, {}},
      HandoffAcceptRequest{sample_bytes(kCaseIdBytes, 57),
                           HandoffShare::kNewOnly,
                           {{sample_bytes(kHashBytes, 58), sample_bytes(1, 59)}}},
      DismissWaitingRequest{std::nullopt, std::nullopt, std::nullopt, false},
  };
}

// Every reply, in the order of the Reply variant (index i answers Op i).
inline std::vector<Reply> sample_replies() {
  const Bytes case_id = sample_bytes(kCaseIdBytes, 31);
  return {
      PowChallengeReply{sample_bytes(kPowChallengeBytes, 32), 4'294'967'295u, 90},
      RouteReply{case_id,
                 "shelter-east",
                 sample_bytes(2000, 33),
                 {{sample_bytes(400, 34), sample_bytes(110, 35), sample_bytes(40, 36)},
                  {sample_bytes(401, 37), sample_bytes(111, 38), std::nullopt}}},
      OpenCaseReply{1},
      ChallengeReply{sample_bytes(kChallengeBytes, 39)},
      VaultLoginReply{7,
                      sample_bytes(4096, 40),
                      {{case_id, "shelter-east", sample_bytes(kHashBytes, 41), "legal", false},
                       {sample_bytes(kCaseIdBytes, 42), "legal", std::nullopt, std::nullopt, false},
                       {sample_bytes(kCaseIdBytes, 47), "medical", sample_bytes(kHashBytes, 48),
                        std::nullopt, true}}},
      VaultGetReply{8, sample_bytes(4096, 43)},
      VaultPutReply{9},
      SendReply{12, 10},
      AckReply{},
      DeleteCaseReply{},
      ResponderLoginReply{"ana.m-2",
                          {"shelter-east", "legal"},
                          {"referred", "safety-plan", "no-contact"},
                          sample_bytes(2000, 44),
                          97,
                          true},
      UploadPrekeysReply{199},
      PresenceReply{},
      TakeNextReply{TakenCase{case_id, "legal", "danger-now", sample_envelope(), true, 86'400}},
      HandoffReply{},
      HandoffOfferReply{"immigration",
                        sample_bytes(2000, 60),
                        {{sample_bytes(400, 61), sample_bytes(110, 62), sample_bytes(40, 63)},
                         {sample_bytes(401, 64), sample_bytes(111, 65), std::nullopt}}},
      HandoffAcceptReply{},
      HandoffDeclineReply{},
      CloseCaseReply{},
      QueueHealthReply{
          {{"immediate-safety", {{"danger-now", 2, 75, 60}}, 1, 3, 1, 2},
           {"legal", {{"today", 0, 0, 900}, {"this-week", 5, 7200, 86'400}}, 4, 0, 9, 12}}},
      DismissWaitingReply{1000, 37},
  };
}

inline std::vector<Reply> sample_replies_without_options() {
  return {
      VaultLoginReply{1, sample_bytes(1, 45), {}},
      SendReply{1, std::nullopt},
      ResponderLoginReply{"b", {}, {}, sample_bytes(1, 46), 0, false},
      TakeNextReply{std::nullopt},
      TakeNextReply{
          TakenCase{sample_bytes(kCaseIdBytes, 66),
                    "counselling",
                    "information",
                    {{Need::kCounselling}, Urgency::kInformation, {"uk"}, Mode::kLive, {}},
                    false,
                    0}},
      HandoffOfferReply{
          "legal", sample_bytes(1, 67), {{sample_bytes(1, 68), sample_bytes(1, 69), {}}}},
      QueueHealthReply{{}},
      QueueHealthReply{{{"legal", {}, 0, 0, 0, 0}}},
  };
}

// Every event, in the order of the Event variant.
inline std::vector<Event> sample_events() {
  return {
      EnvelopeEvent{sample_bytes(kCaseIdBytes, 51), 3, EnvelopeKind::kIntake,
                    sample_bytes(1100, 52), 1'800'000'000},
      CaseClaimedEvent{sample_bytes(kCaseIdBytes, 53), sample_bytes(kHashBytes, 54)},
      CaseClosedEvent{sample_bytes(kCaseIdBytes, 55), CloseReason::kHandedOff},
      QueueStatusEvent{sample_bytes(kCaseIdBytes, 70), 2, WaitBand::kQuarterHour},
      WaitingEvent{7, 2},
      HandoffProposedEvent{sample_bytes(kCaseIdBytes, 71), "immigration"},
      HandoffDeclinedEvent{sample_bytes(kCaseIdBytes, 72)},
  };
}

// Events with every enum value not used above, and counts at zero.
inline std::vector<Event> sample_events_other_values() {
  return {
      CaseClosedEvent{sample_bytes(kCaseIdBytes, 73), CloseReason::kDeleted},
      CaseClosedEvent{sample_bytes(kCaseIdBytes, 73), CloseReason::kClosed},
      QueueStatusEvent{sample_bytes(kCaseIdBytes, 74), 1, WaitBand::kMinutes},
      QueueStatusEvent{sample_bytes(kCaseIdBytes, 74), 3, WaitBand::kHour},
      QueueStatusEvent{sample_bytes(kCaseIdBytes, 74), 40, WaitBand::kHours},
      QueueStatusEvent{sample_bytes(kCaseIdBytes, 74), 9, WaitBand::kNobodyOnline},
      WaitingEvent{0, 0},
  };
}

}  // namespace hearth::protocol::test
