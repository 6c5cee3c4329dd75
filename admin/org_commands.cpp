// hearth-admin's org commands (command.h): init, responder enroll|list,
// revoke, roster sign|renew. The work is in admin/org.h; these parse, call and
// tell the admin what happened and what to do next.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "admin/command.h"
#include "admin/org.h"
#include "clients/lib/enrollment.h"
#include "common/clock.h"
#include "common/files.h"
#include "crypto/sodium_init.h"
#include "triage/rules.h"

namespace hearth::admin {
namespace {

namespace fs = std::filesystem;

std::string joined(const std::vector<std::string>& list, const char* sep = ",") {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string without_spaces(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\t')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int init(const std::string& dir, const InitOptions& options) {
  auto org = Org::init(dir, options, SystemClock().now());
  if (!org.is_ok()) return fail(dir, org.status());
  auto root = org->root_public_key();
  if (!root.is_ok()) return fail(dir, root.status());
  const std::string hex = to_hex(root->view());
  std::printf(
      "Organisation \"%s\" created in %s\n"
      "  org root fingerprint  %s\n"
      "  org root public key   %s\n"
      "\n"
      "  org/      the org's private keys and its records: keep this folder on this\n"
      "            machine, offline, and back it up (encrypted). It never goes to the server.\n"
      "  server/   copy this folder to the server host: hearthd.json (listens on %s:%d),\n"
      "            routing.json, data/ (an empty database and its master key)\n"
      "\n"
      "Next:\n"
      "  1. each responder runs `hearth-console enroll --data DIR --id NAME` and sends you\n"
      "     the key request;\n"
      "  2. `hearth-admin responder enroll %s REQUEST --queues ... --languages ...`\n"
      "     after comparing the fingerprint with them; hand back the certificate file and\n"
      "     the org root public key above;\n"
      "  3. `hearth-admin roster sign %s`, then copy server/ to the server and start\n"
      "     `hearthd --config server/hearthd.json`.\n",
      options.name.c_str(), dir.c_str(), crypto::fingerprint(*root).c_str(), hex.c_str(),
      options.address.c_str(), options.port, dir.c_str(), dir.c_str());
  return 0;
}

struct EnrollArgs {
  std::string dir;
  std::string request;
  std::string id;
  std::vector<std::string> queues;
  std::vector<std::string> languages;
  int valid_days = 90;
  std::string out;
  std::string fingerprint;
};

int enroll(const EnrollArgs& a) {
  crypto::ensure_initialized();
  std::ifstream in(a.request, std::ios::binary);
  if (!in) return fail(a.request, error(Code::kNotFound, "cannot read the key request"));
  std::string text(client::kMaxArmouredBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto request = client::KeyRequest::parse(text);
  if (!request.is_ok()) return fail(a.request, request.status());
  const std::string fp = request->fingerprint();
  std::printf("Key request from \"%s\"\n  fingerprint  %s\n", request->responder_id.c_str(),
              fp.c_str());
  if (!a.fingerprint.empty() && without_spaces(a.fingerprint) != without_spaces(fp))
    return fail(a.request,
                error(Code::kAuthFailed,
                      "the fingerprint differs from the one given with --fingerprint: this is "
                      "not the responder's request (nothing was certified)"));

  EnrollParams params;
  if (!a.id.empty()) params.id = a.id;
  params.queues = a.queues;
  params.languages = a.languages;
  params.valid_days = a.valid_days;
  Org org(a.dir);
  auto cert = org.enroll(*request, params, SystemClock().now());
  if (!cert.is_ok()) return fail(a.dir, cert.status());
  const auto& f = cert->certificate.fields;
  const fs::path out = a.out.empty() ? fs::path(f.responder_id + ".cert") : fs::path(a.out);
  if (Status s = write_private_file(out, as_bytes(cert->armoured())); !s.is_ok())
    return fail(out.string(), s);
  auto root = org.root_public_key();
  if (!root.is_ok()) return fail(a.dir, root.status());
  // A queue no routing rule names never receives a case: likely a typo.
  if (auto rules = triage::load_rules((org.server_dir() / "routing.json").string());
      rules.is_ok()) {
    const auto known = rules->queues();
    for (const auto& q : f.queues) {
      if (std::find(known.begin(), known.end(), q) == known.end())
        std::printf("note: no rule in server/routing.json routes to queue \"%s\"\n", q.c_str());
    }
  }
  std::printf(
      "Certified \"%s\" (serial %llu): queues %s; languages %s; valid until %s.\n"
      "%s"
      "Certificate written to %s. Give it to %s with the org root public key\n"
      "  %s\n"
      "(fingerprint %s); they install it with\n"
      "  hearth-console enroll --data DIR --certificate %s --org-root KEY\n"
      "They can log in once you sign a new roster: `hearth-admin roster sign %s`.\n",
      f.responder_id.c_str(), static_cast<unsigned long long>(f.serial), joined(f.queues).c_str(),
      joined(f.languages).c_str(), utc_time(f.not_after).c_str(),
      a.fingerprint.empty() ? "(You did not pass --fingerprint: make sure you compared it.)\n"
                            : "Fingerprint matched.\n",
      out.c_str(), f.responder_id.c_str(), to_hex(root->view()).c_str(),
      crypto::fingerprint(*root).c_str(), out.filename().c_str(), a.dir.c_str());
  return 0;
}

int list(const std::string& dir) {
  Org org(dir);
  auto state = org.load();
  if (!state.is_ok()) return fail(dir, state.status());
  auto last = org.last_roster();
  if (!last.is_ok()) return fail(dir, last.status());
  const UnixSeconds now = SystemClock().now();
  auto listed = [&](const OrgResponder& r) {
    if (!*last) return false;
    Bytes h = r.hash();
    for (const auto& q : (*last)->contents.queues)
      if (std::find(q.certificate_hashes.begin(), q.certificate_hashes.end(), h) !=
          q.certificate_hashes.end())
        return true;
    return false;
  };
  auto revoked_listed = [&](const OrgResponder& r) {
    if (!*last) return false;
    const auto& rv = (*last)->contents.revoked;
    return std::find(rv.begin(), rv.end(), r.hash()) != rv.end();
  };
  std::printf("%s: %zu certificate(s)\n", state->name.c_str(), state->responders.size());
  if (state->roster_epoch == 0)
    std::printf("No roster signed yet (hearth-admin roster sign %s).\n", dir.c_str());
  else
    std::printf("Roster epoch %llu, expires %s%s\n",
                static_cast<unsigned long long>(state->roster_epoch),
                utc_time(state->roster_expires_at).c_str(),
                state->roster_expires_at <= now ? " (EXPIRED: hearth-admin roster renew)" : "");
  std::printf("%-20s %-7s %-8s %-17s %-10s %s\n", "ID", "SERIAL", "STATE", "VALID UNTIL",
              "LANGUAGES", "QUEUES");
  for (const OrgResponder& r : state->responders) {
    std::string st = r.revoked_at ? "revoked" : (r.not_after <= now ? "expired" : "active");
    std::string note;
    if (!r.revoked_at && r.not_after > now && !listed(r)) note = "  (not on the signed roster yet)";
    if (r.revoked_at && listed(r)) note = "  (still on the signed roster: sign a new one)";
    if (r.revoked_at && !listed(r) && !revoked_listed(r) && r.not_after > now)
      note = "  (revocation not yet on a signed roster)";
    std::printf("%-20s %-7llu %-8s %-17s %-10s %s%s\n", r.id.c_str(),
                static_cast<unsigned long long>(r.serial), st.c_str(),
                utc_time(r.not_after).substr(0, 16).c_str(), joined(r.languages).c_str(),
                joined(r.queues).c_str(), note.c_str());
  }
  return 0;
}

int revoke(const std::string& dir, const std::string& id) {
  Org org(dir);
  if (Status s = org.revoke(id, SystemClock().now()); !s.is_ok()) return fail(dir, s);
  std::printf(
      "Revoked \"%s\". It takes effect when the server has a new roster:\n"
      "  hearth-admin roster sign %s\n"
      "then copy server/roster.bin to the server and send hearthd SIGHUP.\n",
      id.c_str(), dir.c_str());
  return 0;
}

int roster(const std::string& dir, int days, bool renew) {
  crypto::ensure_initialized();
  Org org(dir);
  const UnixSeconds now = SystemClock().now();
  auto report = renew ? org.renew_roster(days, now) : org.sign_roster(days, now);
  if (!report.is_ok()) return fail(dir, report.status());
  const auto& c = report->roster.contents;
  for (const auto& id : report->skipped_expired)
    std::printf("note: \"%s\"'s certificate has expired; left off the roster\n", id.c_str());
  std::printf(
      "Roster %s: epoch %llu, %zu responder(s) on %zu queue(s), %zu revoked, expires %s.\n"
      "Written to %s.\n"
      "Copy it to the server (where hearthd.json's roster_file points) and send hearthd\n"
      "SIGHUP (e.g. `systemctl reload hearthd` or `kill -HUP $(pidof hearthd)`).\n"
      "Renew it before it expires: `hearth-admin roster renew %s`.\n",
      renew ? "renewed" : "signed", static_cast<unsigned long long>(c.epoch), report->responders,
      c.queues.size(), report->revoked, utc_time(c.expires_at).c_str(),
      org.server_roster_path().c_str(), dir.c_str());
  return 0;
}

}  // namespace

void add_org_commands(CLI::App& app, Commands& commands) {
  {
    struct InitArgs {
      std::string dir;
      InitOptions options;
    };
    auto a = std::make_shared<InitArgs>();
    auto* cmd = app.add_subcommand(
        "init", "create an organisation: org root and roster keys, server config, database");
    cmd->add_option("dir", a->dir, "directory to create it in (must not hold an org already)")
        ->required();
    cmd->add_option("--name", a->options.name, "the organisation's name")->capture_default_str();
    cmd->add_option("--address", a->options.address, "the address hearthd listens on")
        ->capture_default_str();
    cmd->add_option("--port", a->options.port, "hearthd's port (0: any free port)")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--metrics-port", a->options.metrics_port,
                    "the metrics port on 127.0.0.1 (0: any free port)")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--pow-effort", a->options.pow_effort,
                    "proof-of-work effort asked of survivors")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 24));
    commands.add(cmd, [a] { return init(a->dir, a->options); });
  }
  {
    auto* group = app.add_subcommand("responder", "enrol responders and list them");
    group->require_subcommand(1);
    auto a = std::make_shared<EnrollArgs>();
    auto* cmd = group->add_subcommand(
        "enroll", "certify a responder's key request and write their certificate file");
    cmd->add_option("dir", a->dir, "the org directory (made by init)")->required();
    cmd->add_option("request", a->request, "the key request file the responder sent")->required();
    cmd->add_option("--queues", a->queues, "queues they answer, comma-separated")
        ->required()
        ->delimiter(',');
    cmd->add_option("--languages", a->languages, "languages they speak (ISO 639-1), e.g. en,es")
        ->required()
        ->delimiter(',');
    cmd->add_option("--id", a->id, "their responder id (default: the id they asked for)");
    cmd->add_option("--valid-days", a->valid_days, "how long the certificate is valid")
        ->capture_default_str()
        ->check(CLI::Range(1, kMaxCertificateDays));
    cmd->add_option("--out", a->out, "where to write the certificate (default: ID.cert)");
    cmd->add_option("--fingerprint", a->fingerprint,
                    "the fingerprint the responder read to you: refuse unless it matches");
    commands.add(cmd, [a] { return enroll(*a); });

    auto dir = std::make_shared<std::string>();
    auto* list_cmd = group->add_subcommand("list", "list every certificate the org issued");
    list_cmd->add_option("dir", *dir, "the org directory")->required();
    commands.add(list_cmd, [dir] { return list(*dir); });
  }
  {
    struct RevokeArgs {
      std::string dir;
      std::string id;
    };
    auto a = std::make_shared<RevokeArgs>();
    auto* cmd = app.add_subcommand(
        "revoke", "revoke a responder's certificate (effective with the next roster)");
    cmd->add_option("dir", a->dir, "the org directory")->required();
    cmd->add_option("id", a->id, "the responder id")->required();
    commands.add(cmd, [a] { return revoke(a->dir, a->id); });
  }
  {
    auto* group = app.add_subcommand("roster", "sign or renew the roster hearthd serves");
    group->require_subcommand(1);
    struct RosterArgs {
      std::string dir;
      int days = 14;
    };
    for (bool renew : {false, true}) {
      auto a = std::make_shared<RosterArgs>();
      auto* cmd = group->add_subcommand(
          renew ? "renew" : "sign",
          renew ? "re-sign the last roster with a new epoch and expiry"
                : "sign a new roster: current responders by queue, revocations, expiry");
      cmd->add_option("dir", a->dir, "the org directory")->required();
      cmd->add_option("--days", a->days, "how long the roster is valid")
          ->capture_default_str()
          ->check(CLI::Range(1, kMaxRosterDays));
      commands.add(cmd, [a, renew] { return roster(a->dir, a->days, renew); });
    }
  }
}

}  // namespace hearth::admin
