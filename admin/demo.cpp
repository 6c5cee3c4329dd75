// hearth-admin demo DIR: a whole demo organisation in DIR so a newcomer sees
// Hearth work in a minute — an org root key and a roster key (in DIR/org,
// which in a real deployment stays on the admin's offline machine), one
// responder certified for every queue with an encrypted keystore, a signed
// roster, the default routing rules, and a hearthd configuration listening on
// 127.0.0.1. It is built from the same code as init, responder enrolment and
// roster signing (admin/org.h, clients/lib/enrollment.h).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "admin/command.h"
#include "admin/org.h"
#include "clients/lib/enrollment.h"
#include "common/clock.h"
#include "common/files.h"
#include "crypto/codename.h"
#include "crypto/sodium_init.h"

namespace hearth::admin {
namespace {

namespace fs = std::filesystem;

// The nine restoration-service queues, named as the routing envelope's needs.
const std::vector<std::string> kQueues = {
    "immediate-safety", "shelter",        "medical",      "counselling",        "legal",
    "immigration",      "work-education", "peer-support", "culturally-specific"};

// The same steps as a real org (docs/hearth-admin.md), done in one go: init,
// the responder's key request, the admin's certificate, the responder's
// install, and a signed roster.
int demo(const fs::path& dir, int port, int metrics_port, std::uint32_t effort,
         const std::string& responder_id, const std::string& web_root) {
  crypto::ensure_initialized();
  const UnixSeconds now = SystemClock().now();
  if (fs::exists(dir / "org"))
    return fail(dir.string(), error(Code::kAlreadyExists,
                                    "a demo organisation is already there (remove the "
                                    "directory to start over)"));
  InitOptions options;
  options.name = "Hearth demo";
  options.port = port;
  options.metrics_port = metrics_port;
  options.pow_effort = effort;
  if (!web_root.empty()) options.web_root = fs::absolute(web_root).lexically_normal().string();
  auto org = Org::init(dir, options, now);
  if (!org.is_ok()) return fail(dir.string(), org.status());
  auto root = org->root_public_key();
  if (!root.is_ok()) return fail(dir.string(), root.status());

  // The responder's keystore, under a passphrase of four random words. A real
  // responder chooses their own; the demo writes it down beside the store.
  crypto::Codename words = crypto::Codename::draw();
  std::string passphrase;
  auto w = words.words();
  for (std::size_t i = 0; i < 4; ++i) passphrase.append(w[i]).append(i < 3 ? "-" : "");
  auto wipe_passphrase = [&] {
    crypto::wipe(
        MutableByteView(reinterpret_cast<std::uint8_t*>(passphrase.data()), passphrase.size()));
  };
  const fs::path store_dir = dir / ("responder-" + responder_id);
  auto request = client::begin_enrollment(store_dir, passphrase, responder_id);
  if (!request.is_ok()) {
    wipe_passphrase();
    return fail(store_dir.string(), request.status());
  }
  // Certified for every queue, English and Spanish.
  EnrollParams params;
  params.queues = kQueues;
  params.languages = {"en", "es"};
  auto cert = org->enroll(*request, params, now);
  if (!cert.is_ok()) {
    wipe_passphrase();
    return fail("certificate", cert.status());
  }
  auto store = client::complete_enrollment(store_dir, passphrase, *cert, *root, now);
  if (!store.is_ok()) {
    wipe_passphrase();
    return fail(store_dir.string(), store.status());
  }
  store->reset();
  const fs::path passphrase_file = dir / ("responder-" + responder_id + ".passphrase");
  Status written =
      write_private_file(passphrase_file, as_bytes(passphrase + "\n"), Overwrite::kRefuse);
  wipe_passphrase();
  if (!written.is_ok()) return fail(passphrase_file.string(), written);

  auto roster = org->sign_roster(14, now);
  if (!roster.is_ok()) return fail("roster", roster.status());

  const std::string root_hex = to_hex(root->view());
  std::printf(
      "Demo organisation created in %s\n"
      "  org root fingerprint  %s\n"
      "  org root public key   %s  (org/root.pub; clients pin it)\n"
      "  org/root.key, org/roster.key   the org's private keys: offline in real life\n"
      "  server/hearthd.json, server/roster.bin   hearthd's config and signed roster\n"
      "  server/routing.json   the routing rules (edit, check with `hearth-admin rules validate`)\n"
      "  responder-%s/   %s's encrypted keystore (passphrase in responder-%s.passphrase)\n",
      dir.c_str(), crypto::fingerprint(*root).c_str(), root_hex.c_str(), responder_id.c_str(),
      responder_id.c_str(), responder_id.c_str());
  if (options.web_root) {
    std::printf("  the survivor's page   served from %s at http://%s:%d/\n",
                options.web_root->c_str(), options.address.c_str(), port);
  }
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& app, Commands& commands) {
  struct DemoOptions {
    std::string dir;
    int port = 8750;
    int metrics_port = 8751;
    std::uint32_t effort = 20000;
    std::string responder_id = "ana";
    std::string web_root;
  };
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo", "create a demo organisation: keys, one responder, a roster and a hearthd config");
  cmd->add_option("dir", o->dir, "directory to create it in")->required();
  cmd->add_option("--port", o->port, "hearthd's port on 127.0.0.1 (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--metrics-port", o->metrics_port, "the loopback metrics port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--pow-effort", o->effort, "proof-of-work effort asked of survivors")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 24));
  cmd->add_option("--responder", o->responder_id, "the demo responder's id")->capture_default_str();
  cmd->add_option("--web-root", o->web_root,
                  "serve the survivor's page from this directory (hearthd's web.root)");
  commands.add(cmd, [o] {
    return demo(o->dir, o->port, o->metrics_port, o->effort, o->responder_id, o->web_root);
  });
}

}  // namespace hearth::admin
