#include "tests/integration/support/test_org.h"

#include <algorithm>
#include <stdexcept>

namespace hearth::test {

TestOrg::TestOrg(UnixSeconds t)
    : now(t),
      roster_key_certificate(
          crypto::certify_roster_key(root, roster_key.public_key(), t - 86400, t + 365 * 86400)) {}

TestResponder& TestOrg::add_responder(std::string id, std::vector<std::string> queues,
                                      std::optional<UnixSeconds> not_before,
                                      std::optional<UnixSeconds> not_after, std::size_t opks,
                                      std::vector<std::string> languages) {
  TestResponder r;
  r.id = id;
  crypto::CertificateRequest req{std::move(id),
                                 std::move(queues),
                                 std::move(languages),
                                 r.signing.public_key(),
                                 r.identity.public_key(),
                                 not_before.value_or(now - 3600),
                                 not_after.value_or(now + 90 * 86400),
                                 responders.size() + 1};
  auto cert = crypto::issue_certificate(roster_key, std::move(req));
  if (!cert.is_ok()) throw std::runtime_error("issue_certificate: " + cert.status().to_string());
  r.certificate = std::move(*cert);
  auto [spk, spk_private] = crypto::generate_signed_prekey(r.signing, 1, now + 7 * 86400);
  r.spk = spk;
  r.spk_private = std::move(spk_private);
  r.opks = crypto::generate_one_time_prekeys(r.signing, 100, opks);
  responders.push_back(std::move(r));
  return responders.back();
}

crypto::SignedRoster TestOrg::roster(std::uint64_t epoch, std::vector<Bytes> revoked,
                                     std::optional<UnixSeconds> expires_at) const {
  crypto::RosterContents c;
  c.epoch = epoch;
  c.issued_at = now - 60;
  c.expires_at = expires_at.value_or(now + crypto::kDefaultRosterLifetime);
  c.revoked = std::move(revoked);
  for (const auto& r : responders) {
    for (const auto& q : r.certificate.fields.queues) {
      auto it = std::find_if(c.queues.begin(), c.queues.end(),
                             [&](const crypto::RosterQueue& rq) { return rq.queue == q; });
      if (it == c.queues.end()) it = c.queues.insert(c.queues.end(), crypto::RosterQueue{q, {}});
      it->certificate_hashes.push_back(r.certificate.hash());
    }
  }
  auto signed_roster = crypto::sign_roster(roster_key, roster_key_certificate, std::move(c));
  if (!signed_roster.is_ok())
    throw std::runtime_error("sign_roster: " + signed_roster.status().to_string());
  return std::move(*signed_roster);
}

}  // namespace hearth::test
