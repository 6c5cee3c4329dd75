// The admin's org directory (admin/org.h) and the responder's half of
// enrolment (clients/lib/enrollment.h), called directly: every refusal the
// tools rely on, and the rosters they sign, checked the way clients check them.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "admin/org.h"
#include "clients/lib/enrollment.h"
#include "common/clock.h"
#include "common/file_lock.h"
#include "crypto/encoding.h"
#include "crypto/sodium_init.h"
#include "tests/support/test_support.h"

using namespace hearth;
using admin::EnrollParams;
using admin::Org;
using client::EnrollmentCertificate;
using client::KeyRequest;
using hearth::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPassphrase = "a passphrase for tests";

admin::InitOptions init_options() {
  admin::InitOptions o;
  o.name = "Test org";
  o.port = 0;
  o.metrics_port = 0;
  return o;
}

EnrollParams params(std::vector<std::string> queues = {"legal"}) {
  EnrollParams p;
  p.queues = std::move(queues);
  p.languages = {"en"};
  return p;
}

KeyRequest fresh_request(const std::string& id) {
  auto signing = crypto::SigningKey::generate();
  auto dh = crypto::DhKey::generate();
  auto req = client::make_key_request(signing, dh, id);
  REQUIRE(req.is_ok());
  return *req;
}

crypto::VerifiedRoster verified(const Org& org, UnixSeconds now) {
  auto last = org.last_roster();
  REQUIRE(last.is_ok());
  REQUIRE(last->has_value());
  auto root = org.root_public_key();
  REQUIRE(root.is_ok());
  auto v = crypto::verify_roster(*root, **last, now);
  REQUIRE(v.is_ok());
  return *v;
}

}  // namespace

TEST_CASE("key requests: round trip, fingerprint, and refusals", "[admin]") {
  crypto::ensure_initialized();
  KeyRequest req = fresh_request("maria");
  auto parsed = KeyRequest::parse("Hi, here is my request:\n" + req.armoured() + "thanks\n");
  REQUIRE(parsed.is_ok());
  CHECK(parsed->responder_id == "maria");
  CHECK(parsed->signing_key == req.signing_key);
  CHECK(parsed->dh_key == req.dh_key);
  CHECK(parsed->fingerprint() == crypto::fingerprint(req.signing_key));

  CHECK(KeyRequest::parse("hello").status().code() == Code::kInvalidArgument);
  CHECK(KeyRequest::parse("-----BEGIN HEARTH KEY REQUEST-----\n!!!\n").status().code() ==
        Code::kInvalidArgument);
  // A request whose id was changed in transit no longer verifies.
  KeyRequest changed = req;
  changed.responder_id = "mallory";
  CHECK(KeyRequest::decode(changed.encode()).status().code() == Code::kAuthFailed);
  // Another key pasted in: the signature binds the DH key.
  KeyRequest swapped = req;
  swapped.dh_key = crypto::DhKey::generate().public_key();
  CHECK(KeyRequest::parse(swapped.armoured()).status().code() == Code::kAuthFailed);
  Bytes truncated = req.encode();
  truncated.pop_back();
  CHECK(KeyRequest::decode(truncated).status().code() == Code::kInvalidArgument);
  auto bad_id = client::make_key_request(crypto::SigningKey::generate(), crypto::DhKey::generate(),
                                         "Maria Lopez");
  CHECK(bad_id.status().code() == Code::kInvalidArgument);
}

TEST_CASE("init refuses an existing org, and makes the server's files", "[admin]") {
  TempDir tmp;
  const UnixSeconds now = SystemClock().now();
  auto org = Org::init(tmp.path() / "o", init_options(), now);
  REQUIRE(org.is_ok());
  CHECK(fs::exists(tmp.path() / "o" / "server" / "data" / "master.key"));
  auto again = Org::init(tmp.path() / "o", init_options(), now);
  CHECK(again.status().code() == Code::kAlreadyExists);
  auto state = org->load();
  REQUIRE(state.is_ok());
  CHECK(state->name == "Test org");
  CHECK(state->roster_epoch == 0);
  CHECK(Org(tmp.path() / "nothing").load().status().code() == Code::kNotFound);
  admin::InitOptions bad = init_options();
  bad.address = "hearth.example.org";
  CHECK(Org::init(tmp.path() / "p", bad, now).status().code() == Code::kInvalidArgument);
  CHECK_FALSE(fs::exists(tmp.path() / "p" / "org"));
}

TEST_CASE("enrol, sign, revoke, renew: the rosters as a client sees them", "[admin]") {
  TempDir tmp;
  const UnixSeconds now = SystemClock().now();
  auto org = Org::init(tmp.path() / "o", init_options(), now);
  REQUIRE(org.is_ok());

  SECTION("renew before any roster is signed is refused") {
    CHECK(org->renew_roster(14, now).status().code() == Code::kNotFound);
  }
  SECTION("revoking an unknown id is refused; revoking twice too") {
    CHECK(org->revoke("nobody", now).code() == Code::kNotFound);
    REQUIRE(org->enroll(fresh_request("ana"), params(), now).is_ok());
    CHECK(org->revoke("ana", now).is_ok());
    CHECK(org->revoke("ana", now).code() == Code::kAlreadyExists);
  }
  SECTION("bad parameters are refused before anything is certified") {
    KeyRequest req = fresh_request("ana");
    CHECK(org->enroll(req, params({}), now).status().code() == Code::kInvalidArgument);
    CHECK(org->enroll(req, params({"Legal Aid"}), now).status().code() == Code::kInvalidArgument);
    EnrollParams p = params();
    p.languages = {"english"};
    CHECK(org->enroll(req, p, now).status().code() == Code::kInvalidArgument);
    p = params();
    p.valid_days = 0;
    CHECK(org->enroll(req, p, now).status().code() == Code::kInvalidArgument);
    p = params();
    p.id = "Not An Id";
    CHECK(org->enroll(req, p, now).status().code() == Code::kInvalidArgument);
    CHECK(org->sign_roster(0, now).status().code() == Code::kInvalidArgument);
    CHECK(org->sign_roster(91, now).status().code() == Code::kInvalidArgument);
    CHECK(org->load()->responders.empty());
  }
  SECTION("one active certificate per id, and keys are certified once") {
    KeyRequest req = fresh_request("ana");
    REQUIRE(org->enroll(req, params(), now).is_ok());
    CHECK(org->enroll(fresh_request("ana"), params(), now).status().code() == Code::kAlreadyExists);
    EnrollParams other = params();
    other.id = "ana2";
    CHECK(org->enroll(req, other, now).status().code() == Code::kAlreadyExists);
    // After a revocation the id may be enrolled again with new keys.
    REQUIRE(org->revoke("ana", now).is_ok());
    auto again = org->enroll(fresh_request("ana"), params(), now);
    REQUIRE(again.is_ok());
    CHECK(again->certificate.fields.serial == 2);
  }
  SECTION("the full cycle") {
    auto maria = org->enroll(fresh_request("maria"), params({"legal", "counselling"}), now);
    EnrollParams jo_params = params({"legal"});
    jo_params.id = "jo";  // the admin's choice over the requested id
    auto jo = org->enroll(fresh_request("joanna"), jo_params, now);
    REQUIRE(maria.is_ok());
    REQUIRE(jo.is_ok());
    CHECK(jo->certificate.fields.responder_id == "jo");
    auto root = org->root_public_key();
    REQUIRE(root.is_ok());
    CHECK(maria
              ->check(*root, maria->certificate.fields.signing_key,
                      maria->certificate.fields.dh_key, now)
              .is_ok());

    auto first = org->sign_roster(14, now);
    REQUIRE(first.is_ok());
    CHECK(first->responders == 2);
    auto v1 = verified(*org, now);
    CHECK(v1.epoch() == 1);
    CHECK(v1.expires_at() == now + 14 * admin::kDay);
    CHECK(v1.check_certificate(maria->certificate, now, "counselling").is_ok());
    CHECK(v1.check_certificate(jo->certificate, now, "legal").is_ok());
    CHECK(v1.check_certificate(jo->certificate, now, "counselling").code() == Code::kNotFound);
    // The server's copy is the admin's copy.
    CHECK(test::read_file(org->server_roster_path()) ==
          test::read_file(org->org_dir() / "roster.bin"));

    REQUIRE(org->revoke("jo", now).is_ok());
    auto second = org->sign_roster(7, now);
    REQUIRE(second.is_ok());
    CHECK(second->responders == 1);
    CHECK(second->revoked == 1);
    auto v2 = verified(*org, now);
    CHECK(v2.epoch() == 2);
    CHECK(v2.roster().contents.previous_hash == v1.hash());
    CHECK(v2.is_revoked(jo->certificate.hash()));
    CHECK(v2.queues_of(jo->certificate.hash()).empty());
    CHECK(v2.check_certificate(maria->certificate, now).is_ok());
    // A client that pinned epoch 1 accepts epoch 2.
    auto last = org->last_roster();
    CHECK(crypto::verify_roster(*root, **last, now, v1.pin()).is_ok());

    // A new enrolment after the last roster does not change what renew signs.
    REQUIRE(org->enroll(fresh_request("sam"), params(), now).is_ok());
    auto third = org->renew_roster(30, now + 3600);
    REQUIRE(third.is_ok());
    auto v3 = verified(*org, now + 3600);
    CHECK(v3.epoch() == 3);
    CHECK(v3.expires_at() == now + 3600 + 30 * admin::kDay);
    REQUIRE(v3.roster().contents.queues.size() == v2.roster().contents.queues.size());
    for (std::size_t i = 0; i < v3.roster().contents.queues.size(); ++i) {
      CHECK(v3.roster().contents.queues[i].queue == v2.roster().contents.queues[i].queue);
      CHECK(v3.roster().contents.queues[i].certificate_hashes ==
            v2.roster().contents.queues[i].certificate_hashes);
    }
    CHECK(v3.roster().contents.revoked == v2.roster().contents.revoked);
    CHECK(v3.roster().contents.previous_hash == v2.hash());
    CHECK(third->responders == 1);
    CHECK(org->load()->roster_epoch == 3);
  }
}

TEST_CASE("the org state file round-trips and refuses damage", "[admin]") {
  TempDir tmp;
  const UnixSeconds now = SystemClock().now();
  auto org = Org::init(tmp.path() / "o", init_options(), now);
  REQUIRE(org.is_ok());
  REQUIRE(org->enroll(fresh_request("ana"), params(), now).is_ok());
  REQUIRE(org->revoke("ana", now + 5).is_ok());
  auto state = org->load();
  REQUIRE(state.is_ok());
  auto again = admin::OrgState::from_json(state->to_json());
  REQUIRE(again.is_ok());
  CHECK(again->to_json() == state->to_json());
  REQUIRE(again->responders.size() == 1);
  CHECK(again->responders[0].revoked_at == now + 5);
  CHECK(admin::OrgState::from_json("{").status().code() == Code::kCorrupt);
  CHECK(admin::OrgState::from_json(R"({"format": 1, "name": "x"})").status().code() ==
        Code::kCorrupt);
}

TEST_CASE("a change to the org waits for another command's change to finish", "[admin]") {
  TempDir tmp;
  const UnixSeconds now = SystemClock().now();
  auto org = Org::init(tmp.path() / "o", init_options(), now);
  REQUIRE(org.is_ok());
  REQUIRE(org->enroll(fresh_request("ana"), params(), now).is_ok());
  {
    // Another hearth-admin, in the middle of its own change.
    auto busy = FileLock::acquire(org->org_dir() / "org.lock", "held by the test");
    REQUIRE(busy.is_ok());
    auto refused = [](const Status& s) {
      INFO(s.to_string());
      return s.code() == Code::kUnavailable &&
             s.message().find("another hearth-admin command is changing the organisation") !=
                 std::string::npos;
    };
    CHECK(refused(org->enroll(fresh_request("ben"), params(), now).status()));
    CHECK(refused(org->revoke("ana", now)));
    CHECK(refused(org->sign_roster(7, now).status()));
    CHECK(refused(org->renew_roster(7, now).status()));
    // Nothing changed meanwhile.
    auto state = org->load();
    REQUIRE(state.is_ok());
    REQUIRE(state->responders.size() == 1);
    CHECK_FALSE(state->responders[0].revoked_at.has_value());
  }
  // Once it has finished, the same changes go through.
  CHECK(org->enroll(fresh_request("ben"), params(), now).is_ok());
  CHECK(org->revoke("ana", now).is_ok());
  CHECK(org->sign_roster(7, now).is_ok());
}

TEST_CASE("the responder's install refuses a certificate for other keys or another org",
          "[admin]") {
  TempDir tmp;
  const UnixSeconds now = SystemClock().now();
  auto org = Org::init(tmp.path() / "o", init_options(), now);
  auto other_org = Org::init(tmp.path() / "other", init_options(), now);
  REQUIRE(org.is_ok());
  REQUIRE(other_org.is_ok());
  auto root = org->root_public_key();
  auto other_root = other_org->root_public_key();
  REQUIRE(root.is_ok());
  REQUIRE(other_root.is_ok());

  const fs::path a = tmp.path() / "a";
  const fs::path b = tmp.path() / "b";
  auto req_a = client::begin_enrollment(a, kPassphrase, "ana");
  auto req_b = client::begin_enrollment(b, kPassphrase, "bo");
  REQUIRE(req_a.is_ok());
  REQUIRE(req_b.is_ok());
  CHECK(client::begin_enrollment(a, kPassphrase, "ana").status().code() == Code::kAlreadyExists);
  CHECK(client::begin_enrollment(tmp.path() / "c", "short", "cy").status().code() ==
        Code::kInvalidArgument);
  auto pending = client::pending_key_request(a, kPassphrase);
  REQUIRE(pending.is_ok());
  CHECK(pending->encode() != Bytes());
  CHECK(pending->signing_key == req_a->signing_key);
  CHECK(client::read_pending_keys(a, "not the passphrase").status().code() == Code::kAuthFailed);

  auto cert_a = org->enroll(*req_a, params(), now);
  REQUIRE(cert_a.is_ok());
  // The file survives its armour.
  auto parsed = EnrollmentCertificate::parse(cert_a->armoured());
  REQUIRE(parsed.is_ok());
  CHECK(parsed->certificate.encode() == cert_a->certificate.encode());
  CHECK(EnrollmentCertificate::parse(req_a->armoured()).status().code() == Code::kInvalidArgument);

  // A's certificate handed to B: other keys. B's pending keys stay.
  auto wrong_keys = client::complete_enrollment(b, kPassphrase, *parsed, *root, now);
  CHECK(wrong_keys.status().code() == Code::kInvalidArgument);
  CHECK_THAT(wrong_keys.status().message(), Catch::Matchers::Contains("other keys"));
  CHECK(fs::exists(b / client::kPendingKeysFileName));
  CHECK_FALSE(fs::exists(b / client::ResponderStore::kStoreFileName));

  // Pinned to another org's root: refused, nothing installed.
  auto wrong_root = client::complete_enrollment(a, kPassphrase, *parsed, *other_root, now);
  CHECK(wrong_root.status().code() == Code::kAuthFailed);
  CHECK(fs::exists(a / client::kPendingKeysFileName));
  // A certificate from another org's roster key, even pinned to that org: the
  // chain holds but here it is B's keys certified by the other org, and A asks.
  auto cert_b_other = other_org->enroll(*req_b, params(), now);
  REQUIRE(cert_b_other.is_ok());
  CHECK(client::complete_enrollment(a, kPassphrase, *cert_b_other, *other_root, now)
            .status()
            .code() == Code::kInvalidArgument);
  // Outside its validity.
  CHECK(client::complete_enrollment(a, kPassphrase, *parsed, *root, now + 400 * admin::kDay)
            .status()
            .code() == Code::kExpired);
  // Wrong passphrase.
  CHECK(client::complete_enrollment(a, "not the passphrase", *parsed, *root, now).status().code() ==
        Code::kAuthFailed);

  // The right one: the store opens with the passphrase and holds the keys.
  auto store = client::complete_enrollment(a, kPassphrase, *parsed, *root, now);
  REQUIRE(store.is_ok());
  CHECK_FALSE(fs::exists(a / client::kPendingKeysFileName));
  auto signing = (*store)->signing_key();
  REQUIRE(signing.is_ok());
  CHECK(signing->public_key() == req_a->signing_key);
  CHECK((*store)->state().org_root == *root);
  store->reset();
  CHECK(client::ResponderStore::open(a, kPassphrase).is_ok());
  CHECK(client::read_pending_keys(a, kPassphrase).status().code() == Code::kNotFound);
  CHECK(client::complete_enrollment(a, kPassphrase, *parsed, *root, now).status().code() ==
        Code::kAlreadyExists);
}
