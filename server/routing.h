// Routing: which queue a triage envelope goes to and who may be offered it.
//
// Version 1 is deliberately simple: the queue is the first need's name, and
// the candidates are the certificates the roster lists under that queue and
// does not revoke. Issue 5 replaces this with the org's rules engine; every
// caller goes through route_request() so that change stays in one place.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/trust.h"
#include "protocol/messages.h"

namespace hearth::server {

struct RoutingDecision {
  std::string queue;
  std::vector<Bytes> candidates;  // certificate hashes, in roster order
};

// The decision for `envelope` under `roster` at `now`. The handler still checks
// each candidate's certificate (validity at `now`) and prekeys.
RoutingDecision route_request(const protocol::RouteEnvelope& envelope,
                              const crypto::VerifiedRoster& roster, UnixSeconds now);

}  // namespace hearth::server
