// Org trust: roster and certificate verification, and the signature domain
// separation between every signed structure (reference/crypto.md P4, P6, P17).
#include <catch2/catch.hpp>

#include "crypto/prekeys.h"
#include "crypto/trust.h"
#include "tests/crypto/org_fixture.h"

namespace hearth::crypto {
namespace {

using test::kNow;

TEST_CASE("a well-formed roster verifies and lists its responders", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal", "immigration"}, {"es", "en"}, 1);
  SignedRoster roster = org.roster(1);
  auto verified = verify_roster(org.root.public_key(), roster, kNow);
  REQUIRE(verified.is_ok());
  REQUIRE(verified->check_certificate(ana.certificate, kNow, "legal").is_ok());
  REQUIRE(verified->check_certificate(ana.certificate, kNow).is_ok());
  REQUIRE(verified->check_certificate(ana.certificate, kNow, "shelter").code() == Code::kNotFound);
  REQUIRE(verified->queues_of(ana.certificate.hash()) ==
          std::vector<std::string>{"legal", "immigration"});

  // Encodings round-trip exactly.
  REQUIRE(SignedRoster::decode(roster.encode())->encode() == roster.encode());
  REQUIRE(ResponderCertificate::decode(ana.certificate.encode())->hash() == ana.certificate.hash());
}

TEST_CASE("forged, expired and rolled-back rosters are rejected", "[crypto]") {
  test::Org org;
  org.add_responder("ana", {"legal"}, {"en"}, 1);
  SignedRoster roster = org.roster(5);
  const SigningPublicKey root = org.root.public_key();

  SECTION("signed by another org's root") {
    test::Org other;
    REQUIRE(verify_roster(other.root.public_key(), roster, kNow).status().code() ==
            Code::kAuthFailed);
  }
  SECTION("a roster key the root never certified") {
    SigningKey rogue = SigningKey::generate();
    SignedRoster forged =
        sign_roster(rogue, roster.roster_key_certificate, roster.contents).value();
    REQUIRE(verify_roster(root, forged, kNow).status().code() == Code::kAuthFailed);
  }
  SECTION("contents changed after signing") {
    SignedRoster tampered = roster;
    tampered.contents.expires_at += 86400;
    REQUIRE(verify_roster(root, tampered, kNow).status().code() == Code::kAuthFailed);
    Bytes enc = roster.encode();
    for (std::size_t i = 0; i < enc.size(); ++i) {
      Bytes flipped = enc;
      flipped[i] ^= 0x01;
      auto decoded = SignedRoster::decode(flipped);
      if (decoded.is_ok()) REQUIRE_FALSE(verify_roster(root, *decoded, kNow).is_ok());
    }
  }
  SECTION("expired") {
    REQUIRE(verify_roster(root, roster, kNow + kDefaultRosterLifetime).status().code() ==
            Code::kExpired);
    SignedRoster future = org.roster(5, kNow + 3600);
    REQUIRE(verify_roster(root, future, kNow).status().code() == Code::kExpired);
  }
  SECTION("roster key certificate expired") {
    org.roster_key_certificate =
        certify_roster_key(org.root, org.roster_key.public_key(), kNow - 7200, kNow - 3600);
    REQUIRE(verify_roster(root, org.roster(5), kNow).status().code() == Code::kExpired);
  }
  SECTION("rolled back below the pinned epoch") {
    RosterPin pin = verify_roster(root, org.roster(6), kNow)->pin();
    REQUIRE(verify_roster(root, roster, kNow, pin).status().code() == Code::kReplay);
    REQUIRE(verify_roster(root, org.roster(7), kNow, pin).is_ok());
  }
  SECTION("a second roster for the same epoch is a split view") {
    RosterPin pin = verify_roster(root, roster, kNow)->pin();
    SignedRoster fork = org.roster(5, kNow - 30);
    REQUIRE(verify_roster(root, fork, kNow, pin).status().code() == Code::kConflict);
    REQUIRE(verify_roster(root, roster, kNow, pin).is_ok());
  }
}

TEST_CASE("certificates: unlisted, revoked, expired or self-made are refused", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  const SigningPublicKey root = org.root.public_key();

  SECTION("not on the roster") {
    auto roster = verify_roster(root, org.roster(1), kNow).value();
    test::Org other_org;
    auto& stranger = other_org.add_responder("eve", {"legal"}, {"en"}, 9);
    // Signed by another roster key: not ours.
    REQUIRE(roster.check_certificate(stranger.certificate, kNow).code() == Code::kAuthFailed);
    // Signed by our roster key but never listed.
    CertificateRequest req = ana.certificate.fields;
    req.serial = 2;
    auto unlisted = issue_certificate(org.roster_key, req).value();
    REQUIRE(roster.check_certificate(unlisted, kNow).code() == Code::kNotFound);
  }
  SECTION("revoked") {
    auto roster =
        verify_roster(root, org.roster(2, kNow - 60, kNow + 86400, {ana.certificate.hash()}), kNow)
            .value();
    REQUIRE(roster.check_certificate(ana.certificate, kNow).code() == Code::kAuthFailed);
    REQUIRE(roster.is_revoked(ana.certificate.hash()));
  }
  SECTION("expired") {
    // A roster that outlives the certificate, so the certificate's own dates decide.
    auto roster = verify_roster(root, org.roster(1, kNow - 60, kNow + 200 * 86400), kNow).value();
    REQUIRE(roster.check_certificate(ana.certificate, kNow + 89 * 86400).is_ok());
    REQUIRE(roster.check_certificate(ana.certificate, kNow + 91 * 86400).code() == Code::kExpired);
  }
  SECTION("a roster kept past its expiry vouches for nobody") {
    // Regression: a VerifiedRoster kept in memory must not outlive its roster,
    // or certificates revoked since would still be accepted.
    auto roster = verify_roster(root, org.roster(1), kNow).value();
    REQUIRE(roster.check_certificate(ana.certificate, kNow + kDefaultRosterLifetime + 1).code() ==
            Code::kExpired);
  }
  SECTION("negative times are refused") {
    CertificateRequest req = ana.certificate.fields;
    req.not_before = -5;
    REQUIRE(issue_certificate(org.roster_key, req).status().code() == Code::kInvalidArgument);
  }
  SECTION("one key for both signing and DH is never certified") {
    CertificateRequest req = ana.certificate.fields;
    std::copy(req.signing_key.bytes.begin(), req.signing_key.bytes.end(), req.dh_key.bytes.begin());
    REQUIRE(issue_certificate(org.roster_key, req).status().code() == Code::kInvalidArgument);
  }
  SECTION("names are validated") {
    CertificateRequest req = ana.certificate.fields;
    req.languages = {"eng"};
    REQUIRE_FALSE(issue_certificate(org.roster_key, req).is_ok());
    req.languages = {"en"};
    req.queues = {"Legal Aid"};
    REQUIRE_FALSE(issue_certificate(org.roster_key, req).is_ok());
    req.queues = {"legal"};
    req.responder_id = "";
    REQUIRE_FALSE(issue_certificate(org.roster_key, req).is_ok());
  }
}

TEST_CASE("no signature verifies under another structure's label", "[crypto]") {
  // reference/crypto.md P6: with one key signing everything, each signature
  // must verify only as the structure it was made for.
  SigningKey key = SigningKey::generate();
  DhKey dh = DhKey::generate();
  auto [spk, spk_priv] = generate_signed_prekey(key, 7, test::kNow);
  auto opks = generate_one_time_prekeys(key, 7, 1);
  const OneTimePrekey& opk = opks.front().first;
  RosterKeyCertificate rkc = certify_roster_key(key, key.public_key(), 1, 2);
  ResponderCertificate cert =
      issue_certificate(key, {"ana", {"legal"}, {"en"}, key.public_key(), dh.public_key(), 1, 2, 7})
          .value();
  SignedRoster roster = sign_roster(key, rkc, {7, Bytes(32, 0), 1, 2, {}, {}}).value();

  std::vector<std::pair<Bytes, Signature>> signed_items = {
      {spk.signed_part(), spk.signature},       {opk.signed_part(), opk.signature},
      {rkc.signed_part(), rkc.signature},       {cert.signed_part(), cert.signature},
      {roster.signed_part(), roster.signature},
  };
  for (std::size_t i = 0; i < signed_items.size(); ++i) {
    for (std::size_t j = 0; j < signed_items.size(); ++j) {
      bool ok =
          verify_signature(key.public_key(), signed_items[i].first, signed_items[j].second).is_ok();
      REQUIRE(ok == (i == j));
    }
  }
  // A server that picks its "challenge" equal to a structure's signed bytes
  // still gets a login answer that does not verify as that structure.
  for (const auto& [signed_part, signature] : signed_items) {
    REQUIRE_FALSE(
        verify_signature(key.public_key(), signed_part, sign_responder_login(key, signed_part))
            .is_ok());
  }
}

TEST_CASE("a responder login answers one challenge with one certificate's key", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  auto& ben = org.add_responder("ben", {"legal"}, {"en"}, 2);
  const Bytes challenge(32, 0x5a);
  const Signature sig = sign_responder_login(ana.signing, challenge);
  REQUIRE(verify_responder_login(ana.certificate, challenge, sig).is_ok());
  // Another certificate, another challenge, a flipped bit, a short challenge.
  REQUIRE(verify_responder_login(ben.certificate, challenge, sig).code() == Code::kAuthFailed);
  Bytes other = challenge;
  other[31] ^= 1;
  REQUIRE(verify_responder_login(ana.certificate, other, sig).code() == Code::kAuthFailed);
  Signature flipped = sig;
  flipped.bytes[0] ^= 1;
  REQUIRE(verify_responder_login(ana.certificate, challenge, flipped).code() == Code::kAuthFailed);
  REQUIRE(verify_responder_login(ana.certificate, ByteView(challenge).first(15), sig).code() ==
          Code::kInvalidArgument);
}

TEST_CASE("decoders reject truncated and padded encodings", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Bytes cert = ana.certificate.encode();
  Bytes roster = org.roster(1).encode();
  for (std::size_t n = 0; n < cert.size(); n += 7) {
    REQUIRE_FALSE(ResponderCertificate::decode(ByteView(cert).first(n)).is_ok());
  }
  for (std::size_t n = 0; n < roster.size(); n += 5) {
    REQUIRE_FALSE(SignedRoster::decode(ByteView(roster).first(n)).is_ok());
  }
  cert.push_back(0);
  REQUIRE_FALSE(ResponderCertificate::decode(cert).is_ok());
}

}  // namespace
}  // namespace hearth::crypto
