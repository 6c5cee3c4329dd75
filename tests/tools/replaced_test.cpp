// hearth-console and hearth-survivor, whose connection the server closes with
// 4001 because a newer login of the same responder or vault passed its cap,
// say so in plain words and stop (exit code 4) instead of reconnecting, which
// would close the newer session in turn (a ping-pong): against a real hearthd.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "tests/integration/relay_support.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/tool_run.h"

using namespace hearth;
using namespace hearth::test;
using Catch::Matchers::Contains;
using Steady = std::chrono::steady_clock;

namespace {

double metric(const Relay& relay, const std::string& name) {
  return metric_value(http_get(relay.hearthd->metrics_port(), "/metrics").body, name);
}

// Waits until /metrics shows `name` at `value`.
bool wait_metric(const Relay& relay, const std::string& name, double value) {
  const auto deadline = Steady::now() + std::chrono::seconds(60);
  while (Steady::now() < deadline) {
    if (metric(relay, name) == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE("hearth-console stops on 4001 (signed in elsewhere) without logging in again",
          "[tools]") {
  Relay relay(nlohmann::json{{"limits", {{"max_connections_per_responder", 2}}}});
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  const auto data = relay.stores.path() / ana.id;
  relay.create_store(ana).reset();  // the console's (it locks its store while it runs)
  // The same responder's keys in a second store, for the newer logins.
  TempDir elsewhere;
  auto store = client::ResponderStore::create(elsewhere.path() / "ana", kStorePassphrase,
                                              ana.signing, ana.identity, ana.certificate_bytes(),
                                              relay.org.root.public_key());
  REQUIRE(store.is_ok());
  auto console = std::async(std::launch::async, [&] {
    return run_tool_steps(
        HEARTH_CONSOLE_PATH, {"--plain", "--server", relay.endpoint().url, "--data", data.string()},
        {{"Type /help", "/cases\n"}, {"You signed in somewhere else", ""}},
        {{"HEARTH_PASSPHRASE", std::string(kStorePassphrase)}}, std::chrono::seconds(40));
  });
  // The console is in; two newer logins of the same responder (the cap is
  // two) close its connection, the oldest, with 4001.
  REQUIRE(wait_metric(relay, "hearth_responders_open", 1));
  auto second = relay.login(**store);
  auto third = relay.login(**store);
  ToolResult r = console.get();  // throws (test fails) if the words never come
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.out, Contains("You signed in somewhere else; this console stopped."));
  CHECK_THAT(r.out, !Contains("connection lost"));
  // It did not log in again: nobody else was pushed out, both newer sessions stay.
  CHECK(metric(relay, "hearth_logins_replaced_total{kind=\"responder\"}") == 1);
  for (auto* s : {second.get(), third.get()}) {
    auto u = s->poll(std::chrono::milliseconds(0));
    REQUIRE(u.is_ok());
    CHECK(count_kind(*u, client::ResponderUpdate::Kind::kReplaced) == 0);
    CHECK(count_kind(*u, client::ResponderUpdate::Kind::kDisconnected) == 0);
  }
  CHECK(relay.hearthd->terminate() == 0);
}

TEST_CASE("hearth-survivor steps aside on 4001 (its codename opened elsewhere) and stops",
          "[tools][survivor]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("I need a safe place tonight");
  const auto spelled = started.codename.normalized();
  const std::string codename(spelled.begin(), spelled.end());
  started.session.reset();
  REQUIRE(wait_metric(relay, "hearth_survivors_open", 0));
  TempDir home;
  // A line typed at once: kept until a responder joins (or not read yet)
  // when the window steps aside.
  auto survivor = std::async(std::launch::async, [&] {
    return run_tool_steps(
        HEARTH_SURVIVOR_PATH,
        {"--org-root", to_hex(relay.org.root.public_key().view()), "--server", relay.endpoint().url,
         "--resume"},
        {{"", codename + "\ncall me at noon\n"}, {"this window has stepped aside", ""}},
        {{"HOME", home.path().string()}, {"TMPDIR", home.path().string()}},
        std::chrono::seconds(40), home.path().string());
  });
  // The survivor's window is in; three newer logins of the same vault close
  // it, the oldest of four, with 4001.
  REQUIRE(wait_metric(relay, "hearth_survivors_open", 1));
  std::vector<std::unique_ptr<client::SurvivorSession>> newer;
  for (int i = 0; i < 3; ++i) newer.push_back(relay.resume(started.codename));
  ToolResult r = survivor.get();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.out, Contains("Nothing on the server was lost"));
  // What it had not sent is printed back, to copy into the other window.
  CHECK_THAT(r.out, Contains("not sent: call me at noon"));
  CHECK_THAT(r.out, !Contains("reconnect"));
  CHECK(metric(relay, "hearth_logins_replaced_total{kind=\"vault\"}") == 1);
  for (auto& s : newer) {
    auto u = s->poll(std::chrono::milliseconds(0));
    REQUIRE(u.is_ok());
    CHECK(count_kind(*u, client::SurvivorUpdate::Kind::kReplaced) == 0);
    CHECK(count_kind(*u, client::SurvivorUpdate::Kind::kDisconnected) == 0);
  }
  CHECK(relay.hearthd->terminate() == 0);
}
