// hearth-console and hearth-survivor, turned away by the server's failed-login
// budget during a storm of bad logins (rate_limited), wait and try again,
// saying so, instead of giving up (issue 12): against a real hearthd whose
// budget for first login attempts is one failure a second.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <regex>
#include <string>
#include <thread>

#include "tests/integration/relay_support.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/tool_run.h"

using namespace hearth;
using namespace hearth::test;
using Catch::Matchers::Contains;
using Steady = std::chrono::steady_clock;

namespace {

const nlohmann::json kTinyBudget = {
    {"limits", {{"failed_logins_per_second", 1}, {"failed_login_burst", 1}}}};

// Runs `tool` while attackers keep the first-login budget of one kind spent
// (each bad login on a fresh connection, as fast as the server answers), until
// /metrics shows a refusal that was not theirs: the tool's. Then the storm
// stops and the budget refills within a second. Returns the tool's result, and
// whether it was refused at least once (a tool that found the one token of the
// second free got in at once; the caller then runs it again).
std::pair<ToolResult, bool> run_during_storm(const Relay& relay, const std::string& metric,
                                             const std::function<std::string(WsClient&)>& bad,
                                             const std::function<ToolResult()>& tool) {
  std::atomic<bool> stop{false};
  std::atomic<long> theirs{0};
  std::thread storm([&] {
    while (!stop.load()) {
      try {
        auto ws = WsClient::connect(relay.hearthd->port());
        if (bad(*ws) == "rate_limited") theirs.fetch_add(1);
      } catch (const std::exception&) {
      }
    }
  });
  // The storm has spent the budget before the tool starts.
  const auto deadline = Steady::now() + std::chrono::seconds(60);
  while (theirs.load() == 0 && Steady::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto result = std::async(std::launch::async, tool);
  bool refused = false;
  while (result.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    const double all =
        metric_value(http_get(relay.hearthd->metrics_port(), "/metrics").body, metric);
    if (all > static_cast<double>(theirs.load())) {
      refused = true;
      stop.store(true);
    }
  }
  stop.store(true);
  storm.join();
  return {result.get(), refused};
}

// The seven words shown on the line after "Your codename is ...".
std::string codename_in(const std::string& out) {
  std::smatch m;
  static const std::regex shown(R"(only way back to this conversation:\n\n\s+((?:[a-z-]+ ){7}))");
  if (!std::regex_search(out, m, shown)) return "";
  return m[1].str();
}

}  // namespace

TEST_CASE("hearth-console retries a login answered rate_limited, saying so", "[tools]") {
  Relay relay(kTinyBudget);
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  auto& bo = relay.org.add_responder("bo", {"shelter"});
  relay.start();
  const auto data = relay.stores.path() / ana.id;
  relay.create_store(ana).reset();
  auto bad = [&](WsClient& ws) {
    auto challenge = ws.call(protocol::ChallengeRequest{});
    auto wrong = crypto::SigningKey::generate();
    auto sig = crypto::sign_responder_login(wrong, b64(challenge["challenge"]));
    return error_code(ws.call(protocol::ResponderLoginRequest{
        bo.certificate_bytes(), Bytes(sig.bytes.begin(), sig.bytes.end())}));
  };
  auto console = [&] {
    return run_tool_steps(
        HEARTH_CONSOLE_PATH, {"--plain", "--server", relay.endpoint().url, "--data", data.string()},
        {{"Type /help", "/quit\n"}}, {{"HEARTH_PASSPHRASE", std::string(kStorePassphrase)}},
        std::chrono::seconds(90));
  };
  for (int run = 0; run < 5; ++run) {
    auto [r, refused] = run_during_storm(
        relay, "hearth_logins_rate_limited_total{kind=\"responder\"}", bad, console);
    INFO(r.out << r.err);
    if (!refused && r.exit_code == 0) continue;  // it found the token: again
    CHECK(refused);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("server busy, retrying in "));
    CHECK_THAT(r.out, Contains("Type /help for commands."));
    break;
  }
  CHECK(relay.hearthd->terminate() == 0);
}

TEST_CASE("hearth-survivor retries a vault login answered rate_limited, saying so",
          "[tools][survivor]") {
  Relay relay(kTinyBudget);
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  TempDir home;
  auto survivor = [&](const std::vector<ToolStep>& steps, bool resume) {
    std::vector<std::string> args = {"--org-root", to_hex(relay.org.root.public_key().view()),
                                     "--server", relay.endpoint().url};
    if (resume) args.push_back("--resume");
    return run_tool_steps(HEARTH_SURVIVOR_PATH, args, steps,
                          {{"HOME", home.path().string()}, {"TMPDIR", home.path().string()}},
                          std::chrono::seconds(90), home.path().string());
  };
  auto first = survivor({{"", "2\n2\nen\nI need a safe place tonight [retry-1]\n\n/quit\n"}},
                        /*resume=*/false);
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);
  const std::string codename = codename_in(first.out);
  REQUIRE(!codename.empty());
  auto bad = [](WsClient& ws) { return error_code(vault_login(ws, TestSurvivor::make())); };
  auto back = [&] {
    return survivor({{"", codename + "\n"}, {"you: I need a safe place", "/quit\n"}},
                    /*resume=*/true);
  };
  for (int run = 0; run < 5; ++run) {
    auto [r, refused] =
        run_during_storm(relay, "hearth_logins_rate_limited_total{kind=\"vault\"}", bad, back);
    INFO(r.out << r.err);
    if (!refused && r.exit_code == 0) continue;  // it found the token: again
    CHECK(refused);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("server busy, retrying in "));
    CHECK_THAT(r.out, Contains("you: I need a safe place tonight [retry-1]"));
    break;
  }
  CHECK(relay.hearthd->terminate() == 0);
}
