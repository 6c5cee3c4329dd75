// The client formats: intake body, plaintext, transcript bounds and the
// survivor vault contents, with real X3DH headers and ratchet states.
#include <catch2/catch.hpp>

#include "clients/lib/client_formats.h"
#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "crypto/vault.h"
#include "tests/crypto/org_fixture.h"

namespace hearth::client {
namespace {

using crypto::test::kNow;

struct Handshake {
  crypto::test::Org org;
  crypto::test::Responder* responder = nullptr;
  crypto::DhKey survivor = crypto::DhKey::generate();
  Bytes case_id = crypto::random_bytes(crypto::kCaseIdBytes);
  crypto::X3dhHeader header;
  std::optional<crypto::Ratchet> survivor_ratchet;
  std::optional<crypto::Ratchet> responder_ratchet;

  Handshake() {
    responder = &org.add_responder("r1", {"shelter"}, {"en"}, 1);
    auto roster = crypto::verify_roster(org.root.public_key(), org.roster(1), kNow).value();
    auto init =
        crypto::x3dh_initiate(roster, responder->bundle(), "shelter", survivor, case_id, kNow)
            .value();
    header = init.header;
    survivor_ratchet.emplace(crypto::Ratchet::init_initiator(std::move(init.session.shared_key),
                                                             init.session.associated_data,
                                                             init.responder_ratchet_key)
                                 .value());
    std::vector<Bytes> known = {roster.hash()};
    auto session = crypto::x3dh_respond(responder->handshake_keys(header), header, known).value();
    responder_ratchet.emplace(crypto::Ratchet::init_responder(
        std::move(session.shared_key), session.associated_data, responder->spk_private->clone()));
  }
};

TEST_CASE("intake body round trip carries the X3DH header and the first message", "[client]") {
  Handshake h;
  Bytes message = h.survivor_ratchet->encrypt(encode_text("hello").value()).value();
  Bytes body = encode_intake_body(h.header, message);
  auto decoded = decode_intake_body(body);
  REQUIRE(decoded.is_ok());
  CHECK(decoded->header.encode() == h.header.encode());
  CHECK(decoded->message == message);
  auto plain = h.responder_ratchet->decrypt(decoded->message);
  REQUIRE(plain.is_ok());
  CHECK(decode_plaintext(plain.value())->payload == "hello");
}

TEST_CASE("intake body refuses truncation and an empty message", "[client]") {
  Handshake h;
  Bytes message = h.survivor_ratchet->encrypt(encode_text("hi").value()).value();
  Bytes body = encode_intake_body(h.header, message);
  for (std::size_t n = 0; n < h.header.encode().size() + 5; ++n) {
    CHECK(decode_intake_body(ByteView(body).first(n)).status().code() == Code::kInvalidArgument);
  }
  Bytes no_message = encode_intake_body(h.header, {});
  CHECK(decode_intake_body(no_message).status().code() == Code::kInvalidArgument);
  Bytes garbage = {0, 0, 0, 3, 1, 2, 3, 9};
  CHECK(decode_intake_body(garbage).status().code() == Code::kInvalidArgument);
}

TEST_CASE("text plaintext is kind 1 then UTF-8", "[client]") {
  Bytes encoded = encode_text("Grüße, 你好").value();
  REQUIRE(encoded[0] == 1);
  CHECK(to_string(ByteView(encoded).subspan(1)) == "Grüße, 你好");
  auto decoded = decode_plaintext(encoded).value();
  CHECK(decoded.kind == static_cast<std::uint8_t>(PlaintextKind::kText));
  CHECK(decoded.payload == "Grüße, 你好");

  CHECK(encode_text("").status().code() == Code::kInvalidArgument);
  CHECK(encode_text(std::string(kMaxTextBytes + 1, 'a')).status().code() == Code::kLimitExceeded);
  CHECK(encode_text(std::string(kMaxTextBytes, 'a')).is_ok());
  CHECK(decode_plaintext({}).status().code() == Code::kInvalidArgument);
}

TEST_CASE("UTF-8 validation refuses overlongs, surrogates and stray bytes", "[client]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii\n"));
  CHECK(is_valid_utf8("\xF0\x9F\x94\xA5"));        // U+1F525
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));        // U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // overlong
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800 surrogate
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\x80"));
  CHECK_FALSE(is_valid_utf8("\xC3"));  // truncated
  CHECK_FALSE(is_valid_utf8("\xFF"));
  CHECK(encode_text("\xC0\xAF").status().code() == Code::kInvalidArgument);
  Bytes bad_text = {1, 0xC3};
  CHECK(decode_plaintext(bad_text).status().code() == Code::kInvalidArgument);
}

TEST_CASE("an unknown plaintext kind is kept for the UI to report", "[client]") {
  Bytes referral = {2, 0xFF, 0x00, 0x01};
  auto decoded = decode_plaintext(referral).value();
  CHECK(decoded.kind == 2);
  CHECK(decoded.payload.size() == 3);
}

TEST_CASE("transcripts keep the last 200 messages and at most 128 KiB", "[client]") {
  std::deque<TranscriptEntry> t;
  for (int i = 0; i < 250; ++i) {
    append_bounded(t, {Author::kSurvivor, 60 * i, {1, "message " + std::to_string(i)}});
  }
  REQUIRE(t.size() == kTranscriptMaxEntries);
  CHECK(t.front().plaintext.payload == "message 50");
  CHECK(t.back().plaintext.payload == "message 249");

  std::deque<TranscriptEntry> big;
  for (int i = 0; i < 10; ++i) {
    append_bounded(big, {Author::kResponder, 0, {1, std::string(30 * 1024, 'a' + i)}});
  }
  CHECK(transcript_bytes(big) <= kTranscriptMaxBytes);
  CHECK(big.size() == 4);
  CHECK(big.back().plaintext.payload[0] == 'a' + 9);
}

// ---- Handoff plaintext (kind 3) ----

Plaintext as_plaintext(const Bytes& encoded) { return decode_plaintext(encoded).value(); }

TEST_CASE("a new-only handoff is kind 3, share 1 and nothing else", "[client]") {
  HandoffPayload p;
  p.share = protocol::HandoffShare::kNewOnly;
  p.summary = "ignored";  // only a summary share carries text
  Bytes encoded = encode_handoff(p).value();
  CHECK(encoded == Bytes{3, 1});
  auto decoded = decode_handoff(as_plaintext(encoded));
  REQUIRE(decoded.is_ok());
  CHECK(decoded->share == protocol::HandoffShare::kNewOnly);
  CHECK(decoded->summary.empty());
  CHECK(decoded->history.empty());
}

TEST_CASE("a summary handoff carries the survivor's UTF-8 text", "[client]") {
  HandoffPayload p;
  p.share = protocol::HandoffShare::kSummary;
  p.summary = "I need a lawyer — visa taken";
  Bytes encoded = encode_handoff(p).value();
  Bytes expected = {3, 2};
  append(expected, as_bytes(p.summary));
  CHECK(encoded == expected);
  auto decoded = decode_handoff(as_plaintext(encoded));
  REQUIRE(decoded.is_ok());
  CHECK(decoded->share == protocol::HandoffShare::kSummary);
  CHECK(decoded->summary == p.summary);

  p.summary = "";
  CHECK(encode_handoff(p).status().code() == Code::kInvalidArgument);
  p.summary = "bad \xC0\xAF";
  CHECK(encode_handoff(p).status().code() == Code::kInvalidArgument);
  p.summary = std::string(100, 'x');
  CHECK(encode_handoff(p, 101).status().code() == Code::kLimitExceeded);
  CHECK(encode_handoff(p, 102).is_ok());
  CHECK(encode_handoff(p, 5).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a history handoff carries the transcript encoding", "[client]") {
  HandoffPayload p;
  p.share = protocol::HandoffShare::kHistory;
  p.history.push_back({Author::kSurvivor, 120, {1, "hi"}});
  p.history.push_back({Author::kResponder, 180, {1, "hello"}});
  Bytes encoded = encode_handoff(p).value();
  // u8 3 || u8 3 || u32 2 || (u8 author || u64 minute || u8 kind || lp(payload)) x 2
  const Bytes expected = {3, 3, 0, 0, 0, 2,  // kind, share, count
                          1, 0, 0, 0, 0, 0, 0, 0, 120, 1, 0, 0, 0, 2, 'h', 'i',  // entry 1
                          2, 0, 0, 0, 0, 0, 0, 0, 180, 1, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
  CHECK(encoded == expected);
  auto decoded = decode_handoff(as_plaintext(encoded));
  REQUIRE(decoded.is_ok());
  CHECK(decoded->share == protocol::HandoffShare::kHistory);
  REQUIRE(decoded->history.size() == 2);
  CHECK(decoded->history[0].author == Author::kSurvivor);
  CHECK(decoded->history[0].minute == 120);
  CHECK(decoded->history[1].plaintext.payload == "hello");
}

TEST_CASE("a history too long for the message keeps the newest entries", "[client]") {
  HandoffPayload p;
  p.share = protocol::HandoffShare::kHistory;
  for (int i = 0; i < 300; ++i)
    p.history.push_back(
        {Author::kSurvivor, 60 * i, {1, std::string(900, 'x') + std::to_string(i)}});
  Bytes full = encode_handoff(p).value();
  CHECK(full.size() <= crypto::kMaxPaddedPayload);
  auto decoded = decode_handoff(as_plaintext(full)).value();
  CHECK(decoded.history.back().plaintext.payload.ends_with("299"));
  CHECK(decoded.history.size() < 80);

  Bytes small = encode_handoff(p, 4000).value();
  CHECK(small.size() <= 4000);
  CHECK(small.size() > 4000 - 920);  // no more was dropped than needed
  auto few = decode_handoff(as_plaintext(small)).value();
  CHECK(few.history.back().plaintext.payload.ends_with("299"));

  Bytes none = encode_handoff(p, 6).value();  // room for an empty history only
  CHECK(none == Bytes{3, 3, 0, 0, 0, 0});
  CHECK(decode_handoff(as_plaintext(none))->history.empty());
}

TEST_CASE("handoff decoding refuses malformed payloads", "[client]") {
  auto refused = [](Bytes encoded) {
    auto plaintext = decode_plaintext(encoded);
    REQUIRE(plaintext.is_ok());
    return decode_handoff(plaintext.value()).status().code() == Code::kInvalidArgument;
  };
  CHECK(refused({1, 'h', 'i'}));          // a text, not a handoff
  CHECK(refused({3}));                    // no share byte
  CHECK(refused({3, 0}));                 // unknown share
  CHECK(refused({3, 4}));                 // unknown share
  CHECK(refused({3, 1, 'x'}));            // new-only with a payload
  CHECK(refused({3, 2}));                 // empty summary
  CHECK(refused({3, 2, 0xC0, 0xAF}));     // summary not UTF-8
  CHECK(refused({3, 3}));                 // history without a count
  CHECK(refused({3, 3, 0, 0, 0, 1}));     // a count with no entry
  CHECK(refused({3, 3, 0, 0, 0, 0, 9}));  // trailing bytes
  CHECK(refused({3, 3, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}));  // bad author
}

TEST_CASE("a handoff travels as the first message of a new session", "[client]") {
  Handshake h;
  HandoffPayload p;
  p.share = protocol::HandoffShare::kSummary;
  p.summary = "moved from shelter";
  Bytes message = h.survivor_ratchet->encrypt(encode_handoff(p).value()).value();
  auto body = decode_intake_body(encode_intake_body(h.header, message)).value();
  auto plain = decode_plaintext(h.responder_ratchet->decrypt(body.message).value()).value();
  CHECK(plain.kind == static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent));
  CHECK(decode_handoff(plain)->summary == "moved from shelter");
  // A responder's transcript keeps it like any other message.
  std::deque<TranscriptEntry> t;
  append_bounded(t, {Author::kSurvivor, 60, plain});
  CHECK(decode_handoff(t.front().plaintext)->share == protocol::HandoffShare::kSummary);
}

SurvivorVault sample_vault(Handshake& h) {
  SurvivorVault v;
  v.roster_pin = crypto::RosterPin{7, Bytes(32, 0xAB)};
  SurvivorCase c;
  c.case_id = h.case_id;
  c.identity_private = h.survivor.private_key().clone();
  c.queue = "shelter";
  c.claimed_by = h.responder->certificate.hash();
  c.sessions.push_back({h.responder->certificate.hash(), h.survivor_ratchet->serialize()});
  c.received_seq = 12;
  append_bounded(c.transcript, {Author::kSurvivor, 1'800'000'040, {1, "I need a safe place"}});
  append_bounded(c.transcript, {Author::kResponder, 1'800'000'100, {1, "We can help."}});
  v.cases.push_back(std::move(c));
  SurvivorCase unclaimed;
  unclaimed.case_id = Bytes(16, 0x01);
  unclaimed.identity_private = crypto::random_secret(32);
  unclaimed.queue = "legal";
  for (int i = 0; i < 3; ++i)
    unclaimed.sessions.push_back(
        {Bytes(32, static_cast<std::uint8_t>(i)), crypto::random_secret(80)});
  v.cases.push_back(std::move(unclaimed));
  return v;
}

void check_equal(const SurvivorVault& a, const SurvivorVault& b) {
  REQUIRE(a.roster_pin.has_value() == b.roster_pin.has_value());
  if (a.roster_pin) {
    CHECK(a.roster_pin->epoch == b.roster_pin->epoch);
    CHECK(a.roster_pin->hash == b.roster_pin->hash);
  }
  REQUIRE(a.cases.size() == b.cases.size());
  for (std::size_t i = 0; i < a.cases.size(); ++i) {
    const SurvivorCase& x = a.cases[i];
    const SurvivorCase& y = b.cases[i];
    CHECK(x.case_id == y.case_id);
    CHECK(crypto::constant_time_equal(x.identity_private.view(), y.identity_private.view()));
    CHECK(x.queue == y.queue);
    CHECK(x.claimed_by == y.claimed_by);
    CHECK(x.received_seq == y.received_seq);
    REQUIRE(x.sessions.size() == y.sessions.size());
    for (std::size_t k = 0; k < x.sessions.size(); ++k) {
      CHECK(x.sessions[k].certificate_hash == y.sessions[k].certificate_hash);
      CHECK(
          crypto::constant_time_equal(x.sessions[k].ratchet.view(), y.sessions[k].ratchet.view()));
    }
    REQUIRE(x.transcript.size() == y.transcript.size());
    for (std::size_t k = 0; k < x.transcript.size(); ++k) {
      CHECK(x.transcript[k].author == y.transcript[k].author);
      CHECK(x.transcript[k].minute == y.transcript[k].minute);
      CHECK(x.transcript[k].plaintext.kind == y.transcript[k].plaintext.kind);
      CHECK(x.transcript[k].plaintext.payload == y.transcript[k].plaintext.payload);
    }
  }
}

TEST_CASE("survivor vault contents round trip, and the ratchet inside still works", "[client]") {
  Handshake h;
  SurvivorVault v = sample_vault(h);
  auto encoded = v.encode();
  REQUIRE(encoded.is_ok());
  auto decoded = SurvivorVault::decode(encoded->view());
  REQUIRE(decoded.is_ok());
  check_equal(v, decoded.value());
  CHECK(decoded->find(h.case_id) != nullptr);
  CHECK(decoded->find(Bytes(16, 0x02)) == nullptr);

  // The restored survivor ratchet continues the session.
  const SurvivorCase& c = *decoded->find(h.case_id);
  auto ratchet = crypto::Ratchet::deserialize(c.session_for(*c.claimed_by)->ratchet.view());
  REQUIRE(ratchet.is_ok());
  Bytes first = ratchet->encrypt(encode_text("first").value()).value();
  CHECK(decode_plaintext(h.responder_ratchet->decrypt(first).value())->payload == "first");

  // An empty vault is valid too.
  SurvivorVault empty;
  auto e = SurvivorVault::decode(empty.encode()->view());
  REQUIRE(e.is_ok());
  CHECK(e->cases.empty());
  CHECK_FALSE(e->roster_pin.has_value());
}

TEST_CASE("survivor vault contents seal and open with the codename's keys", "[client][slow]") {
  Handshake h;
  SurvivorVault v = sample_vault(h);
  crypto::Codename codename = crypto::Codename::draw();
  auto keys = crypto::derive_vault_keys(codename, h.org.root.public_key()).value();
  Bytes blob = crypto::seal_vault(keys, 3, v.encode()->view()).value();
  CHECK(blob.size() % crypto::kVaultPadBlock == 48 % crypto::kVaultPadBlock);
  auto opened = crypto::open_vault(keys, blob).value();
  CHECK(opened.version == 3);
  check_equal(v, SurvivorVault::decode(opened.contents).value());
}

TEST_CASE("survivor vault decoding refuses malformed contents", "[client]") {
  Handshake h;
  SurvivorVault v = sample_vault(h);
  crypto::SecretBytes encoded = v.encode().value();
  ByteView all = encoded.view();
  // Every truncation fails cleanly.
  for (std::size_t n = 0; n < all.size(); n += 7) {
    CHECK_FALSE(SurvivorVault::decode(all.first(n)).is_ok());
  }
  // Trailing bytes.
  Bytes longer(all.begin(), all.end());
  longer.push_back(0);
  CHECK(SurvivorVault::decode(longer).status().code() == Code::kInvalidArgument);
  // Another version.
  Bytes other(all.begin(), all.end());
  other[4 + std::string_view("HL1/survivor-vault").size()] = 2;
  CHECK(SurvivorVault::decode(other).status().code() == Code::kInvalidArgument);
  // A flag that is neither 0 nor 1.
  Bytes flag(all.begin(), all.end());
  flag[4 + std::string_view("HL1/survivor-vault").size() + 1] = 7;
  CHECK(SurvivorVault::decode(flag).status().code() == Code::kInvalidArgument);
}

TEST_CASE("survivor vault encoding refuses malformed state", "[client]") {
  Handshake h;
  SurvivorVault v = sample_vault(h);
  v.cases[0].case_id.pop_back();
  CHECK(v.encode().status().code() == Code::kInvalidArgument);
  SurvivorVault many;
  for (std::size_t i = 0; i <= kMaxVaultCases; ++i) {
    SurvivorCase c;
    c.case_id = Bytes(16, static_cast<std::uint8_t>(i));
    c.identity_private = crypto::random_secret(32);
    c.queue = "q";
    many.cases.push_back(std::move(c));
  }
  CHECK(many.encode().status().code() == Code::kLimitExceeded);
}

TEST_CASE("shrink_to drops the oldest transcript entries, never keys", "[client]") {
  Handshake h;
  SurvivorVault v = sample_vault(h);
  for (int i = 0; i < 100; ++i) {
    append_bounded(v.cases[0].transcript,
                   {Author::kSurvivor, i, {1, std::string(1000, 'x') + std::to_string(i)}});
  }
  append_bounded(v.cases[1].transcript, {Author::kSurvivor, 5, {1, "short"}});
  std::size_t before = v.encode()->size();
  REQUIRE(before > 50 * 1024);
  REQUIRE(v.shrink_to(50 * 1024).is_ok());
  std::size_t after = v.encode()->size();
  CHECK(after <= 50 * 1024);
  CHECK(after > 45 * 1024);  // no more than needed was dropped
  CHECK(v.cases[0].transcript.back().plaintext.payload.ends_with("99"));
  CHECK(v.cases[1].transcript.size() == 1);  // the larger transcript gave way first
  CHECK(v.cases[0].sessions.size() == 1);
  CHECK(v.shrink_to(100).code() == Code::kLimitExceeded);
  CHECK(v.cases[0].transcript.empty());
}

}  // namespace
}  // namespace hearth::client
