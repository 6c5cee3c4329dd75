#include "server/routing.h"

namespace hearth::server {

RoutingDecision route_request(const protocol::RouteEnvelope& envelope,
                              const crypto::VerifiedRoster& roster, UnixSeconds /*now*/) {
  RoutingDecision decision;
  if (envelope.needs.empty()) return decision;
  decision.queue = std::string(protocol::need_name(envelope.needs.front()));
  for (const auto& q : roster.roster().contents.queues) {
    if (q.queue != decision.queue) continue;
    for (const auto& hash : q.certificate_hashes) {
      if (!roster.is_revoked(hash)) decision.candidates.push_back(hash);
    }
  }
  return decision;
}

}  // namespace hearth::server
