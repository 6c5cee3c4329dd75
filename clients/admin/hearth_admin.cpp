// hearth-admin: the organisation's admin tool.
//
// `demo DIR` creates a whole demo organisation in DIR so a newcomer can see
// Hearth work in a minute: an org root key and a roster key (kept in DIR/org,
// which in a real deployment stays on the admin's offline machine), one
// responder certified for every queue with an encrypted keystore, a signed
// roster, the default routing rules, and a hearthd configuration listening
// on 127.0.0.1.
//
// `rules validate FILE` checks a routing rules file as hearthd would load it;
// `rules default` prints the shipped default (docs/routing.md).
//
// `simulate` replays synthetic arrivals through the real triage dispatcher
// with a simulated clock and prints wait percentiles per class and queue
// against the class targets (docs/routing.md "The simulator").
#include <CLI/CLI.hpp>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "clients/lib/responder_store.h"
#include "common/clock.h"
#include "common/files.h"
#include "crypto/codename.h"
#include "crypto/sodium_init.h"
#include "crypto/trust.h"
#include "triage/rules.h"
#include "triage/simulation.h"

namespace {

using namespace hearth;
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

int fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "hearth-admin: %s: %s\n", what.c_str(), status.message().c_str());
  return 1;
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

// ---- rules ----

int rules_validate(const std::string& file) {
  auto rules = triage::load_rules(file);
  if (!rules.is_ok()) {
    std::fprintf(stderr, "hearth-admin: %s: %s\n", file.c_str(), rules.status().message().c_str());
    return 1;
  }
  std::printf("ok: version %" PRIu64 ", %zu filters, %zu queues\n", rules->version,
              rules->filters.size(), rules->queues().size());
  return 0;
}

int rules_default() {
  std::string_view text = triage::default_rules_json();
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

// ---- simulate ----

// "45s", "12m03s", "2h05m".
std::string duration(UnixSeconds s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

void print_row(const triage::WaitStats& w, const char* kind) {
  std::printf("  %-20s %-7s %7s %7zu %7zu %8s %8s %8s", w.name.c_str(), kind,
              w.target_s > 0 ? duration(w.target_s).c_str() : "-", w.cases, w.untaken,
              duration(w.p50).c_str(), duration(w.p95).c_str(), duration(w.max).c_str());
  if (w.target_s > 0)
    std::printf("  %5.0f%%%s", 100.0 * static_cast<double>(w.p95) / static_cast<double>(w.target_s),
                w.p95 > w.target_s ? "  over target" : "");
  std::printf("\n");
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kNotFound, path + ": cannot be opened");
  std::string text(1024 * 1024 + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > 1024 * 1024) return error(Code::kInvalidArgument, path + ": larger than 1 MiB");
  return text;
}

struct SimulateOptions {
  std::string rules_file;
  std::string scenario_file;
  std::string preset;
  std::optional<double> hours;
  std::optional<std::uint64_t> seed;
  std::optional<std::size_t> runs;
};

int simulate(const SimulateOptions& o) {
  triage::Rules rules;
  if (!o.rules_file.empty()) {
    auto r = triage::load_rules(o.rules_file);
    if (!r.is_ok()) return fail(o.rules_file, r.status());
    rules = std::move(r).value();
  } else {
    auto r = triage::parse_rules(triage::default_rules_json());
    if (!r.is_ok()) return fail("default rules", r.status());
    rules = std::move(r).value();
  }

  triage::Scenario scenario;
  if (!o.scenario_file.empty()) {
    auto text = read_text(o.scenario_file);
    if (!text.is_ok()) return fail(o.scenario_file, text.status());
    auto parsed = triage::parse_scenario(*text);
    if (!parsed.is_ok()) return fail(o.scenario_file, parsed.status());
    scenario = std::move(parsed).value();
  } else {
    const std::string name = o.preset.empty() ? "overload" : o.preset;
    auto preset = triage::preset_scenario(name);
    if (!preset) return fail(name, error(Code::kNotFound, "no such preset (overload, normal)"));
    scenario = std::move(*preset);
  }
  if (o.hours) {
    // Shifts that ran to the end of the scenario still do.
    const UnixSeconds old_end = scenario.duration_s;
    scenario.duration_s = static_cast<UnixSeconds>(*o.hours * 3600);
    for (auto& shift : scenario.shifts)
      if (shift.on_until == old_end) shift.on_until = scenario.duration_s;
  }
  if (o.seed) scenario.seed = *o.seed;
  if (o.runs) scenario.runs = *o.runs;

  auto result = triage::simulate(rules, scenario);
  if (!result.is_ok()) return fail("simulate", result.status());
  const triage::SimulationResult& r = *result;

  std::printf("Scenario %s: %.1f h x %zu run%s (seeds %" PRIu64 "..%" PRIu64
              "), %.0f arrivals/h, %zu shifts, handle %s mean\n",
              scenario.name.empty() ? "(unnamed)" : scenario.name.c_str(),
              static_cast<double>(scenario.duration_s) / 3600.0, scenario.runs,
              scenario.runs == 1 ? "" : "s", scenario.seed, scenario.seed + scenario.runs - 1,
              scenario.arrivals_per_hour, scenario.shifts.size(),
              duration(scenario.handle_mean_s).c_str());
  std::printf("Rules version %" PRIu64 ": %zu classes, %zu filters, %zu queues\n", rules.version,
              rules.classes.size(), rules.filters.size(), rules.queues().size());
  std::printf(
      "Offered load %.2f x capacity. Arrivals %zu, taken %zu, still waiting at the end %zu\n",
      r.offered_load, r.arrivals, r.taken, r.untaken);
  std::printf("Taken after escalating %zu, with an interpreter %zu, after losing their place %zu\n",
              r.escalated, r.interpreter, r.lost_place);
  std::printf("Strict cases passed over: %zu%s\n\n", r.strict_passed_over,
              r.strict_passed_over == 0 ? " (danger now stayed first)" : "  ** ordering broken **");
  std::printf("Waits (cases still waiting count with their wait so far):\n");
  std::printf("  %-20s %-7s %7s %7s %7s %8s %8s %8s  %s\n", "class", "kind", "target", "cases",
              "waiting", "p50", "p95", "max", "p95/target");
  for (std::size_t c = 0; c < r.by_class.size(); ++c)
    print_row(r.by_class[c], rules.classes[c].strict ? "strict" : "accum");
  std::printf("\n  %-20s %-7s %7s %7s %7s %8s %8s %8s\n", "queue", "", "", "cases", "waiting",
              "p50", "p95", "max");
  for (const auto& w : r.by_queue) print_row(w, "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hearth-admin: run a Hearth organisation (keys, responders, roster, routing)."};
  app.require_subcommand(1);

  auto* demo_cmd = app.add_subcommand(
      "demo", "create a demo organisation: keys, one responder, a roster and a hearthd config");
  std::string dir;
  int port = 8750;
  int metrics_port = 8751;
  std::uint32_t effort = 20000;
  std::string responder_id = "ana";
  demo_cmd->add_option("dir", dir, "directory to create it in")->required();
  demo_cmd->add_option("--port", port, "hearthd's port on 127.0.0.1 (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  demo_cmd->add_option("--metrics-port", metrics_port, "the loopback metrics port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  demo_cmd->add_option("--pow-effort", effort, "proof-of-work effort asked of survivors")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 24));
  demo_cmd->add_option("--responder", responder_id, "the demo responder's id")
      ->capture_default_str();

  auto* rules_cmd = app.add_subcommand("rules", "check or print routing rules");
  rules_cmd->require_subcommand(1);
  auto* validate_cmd = rules_cmd->add_subcommand("validate", "check a routing rules file");
  std::string rules_file;
  validate_cmd->add_option("file", rules_file, "the rules file")->required();
  auto* default_cmd = rules_cmd->add_subcommand("default", "print the shipped default rules");

  auto* sim_cmd = app.add_subcommand(
      "simulate", "replay synthetic arrivals through the routing rules; print wait percentiles");
  SimulateOptions sim;
  sim_cmd->add_option("--rules", sim.rules_file, "routing rules file (default: the shipped rules)");
  auto* scenario_opt =
      sim_cmd->add_option("--scenario", sim.scenario_file, "scenario file (docs/routing.md)");
  sim_cmd->add_option("--preset", sim.preset, "built-in scenario: overload (default) or normal")
      ->check(CLI::IsMember({"overload", "normal"}))
      ->excludes(scenario_opt);
  sim_cmd->add_option("--hours", sim.hours, "simulated hours per run")
      ->check(CLI::Range(0.01, 8784.0));
  sim_cmd->add_option("--seed", sim.seed, "first random seed");
  sim_cmd->add_option("--runs", sim.runs, "independent runs, waits pooled")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  if (demo_cmd->parsed()) return demo(dir, port, metrics_port, effort, responder_id);
  if (validate_cmd->parsed()) return rules_validate(rules_file);
  if (default_cmd->parsed()) return rules_default();
  if (sim_cmd->parsed()) return simulate(sim);
  return 2;
}
