// Wycheproof edge-case vectors (C2SP/wycheproof testvectors_v1) run against the
// primitive layer. The files are read in place from test::vectors_dir()/wycheproof
// and never copied into the project.
//
// Every test case in a file is counted exactly once: accepted (the primitive
// produced the stated output or verified the input), rejected (it refused the
// input or produced a different MAC/KDF output), or skipped (its group asks for
// parameters the primitive cannot take at all). Each file must check at least one
// case, and the three counts must add up to the file's numberOfTests.
//
// Results, per Wycheproof's schema:
//   valid       must be accepted with exactly the stated output;
//   invalid     must be rejected;
//   acceptable  follows libsodium's documented behaviour, decided per file below.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "tests/support/test_support.h"

namespace hearth::crypto {
namespace {

using nlohmann::json;

struct Tally {
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  std::size_t skipped = 0;

  std::size_t checked() const { return accepted + rejected; }
};

// Where vectors_dir() looked, for the failure message: it honours the
// environment variable first, then the build-time default.
std::string vectors_dir_sought() {
  const char* env = std::getenv("HEARTH_VECTORS_DIR");
  if (env != nullptr && *env != '\0') return env;
  return HEARTH_VECTORS_DIR;
}

// Reads and parses wycheproof/<file>. Fails the test case (never passes it
// quietly) when the folder or the file is missing or is not a Wycheproof file.
json load_vectors(const std::string& file) {
  std::optional<std::filesystem::path> dir = test::vectors_dir();
  if (!dir) {
    FAIL("Wycheproof vectors not found: looked for " << vectors_dir_sought() << "/wycheproof/"
                                                     << file
                                                     << ". Set HEARTH_VECTORS_DIR to the folder "
                                                        "that holds wycheproof/.");
  }
  const std::filesystem::path path = *dir / "wycheproof" / file;
  std::optional<std::string> text = test::read_file(path);
  if (!text) FAIL("cannot read " << path.string());
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded()) FAIL(path.string() << " is not valid JSON");
  if (!doc.is_object() || !doc.contains("testGroups") || !doc["testGroups"].is_array() ||
      !doc.contains("numberOfTests") || !doc["numberOfTests"].is_number_unsigned()) {
    FAIL(path.string() << " lacks testGroups or numberOfTests");
  }
  return doc;
}

// A hex field of a test or group; fails the test case when it is absent or malformed.
Bytes hex_field(const json& object, const char* name) {
  if (!object.contains(name) || !object[name].is_string())
    FAIL("missing hex field \"" << name << "\"");
  std::optional<Bytes> bytes = from_hex(object[name].get<std::string>());
  if (!bytes) FAIL("field \"" << name << "\" is not hex");
  return std::move(*bytes);
}

std::string string_field(const json& object, const char* name) {
  if (!object.contains(name) || !object[name].is_string())
    FAIL("missing string field \"" << name << "\"");
  return object[name].get<std::string>();
}

std::size_t size_field(const json& object, const char* name) {
  if (!object.contains(name) || !object[name].is_number_unsigned())
    FAIL("missing size field \"" << name << "\"");
  return object[name].get<std::size_t>();
}

bool has_flag(const json& test, const char* flag) {
  if (!test.contains("flags") || !test["flags"].is_array()) return false;
  for (const json& f : test["flags"]) {
    if (f.is_string() && f.get<std::string>() == flag) return true;
  }
  return false;
}

const json& tests_of(const json& group) {
  if (!group.contains("tests") || !group["tests"].is_array()) FAIL("group without tests");
  return group["tests"];
}

// The per-case context printed with any failing check.
std::string describe(const std::string& file, const json& test) {
  std::string out = file + " tcId " + std::to_string(size_field(test, "tcId"));
  if (test.contains("comment") && test["comment"].is_string() &&
      !test["comment"].get<std::string>().empty()) {
    out += " (" + test["comment"].get<std::string>() + ")";
  }
  return out;
}

// Prints the one-line summary and holds the file to its own count.
void finish(const std::string& file, const json& doc, const Tally& tally) {
  WARN(file << ": " << tally.accepted << " accepted, " << tally.rejected << " rejected, "
            << tally.skipped << " skipped");
  REQUIRE(tally.checked() > 0);
  REQUIRE(tally.checked() + tally.skipped == doc["numberOfTests"].get<std::size_t>());
}

// ---------------------------------------------------------------------------
// X25519 (xdh_comp_schema_v1)
// ---------------------------------------------------------------------------

// Decisions for "acceptable" cases:
//  - ZeroSharedSecret (low-order public points): our wrapper refuses an all-zero
//    shared secret (libsodium's crypto_scalarmult returns -1 for it; RFC 7748
//    §6.1 allows the check). That refusal is a feature, so it is asserted.
//  - Twist, NonCanonicalPublic, SmallPublicKey, EdgeCaseShared and the other
//    acceptable cases: libsodium computes X25519 as RFC 7748 defines it (bit 255
//    masked, non-canonical u reduced mod p, twist points multiplied). If it
//    accepts, the result must be the stated one, since a wrong result would leak
//    key bits; a refusal is also allowed.
TEST_CASE("Wycheproof: X25519 (x25519_test.json)", "[crypto]") {
  const std::string file = "x25519_test.json";
  const json doc = load_vectors(file);
  Tally tally;
  for (const json& group : doc["testGroups"]) {
    const json& tests = tests_of(group);
    if (string_field(group, "type") != "XdhComp" || string_field(group, "curve") != "curve25519") {
      tally.skipped += tests.size();
      continue;
    }
    for (const json& test : tests) {
      INFO(describe(file, test));
      const std::string result = string_field(test, "result");
      const Bytes shared = hex_field(test, "shared");
      Result<SecretBytes> out = x25519(hex_field(test, "private"), hex_field(test, "public"));
      const bool accepted = out.is_ok();
      if (result == "valid") {
        CHECK(accepted);
        if (accepted) CHECK(to_hex(out->view()) == to_hex(shared));
      } else if (result == "invalid") {
        CHECK_FALSE(accepted);
      } else if (has_flag(test, "ZeroSharedSecret")) {
        CHECK_FALSE(accepted);
        CHECK(out.status().code() == Code::kAuthFailed);
      } else if (accepted) {
        CHECK(to_hex(out->view()) == to_hex(shared));
      }
      ++(accepted ? tally.accepted : tally.rejected);
    }
  }
  finish(file, doc, tally);
}

// ---------------------------------------------------------------------------
// Ed25519 (eddsa_verify_schema_v1)
// ---------------------------------------------------------------------------

// libsodium's crypto_sign_verify_detached is strict: it refuses S >= L, a
// small-order R, a non-canonical or small-order public key, and (in our wrapper)
// any signature length but 64 bytes; a non-canonical R never equals the R it
// recomputes. Every valid case must still verify.
// The file has no "acceptable" cases; should one appear it is only counted.
TEST_CASE("Wycheproof: Ed25519 (ed25519_test.json)", "[crypto]") {
  const std::string file = "ed25519_test.json";
  const json doc = load_vectors(file);
  Tally tally;
  for (const json& group : doc["testGroups"]) {
    const json& tests = tests_of(group);
    if (string_field(group, "type") != "EddsaVerify" || !group.contains("publicKey") ||
        string_field(group["publicKey"], "curve") != "edwards25519") {
      tally.skipped += tests.size();
      continue;
    }
    // A public key of the wrong length cannot even be formed: every signature
    // under it counts as rejected.
    Result<SigningPublicKey> public_key =
        SigningPublicKey::from(hex_field(group["publicKey"], "pk"));
    for (const json& test : tests) {
      INFO(describe(file, test));
      const std::string result = string_field(test, "result");
      const bool accepted =
          public_key.is_ok() &&
          verify_signature(*public_key, hex_field(test, "msg"), hex_field(test, "sig")).is_ok();
      if (result == "valid") {
        CHECK(accepted);
      } else if (result == "invalid") {
        CHECK_FALSE(accepted);
      }
      ++(accepted ? tally.accepted : tally.rejected);
    }
  }
  finish(file, doc, tally);
}

// ---------------------------------------------------------------------------
// AEADs (aead_test_schema_v1)
// ---------------------------------------------------------------------------

// An AEAD under test: encrypt returns ciphertext || tag, decrypt the plaintext;
// both nullopt on refusal.
struct Aead {
  std::optional<Bytes> (*encrypt)(ByteView key, ByteView nonce, ByteView plaintext, ByteView ad);
  std::optional<Bytes> (*decrypt)(ByteView key, ByteView nonce, ByteView sealed, ByteView ad);
};

// No "acceptable" cases exist in either AEAD file; one would only be checked for
// not returning a wrong plaintext.
Tally run_aead_file(const std::string& file, const json& doc, const Aead& aead,
                    std::size_t nonce_bits, bool runs_other_nonce_sizes) {
  Tally tally;
  for (const json& group : doc["testGroups"]) {
    const json& tests = tests_of(group);
    const bool supported = string_field(group, "type") == "AeadTest" &&
                           size_field(group, "keySize") == 256 &&
                           size_field(group, "tagSize") == 128 &&
                           (size_field(group, "ivSize") == nonce_bits || runs_other_nonce_sizes);
    if (!supported) {
      tally.skipped += tests.size();
      continue;
    }
    for (const json& test : tests) {
      INFO(describe(file, test));
      const std::string result = string_field(test, "result");
      const Bytes key = hex_field(test, "key");
      const Bytes nonce = hex_field(test, "iv");
      const Bytes aad = hex_field(test, "aad");
      const Bytes message = hex_field(test, "msg");
      Bytes sealed = hex_field(test, "ct");
      append(sealed, hex_field(test, "tag"));

      std::optional<Bytes> opened = aead.decrypt(key, nonce, sealed, aad);
      const bool accepted = opened.has_value();
      if (result == "valid") {
        std::optional<Bytes> encrypted = aead.encrypt(key, nonce, message, aad);
        CHECK(encrypted.has_value());
        if (encrypted) CHECK(to_hex(*encrypted) == to_hex(sealed));
        CHECK(accepted);
        if (accepted) CHECK(to_hex(*opened) == to_hex(message));
      } else if (result == "invalid") {
        CHECK_FALSE(accepted);
        // A nonce of the wrong size must be refused on the way in as well.
        if (has_flag(test, "InvalidNonceSize"))
          CHECK_FALSE(aead.encrypt(key, nonce, message, aad).has_value());
      } else if (accepted) {
        CHECK(to_hex(*opened) == to_hex(message));
      }
      ++(accepted ? tally.accepted : tally.rejected);
    }
  }
  return tally;
}

std::optional<Bytes> xchacha_encrypt(ByteView key, ByteView nonce, ByteView plaintext,
                                     ByteView ad) {
  Result<Bytes> out = detail::xchacha20poly1305_encrypt(key, nonce, plaintext, ad);
  if (!out.is_ok()) return std::nullopt;
  return std::move(out).value();
}

std::optional<Bytes> xchacha_decrypt(ByteView key, ByteView nonce, ByteView sealed, ByteView ad) {
  Result<Bytes> out = detail::xchacha20poly1305_decrypt(key, nonce, sealed, ad);
  if (!out.is_ok()) return std::nullopt;
  return std::move(out).value();
}

// The XChaCha20-Poly1305 wrapper takes the nonce as a view and refuses any
// length but 24 bytes, so the InvalidNonceSize groups are run, not skipped:
// they check that refusal.
TEST_CASE("Wycheproof: XChaCha20-Poly1305 (xchacha20_poly1305_test.json)", "[crypto]") {
  const std::string file = "xchacha20_poly1305_test.json";
  const json doc = load_vectors(file);
  const Tally tally = run_aead_file(file, doc, Aead{&xchacha_encrypt, &xchacha_decrypt},
                                    kAeadNonceBytes * 8, /*runs_other_nonce_sizes=*/true);
  finish(file, doc, tally);
}

// ChaCha20-Poly1305 (IETF, 96-bit nonce) has no wrapper in our layer because the
// protocol never uses it directly. It is the construction underneath
// XChaCha20-Poly1305 (HChaCha20 derives a subkey, then this AEAD runs with the
// remaining nonce bytes), so libsodium's function is called directly here.
// libsodium reads exactly 12 nonce bytes, so groups with other nonce sizes
// cannot be expressed and are skipped.
std::optional<Bytes> chacha_encrypt(ByteView key, ByteView nonce, ByteView plaintext, ByteView ad) {
  if (key.size() != crypto_aead_chacha20poly1305_ietf_KEYBYTES ||
      nonce.size() != crypto_aead_chacha20poly1305_ietf_NPUBBYTES) {
    return std::nullopt;
  }
  Bytes out(plaintext.size() + crypto_aead_chacha20poly1305_ietf_ABYTES);
  unsigned long long out_len = 0;
  if (crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(),
                                                plaintext.size(), ad.data(), ad.size(), nullptr,
                                                nonce.data(), key.data()) != 0) {
    return std::nullopt;
  }
  out.resize(out_len);
  return out;
}

std::optional<Bytes> chacha_decrypt(ByteView key, ByteView nonce, ByteView sealed, ByteView ad) {
  if (key.size() != crypto_aead_chacha20poly1305_ietf_KEYBYTES ||
      nonce.size() != crypto_aead_chacha20poly1305_ietf_NPUBBYTES ||
      sealed.size() < crypto_aead_chacha20poly1305_ietf_ABYTES) {
    return std::nullopt;
  }
  Bytes out(sealed.size() - crypto_aead_chacha20poly1305_ietf_ABYTES);
  unsigned long long out_len = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &out_len, nullptr, sealed.data(),
                                                sealed.size(), ad.data(), ad.size(), nonce.data(),
                                                key.data()) != 0) {
    return std::nullopt;
  }
  out.resize(out_len);
  return out;
}

TEST_CASE("Wycheproof: ChaCha20-Poly1305 (chacha20_poly1305_test.json)", "[crypto]") {
  REQUIRE(sodium_init() >= 0);
  const std::string file = "chacha20_poly1305_test.json";
  const json doc = load_vectors(file);
  const Tally tally = run_aead_file(file, doc, Aead{&chacha_encrypt, &chacha_decrypt},
                                    crypto_aead_chacha20poly1305_ietf_NPUBBYTES * 8,
                                    /*runs_other_nonce_sizes=*/false);
  finish(file, doc, tally);
}

// ---------------------------------------------------------------------------
// HMAC-SHA-256 (mac_test_schema_v1)
// ---------------------------------------------------------------------------

// A tag of tagSize bits is the leading tagSize/8 bytes of the full MAC. An
// invalid case is "rejected" when our MAC differs from the stated tag. Groups
// whose tagSize is not a whole number of bytes up to 256 bits are skipped.
TEST_CASE("Wycheproof: HMAC-SHA-256 (hmac_sha256_test.json)", "[crypto]") {
  const std::string file = "hmac_sha256_test.json";
  const json doc = load_vectors(file);
  Tally tally;
  for (const json& group : doc["testGroups"]) {
    const json& tests = tests_of(group);
    const std::size_t tag_bits = size_field(group, "tagSize");
    if (string_field(group, "type") != "MacTest" || tag_bits == 0 || tag_bits % 8 != 0 ||
        tag_bits > 256) {
      tally.skipped += tests.size();
      continue;
    }
    for (const json& test : tests) {
      INFO(describe(file, test));
      const std::string result = string_field(test, "result");
      const Bytes tag = hex_field(test, "tag");
      SecretBytes mac = hmac_sha256(hex_field(test, "key"), hex_field(test, "msg"));
      const bool accepted = constant_time_equal(mac.view().first(tag_bits / 8), tag);
      if (result == "valid") {
        CHECK(accepted);
      } else if (result == "invalid") {
        CHECK_FALSE(accepted);
      }
      ++(accepted ? tally.accepted : tally.rejected);
    }
  }
  finish(file, doc, tally);
}

// ---------------------------------------------------------------------------
// HKDF-SHA-256 (hkdf_test_schema_v1)
// ---------------------------------------------------------------------------

// The invalid cases ask for 255*32 + 1 bytes of output, which RFC 5869 forbids:
// our hkdf() refuses them with kInvalidArgument, so they are run and the refusal
// is asserted rather than skipped. An invalid case also counts as rejected if it
// produced a different output than the stated one.
TEST_CASE("Wycheproof: HKDF-SHA-256 (hkdf_sha256_test.json)", "[crypto]") {
  const std::string file = "hkdf_sha256_test.json";
  const json doc = load_vectors(file);
  Tally tally;
  for (const json& group : doc["testGroups"]) {
    const json& tests = tests_of(group);
    if (string_field(group, "type") != "HkdfTest") {
      tally.skipped += tests.size();
      continue;
    }
    for (const json& test : tests) {
      INFO(describe(file, test));
      const std::string result = string_field(test, "result");
      const std::size_t size = size_field(test, "size");
      const Bytes expected = hex_field(test, "okm");
      Result<SecretBytes> okm =
          hkdf(hex_field(test, "salt"), hex_field(test, "ikm"), hex_field(test, "info"), size);
      const bool accepted = okm.is_ok() && constant_time_equal(okm->view(), expected);
      if (result == "valid") {
        CHECK(accepted);
      } else if (result == "invalid") {
        CHECK_FALSE(accepted);
        if (size > 255 * 32) CHECK(okm.status().code() == Code::kInvalidArgument);
      }
      ++(accepted ? tally.accepted : tally.rejected);
    }
  }
  finish(file, doc, tally);
}

}  // namespace
}  // namespace hearth::crypto
