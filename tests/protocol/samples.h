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
      PowChallengeRequest{},
      RouteRequest{sample_envelope(),
                   {sample_bytes(kPowSeedBytes, 2), sample_bytes(kPowNonceBytes, 3)}},
      OpenCaseRequest{case_id,
                      NewVault{sample_bytes(kLoginIdBytes, 4), sample_bytes(kPublicKeyBytes, 5),
                               sample_bytes(4096, 6)},
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
      ClaimRequest{case_id},
  };
}

// Requests whose optional fields are all left out.
inline std::vector<Request> sample_requests_without_options() {
  RouteEnvelope envelope{{Need::kImmediateSafety}, Urgency::kDangerNow, {"es"}, Mode::kLive, {}};
  return {
      RouteRequest{envelope, {sample_bytes(kPowSeedBytes, 21), sample_bytes(kPowNonceBytes, 22)}},
      OpenCaseRequest{sample_bytes(kCaseIdBytes, 23),
                      std::nullopt,
                      {{sample_bytes(kHashBytes, 24), sample_bytes(1, 25)}}},
      SendRequest{sample_bytes(kCaseIdBytes, 26), sample_bytes(256, 27), std::nullopt},
      UploadPrekeysRequest{std::nullopt, {}},
  };
}

// Every reply, in the order of the Reply variant (index i answers Op i).
inline std::vector<Reply> sample_replies() {
  const Bytes case_id = sample_bytes(kCaseIdBytes, 31);
  return {
      PowChallengeReply{sample_bytes(kPowSeedBytes, 32), 4'294'967'295u},
      RouteReply{case_id,
                 "shelter-east",
                 sample_bytes(2000, 33),
                 {{sample_bytes(400, 34), sample_bytes(110, 35), sample_bytes(40, 36)},
                  {sample_bytes(401, 37), sample_bytes(111, 38), std::nullopt}}},
      OpenCaseReply{1},
      ChallengeReply{sample_bytes(kChallengeBytes, 39)},
      VaultLoginReply{7,
                      sample_bytes(4096, 40),
                      {{case_id, "shelter-east", sample_bytes(kHashBytes, 41)},
                       {sample_bytes(kCaseIdBytes, 42), "legal", std::nullopt}}},
      VaultGetReply{8, sample_bytes(4096, 43)},
      VaultPutReply{9},
      SendReply{12, 10},
      AckReply{},
      DeleteCaseReply{},
      ResponderLoginReply{"ana.m-2", {"shelter-east", "legal"}, sample_bytes(2000, 44), 97, true},
      UploadPrekeysReply{199},
      PresenceReply{},
      ClaimReply{"legal"},
  };
}

inline std::vector<Reply> sample_replies_without_options() {
  return {
      VaultLoginReply{1, sample_bytes(1, 45), {}},
      SendReply{1, std::nullopt},
      ResponderLoginReply{"b", {}, sample_bytes(1, 46), 0, false},
  };
}

// Every event, in the order of the Event variant.
inline std::vector<Event> sample_events() {
  return {
      EnvelopeEvent{sample_bytes(kCaseIdBytes, 51), 3, EnvelopeKind::kIntake,
                    sample_bytes(1100, 52), 1'800'000'000},
      CaseClaimedEvent{sample_bytes(kCaseIdBytes, 53), sample_bytes(kHashBytes, 54)},
      CaseClosedEvent{sample_bytes(kCaseIdBytes, 55)},
  };
}

}  // namespace hearth::protocol::test
