// TestOrg: an organisation for tests (org root, roster key, responders with
// certificates and prekeys, signed rosters) with validity windows around the
// time it is made for: real time for the integration tests, as hearthd checks
// against the system clock; a ManualClock's for the server's unit tests
// (tests/server/hub_fixture.h). Its own library, hearth_test_org. Unlike
// tests/crypto/org_fixture.h (fixed time, for reproducible vectors).
//
// Thread safety: a plain value; use from one thread.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "crypto/prekeys.h"
#include "crypto/trust.h"

namespace hearth::test {

struct TestResponder {
  std::string id;
  crypto::SigningKey signing = crypto::SigningKey::generate();
  crypto::DhKey identity = crypto::DhKey::generate();
  crypto::ResponderCertificate certificate;
  crypto::SignedPrekey spk;
  std::optional<crypto::DhKey> spk_private;
  std::vector<std::pair<crypto::OneTimePrekey, crypto::DhKey>> opks;

  Bytes certificate_bytes() const { return certificate.encode(); }
  Bytes certificate_hash() const { return certificate.hash(); }
};

class TestOrg {
 public:
  explicit TestOrg(UnixSeconds now = SystemClock().now());

  // Certifies a responder valid [not_before, not_after] (default: an hour ago
  // to 90 days on), with a signed prekey (7 days) and `opks` one-time prekeys.
  TestResponder& add_responder(std::string id, std::vector<std::string> queues,
                               std::optional<UnixSeconds> not_before = std::nullopt,
                               std::optional<UnixSeconds> not_after = std::nullopt,
                               std::size_t opks = 5, std::vector<std::string> languages = {"en"});

  // A roster listing every responder under each of its queues (revoked ones
  // too: revocation is a separate list).
  crypto::SignedRoster roster(std::uint64_t epoch, std::vector<Bytes> revoked = {},
                              std::optional<UnixSeconds> expires_at = std::nullopt) const;

  UnixSeconds now;
  crypto::SigningKey root = crypto::SigningKey::generate();
  crypto::SigningKey roster_key = crypto::SigningKey::generate();
  crypto::RosterKeyCertificate roster_key_certificate;
  std::deque<TestResponder> responders;  // a deque: references stay valid
};

}  // namespace hearth::test
