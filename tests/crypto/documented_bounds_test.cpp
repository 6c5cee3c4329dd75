// The sizes and boundaries docs/crypto.md and docs/client-formats.md state, pinned
// so the pages and the code cannot drift apart: the X3DH header's size, what the
// roster hash covers, validity boundaries and clock skew, and when a skipped
// message key lapses.
#include <catch2/catch.hpp>

#include <string>

#include "crypto/hash.h"
#include "crypto/prekeys.h"
#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "crypto/trust.h"
#include "crypto/x3dh.h"
#include "tests/crypto/org_fixture.h"
#include "tests/support/test_support.h"

namespace hearth::crypto {
namespace {

using test::kNow;

std::string read_doc(const std::string& name) {
  auto text = hearth::test::read_file(hearth::test::docs_dir() / name);
  REQUIRE(text.has_value());
  return *text;
}

X3dhInitiation initiate(const test::Org& org, const test::Responder& r, bool with_opk) {
  auto roster = verify_roster(org.root.public_key(), org.roster(1), kNow).value();
  return x3dh_initiate(roster, r.bundle(with_opk), r.certificate.fields.queues.front(),
                       DhKey::generate(), random_bytes(kCaseIdBytes), kNow)
      .value();
}

TEST_CASE("the X3DH header is 151 bytes, 155 with a one-time prekey id, as documented",
          "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"shelter"}, {"en"}, 1);
  CHECK(initiate(org, ana, false).header.encode().size() == kX3dhHeaderBytes);
  CHECK(initiate(org, ana, true).header.encode().size() == kX3dhHeaderWithOpkBytes);
  CHECK(kX3dhHeaderBytes == 151);
  CHECK(kX3dhHeaderWithOpkBytes == 155);
  const std::string stated = "151 bytes, or 155 with a one-time prekey id";
  CHECK(read_doc("client-formats.md").find(stated) != std::string::npos);
  CHECK(read_doc("crypto.md").find(stated) != std::string::npos);
}

TEST_CASE("the roster hash covers the signed part and signature, not the roster key certificate",
          "[crypto]") {
  test::Org org;
  org.add_responder("ana", {"shelter"}, {"en"}, 1);
  SignedRoster roster = org.roster(1);
  // encode() = lp(roster key certificate) || signed part || signature.
  Bytes encoded = roster.encode();
  const std::size_t rkc = 4 + roster.roster_key_certificate.encode().size();
  ByteView covered = ByteView(encoded).subspan(rkc);
  CHECK(roster.hash() == hash_labelled("HL1/roster-hash", covered));
  // The same roster under a re-issued roster key certificate hashes the same.
  SignedRoster recertified = roster;
  recertified.roster_key_certificate = certify_roster_key(org.root, org.roster_key.public_key(),
                                                          kNow - 7200, kNow + 2 * 365 * 86400);
  CHECK(recertified.encode() != encoded);
  CHECK(recertified.hash() == roster.hash());
}

TEST_CASE("validity: not_before allows 5 minutes of skew, not_after and expires_at are exclusive",
          "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"shelter"}, {"en"}, 1);
  const SigningPublicKey root = org.root.public_key();
  REQUIRE(kClockSkew == 300);

  // Roster: issued_at <= now + 300 and now < expires_at.
  const SignedRoster later = org.roster(1, kNow + 300, kNow + 86400);
  CHECK(verify_roster(root, later, kNow).is_ok());
  CHECK(verify_roster(root, later, kNow - 1).status().code() == Code::kExpired);
  const SignedRoster ending = org.roster(1, kNow - 60, kNow + 10);
  CHECK(verify_roster(root, ending, kNow + 9).is_ok());
  CHECK(verify_roster(root, ending, kNow + 10).status().code() == Code::kExpired);

  // Certificate: not_before <= now + 300 and now < not_after (kNow - 3600 .. kNow + 90 days),
  // under a roster and roster key certificate valid well around both ends.
  org.roster_key_certificate =
      certify_roster_key(org.root, org.roster_key.public_key(), kNow - 86400, kNow + 365 * 86400);
  const SignedRoster wide = org.roster(1, kNow - 7200, kNow + 100 * 86400);
  const UnixSeconds not_before = ana.certificate.fields.not_before;
  const UnixSeconds not_after = ana.certificate.fields.not_after;
  auto standing = [&](UnixSeconds now) {
    auto roster = verify_roster(root, wide, now).value();
    return roster.check_certificate(ana.certificate, now, "shelter").code();
  };
  CHECK(standing(not_before - 300) == Code::kOk);
  CHECK(standing(not_before - 301) == Code::kExpired);
  CHECK(standing(not_after - 1) == Code::kOk);
  CHECK(standing(not_after) == Code::kExpired);

  // Signed prekey: now < expires_at, no skew.
  auto roster = verify_roster(root, wide, kNow).value();
  const UnixSeconds spk_expiry = ana.spk.expires_at;
  CHECK(verify_bundle(roster, ana.bundle(), "shelter", spk_expiry - 1).is_ok());
  CHECK(verify_bundle(roster, ana.bundle(), "shelter", spk_expiry).code() == Code::kExpired);
}

TEST_CASE("a skipped message key lapses on the 5th DH step after the one that stored it",
          "[crypto]") {
  // dh_steps starts at 0 and counts the DH ratchet steps a side takes on
  // receiving a new ratchet key. The responder's first receive is step 1; a
  // key skipped then is stored under step 1 and usable while dh_steps <= 5.
  REQUIRE(kSkippedKeyLifetimeSteps == 4);
  test::Org org;
  auto& ana = org.add_responder("ana", {"shelter"}, {"en"}, 1);
  for (int rounds : {4, 5}) {
    INFO(rounds << " more DH steps");
    X3dhInitiation init = initiate(org, ana, true);
    Ratchet survivor =
        Ratchet::init_initiator(std::move(init.session.shared_key), init.session.associated_data,
                                init.responder_ratchet_key)
            .value();
    Bytes held = survivor.encrypt(as_bytes("held back")).value();
    Bytes next = survivor.encrypt(as_bytes("delivered")).value();
    std::vector<Bytes> rosters = {
        verify_roster(org.root.public_key(), org.roster(1), kNow).value().hash()};
    auto session = x3dh_respond(ana.handshake_keys(init.header), init.header, rosters).value();
    Ratchet responder = Ratchet::init_responder(std::move(session.shared_key),
                                                session.associated_data, ana.spk_private->clone());
    REQUIRE(responder.decrypt(next).is_ok());  // step 1; "held back" is a stored key
    REQUIRE(responder.skipped_key_count() == 1);
    for (int i = 0; i < rounds; ++i) {
      // A reply and an answer: the answer carries a new ratchet key, one more step.
      REQUIRE(survivor.decrypt(responder.encrypt(as_bytes("reply")).value()).is_ok());
      REQUIRE(responder.decrypt(survivor.encrypt(as_bytes("answer")).value()).is_ok());
    }
    auto late = responder.decrypt(held);
    if (rounds == 4) {
      CHECK(late.is_ok());
    } else {
      CHECK_FALSE(late.is_ok());
      CHECK(responder.skipped_key_count() == 0);
    }
  }
}

}  // namespace
}  // namespace hearth::crypto
