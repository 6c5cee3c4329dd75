// hearth-survivor, driven as a survivor would from a terminal: the triage
// questions, the first message, the codename shown once with a practice try,
// coming back by codename to read a reply, deleting the conversation, the
// quick exit — against a real hearthd with a responder on the other side. It
// must write nothing to disk: it runs in an empty directory with an empty
// HOME and TMPDIR, and they stay empty.
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <string>

#include "tests/integration/relay_support.h"
#include "tests/integration/support/tool_run.h"

using namespace hearth;
using namespace hearth::test;
using Catch::Matchers::Contains;
using R = client::ResponderUpdate::Kind;

namespace {

// The survivor's command line and environment, with an empty home.
struct Survivor {
  const Relay& relay;
  TempDir home;

  ToolResult run(const std::string& input, std::vector<std::string> extra = {}) const {
    return run_tool(HEARTH_SURVIVOR_PATH, args(extra), input, environment(),
                    std::chrono::seconds(60), home.path().string());
  }
  // Typed in answer to what the tool shows (see run_tool_steps).
  ToolResult run_steps(const std::vector<ToolStep>& steps, std::vector<std::string> extra) const {
    return run_tool_steps(HEARTH_SURVIVOR_PATH, args(extra), steps, environment(),
                          std::chrono::seconds(60), home.path().string());
  }
  std::vector<std::string> args(const std::vector<std::string>& extra) const {
    std::vector<std::string> all = {"--org-root", to_hex(relay.org.root.public_key().view()),
                                    "--server", relay.endpoint().url};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }
  std::vector<std::pair<std::string, std::string>> environment() const {
    return {{"HOME", home.path().string()}, {"TMPDIR", home.path().string()}};
  }
};

// The seven words shown on the line after "Your codename is ...".
std::string codename_in(const std::string& out) {
  std::smatch m;
  static const std::regex shown(R"(only way back to this conversation:\n\n\s+((?:[a-z-]+ ){7}))");
  if (!std::regex_search(out, m, shown)) return "";
  return m[1].str();
}

}  // namespace

TEST_CASE("hearth-survivor asks, sends, shows the codename once and comes back by it",
          "[tools][survivor]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  Survivor survivor{relay, {}};

  // Shelter, today, English, a first message; one wrong practice try, then skip.
  auto first =
      survivor.run("2\n2\nen\nI need a safe place tonight [cli-1]\nnot my words\n\n/quit\n");
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.out, Contains("Organisation fingerprint: " +
                                 crypto::fingerprint(relay.org.root.public_key())));
  CHECK_THAT(first.out, Contains("What do you need help with?"));
  CHECK_THAT(first.out, Contains("Your message went to 1 responder(s)."));
  CHECK_THAT(first.out, Contains("That is not it. Try again."));
  const std::string codename = codename_in(first.out);
  REQUIRE(!codename.empty());
  // Shown exactly once.
  CHECK(first.out.find(codename) == first.out.rfind(codename));
  CHECK(std::filesystem::is_empty(survivor.home.path()));

  // The responder takes it and answers while the survivor is away.
  poll_until(*responder, [](auto& u) { return count_kind(u, R::kWaiting) >= 1; });
  auto taken = responder->take_next();
  REQUIRE(taken.is_ok());
  REQUIRE(taken.value().has_value());
  poll_until(*responder, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  REQUIRE(responder->send(taken.value()->case_id, "We have a bed for you [cli-2]").is_ok());

  // Back by codename (typed with extra spaces and capitals): the whole conversation shows.
  std::string typed = "  " + codename;
  for (auto& c : typed) c = c == 'a' ? 'A' : c;
  // /quit only once the reply is on screen: how soon hearthd pushes it after
  // the login is up to a (possibly loaded) machine, not to the test.
  auto back = survivor.run_steps(
      {{"", typed + "\n"}, {"responder: We have a bed for you [cli-2]", "/quit\n"}}, {"--resume"});
  INFO(back.out << back.err);
  REQUIRE(back.exit_code == 0);
  CHECK_THAT(back.out, Contains("you: I need a safe place tonight [cli-1]"));
  CHECK_THAT(back.out, Contains("responder: We have a bed for you [cli-2]"));
  CHECK(back.out.find(codename) == std::string::npos);  // never echoed back

  // Delete: confirmed, then the codename opens nothing (three tries, then exit 1).
  auto deleted = survivor.run(codename + "\n/delete\nyes\n", {"--resume"});
  INFO(deleted.out << deleted.err);
  REQUIRE(deleted.exit_code == 0);
  CHECK_THAT(deleted.out, Contains("Deleted. Your codename no longer opens anything."));
  auto gone = survivor.run(codename + "\n" + codename + "\n" + codename + "\n", {"--resume"});
  CHECK(gone.exit_code == 1);
  CHECK_THAT(gone.out, Contains("That codename does not open a conversation here"));

  CHECK(std::filesystem::is_empty(survivor.home.path()));
  check_no_secrets(*relay.hearthd, {"[cli-1]", "[cli-2]", "safe place"});
  CHECK(relay.hearthd->terminate() == 0);
}

TEST_CASE("hearth-survivor's quick exit and bad input", "[tools][survivor]") {
  Relay relay;
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  Survivor survivor{relay, {}};

  // /x at any question leaves at once, without another word.
  auto quick = survivor.run("2\n/x\nthis line is never read\n");
  CHECK(quick.exit_code == 0);
  CHECK_THAT(quick.out, Contains("How urgent is it?"));
  CHECK(quick.out.find("Which languages") == std::string::npos);

  // Wrong answers are asked again, plainly; a malformed codename is explained.
  auto wrong = survivor.run("12\n0 3 4\n\n/quit\n");
  CHECK(wrong.exit_code == 0);
  CHECK_THAT(wrong.out, Contains("Please type one or two numbers from the list."));
  auto bad_codename = survivor.run("one two three\n\n\n", {"--resume"});
  CHECK(bad_codename.exit_code == 1);
  CHECK_THAT(bad_codename.out, Contains("7"));

  // A bad org root key is a bad command line.
  auto bad_root = run_tool(HEARTH_SURVIVOR_PATH, {"--org-root", "abcd"});
  CHECK(bad_root.exit_code == 2);
  CHECK_FALSE(bad_root.err.empty());
  CHECK(std::filesystem::is_empty(survivor.home.path()));
}
