// The admin's whole flow with the real binaries, from an empty directory:
// hearth-admin init, two responders enrol (hearth-console enroll, both steps,
// with the admin's `responder enroll` between), roster sign, the real hearthd
// on init's config, both consoles log in; one is revoked, the roster re-signed
// and hearthd sent SIGHUP, and that console is refused (exit 3, "revoked")
// while the other still logs in.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "tests/integration/support/hearthd_process.h"
#include "tests/integration/support/tool_run.h"
#include "tests/support/test_support.h"

using Catch::Matchers::Contains;
using hearth::test::HearthdProcess;
using hearth::test::read_file;
using hearth::test::run_tool;
using hearth::test::TempDir;
namespace fs = std::filesystem;

namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

// "a1b2 c3d4 ... (16 groups)" as printed by both tools.
std::string fingerprint_in(const std::string& text) {
  static const std::regex re("([0-9a-f]{4}( [0-9a-f]{4}){15})");
  std::smatch m;
  return std::regex_search(text, m, re) ? m.str(1) : std::string();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

struct Responder {
  std::string id;
  fs::path data;
  Env env;
};

bool wait_for_roster_epoch(const HearthdProcess& hearthd, int epoch) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& e : hearthd.log_events("roster_reloaded")) {
      if (e.contains("epoch") && e["epoch"] == epoch) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE("admin flow: init, two responders enrol, one revoked and refused", "[tools]") {
  TempDir tmp;
  const fs::path org = tmp.path() / "hearth-org";
  const std::string dir = org.string();

  auto init = run_tool(HEARTH_ADMIN_PATH, {"init", dir, "--name", "Test org", "--port", "0",
                                           "--metrics-port", "0", "--pow-effort", "16"});
  INFO(init.out << init.err);
  REQUIRE(init.exit_code == 0);
  CHECK_THAT(init.out, Contains("org root fingerprint"));
  for (const char* f : {"org/root.key", "org/roster.key", "org/roster-key.cert", "org/root.pub",
                        "org/org.json", "server/hearthd.json", "server/routing.json",
                        "server/data/hearth.db", "server/data/master.key"}) {
    INFO(f);
    CHECK(fs::exists(org / f));
  }
  CHECK((fs::status(org / "org").permissions() & fs::perms::all) == fs::perms::owner_all);
  CHECK((fs::status(org / "org" / "roster.key").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  const std::string root_hex = trimmed(*read_file(org / "org" / "root.pub"));
  CHECK(fingerprint_in(init.out).size() == 79);

  // An existing org is never overwritten.
  auto again = run_tool(HEARTH_ADMIN_PATH, {"init", dir});
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Contains("already"));

  std::vector<Responder> responders = {
      {"maria", tmp.path() / "maria", {{"HEARTH_PASSPHRASE", "maria's long passphrase"}}},
      {"jo", tmp.path() / "jo", {{"HEARTH_PASSPHRASE", "jo's own passphrase"}}}};
  for (const Responder& r : responders) {
    INFO(r.id);
    // Step 1: the responder's keys and key request.
    auto request = run_tool(HEARTH_CONSOLE_PATH,
                            {"enroll", "--data", r.data.string(), "--id", r.id}, "", r.env);
    INFO(request.out << request.err);
    REQUIRE(request.exit_code == 0);
    const std::string fp = fingerprint_in(request.out);
    REQUIRE_FALSE(fp.empty());
    const fs::path request_file = r.data / "key-request.txt";
    REQUIRE(fs::exists(request_file));
    CHECK(fs::exists(r.data / "enrollment.pending"));

    // The admin certifies it after comparing the fingerprint.
    const fs::path cert_file = tmp.path() / (r.id + ".cert");
    auto certified =
        run_tool(HEARTH_ADMIN_PATH, {"responder", "enroll", dir, request_file.string(), "--queues",
                                     "counselling,legal", "--languages", "en,es", "--out",
                                     cert_file.string(), "--fingerprint", fp});
    INFO(certified.out << certified.err);
    REQUIRE(certified.exit_code == 0);
    CHECK_THAT(certified.out, Contains(fp));
    CHECK_THAT(certified.out, Contains("Fingerprint matched"));
    CHECK_THAT(certified.out, !Contains("note:"));  // both queues are routed to

    // Step 2: the console checks the chain and installs the store.
    auto installed = run_tool(HEARTH_CONSOLE_PATH,
                              {"enroll", "--data", r.data.string(), "--certificate",
                               cert_file.string(), "--org-root", root_hex},
                              "", r.env);
    INFO(installed.out << installed.err);
    REQUIRE(installed.exit_code == 0);
    CHECK_THAT(installed.out, Contains("Enrolled as " + r.id));
    CHECK_THAT(installed.out, Contains(fingerprint_in(init.out)));
    CHECK(fs::exists(r.data / "responder.store"));
    CHECK_FALSE(fs::exists(r.data / "enrollment.pending"));
  }

  auto signed1 = run_tool(HEARTH_ADMIN_PATH, {"roster", "sign", dir});
  INFO(signed1.out << signed1.err);
  REQUIRE(signed1.exit_code == 0);
  CHECK_THAT(signed1.out, Contains("epoch 1, 2 responder(s)"));
  CHECK_THAT(signed1.out, Contains("SIGHUP"));
  auto listed = run_tool(HEARTH_ADMIN_PATH, {"responder", "list", dir});
  REQUIRE(listed.exit_code == 0);
  CHECK_THAT(listed.out, Contains("maria"));
  CHECK_THAT(listed.out, Contains("jo"));
  CHECK_THAT(listed.out, Contains("Roster epoch 1"));

  HearthdProcess hearthd(org / "server" / "hearthd.json");
  hearthd.start();
  const std::string url = "ws://127.0.0.1:" + std::to_string(hearthd.port()) + "/v1/ws";
  auto log_in = [&](const Responder& r) {
    return run_tool(HEARTH_CONSOLE_PATH, {"--plain", "--data", r.data.string(), "--server", url},
                    "/quit\n", r.env);
  };
  for (const Responder& r : responders) {
    auto login = log_in(r);
    INFO(r.id << ": " << login.out << login.err);
    CHECK(login.exit_code == 0);
    CHECK_THAT(login.out, Contains("Logged in as " + r.id));
  }

  auto revoked = run_tool(HEARTH_ADMIN_PATH, {"revoke", dir, "jo"});
  INFO(revoked.out << revoked.err);
  REQUIRE(revoked.exit_code == 0);
  auto signed2 = run_tool(HEARTH_ADMIN_PATH, {"roster", "sign", dir, "--days", "7"});
  INFO(signed2.out << signed2.err);
  REQUIRE(signed2.exit_code == 0);
  CHECK_THAT(signed2.out, Contains("epoch 2, 1 responder(s)"));
  CHECK_THAT(signed2.out, Contains("1 revoked"));
  hearthd.hangup();
  REQUIRE(wait_for_roster_epoch(hearthd, 2));

  auto refused = log_in(responders[1]);
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code == 3);
  CHECK_THAT(refused.err, Contains("Your certificate has been revoked"));
  auto still = log_in(responders[0]);
  INFO(still.out << still.err);
  CHECK(still.exit_code == 0);
  CHECK_THAT(still.out, Contains("Logged in as maria"));

  // Renewal: the same contents under a new epoch, served after SIGHUP.
  auto renewed = run_tool(HEARTH_ADMIN_PATH, {"roster", "renew", dir, "--days", "14"});
  INFO(renewed.out << renewed.err);
  REQUIRE(renewed.exit_code == 0);
  CHECK_THAT(renewed.out, Contains("epoch 3, 1 responder(s)"));
  hearthd.hangup();
  REQUIRE(wait_for_roster_epoch(hearthd, 3));
  auto after_renew = log_in(responders[0]);
  CHECK(after_renew.exit_code == 0);
  CHECK(log_in(responders[1]).exit_code == 3);
  CHECK(hearthd.terminate() == 0);
}

TEST_CASE("admin commands refuse what they cannot do, with exit code 1", "[tools]") {
  TempDir tmp;
  const std::string dir = (tmp.path() / "org").string();
  auto no_org = run_tool(HEARTH_ADMIN_PATH, {"responder", "list", dir});
  CHECK(no_org.exit_code == 1);
  CHECK_THAT(no_org.err, Contains("hearth-admin init"));

  REQUIRE(run_tool(HEARTH_ADMIN_PATH, {"init", dir, "--port", "0"}).exit_code == 0);
  auto renew = run_tool(HEARTH_ADMIN_PATH, {"roster", "renew", dir});
  CHECK(renew.exit_code == 1);
  CHECK_THAT(renew.err, Contains("roster sign"));
  auto unknown = run_tool(HEARTH_ADMIN_PATH, {"revoke", dir, "nobody"});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Contains("no responder \"nobody\""));

  const fs::path junk = tmp.path() / "junk.txt";
  std::ofstream(junk) << "hello, please enrol me\n";
  auto bad = run_tool(HEARTH_ADMIN_PATH, {"responder", "enroll", dir, junk.string(), "--queues",
                                          "legal", "--languages", "en"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Contains("not a HEARTH KEY REQUEST"));
  auto days = run_tool(HEARTH_ADMIN_PATH, {"roster", "sign", dir, "--days", "365"});
  CHECK(days.exit_code == 2);

  auto no_id = run_tool(HEARTH_CONSOLE_PATH, {"enroll", "--data", (tmp.path() / "r").string()});
  CHECK(no_id.exit_code == 2);
  CHECK_THAT(no_id.err, Contains("--id"));
  // Prompted twice (no file, no $HEARTH_PASSPHRASE): two different answers make nothing.
  auto differ =
      run_tool(HEARTH_CONSOLE_PATH, {"enroll", "--data", (tmp.path() / "r").string(), "--id", "ri"},
               "first passphrase\nsecond passphrase\n");
  CHECK(differ.exit_code == 1);
  CHECK_THAT(differ.err, Contains("differ"));
  CHECK_FALSE(fs::exists(tmp.path() / "r" / "enrollment.pending"));
  auto no_root = run_tool(HEARTH_CONSOLE_PATH, {"enroll", "--data", (tmp.path() / "r").string(),
                                                "--certificate", junk.string()});
  CHECK(no_root.exit_code == 2);
  CHECK_THAT(no_root.err, Contains("--org-root"));
}

TEST_CASE("demo: the layout scripts rely on, and its responder logs in", "[tools]") {
  TempDir tmp;
  const fs::path demo = tmp.path() / "demo";
  auto made = run_tool(HEARTH_ADMIN_PATH, {"demo", demo.string(), "--port", "0", "--metrics-port",
                                           "0", "--pow-effort", "16"});
  INFO(made.out << made.err);
  REQUIRE(made.exit_code == 0);
  for (const char* f : {"org/root.pub", "org/root.key", "org/roster.key", "server/hearthd.json",
                        "server/roster.bin", "server/routing.json", "responder-ana/responder.store",
                        "responder-ana.passphrase"}) {
    INFO(f);
    CHECK(fs::exists(demo / f));
  }
  CHECK_FALSE(fs::exists(demo / "responder-ana" / "enrollment.pending"));
  CHECK(run_tool(HEARTH_ADMIN_PATH, {"demo", demo.string()}).exit_code == 1);

  HearthdProcess hearthd(demo / "server" / "hearthd.json");
  hearthd.start();
  auto login = run_tool(HEARTH_CONSOLE_PATH,
                        {"--plain", "--data", (demo / "responder-ana").string(),
                         "--passphrase-file", (demo / "responder-ana.passphrase").string(),
                         "--server", "ws://127.0.0.1:" + std::to_string(hearthd.port()) + "/v1/ws"},
                        "/quit\n");
  INFO(login.out << login.err);
  CHECK(login.exit_code == 0);
  CHECK_THAT(login.out, Contains("Logged in as ana"));
  CHECK(hearthd.terminate() == 0);
}
