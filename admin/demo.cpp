// hearth-admin demo DIR: a whole demo organisation in DIR so a newcomer sees
// Hearth work in a minute — an org root key and a roster key (in DIR/org,
// which in a real deployment stays on the admin's offline machine), one
// responder certified for every queue with an encrypted keystore, a signed
// roster, the default routing rules, and a hearthd configuration listening on
// 127.0.0.1.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "admin/command.h"
#include "clients/lib/responder_store.h"
#include "common/clock.h"
#include "common/files.h"
#include "crypto/codename.h"
#include "crypto/sodium_init.h"
#include "crypto/trust.h"
#include "triage/rules.h"

namespace hearth::admin {
namespace {

namespace fs = std::filesystem;

// The nine restoration-service queues, named as the routing envelope's needs.
const std::vector<std::string> kQueues = {
    "immediate-safety", "shelter",        "medical",      "counselling",        "legal",
    "immigration",      "work-education", "peer-support", "culturally-specific"};

Status write_text(const fs::path& path, const std::string& text, Overwrite overwrite) {
  return write_private_file(path, as_bytes(text), overwrite);
}

Status write_key(const fs::path& path, const crypto::SigningKey& key) {
  crypto::SecretBytes seed = key.seed();
  std::string hex = to_hex(seed.view()) + "\n";
  Status s = write_text(path, hex, Overwrite::kRefuse);
  crypto::wipe(MutableByteView(reinterpret_cast<std::uint8_t*>(hex.data()), hex.size()));
  return s;
}

// A JSON string literal for `s` (paths may hold quotes or backslashes).
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string config_json(int port, int metrics_port, const std::string& org_root_hex,
                        std::uint32_t effort, const std::string& rules_file) {
  return "{\n"
         "  \"data_dir\": \"data\",\n"
         "  \"org_root_key\": \"" +
         org_root_hex +
         "\",\n"
         "  \"roster_file\": \"roster.bin\",\n"
         "  \"rules_file\": " +
         json_string(rules_file) +
         ",\n"
         "  \"listen\": {\"address\": \"127.0.0.1\", \"port\": " +
         std::to_string(port) +
         "},\n"
         "  \"metrics\": {\"address\": \"127.0.0.1\", \"port\": " +
         std::to_string(metrics_port) +
         "},\n"
         "  \"pow\": {\"effort\": " +
         std::to_string(effort) +
         "}\n"
         "}\n";
}

int demo(const fs::path& dir, int port, int metrics_port, std::uint32_t effort,
         const std::string& responder_id) {
  crypto::ensure_initialized();
  const UnixSeconds now = SystemClock().now();
  if (fs::exists(dir / "org"))
    return fail(dir.string(), error(Code::kAlreadyExists,
                                    "a demo organisation is already there (remove the "
                                    "directory to start over)"));
  for (const auto& sub : {dir / "org", dir / "server", dir / ("responder-" + responder_id)}) {
    if (Status s = make_private_directory(sub); !s.is_ok()) return fail(sub.string(), s);
  }

  // The org: root key certifies a roster key for a year.
  crypto::SigningKey root = crypto::SigningKey::generate();
  crypto::SigningKey roster_key = crypto::SigningKey::generate();
  crypto::RosterKeyCertificate rkc =
      crypto::certify_roster_key(root, roster_key.public_key(), now - 60, now + 365 * 86400);
  const std::string root_hex = to_hex(root.public_key().view());
  if (Status s = write_key(dir / "org" / "root.key", root); !s.is_ok())
    return fail("org/root.key", s);
  if (Status s = write_key(dir / "org" / "roster.key", roster_key); !s.is_ok())
    return fail("org/roster.key", s);
  if (Status s = write_private_file(dir / "org" / "roster-key.cert", rkc.encode()); !s.is_ok())
    return fail("org/roster-key.cert", s);
  if (Status s = write_text(dir / "org" / "root.pub", root_hex + "\n", Overwrite::kRefuse);
      !s.is_ok())
    return fail("org/root.pub", s);

  // One responder, certified for every queue, English and Spanish.
  crypto::SigningKey signing = crypto::SigningKey::generate();
  crypto::DhKey dh = crypto::DhKey::generate();
  auto cert = crypto::issue_certificate(roster_key, {responder_id,
                                                     kQueues,
                                                     {"en", "es"},
                                                     signing.public_key(),
                                                     dh.public_key(),
                                                     now - 60,
                                                     now + 90 * 86400,
                                                     1});
  if (!cert.is_ok()) return fail("certificate", cert.status());

  crypto::RosterContents contents;
  contents.epoch = 1;
  contents.issued_at = now - 60;
  contents.expires_at = now + crypto::kDefaultRosterLifetime;
  for (const auto& q : kQueues) contents.queues.push_back({q, {cert->hash()}});
  auto roster = crypto::sign_roster(roster_key, rkc, std::move(contents));
  if (!roster.is_ok()) return fail("roster", roster.status());
  if (Status s = write_private_file(dir / "server" / "roster.bin", roster->encode()); !s.is_ok())
    return fail("server/roster.bin", s);
  // The shipped routing rules, for the admin to edit (hearthd reloads them on SIGHUP).
  const fs::path rules_path = fs::absolute(dir / "server" / "routing.json");
  if (Status s =
          write_text(rules_path, std::string(triage::default_rules_json()), Overwrite::kRefuse);
      !s.is_ok())
    return fail("server/routing.json", s);
  if (Status s = write_text(dir / "server" / "hearthd.json",
                            config_json(port, metrics_port, root_hex, effort, rules_path.string()),
                            Overwrite::kRefuse);
      !s.is_ok())
    return fail("server/hearthd.json", s);

  // The responder's keystore, under a passphrase of four random words. A real
  // responder chooses their own; the demo writes it down beside the store.
  crypto::Codename words = crypto::Codename::draw();
  std::string passphrase;
  auto w = words.words();
  for (std::size_t i = 0; i < 4; ++i) passphrase.append(w[i]).append(i < 3 ? "-" : "");
  const fs::path store_dir = dir / ("responder-" + responder_id);
  auto store = client::ResponderStore::create(store_dir, passphrase, signing, dh, cert->encode(),
                                              root.public_key());
  if (!store.is_ok()) return fail(store_dir.string(), store.status());
  const fs::path passphrase_file = dir / ("responder-" + responder_id + ".passphrase");
  if (Status s = write_text(passphrase_file, passphrase + "\n", Overwrite::kRefuse); !s.is_ok())
    return fail(passphrase_file.string(), s);
  crypto::wipe(
      MutableByteView(reinterpret_cast<std::uint8_t*>(passphrase.data()), passphrase.size()));

  std::printf(
      "Demo organisation created in %s\n"
      "  org root fingerprint  %s\n"
      "  org root public key   %s  (org/root.pub; clients pin it)\n"
      "  org/root.key, org/roster.key   the org's private keys: offline in real life\n"
      "  server/hearthd.json, server/roster.bin   hearthd's config and signed roster\n"
      "  server/routing.json   the routing rules (edit, check with `hearth-admin rules validate`)\n"
      "  responder-%s/   %s's encrypted keystore (passphrase in responder-%s.passphrase)\n",
      dir.c_str(), crypto::fingerprint(root.public_key()).c_str(), root_hex.c_str(),
      responder_id.c_str(), responder_id.c_str(), responder_id.c_str());
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
  commands.add(cmd,
               [o] { return demo(o->dir, o->port, o->metrics_port, o->effort, o->responder_id); });
}

}  // namespace hearth::admin
