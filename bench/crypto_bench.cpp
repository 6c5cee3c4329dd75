// crypto_bench: what Hearth's crypto costs per message and per session.
//
//   ratchet   encrypt + decrypt of one 256-byte message through the Double Ratchet
//             (chain step, padding, AEAD, state copy for all-or-nothing decrypt),
//             alternating direction every 4 messages so DH steps are included
//   aead      seal + open of the same 256 bytes with XChaCha20-Poly1305 alone, and
//             of 1 KiB (the bucket a 256-byte message is padded to)
//   x3dh      a full handshake: roster + bundle verification, 4 DHs each side
//   argon2id  one vault key derivation (ops 3, 64 MiB)
//
// Prints median and p99 per operation, in microseconds. --quick runs fewer
// iterations (a smoke test). Method and figures: docs/performance.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "crypto/trust.h"
#include "crypto/x3dh.h"

namespace {

using namespace hearth;
using namespace hearth::crypto;
using Clock = std::chrono::steady_clock;

struct Stats {
  double median_us;
  double p99_us;
};

Stats measure(int iterations, const std::function<void()>& op) {
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    auto start = Clock::now();
    op();
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) { return samples[static_cast<std::size_t>(q * (samples.size() - 1))]; };
  return {at(0.5), at(0.99)};
}

void report(const char* name, int iterations, Stats s) {
  std::printf("%-34s %8d runs   median %10.1f us   p99 %10.1f us\n", name, iterations, s.median_us,
              s.p99_us);
}

[[noreturn]] void die(const char* what, const Status& s) {
  std::fprintf(stderr, "crypto_bench: %s: %s\n", what, s.to_string().c_str());
  std::exit(1);
}

struct Org {
  UnixSeconds now = 1'800'000'000;
  SigningKey root = SigningKey::generate();
  SigningKey roster_key = SigningKey::generate();
  SigningKey signing = SigningKey::generate();
  DhKey identity = DhKey::generate();
  ResponderCertificate cert;
  SignedPrekey spk;
  std::optional<DhKey> spk_private;
  std::optional<VerifiedRoster> roster;

  Org() {
    auto rkc = certify_roster_key(root, roster_key.public_key(), now - 60, now + 86400);
    cert = issue_certificate(roster_key, {"ana",
                                          {"legal"},
                                          {"en"},
                                          signing.public_key(),
                                          identity.public_key(),
                                          now - 60,
                                          now + 86400,
                                          1})
               .value();
    auto [p, priv] = generate_signed_prekey(signing, 1, now + 86400);
    spk = p;
    spk_private = std::move(priv);
    RosterContents c;
    c.epoch = 1;
    c.issued_at = now - 60;
    c.expires_at = now + 86400;
    c.queues = {{"legal", {cert.hash()}}};
    roster = verify_roster(root.public_key(), sign_roster(roster_key, rkc, c).value(), now).value();
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (argc > 1 && !quick) {
    std::fprintf(stderr, "usage: crypto_bench [--quick]\n");
    return 2;
  }
  const int messages = quick ? 2000 : 50000;
  const int handshakes = quick ? 100 : 2000;
  const int argon_runs = quick ? 2 : 10;

  Org org;
  const Bytes payload = random_bytes(256);  // 256 bytes pads to the 1 KiB bucket

  // Bare AEAD.
  SecretBytes key = random_secret(kAeadKeyBytes);
  Bytes ad = random_bytes(64);
  report("aead seal+open (256 B)", messages, measure(messages, [&] {
           Bytes sealed = aead_seal(key, payload, ad);
           if (!aead_open(key, sealed, ad).is_ok()) std::abort();
         }));

  // The ratchet pads 256 bytes to the 1 KiB bucket, so this is the AEAD work inside a step.
  const Bytes padded_payload = random_bytes(1024);
  report("aead seal+open (1 KiB)", messages, measure(messages, [&] {
           Bytes sealed = aead_seal(key, padded_payload, ad);
           if (!aead_open(key, sealed, ad).is_ok()) std::abort();
         }));

  // A session for the ratchet.
  std::vector<Bytes> known = {org.roster->hash()};
  PrekeyBundle bundle{org.cert, org.spk, std::nullopt};
  DhKey survivor_identity = DhKey::generate();
  auto init =
      x3dh_initiate(*org.roster, bundle, "legal", survivor_identity, random_bytes(16), org.now);
  if (!init.is_ok()) die("x3dh", init.status());
  auto session =
      x3dh_respond({org.cert, org.identity, *org.spk_private, nullptr}, init->header, known);
  if (!session.is_ok()) die("x3dh", session.status());
  Ratchet a = Ratchet::init_initiator(init->session.shared_key.clone(),
                                      init->session.associated_data, init->responder_ratchet_key)
                  .value();
  Ratchet b =
      Ratchet::init_responder(std::move(session->shared_key), std::move(session->associated_data),
                              org.spk_private->clone());
  if (!b.decrypt(a.encrypt(payload).value()).is_ok()) std::abort();
  int n = 0;
  report("ratchet encrypt+decrypt (256 B)", messages, measure(messages, [&] {
           bool forward = (n++ / 4) % 2 == 0;  // switch direction every 4: DH steps included
           Ratchet& from = forward ? a : b;
           Ratchet& to = forward ? b : a;
           auto wire = from.encrypt(payload);
           if (!wire.is_ok() || !to.decrypt(*wire).is_ok()) std::abort();
         }));

  report("x3dh initiate+respond", handshakes, measure(handshakes, [&] {
           DhKey ik = DhKey::generate();
           auto i = x3dh_initiate(*org.roster, bundle, "legal", ik, random_bytes(16), org.now);
           if (!i.is_ok()) std::abort();
           auto s =
               x3dh_respond({org.cert, org.identity, *org.spk_private, nullptr}, i->header, known);
           if (!s.is_ok()) std::abort();
         }));

  Bytes salt = random_bytes(kArgonSaltBytes);
  report("argon2id (ops 3, 64 MiB)", argon_runs, measure(argon_runs, [&] {
           if (!argon2id(as_bytes("seven words of a codename go here"), salt, 32).is_ok())
             std::abort();
         }));
  return 0;
}
