// ResponderStore: create, open, wrong passphrase, atomic writes, file modes,
// the lock, and the state encoding round trip.
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "clients/lib/responder_store.h"
#include "crypto/prekeys.h"
#include "crypto/random.h"
#include "tests/crypto/org_fixture.h"
#include "tests/support/test_support.h"

namespace hearth::client {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kPassphrase = "correct horse battery";

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

struct Fixture {
  test::TempDir tmp;
  fs::path dir = tmp.path() / "responder";
  crypto::test::Org org;
  crypto::test::Responder& responder = org.add_responder("ana", {"shelter"}, {"en"}, 1);

  std::unique_ptr<ResponderStore> create() {
    return ResponderStore::create(dir, kPassphrase, responder.signing, responder.identity,
                                  responder.certificate.encode(), org.root.public_key())
        .value();
  }
  // This responder's keys with fill()'s contents, as a state outside any store.
  ResponderState filled_state();
};

TEST_CASE("a created store opens with its passphrase and holds the keys", "[client]") {
  Fixture f;
  {
    auto store = f.create();
    CHECK(store->signing_key()->public_key() == f.responder.signing.public_key());
    CHECK(store->dh_key()->public_key() == f.responder.identity.public_key());
  }
  CHECK(mode_of(f.dir) == 0700);
  CHECK(mode_of(f.dir / ResponderStore::kStoreFileName) == 0600);
  auto opened = ResponderStore::open(f.dir, kPassphrase);
  REQUIRE(opened.is_ok());
  auto& store = *opened.value();
  CHECK(store.signing_key()->public_key() == f.responder.signing.public_key());
  CHECK(store.dh_key()->public_key() == f.responder.identity.public_key());
  CHECK(store.certificate()->hash() == f.responder.certificate.hash());
  CHECK(store.state().org_root == f.org.root.public_key());
  CHECK_FALSE(store.state().roster_pin.has_value());
  CHECK(store.state().cases.empty());
}

TEST_CASE("a wrong passphrase is auth_failed with a clear message", "[client]") {
  Fixture f;
  f.create().reset();
  auto wrong = ResponderStore::open(f.dir, "not the passphrase");
  REQUIRE_FALSE(wrong.is_ok());
  CHECK(wrong.status().code() == Code::kAuthFailed);
  CHECK(wrong.status().message().find("passphrase") != std::string::npos);
}

TEST_CASE("a modified store file is refused", "[client]") {
  Fixture f;
  f.create().reset();
  fs::path file = f.dir / ResponderStore::kStoreFileName;
  std::string bytes = test::read_file(file).value();
  bytes[bytes.size() / 2] ^= 0x01;
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  CHECK(ResponderStore::open(f.dir, kPassphrase).status().code() == Code::kAuthFailed);

  // The clear header is authenticated too (it is the associated data).
  std::string header_changed = test::read_file(file).value();
  header_changed[bytes.size() / 2] ^= 0x01;  // restore the body
  header_changed[20] ^= 0x01;                // a salt byte
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << header_changed;
  }
  CHECK(ResponderStore::open(f.dir, kPassphrase).status().code() == Code::kAuthFailed);

  std::ofstream(file, std::ios::binary | std::ios::trunc) << "not a store at all, just text";
  CHECK(ResponderStore::open(f.dir, kPassphrase).status().code() == Code::kInvalidArgument);
}

TEST_CASE("create refuses a short passphrase, foreign keys and an existing store", "[client]") {
  Fixture f;
  CHECK(ResponderStore::create(f.dir, "short", f.responder.signing, f.responder.identity,
                               f.responder.certificate.encode(), f.org.root.public_key())
            .status()
            .code() == Code::kInvalidArgument);
  crypto::SigningKey other = crypto::SigningKey::generate();
  CHECK(ResponderStore::create(f.dir, kPassphrase, other, f.responder.identity,
                               f.responder.certificate.encode(), f.org.root.public_key())
            .status()
            .code() == Code::kInvalidArgument);
  Bytes garbage(40, 1);
  CHECK(ResponderStore::create(f.dir, kPassphrase, f.responder.signing, f.responder.identity,
                               garbage, f.org.root.public_key())
            .status()
            .code() == Code::kInvalidArgument);
  f.create().reset();
  CHECK(ResponderStore::create(f.dir, kPassphrase, f.responder.signing, f.responder.identity,
                               f.responder.certificate.encode(), f.org.root.public_key())
            .status()
            .code() == Code::kAlreadyExists);
  CHECK(ResponderStore::open(f.tmp.path() / "nothing-here", kPassphrase).status().code() ==
        Code::kNotFound);
}

TEST_CASE("only one program opens a store at a time", "[client]") {
  Fixture f;
  auto first = f.create();
  auto second = ResponderStore::open(f.dir, kPassphrase);
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().code() == Code::kUnavailable);
  first.reset();
  CHECK(ResponderStore::open(f.dir, kPassphrase).is_ok());
}

TEST_CASE("a store readable by others is refused", "[client]") {
  Fixture f;
  f.create().reset();
  fs::path file = f.dir / ResponderStore::kStoreFileName;
  fs::permissions(file, fs::perms::group_read, fs::perm_options::add);
  auto opened = ResponderStore::open(f.dir, kPassphrase);
  CHECK(opened.status().code() == Code::kInvalidArgument);
  CHECK(opened.status().message().find("chmod 600") != std::string::npos);
}

// Routing fields as take_next gives them, every optional part present.
CaseRouting sample_routing() {
  CaseRouting r;
  r.priority_class = "danger-now";
  r.envelope.needs = {protocol::Need::kShelter, protocol::Need::kLegal};
  r.envelope.urgency = protocol::Urgency::kDangerNow;
  r.envelope.languages = {"es", "en"};
  r.envelope.mode = protocol::Mode::kAsync;
  r.envelope.region = "north";
  r.interpreter = true;
  r.waited_s = 125;
  return r;
}

ResponderState& fill(ResponderState& s, crypto::test::Responder& r) {
  s.roster_pin = crypto::RosterPin{4, Bytes(32, 0x44)};
  s.accepted_rosters = {Bytes(32, 0x43), Bytes(32, 0x44)};
  auto [spk, spk_private] = crypto::generate_signed_prekey(r.signing, 5, 1'800'000'000);
  s.signed_prekeys.push_back(
      {5, 1'799'000'000, 1'800'000'000, true, spk_private.private_key().clone()});
  s.next_signed_prekey_id = 6;
  for (auto& [opk, priv] : crypto::generate_one_time_prekeys(r.signing, 10, 3))
    s.one_time_prekeys.push_back({opk.id, opk.id != 12, priv.private_key().clone()});
  s.next_one_time_prekey_id = 13;
  ResponderCase c;
  c.case_id = Bytes(16, 0x07);
  c.queue = "shelter";
  c.claimed = true;
  c.ratchet = crypto::random_secret(200);
  c.received_seq = 9;
  append_bounded(c.transcript, {Author::kSurvivor, 60, {1, "hello"}});
  append_bounded(c.transcript, {Author::kResponder, 120, {1, "hi, I am here"}});
  c.routing = sample_routing();
  s.cases.push_back(std::move(c));
  ResponderCase offered;
  offered.case_id = Bytes(16, 0x08);
  offered.ratchet = crypto::random_secret(150);
  offered.received_seq = 1;
  s.cases.push_back(std::move(offered));
  s.seen_ephemerals.emplace_back(5, crypto::DhKey::generate().public_key());
  return s;
}

ResponderState Fixture::filled_state() {
  ResponderState s;
  s.signing_seed = responder.signing.seed();
  s.dh_private = responder.identity.private_key().clone();
  s.certificate = responder.certificate.encode();
  s.org_root = org.root.public_key();
  return std::move(fill(s, responder));
}

TEST_CASE("saved state comes back whole after reopening", "[client]") {
  Fixture f;
  {
    auto store = f.create();
    fill(store->state(), f.responder);
    REQUIRE(store->save().is_ok());
  }
  // Nothing but the store and its lock is left in the directory (no temporary files).
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(f.dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"responder.lock", "responder.store"});

  auto store = ResponderStore::open(f.dir, kPassphrase).value();
  const ResponderState& s = store->state();
  REQUIRE(s.roster_pin.has_value());
  CHECK(s.roster_pin->epoch == 4);
  CHECK(s.accepted_rosters.size() == 2);
  REQUIRE(s.signed_prekeys.size() == 1);
  CHECK(s.signed_prekeys[0].id == 5);
  CHECK(s.signed_prekeys[0].created_at == 1'799'000'000);
  CHECK(s.signed_prekeys[0].uploaded);
  CHECK(s.next_signed_prekey_id == 6);
  REQUIRE(s.one_time_prekeys.size() == 3);
  CHECK_FALSE(s.one_time_prekeys[2].uploaded);
  CHECK(s.next_one_time_prekey_id == 13);
  REQUIRE(s.cases.size() == 2);
  CHECK(s.cases[0].claimed);
  CHECK(s.cases[0].queue == "shelter");
  CHECK(s.cases[0].received_seq == 9);
  CHECK(s.cases[0].ratchet.size() == 200);
  REQUIRE(s.cases[0].transcript.size() == 2);
  CHECK(s.cases[0].transcript[1].plaintext.payload == "hi, I am here");
  CHECK(s.cases[0].transcript[1].author == Author::kResponder);
  CHECK(s.cases[0].routing == sample_routing());
  CHECK_FALSE(s.cases[1].claimed);
  CHECK_FALSE(s.cases[1].routing.has_value());
  CHECK(s.cases[1].queue.empty());
  CHECK(s.seen_ephemerals.size() == 1);
  CHECK(s.find(Bytes(16, 0x08)) != nullptr);
  CHECK(mode_of(f.dir / ResponderStore::kStoreFileName) == 0600);
}

TEST_CASE("responder state decoding refuses truncation and trailing bytes", "[client]") {
  Fixture f;
  ResponderState s = f.filled_state();
  crypto::SecretBytes encoded = s.encode().value();
  REQUIRE(ResponderState::decode(encoded.view()).is_ok());
  for (std::size_t n = 0; n < encoded.size(); n += 11) {
    CHECK_FALSE(ResponderState::decode(encoded.view().first(n)).is_ok());
  }
  Bytes longer(encoded.view().begin(), encoded.view().end());
  longer.push_back(0);
  CHECK(ResponderState::decode(longer).status().code() == Code::kInvalidArgument);
  s.cases[0].case_id.pop_back();
  CHECK(s.encode().status().code() == Code::kInvalidArgument);
}

TEST_CASE("private notes are saved with their case and come back after reopening", "[client]") {
  Fixture f;
  {
    auto store = f.create();
    fill(store->state(), f.responder);
    ResponderCase& c = store->state().cases[0];
    REQUIRE(add_note(c, 1'799'000'040, "asked about the passport; follow up").is_ok());
    REQUIRE(add_note(c, 1'799'000'100, "habla español — prefiere la tarde").is_ok());
    REQUIRE(store->save().is_ok());
  }
  // The notes are inside the encrypted contents: not in the file in the clear.
  std::string file = test::read_file(f.dir / ResponderStore::kStoreFileName).value();
  CHECK(file.find("passport") == std::string::npos);

  auto store = ResponderStore::open(f.dir, kPassphrase).value();
  const ResponderState& s = store->state();
  REQUIRE(s.cases.size() == 2);
  REQUIRE(s.cases[0].notes.size() == 2);
  CHECK(s.cases[0].notes[0].minute == 1'799'000'040);
  CHECK(s.cases[0].notes[0].text == "asked about the passport; follow up");
  CHECK(s.cases[0].notes[1].text == "habla español — prefiere la tarde");
  CHECK(s.cases[1].notes.empty());
  // clone() carries them (a failed save rolls back to a clone).
  CHECK(s.clone().cases[0].notes.size() == 2);
}

TEST_CASE("add_note refuses empty, oversized, non-UTF-8 notes and too many", "[client]") {
  ResponderCase c;
  CHECK(add_note(c, 0, "").code() == Code::kInvalidArgument);
  CHECK(add_note(c, 0, std::string(kMaxNoteBytes + 1, 'a')).code() == Code::kInvalidArgument);
  CHECK(add_note(c, 0, "bad \xff byte").code() == Code::kInvalidArgument);
  CHECK(add_note(c, 0, std::string(kMaxNoteBytes, 'a')).is_ok());
  for (std::size_t i = 1; i < kMaxNotesPerCase; ++i) REQUIRE(add_note(c, 0, "n").is_ok());
  CHECK(add_note(c, 0, "one more").code() == Code::kLimitExceeded);
  CHECK(c.notes.size() == kMaxNotesPerCase);
}

TEST_CASE("routing fields the protocol would refuse are refused in the store too", "[client]") {
  Fixture f;
  ResponderState s = f.filled_state();
  REQUIRE(s.encode().is_ok());
  // The same routing without its optional parts round-trips too.
  s.cases[0].routing->envelope.region.reset();
  s.cases[0].routing->interpreter = false;
  auto plain = ResponderState::decode(s.encode().value().view());
  REQUIRE(plain.is_ok());
  CHECK(plain->cases[0].routing == s.cases[0].routing);

  auto refused = [&](auto change) {
    ResponderState bad = s.clone();
    change(*bad.cases[0].routing);
    return bad.encode().status().code() == Code::kInvalidArgument;
  };
  using protocol::Need;
  CHECK(refused([](CaseRouting& r) { r.envelope.needs.clear(); }));
  CHECK(refused([](CaseRouting& r) { r.envelope.needs = {Need::kShelter, Need::kShelter}; }));
  CHECK(refused([](CaseRouting& r) {
    r.envelope.needs = {Need::kShelter, Need::kLegal, Need::kMedical};
  }));
  CHECK(refused([](CaseRouting& r) { r.envelope.languages.clear(); }));
  CHECK(refused([](CaseRouting& r) { r.envelope.languages = {"es", "es"}; }));
  CHECK(refused([](CaseRouting& r) { r.envelope.languages = {"es", "en", "fr", "de"}; }));
  CHECK(refused([](CaseRouting& r) { r.envelope.languages = {"ES"}; }));
  CHECK(refused([](CaseRouting& r) { r.envelope.region = "North Side"; }));
  CHECK(refused([](CaseRouting& r) { r.envelope.region = std::string(33, 'a'); }));
  CHECK(refused([](CaseRouting& r) { r.priority_class = ""; }));
  CHECK(refused([](CaseRouting& r) { r.waited_s = -1; }));

  // On reading, an unknown need name is refused (not mapped to some other need).
  crypto::SecretBytes good = s.encode().value();
  Bytes bytes(good.view().begin(), good.view().end());
  // The class, then two needs, the first "shelter" (lp: u32 length first).
  const std::string first_need =
      std::string("danger-now") + '\x02' + std::string("\0\0\0\x07", 4) + "shelter";
  auto at = std::search(bytes.begin(), bytes.end(), first_need.begin(), first_need.end());
  REQUIRE(at != bytes.end());
  at[static_cast<std::ptrdiff_t>(first_need.size()) - 1] = 'R';  // "shelteR"
  CHECK(ResponderState::decode(bytes).status().code() == Code::kInvalidArgument);
}

TEST_CASE("version-1 and version-2 stores (before notes, before routing) still decode",
          "[client]") {
  Fixture f;
  ResponderState s = f.filled_state();
  s.cases[0].routing.reset();
  s.seen_ephemerals.clear();
  crypto::SecretBytes encoded = s.encode().value();
  const Bytes v3(encoded.view().begin(), encoded.view().end());
  // With no notes, no routing and no answered handshakes, each case ends
  // ... ‖ u32 0 (its notes, version 2 on) ‖ u8 0 (its routing, version 3),
  // and the file ends ‖ u32 0 (no answered handshakes). Case 0 ends where an
  // encoding of case 0 alone ends, before the same 4 bytes: the fixed-size
  // case count keeps every offset before it the same.
  const std::string label = "HL1/responder-store";
  const std::size_t version_at = 4 + label.size();
  REQUIRE(v3[version_at] == 3);
  REQUIRE(s.cases.size() == 2);
  ResponderState one = s.clone();
  one.cases.pop_back();
  const auto case0_end = static_cast<std::ptrdiff_t>(one.encode().value().size() - 4);
  const auto case1_end = static_cast<std::ptrdiff_t>(v3.size() - 4);
  // Drops the last `tail` bytes of each case, the later case first.
  auto older = [&](std::uint8_t version, std::ptrdiff_t tail) {
    Bytes b = v3;
    b[version_at] = version;
    b.erase(b.begin() + case1_end - tail, b.begin() + case1_end);
    b.erase(b.begin() + case0_end - tail, b.begin() + case0_end);
    return b;
  };
  for (auto [version, tail] : {std::pair<std::uint8_t, std::ptrdiff_t>{1, 5}, {2, 1}}) {
    INFO("version " << int(version));
    Bytes old = older(version, tail);
    auto decoded = ResponderState::decode(old);
    REQUIRE(decoded.is_ok());
    REQUIRE(decoded->cases.size() == 2);
    CHECK(decoded->cases[0].transcript.size() == 2);
    CHECK(decoded->cases[0].notes.empty());
    CHECK_FALSE(decoded->cases[0].routing.has_value());
    CHECK(decoded->cases[1].queue.empty());
    // Written back, it is the current version, byte for byte what it would be.
    crypto::SecretBytes again = decoded->encode().value();
    CHECK(Bytes(again.view().begin(), again.view().end()) == v3);
    // Read as the wrong version, it does not decode.
    old[version_at] = version == 1 ? 2 : 1;
    CHECK_FALSE(ResponderState::decode(old).is_ok());
  }
  // An unknown version is refused.
  Bytes future = v3;
  future[version_at] = kResponderStateVersion + 1;
  CHECK(ResponderState::decode(future).status().code() == Code::kInvalidArgument);
  future[version_at] = 0;
  CHECK(ResponderState::decode(future).status().code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace hearth::client
