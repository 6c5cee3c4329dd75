// `hearth-console enroll`: a new responder's half of enrolment
// (clients/lib/enrollment.h has the formats and the checks).
//
//   hearth-console enroll --data DIR --id maria
//       makes the keys (kept in DIR, encrypted under the passphrase asked
//       twice), writes the key request and prints its fingerprint;
//   hearth-console enroll --data DIR --certificate maria.cert --org-root KEY
//       checks the admin's certificate against the org root, creates the
//       keystore and wipes the pending keys.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "clients/cli/org_key.h"
#include "clients/cli/terminal.h"
#include "clients/console/console.h"
#include "clients/console/console_core.h"
#include "clients/lib/enrollment.h"
#include "common/files.h"
#include "crypto/sodium_init.h"

namespace hearth::console {
namespace {

namespace fs = std::filesystem;
using client::EnrollmentCertificate;

int failed(const std::string& what, const Status& s) {
  std::fprintf(stderr, "hearth-console: %s: %s\n", what.c_str(), s.message().c_str());
  return 1;
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The passphrase (console_core's read_passphrase), asked twice when
// `confirm` and it comes from the terminal, since a typo here would lock the
// responder out of keys nobody else holds.
std::optional<std::string> read_passphrase(const std::string& file, bool confirm) {
  cli::LineReader in;
  const bool typed = file.empty() && std::getenv("HEARTH_PASSPHRASE") == nullptr;
  auto first = console::read_passphrase(
      file, in, confirm ? "Choose a passphrase (8+ characters): " : "Passphrase: ");
  if (!first || !confirm || !typed) return first;
  auto second = cli::read_hidden(in, "The same passphrase again: ");
  if (!second) {
    cli::wipe(*first);
    return std::nullopt;
  }
  const bool same = *first == *second;
  cli::wipe(*second);
  if (!same) {
    cli::wipe(*first);
    std::fprintf(stderr, "hearth-console: the two passphrases differ; nothing was made\n");
    return std::string();
  }
  return first;
}

int request_keys(const EnrollOptions& o) {
  if (o.responder_id.empty()) {
    std::fprintf(stderr,
                 "hearth-console: enroll needs --id ID (the id you ask for) for the first step, "
                 "or --certificate FILE --org-root KEY for the second (see --help)\n");
    return 2;
  }
  const fs::path dir = o.data_dir;
  const fs::path request_path =
      o.request_file.empty() ? dir / "key-request.txt" : fs::path(o.request_file);
  auto passphrase = read_passphrase(o.passphrase_file, /*confirm=*/true);
  if (!passphrase) {
    std::fprintf(stderr, "hearth-console: no passphrase\n");
    return 2;
  }
  if (passphrase->empty()) return 1;  // the two prompts differed (said above)
  auto request = client::begin_enrollment(dir, *passphrase, o.responder_id);
  cli::wipe(*passphrase);
  if (!request.is_ok()) return failed(dir.string(), request.status());
  const std::string text = request->armoured();
  if (Status s = write_private_file(request_path, as_bytes(text)); !s.is_ok())
    return failed(request_path.string(), s);
  std::printf(
      "Your keys are made and kept in %s, encrypted under your passphrase.\n"
      "Key request for \"%s\" written to %s.\n"
      "Give that file to your organisation's admin, then read this fingerprint to them\n"
      "by phone or in person; they must see the same one before they certify it:\n"
      "  %s\n"
      "When they send back your certificate, run:\n"
      "  hearth-console enroll --data %s --certificate FILE --org-root ORG-ROOT-KEY\n",
      dir.c_str(), request->responder_id.c_str(), request_path.c_str(),
      request->fingerprint().c_str(), dir.c_str());
  return 0;
}

int install_certificate(const EnrollOptions& o) {
  if (o.org_root.empty()) {
    std::fprintf(stderr,
                 "hearth-console: --certificate needs --org-root KEY (the org root public key "
                 "your admin gave you: 64 hex digits, or a file holding it)\n");
    return 2;
  }
  auto org_root = cli::load_org_root(o.org_root);
  if (!org_root.is_ok()) return failed("--org-root", org_root.status());
  // The certificate is public: any readable file will do (bounded).
  std::ifstream in(o.certificate_file, std::ios::binary);
  if (!in) return failed(o.certificate_file, error(Code::kNotFound, "cannot read that file"));
  std::string text(client::kMaxArmouredBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto cert = EnrollmentCertificate::parse(text);
  if (!cert.is_ok()) return failed(o.certificate_file, cert.status());

  std::printf("Org root fingerprint: %s\n(check it matches the one your admin told you)\n",
              crypto::fingerprint(*org_root).c_str());
  auto passphrase = read_passphrase(o.passphrase_file, /*confirm=*/false);
  if (!passphrase) {
    std::fprintf(stderr, "hearth-console: no passphrase\n");
    return 2;
  }
  auto store =
      client::complete_enrollment(o.data_dir, *passphrase, *cert, *org_root, SystemClock().now());
  cli::wipe(*passphrase);
  if (!store.is_ok()) return failed(o.data_dir, store.status());
  const auto& f = cert->certificate.fields;
  std::printf(
      "Enrolled as %s (queues: %s; languages: %s; certificate valid until %s).\n"
      "Your pending keys were wiped; your keystore is %s.\n"
      "Once your admin has signed a new roster, log in with:\n"
      "  hearth-console --data %s --server wss://YOUR-SERVER/v1/ws\n",
      f.responder_id.c_str(), joined(f.queues).c_str(), joined(f.languages).c_str(),
      cli::utc_time(f.not_after).c_str(),
      (fs::path(o.data_dir) / client::ResponderStore::kStoreFileName).c_str(), o.data_dir.c_str());
  return 0;
}

}  // namespace

int run_enroll(const EnrollOptions& options) {
  crypto::ensure_initialized();
  if (!options.certificate_file.empty()) return install_certificate(options);
  return request_keys(options);
}

}  // namespace hearth::console
