// X3DH + Double Ratchet: ordering, drops, replays, bounds, tampering, identity
// binding and post-compromise healing (reference/crypto.md §2.2-2.3, P2-P8).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <random>

#include "crypto/aead.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "crypto/x3dh.h"
#include "tests/crypto/org_fixture.h"

namespace hearth::crypto {
namespace {

using test::kNow;

struct Session {
  Ratchet survivor;
  Ratchet responder;
};

// Runs X3DH from a fresh survivor identity to `r` and delivers one first message.
Session open_session(const test::Org& org, const test::Responder& r, bool with_opk = true) {
  auto roster = verify_roster(org.root.public_key(), org.roster(1), kNow).value();
  DhKey survivor_identity = DhKey::generate();
  Bytes case_id = random_bytes(kCaseIdBytes);
  auto init = x3dh_initiate(roster, r.bundle(with_opk), r.certificate.fields.queues.front(),
                            survivor_identity, case_id, kNow)
                  .value();
  Ratchet survivor =
      Ratchet::init_initiator(std::move(init.session.shared_key), init.session.associated_data,
                              init.responder_ratchet_key)
          .value();
  Bytes first = survivor.encrypt(as_bytes("hello, I need help")).value();

  X3dhHeader header = X3dhHeader::decode(init.header.encode()).value();
  std::vector<Bytes> rosters = {roster.hash()};
  auto session = x3dh_respond(r.handshake_keys(header), header, rosters).value();
  REQUIRE(session.associated_data == init.session.associated_data);
  Ratchet responder = Ratchet::init_responder(
      std::move(session.shared_key), std::move(session.associated_data), r.spk_private->clone());
  REQUIRE(to_string(responder.decrypt(first).value()) == "hello, I need help");
  return {std::move(survivor), std::move(responder)};
}

Bytes state_of(const Ratchet& r) {
  SecretBytes state = r.serialize();
  return Bytes(state.view().begin(), state.view().end());
}

TEST_CASE("X3DH agrees on key and associated data, with and without a one-time prekey",
          "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"es"}, 1);
  for (bool with_opk : {true, false}) {
    Session s = open_session(org, ana, with_opk);
    Bytes reply = s.responder.encrypt(as_bytes("we are here")).value();
    REQUIRE(to_string(s.survivor.decrypt(reply).value()) == "we are here");
  }
}

TEST_CASE("1,000 messages in shuffled order with drops: each delivered one decrypts once",
          "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"shelter"}, {"en"}, 1);
  Session s = open_session(org, ana);
  std::mt19937 rng(20261125);

  struct InFlight {
    bool to_responder;
    std::string text;
    Bytes wire;
  };
  std::vector<InFlight> network;
  int sent = 0, delivered = 0, dropped = 0;
  std::set<std::string> received;
  bool survivor_turn = true;
  // Each side writes bursts; the network holds up to 48 messages and delivers a
  // random one of the 8 oldest, dropping about 5%, so messages cross and arrive
  // out of order. (Bounded reordering: a message held back across more than
  // kSkippedKeyLifetimeSteps DH steps is meant to lapse.)
  while (sent < 1000 || !network.empty()) {
    if (sent < 1000 && (network.size() < 48) && rng() % 3 != 0) {
      if (rng() % 6 == 0) survivor_turn = !survivor_turn;
      Ratchet& from = survivor_turn ? s.survivor : s.responder;
      std::string text = "message " + std::to_string(sent++);
      auto wire = from.encrypt(as_bytes(text));
      if (!wire.is_ok()) {  // only the responder before its first receive; not here
        FAIL(wire.status().to_string());
      }
      network.push_back({survivor_turn, text, std::move(*wire)});
      continue;
    }
    if (network.empty()) continue;
    std::size_t pick = rng() % std::min<std::size_t>(network.size(), 8);
    InFlight msg = std::move(network[pick]);
    network.erase(network.begin() + static_cast<std::ptrdiff_t>(pick));
    if (rng() % 20 == 0) {
      ++dropped;
      continue;
    }
    Ratchet& to = msg.to_responder ? s.responder : s.survivor;
    auto plain = to.decrypt(msg.wire);
    INFO(msg.text << ": " << plain.status().to_string());
    REQUIRE(plain.is_ok());
    REQUIRE(to_string(*plain) == msg.text);
    REQUIRE(received.insert(msg.text).second);  // exactly once
    ++delivered;
    // A second delivery of the same message is refused.
    REQUIRE_FALSE(to.decrypt(msg.wire).is_ok());
  }
  REQUIRE(delivered + dropped == 1000);
  REQUIRE(dropped > 10);
  REQUIRE(s.survivor.skipped_key_count() <= kMaxSkippedKeys);
  REQUIRE(s.responder.skipped_key_count() <= kMaxSkippedKeys);
}

TEST_CASE("replayed messages are rejected and change nothing", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  Bytes m1 = s.survivor.encrypt(as_bytes("one")).value();
  Bytes m2 = s.survivor.encrypt(as_bytes("two")).value();
  REQUIRE(s.responder.decrypt(m2).is_ok());  // m1 becomes a stored skipped key
  REQUIRE(s.responder.decrypt(m1).is_ok());
  Bytes before = state_of(s.responder);
  REQUIRE(s.responder.decrypt(m1).status().code() == Code::kReplay);
  REQUIRE(s.responder.decrypt(m2).status().code() == Code::kReplay);
  REQUIRE(state_of(s.responder) == before);
}

TEST_CASE("a replayed handshake without a one-time prekey is refused", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  auto roster = verify_roster(org.root.public_key(), org.roster(1), kNow).value();
  auto init =
      x3dh_initiate(roster, ana.bundle(false), "legal", DhKey::generate(), random_bytes(16), kNow)
          .value();
  EphemeralKeyCache cache;
  REQUIRE(cache.check_and_remember(init.header.signed_prekey_id, init.header.ephemeral).is_ok());
  REQUIRE(cache.check_and_remember(init.header.signed_prekey_id, init.header.ephemeral).code() ==
          Code::kReplay);
  cache.forget_prekey(init.header.signed_prekey_id);
  REQUIRE(cache.size() == 0);

  // Full: new handshakes are refused rather than old ones forgotten (a flood
  // must not wash out the entry an attacker wants to replay).
  EphemeralKeyCache small(2);
  DhPublicKey first = DhKey::generate().public_key();
  REQUIRE(small.check_and_remember(1, first).is_ok());
  REQUIRE(small.check_and_remember(1, DhKey::generate().public_key()).is_ok());
  REQUIRE(small.check_and_remember(1, DhKey::generate().public_key()).code() ==
          Code::kLimitExceeded);
  REQUIRE(small.check_and_remember(1, first).code() == Code::kReplay);
  small.forget_prekey(1);  // the prekey is retired: its handshakes can no longer complete
  REQUIRE(small.check_and_remember(2, DhKey::generate().public_key()).is_ok());
  EphemeralKeyCache none(0);
  REQUIRE(none.check_and_remember(1, first).code() == Code::kLimitExceeded);
}

TEST_CASE("nobody can speak on the responder's prekey before its first reply", "[crypto]") {
  // Regression: before any reply the initiator's remote key is the responder's
  // SPK with no receiving chain. A message naming the SPK used to be decrypted
  // with a key derived from an empty chain key: HMAC("", 0x01), a public
  // constant. Everything else in the AD is public, so anyone could forge.
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  RatchetHeader header{kRatchetHeaderVersion, ana.spk.key, 0, 0};
  Bytes header_bytes = header.encode();
  Bytes ad;
  append_lp(ad, s.survivor.associated_data());
  append(ad, header_bytes);
  const std::uint8_t kMessageByte[1] = {0x01};
  SecretBytes public_key_guess = hmac_sha256({}, kMessageByte);
  Bytes forged = header_bytes;
  append(forged,
         aead_seal(public_key_guess, pad_to_bucket(as_bytes("come to the station")).value(), ad));
  Bytes before = state_of(s.survivor);
  REQUIRE(s.survivor.decrypt(forged).status().code() == Code::kAuthFailed);
  REQUIRE(state_of(s.survivor) == before);
  // The real reply still works.
  Bytes reply = s.responder.encrypt(as_bytes("real reply")).value();
  REQUIRE(to_string(s.survivor.decrypt(reply).value()) == "real reply");
}

TEST_CASE("a corrupt stored state with repeated or out-of-order skipped keys is refused",
          "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  Bytes m1 = s.survivor.encrypt(as_bytes("one")).value();
  Bytes m2 = s.survivor.encrypt(as_bytes("two")).value();
  Bytes m3 = s.survivor.encrypt(as_bytes("three")).value();
  REQUIRE(s.responder.decrypt(m3).is_ok());  // m1 and m2 become skipped keys
  Bytes good = state_of(s.responder);
  REQUIRE(Ratchet::deserialize(good).is_ok());
  // The state ends with two skipped entries: dh (32) | n (4) | step (8) | key (32).
  constexpr std::size_t kEntry = 32 + 4 + 8 + 32;
  const std::size_t second = good.size() - kEntry;
  const std::size_t first = second - kEntry;

  Bytes duplicate = good;  // the second entry names the first message again: a replay
  std::copy(good.begin() + static_cast<std::ptrdiff_t>(first),
            good.begin() + static_cast<std::ptrdiff_t>(first + 36),
            duplicate.begin() + static_cast<std::ptrdiff_t>(second));
  REQUIRE(Ratchet::deserialize(duplicate).status().code() == Code::kInvalidArgument);

  Bytes future_step = good;  // a key from a step not yet taken would never lapse
  future_step[second + 36] = 0x7f;
  REQUIRE(Ratchet::deserialize(future_step).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a message 2^31 ahead is refused without deriving keys", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  Bytes next = s.survivor.encrypt(as_bytes("next")).value();
  Bytes before = state_of(s.responder);

  for (std::uint32_t ahead : {kMaxSkip + 2, 1u << 31, 0xFFFFFFFFu}) {
    Bytes far = next;
    RatchetHeader h = RatchetHeader::decode(ByteView(far).first(kRatchetHeaderBytes)).value();
    h.number = ahead;
    Bytes hb = h.encode();
    std::copy(hb.begin(), hb.end(), far.begin());
    auto start = std::chrono::steady_clock::now();
    REQUIRE(s.responder.decrypt(far).status().code() == Code::kLimitExceeded);
    // Deriving 2^31 keys would take minutes; refusing takes microseconds.
    REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    REQUIRE(state_of(s.responder) == before);
  }
  // The same bound applies to the previous-chain length of a new ratchet key.
  Bytes reply = s.responder.encrypt(as_bytes("reply")).value();
  REQUIRE(s.survivor.decrypt(reply).is_ok());
  Bytes m = s.survivor.encrypt(as_bytes("after reply")).value();
  Bytes bad_pn = m;
  RatchetHeader h = RatchetHeader::decode(ByteView(bad_pn).first(kRatchetHeaderBytes)).value();
  h.previous = 1u << 31;
  Bytes hb = h.encode();
  std::copy(hb.begin(), hb.end(), bad_pn.begin());
  REQUIRE(s.responder.decrypt(bad_pn).status().code() == Code::kLimitExceeded);
  REQUIRE(s.responder.decrypt(next).is_ok());
  REQUIRE(to_string(s.responder.decrypt(m).value()) == "after reply");
}

TEST_CASE("every single-bit flip of header or ciphertext is rejected", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  Bytes msg = s.survivor.encrypt(as_bytes("a short message")).value();
  REQUIRE(msg.size() == kRatchetHeaderBytes + 24 + 256 + 16);
  Bytes before = state_of(s.responder);
  for (std::size_t bit = 0; bit < msg.size() * 8; ++bit) {
    Bytes flipped = msg;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    REQUIRE_FALSE(s.responder.decrypt(flipped).is_ok());
  }
  REQUIRE(state_of(s.responder) == before);
  REQUIRE(s.responder.decrypt(msg).is_ok());
}

TEST_CASE("a stolen state stops decrypting after one DH round trip", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  Bytes r0 = s.responder.encrypt(as_bytes("reply")).value();
  REQUIRE(s.survivor.decrypt(r0).is_ok());

  // The attacker copies the responder's whole state.
  Ratchet stolen = Ratchet::deserialize(s.responder.serialize().view()).value();
  Bytes m1 = s.survivor.encrypt(as_bytes("still readable")).value();
  REQUIRE(to_string(stolen.decrypt(m1).value()) == "still readable");  // the compromise is real
  REQUIRE(s.responder.decrypt(m1).is_ok());

  // One round trip with fresh DH keys the attacker never saw ...
  Bytes r1 = s.responder.encrypt(as_bytes("new ratchet key")).value();
  REQUIRE(s.survivor.decrypt(r1).is_ok());
  Bytes m2 = s.survivor.encrypt(as_bytes("healed")).value();
  // ... and the stolen state can no longer read the conversation.
  REQUIRE_FALSE(stolen.decrypt(m2).is_ok());
  REQUIRE(to_string(s.responder.decrypt(m2).value()) == "healed");
}

TEST_CASE("identity binding: swapped certificates and mismatched context fail", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  auto& bea = org.add_responder("bea", {"legal"}, {"en"}, 2);
  auto roster = verify_roster(org.root.public_key(), org.roster(1), kNow).value();
  std::vector<Bytes> rosters = {roster.hash()};

  SECTION("another responder's valid certificate with this responder's prekeys") {
    PrekeyBundle swapped = ana.bundle();
    swapped.certificate = bea.certificate;
    REQUIRE(x3dh_initiate(roster, swapped, "legal", DhKey::generate(), random_bytes(16), kNow)
                .status()
                .code() == Code::kAuthFailed);
  }
  SECTION("a handshake for one responder presented to another") {
    auto init =
        x3dh_initiate(roster, ana.bundle(false), "legal", DhKey::generate(), random_bytes(16), kNow)
            .value();
    X3dhHeader header = init.header;
    REQUIRE(x3dh_respond(bea.handshake_keys(header), header, rosters).status().code() ==
            Code::kInvalidArgument);
    // Even with the header rewritten to name bea, the keys do not match.
    header.responder_certificate_hash = bea.certificate.hash();
    auto session = x3dh_respond(bea.handshake_keys(header), header, rosters).value();
    REQUIRE_FALSE(constant_time_equal(session.shared_key.view(), init.session.shared_key.view()));
    REQUIRE(session.associated_data != init.session.associated_data);
  }
  SECTION("any change to the bound context changes the keys") {
    auto init =
        x3dh_initiate(roster, ana.bundle(false), "legal", DhKey::generate(), random_bytes(16), kNow)
            .value();
    Ratchet survivor =
        Ratchet::init_initiator(std::move(init.session.shared_key), init.session.associated_data,
                                init.responder_ratchet_key)
            .value();
    Bytes first = survivor.encrypt(as_bytes("hi")).value();
    X3dhHeader header = init.header;
    header.case_id[0] ^= 1;  // the server swapped the case id
    auto session = x3dh_respond(ana.handshake_keys(header), header, rosters).value();
    Ratchet responder =
        Ratchet::init_responder(std::move(session.shared_key), std::move(session.associated_data),
                                ana.spk_private->clone());
    REQUIRE(responder.decrypt(first).status().code() == Code::kAuthFailed);
  }
  SECTION("a roster the responder never accepted is a split view") {
    auto init =
        x3dh_initiate(roster, ana.bundle(false), "legal", DhKey::generate(), random_bytes(16), kNow)
            .value();
    std::vector<Bytes> other = {Bytes(32, 9)};
    REQUIRE(x3dh_respond(ana.handshake_keys(init.header), init.header, other).status().code() ==
            Code::kConflict);
  }
  SECTION("a responder not certified for the queue is refused") {
    REQUIRE(
        x3dh_initiate(roster, ana.bundle(), "shelter", DhKey::generate(), random_bytes(16), kNow)
            .status()
            .code() == Code::kNotFound);
  }
}

TEST_CASE("a low-order prekey aborts the handshake", "[crypto]") {
  // reference/crypto.md P3: a (malicious) responder signs a low-order point as
  // its prekey; the DH output is all zeros and no session may be built.
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  auto roster = verify_roster(org.root.public_key(), org.roster(1), kNow).value();
  PrekeyBundle bundle = ana.bundle(false);
  bundle.signed_prekey.key = DhPublicKey{};  // the point of order 1 (u = 0)
  bundle.signed_prekey.signature = ana.signing.sign(bundle.signed_prekey.signed_part());
  REQUIRE(x3dh_initiate(roster, bundle, "legal", DhKey::generate(), random_bytes(16), kNow)
              .status()
              .code() == Code::kAuthFailed);
  REQUIRE(Ratchet::init_initiator(SecretBytes(32), {}, DhPublicKey{}).status().code() ==
          Code::kAuthFailed);
}

TEST_CASE("ratchet state survives serialization mid-conversation", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  Bytes m1 = s.survivor.encrypt(as_bytes("one")).value();
  Bytes m2 = s.survivor.encrypt(as_bytes("two")).value();
  REQUIRE(s.responder.decrypt(m2).is_ok());
  Ratchet restored = Ratchet::deserialize(s.responder.serialize().view()).value();
  REQUIRE(restored.skipped_key_count() == 1);
  REQUIRE(to_string(restored.decrypt(m1).value()) == "one");
  Bytes reply = restored.encrypt(as_bytes("from restored")).value();
  REQUIRE(to_string(s.survivor.decrypt(reply).value()) == "from restored");

  SecretBytes state = s.responder.serialize();
  for (std::size_t n = 0; n < state.size(); n += 3) {
    REQUIRE_FALSE(Ratchet::deserialize(state.view().first(n)).is_ok());
  }
  Bytes wrong_version(state.view().begin(), state.view().end());
  wrong_version[4 + 17] = 2;  // the version byte after the label
  REQUIRE_FALSE(Ratchet::deserialize(wrong_version).is_ok());
}

TEST_CASE("the stored skipped-key cap holds", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  // Three chains of 250 skipped messages each: more than kMaxSkippedKeys in total.
  for (int round = 0; round < 3; ++round) {
    Bytes last;
    for (std::uint32_t i = 0; i < 251; ++i) last = s.survivor.encrypt(as_bytes("x")).value();
    REQUIRE(s.responder.decrypt(last).is_ok());
    REQUIRE(s.responder.skipped_key_count() <= kMaxSkippedKeys);
    Bytes reply = s.responder.encrypt(as_bytes("y")).value();
    REQUIRE(s.survivor.decrypt(reply).is_ok());
  }
  REQUIRE(s.responder.skipped_key_count() == kMaxSkippedKeys);
}

TEST_CASE("a responder cannot send before the first message", "[crypto]") {
  Ratchet r = Ratchet::init_responder(SecretBytes(32), {}, DhKey::generate());
  REQUIRE(r.encrypt(as_bytes("x")).status().code() == Code::kInvalidArgument);
  REQUIRE(r.decrypt(Bytes(10)).status().code() == Code::kInvalidArgument);
}

TEST_CASE("oversize plaintext is refused before the chain moves", "[crypto]") {
  test::Org org;
  auto& ana = org.add_responder("ana", {"legal"}, {"en"}, 1);
  Session s = open_session(org, ana);
  REQUIRE(s.survivor.encrypt(Bytes(70000)).status().code() == Code::kLimitExceeded);
  Bytes ok = s.survivor.encrypt(as_bytes("fine")).value();
  REQUIRE(s.responder.decrypt(ok).is_ok());
}

}  // namespace
}  // namespace hearth::crypto
