// hearth-console's full screen, driven in a real terminal: tmux runs the
// console (80×24) and hearth-survivor side by side against a real hearthd;
// the test types with send-keys and reads the screens with capture-pane, as a
// responder and a survivor would. It goes through take-next (the routing
// fields shown), a reply, a canned response, a referral card, a private note
// (never seen by the survivor), a restart that keeps the case whole (routing
// fields included), a handoff proposal (the survivor is asked and declines),
// and a close with an outcome (the survivor is told); the roster about to
// expire shows as a banner; a resize redraws; revoked, the console is dropped
// and its reconnects are refused under a banner. A console whose store pins
// another org root is refused at login, loudly, with exit code 1.
//
// Needs tmux (scripts/setup.sh installs it); skipped with a warning without.
// HEARTH_TEST_SHOW_SCREENS=1 prints each screen a wait ended on.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "tests/integration/relay_support.h"
#include "tests/integration/support/tool_run.h"
#include "tests/support/test_support.h"

namespace hearth::test {
namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

const char* const kTmux = "/usr/bin/tmux";
const std::string kExampleDirectory = (docs_dir() / "examples/directory.json").string();

// A private tmux server (its own socket), killed with everything in it when
// the test ends, however it ends.
class Tmux {
 public:
  Tmux() {
    static std::atomic<int> counter{0};
    socket_ = "hearth-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  }
  ~Tmux() {
    try {
      run({"kill-server"});
    } catch (...) {
    }
  }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  ToolResult run(std::vector<std::string> args) {
    // -u and a UTF-8 locale: the server passes UTF-8 through (Spanish text).
    args.insert(args.begin(), {"-u", "-L", socket_, "-f", "/dev/null"});
    return run_tool(kTmux, args, "", {{"LC_ALL", "C.UTF-8"}}, std::chrono::seconds(10));
  }

  // Starts `command` (run by sh; it stays on screen after it exits) in a new
  // detached session `name` of 80×24, with `env` set.
  void start(const std::string& name, const std::string& command,
             const std::vector<std::string>& env) {
    std::vector<std::string> args = {"new-session", "-d", "-s", name, "-x", "80", "-y", "24"};
    for (const auto& e : env) {
      args.push_back("-e");
      args.push_back(e);
    }
    args.push_back(command + "; echo \"[exited $?]\"; sleep 600");
    auto r = run(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }

  // Types `text` literally, then Enter.
  void type(const std::string& name, const std::string& text) {
    if (!text.empty()) REQUIRE(run({"send-keys", "-t", name, "-l", text}).exit_code == 0);
    REQUIRE(run({"send-keys", "-t", name, "Enter"}).exit_code == 0);
  }
  void keys(const std::string& name, const std::string& key) {
    REQUIRE(run({"send-keys", "-t", name, key}).exit_code == 0);
  }

  // What the screen shows now (with `history` lines of scrollback).
  std::string screen(const std::string& name, int history = 0) {
    // -J joins lines the terminal wrapped (the survivor's long lines).
    std::vector<std::string> args = {"capture-pane", "-p", "-J", "-t", name};
    if (history > 0) {
      args.push_back("-S");
      args.push_back("-" + std::to_string(history));
    }
    return run(args).out;
  }

  // Polls the screen until it shows `text` (or `timeout` passes); the last
  // screen is returned for the assertion's message.
  std::string wait_for(const std::string& name, const std::string& text,
                       std::chrono::milliseconds timeout = std::chrono::seconds(15),
                       int history = 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string shown;
    for (;;) {
      shown = screen(name, history);
      if (shown.find(text) != std::string::npos) {
        if (std::getenv("HEARTH_TEST_SHOW_SCREENS"))
          std::printf("---- %s:\n%s", name.c_str(), shown.c_str());
        return shown;
      }
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL_CHECK("waited for \"" << text << "\" on " << name << "; the screen:\n" << shown);
    return shown;
  }

 private:
  std::string socket_;
};

bool have_tmux() { return ::access(kTmux, X_OK) == 0; }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string console_command(const Relay& relay, const fs::path& data) {
  return quoted(HEARTH_CONSOLE_PATH) + " --server " + quoted(relay.endpoint().url) + " --data " +
         quoted(data.string()) + " --directory " + quoted(kExampleDirectory);
}

const std::vector<std::string> kConsoleEnv = {"HEARTH_PASSPHRASE=" + std::string(kStorePassphrase),
                                              "LC_ALL=C.UTF-8"};

TEST_CASE("hearth-console full screen: take next, reply, note, restart, handoff, close",
          "[tools]") {
  if (!have_tmux()) {
    WARN("tmux is not installed: the full-screen console test is skipped");
    return;
  }
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  auto& ben = relay.org.add_responder("ben", {"legal"});
  // A roster two days from its expiry: the console must warn, loudly.
  relay.hearthd = std::make_unique<HearthdProcess>(
      relay.org, nlohmann::json::object(), relay.org.roster(1, {}, relay.org.now + 48 * 3600));
  relay.start();
  const fs::path ana_data = relay.stores.path() / ana.id;
  relay.create_store(ana).reset();  // the console opens it (one program at a time)
  // Ben, on the legal team, is online with prekeys: a handoff to legal can be proposed.
  auto ben_store = relay.create_store(ben);
  auto ben_session = relay.login(*ben_store);

  Tmux tmux;
  tmux.start("console", console_command(relay, ana_data), kConsoleEnv);
  std::string screen = tmux.wait_for("console", "Logged in as ana");
  CHECK_THAT(screen, Contains("!! WARNING: the roster expires in"));
  CHECK_THAT(screen, Contains("ana | available"));
  CHECK_THAT(screen,
             Contains("root " + crypto::fingerprint(relay.org.root.public_key()).substr(0, 9)));

  // The help screen lists every key.
  tmux.keys("console", "F1");
  screen = tmux.wait_for("console", "Help: every key and command");
  // All of it fits 80×24 under the banner, the last line included.
  CHECK_THAT(screen, Contains("/handoff [N] QUEUE"));
  CHECK_THAT(screen, Contains("F2 Ctrl-N [n] take next"));
  CHECK_THAT(screen, Contains(crypto::fingerprint(relay.org.root.public_key())));
  CHECK(screen.find("-- more: PgDn --") == std::string::npos);
  tmux.keys("console", "Escape");
  tmux.wait_for("console", "No case selected.");

  // The survivor asks for shelter, today, in English.
  tmux.start("survivor",
             quoted(HEARTH_SURVIVOR_PATH) + " --server " + quoted(relay.endpoint().url) +
                 " --org-root " + to_hex(relay.org.root.public_key().view()),
             {"LC_ALL=C.UTF-8"});
  tmux.wait_for("survivor", "What do you need help with?");
  tmux.type("survivor", "2");
  tmux.wait_for("survivor", "How urgent is it?");
  tmux.type("survivor", "2");
  tmux.wait_for("survivor", "Which languages");
  tmux.type("survivor", "en");
  tmux.wait_for("survivor", "Write your first message");
  tmux.type("survivor", "I need a safe place tonight");
  tmux.wait_for("survivor", "Type it back to practise", std::chrono::seconds(30));
  tmux.type("survivor", "");
  tmux.wait_for("survivor", "Waiting for a responder to join");

  // The console counts it; take next shows the routing fields and the message.
  auto check_routing_fields = [](const std::string& shown) {
    CHECK_THAT(shown, Contains("Queue: shelter."));
    CHECK_THAT(shown, Contains("Needs: shelter. Urgency: today."));
    CHECK_THAT(shown, Contains("Languages: en. Mode: live."));
    CHECK_THAT(shown, Contains("#1 shelter"));
  };
  tmux.wait_for("console", "1 waiting (0 urgent)");
  tmux.type("console", "/next");
  screen = tmux.wait_for("console", "survivor: I need a safe place tonight");
  check_routing_fields(screen);
  tmux.wait_for("survivor", "A responder has joined your conversation.");

  // A reply reaches the survivor; the survivor's answer reaches the console.
  tmux.type("console", "Hello, I am here. Are you safe right now?");
  tmux.wait_for("survivor", "responder: Hello, I am here. Are you safe right now?");
  tmux.type("survivor", "yes for now");
  tmux.wait_for("console", "survivor: yes for now");
  // UTF-8 both ways (wide-character input in the console).
  tmux.type("console", "¿Estás a salvo? Señal de ayuda");
  tmux.wait_for("survivor", "responder: ¿Estás a salvo? Señal de ayuda");
  tmux.type("survivor", "sí, gracias");
  tmux.wait_for("console", "survivor: sí, gracias");

  // The compose line is edited at the cursor: arrows, Delete, Home, End.
  auto send_keys = [&](std::vector<std::string> keys) {
    keys.insert(keys.begin(), {"send-keys", "-t", "console"});
    REQUIRE(tmux.run(keys).exit_code == 0);
  };
  send_keys({"-l", "We can halp."});
  send_keys({"Left", "Left", "Left", "Left", "DC"});
  send_keys({"-l", "e"});
  send_keys({"Home"});
  send_keys({"-l", "Yes. "});
  send_keys({"End"});
  send_keys({"-l", " Tonight. junk"});
  send_keys({"C-w", "BSpace"});  // the word "junk", then the space before it
  send_keys({"-l", " xyz"});
  send_keys({"Left", "Left", "Left", "Left", "C-k"});  // " xyz" goes again
  send_keys({"Enter"});
  tmux.wait_for("survivor", "responder: Yes. We can help. Tonight.");

  // A canned response goes into the compose line, to edit, then Enter sends it.
  tmux.type("console", "/canned codename");
  tmux.wait_for("console", "only you can reach it.");  // the compose line shows its end
  tmux.type("console", " Thank you.");
  tmux.wait_for("survivor", "Keep it where only you can reach it. Thank you.");

  // Referral cards matching the case (shelter, English): one is sent as a card.
  tmux.type("console", "/refer");
  screen = tmux.wait_for("console", "Referral cards for case #1, matching");
  CHECK_THAT(screen, Contains("casa-segura"));
  CHECK(screen.find("legal-aid-north") == std::string::npos);
  tmux.type("console", "/refer casa-segura");
  tmux.wait_for("survivor", "Referral: Casa Segura shelter (shelter, north).");

  // A private note shows in the console, and only there.
  tmux.type("console", "/note passport held by employer");
  tmux.wait_for("console", "note: passport held by employer");

  // A restart keeps everything about the case: the conversation, the note,
  // and the routing fields (the server gave them once, at take-next), which
  // /refer still matches cards to.
  tmux.type("console", "/quit");
  tmux.wait_for("console", "[exited 0]");
  REQUIRE(tmux.run({"kill-session", "-t", "console"}).exit_code == 0);
  tmux.start("console", console_command(relay, ana_data), kConsoleEnv);
  tmux.wait_for("console", "Logged in as ana");
  tmux.type("console", "/to 1");
  screen = tmux.wait_for("console", "note: passport held by employer");
  check_routing_fields(screen);
  CHECK_THAT(screen, Contains("survivor: sí, gracias"));
  tmux.type("console", "/refer");
  screen = tmux.wait_for("console", "Referral cards for case #1, matching");
  CHECK(screen.find("legal-aid-north") == std::string::npos);
  tmux.keys("console", "Escape");  // closes the list
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
       tmux.screen("console").find("Referral cards for case #1") != std::string::npos;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // A handoff proposal reaches the survivor as the consent question.
  tmux.type("console", "/handoff legal");
  tmux.wait_for("console", "Proposed moving #1 to legal");
  tmux.wait_for("survivor", "Your responder suggests the legal team. Share:");
  tmux.wait_for("survivor", "4) No, stay with the current responder");
  tmux.type("survivor", "4");
  tmux.wait_for("survivor", "You stay with your current responder.");
  tmux.wait_for("console", "the survivor declined the handoff");

  // A resize redraws (the status bar spans the new width), and back.
  REQUIRE(tmux.run({"resize-window", "-t", "console", "-x", "100", "-y", "30"}).exit_code == 0);
  screen = tmux.wait_for("console", "Case #1");
  CHECK_THAT(screen, Contains("ana | available"));
  REQUIRE(tmux.run({"resize-window", "-t", "console", "-x", "80", "-y", "24"}).exit_code == 0);

  // Close with an outcome: the survivor is told.
  tmux.type("console", "/close referred");
  tmux.wait_for("console", "#1 closed (referred)");
  tmux.wait_for("survivor", "This conversation was closed by the responder.");

  // The note never reached the survivor (nor the server's log).
  // (The whole note: "passport" alone is a codename word the survivor may
  // have been shown.)
  CHECK(tmux.screen("survivor", 500).find("passport held by employer") == std::string::npos);
  CHECK(relay.hearthd->logs().find("passport held by employer") == std::string::npos);

  // The admin revokes ana: hearthd drops her connection on the new roster,
  // and every reconnect is refused — loudly, in a banner.
  relay.hearthd->write_roster(
      relay.org.roster(2, {ana.certificate_hash()}, relay.org.now + 48 * 3600));
  relay.hearthd->hangup();
  screen = tmux.wait_for("console", "!! LOGIN REFUSED: Your certificate has been revoked.",
                         std::chrono::seconds(20));
  CHECK_THAT(screen, Contains("ana | OFFLINE"));

  tmux.type("console", "/quit");
  tmux.wait_for("console", "[exited 0]");
}

TEST_CASE("hearth-console full screen: a store pinned to another org root is refused", "[tools]") {
  if (!have_tmux()) {
    WARN("tmux is not installed: the full-screen console test is skipped");
    return;
  }
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  // Ana's store pins a root that did not sign the server's roster.
  const fs::path data = relay.stores.path() / "ana";
  auto other_root = crypto::SigningKey::generate();
  REQUIRE(client::ResponderStore::create(data, kStorePassphrase, ana.signing, ana.identity,
                                         ana.certificate_bytes(), other_root.public_key())
              .is_ok());
  Tmux tmux;
  tmux.start("console", console_command(relay, data), kConsoleEnv);
  std::string screen = tmux.wait_for("console", "[exited 1]");
  CHECK_THAT(screen, Contains("LOGIN REFUSED"));
  CHECK_THAT(screen, Contains("pinned org root fingerprint: " +
                              crypto::fingerprint(other_root.public_key()).substr(0, 19)));
}

TEST_CASE("hearth-console line mode lists the directory, and a bad directory file is refused",
          "[tools]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  const fs::path data = relay.stores.path() / ana.id;
  relay.create_store(ana).reset();
  const std::vector<std::pair<std::string, std::string>> env = {
      {"HEARTH_PASSPHRASE", std::string(kStorePassphrase)}};
  auto listed = run_tool(HEARTH_CONSOLE_PATH,
                         {"--plain", "--server", relay.endpoint().url, "--data", data.string(),
                          "--directory", kExampleDirectory},
                         "/canned\n/refer 7\n/note 7 hello\n/quit\n", env);
  CHECK(listed.exit_code == 0);
  CHECK_THAT(listed.out,
             Contains("Org root fingerprint: " + crypto::fingerprint(relay.org.root.public_key())));
  CHECK_THAT(listed.out, Contains("4  codename  Keep your codename safe: Your codename is"));
  CHECK_THAT(listed.out, Contains("No case #7."));

  const fs::path bad = relay.stores.path() / "directory.json";
  {
    std::ofstream out(bad);
    out << R"({"version": 1, "canned": [{"id": "x", "title": "X"}]})";
  }
  auto refused = run_tool(HEARTH_CONSOLE_PATH,
                          {"--plain", "--server", relay.endpoint().url, "--data", data.string(),
                           "--directory", bad.string()},
                          "/quit\n", env);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Contains("canned[0].text: missing"));
}

}  // namespace
}  // namespace hearth::test

namespace hearth::test {
namespace {

TEST_CASE("hearth-console line mode: /dismiss asks first, and is for supervisors only", "[tools]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  auto& sam = relay.org.add_responder("sam", {"supervisor"});
  relay.start();
  const std::vector<std::pair<std::string, std::string>> env = {
      {"HEARTH_PASSPHRASE", std::string(kStorePassphrase)}};
  auto run_console = [&](const TestResponder& r, const std::string& input) {
    const fs::path data = relay.stores.path() / r.id;
    relay.create_store(r).reset();
    return run_tool(HEARTH_CONSOLE_PATH,
                    {"--plain", "--server", relay.endpoint().url, "--data", data.string()}, input,
                    env);
  };
  auto supervisor = run_console(sam, "/dismiss away last 30\n/dismiss away last 30 yes\n/quit\n");
  CHECK(supervisor.exit_code == 0);
  CHECK_THAT(supervisor.out,
             Contains("This deletes the waiting cases nobody took, whose survivor is not "
                      "connected, that arrived in the last 30 min"));
  CHECK_THAT(supervisor.out, Contains("type: /dismiss away last 30 yes"));
  CHECK_THAT(supervisor.out, Contains("Dismissed 0 waiting cases; an audit entry records it."));
  auto responder = run_console(ana, "/dismiss away yes\n/dismiss everything\n/quit\n");
  CHECK(responder.exit_code == 0);
  CHECK_THAT(responder.out, Contains("Dismissing waiting cases is for supervisors."));
  CHECK_THAT(responder.out, Contains("Usage: /dismiss [away] [queue QUEUE] [last MINUTES] [yes]"));
}

}  // namespace
}  // namespace hearth::test
