// Behaviour of the primitive layer: secrets, randomness, AEAD, encodings,
// padding, sealed records. Published known-answer vectors live in kat_test.cpp
// and wycheproof_test.cpp.
#include <catch2/catch.hpp>

#include <set>

#include "crypto/aead.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/sealed_box.h"
#include "crypto/testing/deterministic_random.h"

namespace hearth::crypto {
namespace {

TEST_CASE("SecretBytes moves, clones and compares in constant time", "[crypto]") {
  SecretBytes a = SecretBytes::from(as_bytes("key material"));
  SecretBytes b = a.clone();
  REQUIRE(constant_time_equal(a.view(), b.view()));
  SecretBytes c = std::move(a);
  REQUIRE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  REQUIRE(c.size() == 12);
  b.data()[0] ^= 1;
  REQUIRE_FALSE(constant_time_equal(b.view(), c.view()));
  REQUIRE_FALSE(constant_time_equal(as_bytes("ab"), as_bytes("abc")));
}

TEST_CASE("AEAD seals with a fresh nonce and rejects any change", "[crypto]") {
  SecretBytes key = random_secret(kAeadKeyBytes);
  Bytes ad = to_bytes("HL1/test");
  Bytes sealed1 = aead_seal(key, as_bytes("hello"), ad);
  Bytes sealed2 = aead_seal(key, as_bytes("hello"), ad);
  REQUIRE(sealed1.size() == 5 + kAeadOverhead);
  REQUIRE(sealed1 != sealed2);  // the nonce differs every time
  REQUIRE(to_string(aead_open(key, sealed1, ad).value()) == "hello");

  for (std::size_t i = 0; i < sealed1.size() * 8; ++i) {
    Bytes flipped = sealed1;
    flipped[i / 8] ^= static_cast<std::uint8_t>(1u << (i % 8));
    REQUIRE(aead_open(key, flipped, ad).status().code() == Code::kAuthFailed);
  }
  REQUIRE(aead_open(key, sealed1, as_bytes("HL1/other")).status().code() == Code::kAuthFailed);
  REQUIRE(aead_open(random_secret(32), sealed1, ad).status().code() == Code::kAuthFailed);
  REQUIRE(aead_open(key, Bytes(10), ad).status().code() == Code::kInvalidArgument);
}

TEST_CASE("no nonce repeats across many seals", "[crypto]") {
  SecretBytes key = random_secret(kAeadKeyBytes);
  std::set<Bytes> nonces;
  for (int i = 0; i < 100000; ++i) {
    Bytes sealed = aead_seal(key, {}, {});
    nonces.emplace(sealed.begin(), sealed.begin() + kAeadNonceBytes);
  }
  REQUIRE(nonces.size() == 100000);
}

TEST_CASE("base64url is strict and canonical", "[crypto]") {
  for (std::size_t n = 0; n < 70; ++n) {
    Bytes b = random_bytes(n);
    std::string text = base64url_encode(b);
    REQUIRE(text.find('=') == std::string::npos);
    REQUIRE(base64url_decode(text).value() == b);
  }
  REQUIRE(base64url_encode(to_bytes("\xfb\xff")) == "-_8");
  REQUIRE_FALSE(base64url_decode("-_8=").is_ok());   // padding
  REQUIRE_FALSE(base64url_decode("+/8").is_ok());    // standard alphabet
  REQUIRE_FALSE(base64url_decode("-_9").is_ok());    // stray low bits
  REQUIRE_FALSE(base64url_decode("abcde").is_ok());  // impossible length
  REQUIRE_FALSE(base64url_decode("ab cd").is_ok());  // whitespace
  REQUIRE(base64url_decode("").value().empty());
}

TEST_CASE("every padded length falls in a bucket", "[crypto]") {
  // reference/crypto.md P15: payloads 0..70000 pad to a bucket or are refused.
  for (std::size_t n = 0; n <= 70000; n += (n < 1100 ? 1 : 97)) {
    Bytes payload(n, 0x80);  // 0x80 is the pad marker: make sure it is not confused
    auto padded = pad_to_bucket(payload);
    if (n > kMaxPaddedPayload) {
      REQUIRE(padded.status().code() == Code::kLimitExceeded);
      continue;
    }
    REQUIRE(bucket_for(n) == padded->size());
    REQUIRE(std::find(kPadBuckets.begin(), kPadBuckets.end(), padded->size()) != kPadBuckets.end());
    REQUIRE(unpad_bucket(*padded).value() == payload);
  }
  REQUIRE(pad_to_bucket(Bytes(255)).value().size() == 256);
  REQUIRE(pad_to_bucket(Bytes(256)).value().size() == 1024);
  REQUIRE(pad_to_bucket(Bytes(65535)).value().size() == 65536);
  REQUIRE_FALSE(unpad_bucket(Bytes(256, 0)).is_ok());  // no marker: malformed
  REQUIRE_FALSE(unpad_bucket(Bytes(300, 0)).is_ok());  // not a bucket size
}

TEST_CASE("sealed org records open only with the org key", "[crypto]") {
  DhKey org = DhKey::generate();
  DhKey other = DhKey::generate();
  Bytes sealed = seal_org_record(org.public_key(), as_bytes("outcome=referred"));
  REQUIRE(sealed.size() == 16 + kSealOverhead);
  REQUIRE(to_string(open_org_record(org, sealed).value()) == "outcome=referred");
  REQUIRE(open_org_record(other, sealed).status().code() == Code::kAuthFailed);
  sealed.back() ^= 1;
  REQUIRE(open_org_record(org, sealed).status().code() == Code::kAuthFailed);
  REQUIRE(open_org_record(org, Bytes(10)).status().code() == Code::kInvalidArgument);
}

TEST_CASE("signing and DH keys", "[crypto]") {
  SigningKey sk = SigningKey::generate();
  Signature sig = sk.sign(as_bytes("message"));
  REQUIRE(verify_signature(sk.public_key(), as_bytes("message"), sig).is_ok());
  REQUIRE(verify_signature(sk.public_key(), as_bytes("messagE"), sig).code() == Code::kAuthFailed);
  REQUIRE(SigningKey::from_seed(sk.seed().view())->public_key() == sk.public_key());

  DhKey a = DhKey::generate();
  DhKey b = DhKey::generate();
  SecretBytes ab = a.agree(b.public_key()).value();
  SecretBytes ba = b.agree(a.public_key()).value();
  REQUIRE(constant_time_equal(ab.view(), ba.view()));
  DhPublicKey zero{};  // the identity point: all-zero output must be refused
  REQUIRE(a.agree(zero).status().code() == Code::kAuthFailed);
  REQUIRE(fingerprint(sk.public_key()).size() == 16 * 4 + 15);
}

TEST_CASE("the seeded random source is reproducible and restores the real one", "[crypto]") {
  Bytes seed(32, 7);
  Bytes first, second;
  {
    testing::ScopedDeterministicRandom rng(seed);
    first = random_bytes(100);
  }
  {
    testing::ScopedDeterministicRandom rng(seed);
    second = random_bytes(37);
    append(second, random_bytes(63));  // chunking does not change the stream
  }
  REQUIRE(first == second);
  REQUIRE(random_bytes(100) != first);
}

TEST_CASE("HKDF refuses impossible lengths and KDF checks its context", "[crypto]") {
  REQUIRE(hkdf({}, as_bytes("ikm"), {}, 255 * 32).is_ok());
  REQUIRE(hkdf({}, as_bytes("ikm"), {}, 255 * 32 + 1).status().code() == Code::kInvalidArgument);
  SecretBytes master = random_secret(32);
  REQUIRE(derive_subkey(master, 1, "HLVAULT1", 32).is_ok());
  REQUIRE_FALSE(derive_subkey(master, 1, "short", 32).is_ok());
}

TEST_CASE("an empty Argon2id password is hashed, not undefined behaviour", "[crypto]") {
  // Regression: an empty view's null pointer reached crypto_pwhash's nonnull argument.
  auto key = argon2id({}, Bytes(kArgonSaltBytes, 1), 32, 1, 8192);
  REQUIRE(key.is_ok());
  REQUIRE(key->size() == 32);
}

}  // namespace
}  // namespace hearth::crypto
