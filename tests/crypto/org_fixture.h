// A small organisation for crypto tests: org root, roster key, responders with
// certificates and prekeys, and a signed roster. Everything is generated through
// hearth::crypto's random source, so under a ScopedDeterministicRandom it is
// reproducible byte for byte.
#pragma once

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "crypto/prekeys.h"
#include "crypto/trust.h"
#include "crypto/x3dh.h"

namespace hearth::crypto::test {

inline constexpr UnixSeconds kNow = 1'800'000'000;  // 2027-01-15

struct Responder {
  std::string id;
  SigningKey signing = SigningKey::generate();
  DhKey identity = DhKey::generate();
  ResponderCertificate certificate;
  SignedPrekey spk;
  std::optional<DhKey> spk_private;
  std::vector<std::pair<OneTimePrekey, DhKey>> opks;

  PrekeyBundle bundle(bool with_opk = true) const {
    PrekeyBundle b{certificate, spk, std::nullopt};
    if (with_opk && !opks.empty()) b.one_time_prekey = opks.front().first;
    return b;
  }
  ResponderHandshakeKeys handshake_keys(const X3dhHeader& header) const {
    const DhKey* opk = nullptr;
    for (const auto& [pub, priv] : opks) {
      if (header.one_time_prekey_id == pub.id) opk = &priv;
    }
    return {certificate, identity, *spk_private, opk};
  }
};

struct Org {
  SigningKey root = SigningKey::generate();
  SigningKey roster_key = SigningKey::generate();
  RosterKeyCertificate roster_key_certificate =
      certify_roster_key(root, roster_key.public_key(), kNow - 3600, kNow + 365 * 86400);
  std::deque<Responder> responders;  // a deque: add_responder's references stay valid

  Responder& add_responder(std::string id, std::vector<std::string> queues,
                           std::vector<std::string> languages, std::uint64_t serial) {
    Responder r;
    r.id = id;
    CertificateRequest req{
        std::move(id),           std::move(queues), std::move(languages), r.signing.public_key(),
        r.identity.public_key(), kNow - 3600,       kNow + 90 * 86400,    serial};
    r.certificate = issue_certificate(roster_key, std::move(req)).value();
    auto [spk, spk_private] = generate_signed_prekey(r.signing, 1, kNow + 7 * 86400);
    r.spk = spk;
    r.spk_private = std::move(spk_private);
    r.opks = generate_one_time_prekeys(r.signing, 100, 3);
    responders.push_back(std::move(r));
    return responders.back();
  }

  // A roster listing every responder under each of its certificate's queues.
  SignedRoster roster(std::uint64_t epoch, UnixSeconds issued_at = kNow - 60,
                      UnixSeconds expires_at = kNow + kDefaultRosterLifetime,
                      std::vector<Bytes> revoked = {}) const {
    RosterContents c;
    c.epoch = epoch;
    c.issued_at = issued_at;
    c.expires_at = expires_at;
    c.revoked = std::move(revoked);
    for (const auto& r : responders) {
      for (const auto& q : r.certificate.fields.queues) {
        auto it = std::find_if(c.queues.begin(), c.queues.end(),
                               [&](const RosterQueue& rq) { return rq.queue == q; });
        if (it == c.queues.end()) it = c.queues.insert(c.queues.end(), RosterQueue{q, {}});
        it->certificate_hashes.push_back(r.certificate.hash());
      }
    }
    return sign_roster(roster_key, roster_key_certificate, std::move(c)).value();
  }
};

}  // namespace hearth::crypto::test
