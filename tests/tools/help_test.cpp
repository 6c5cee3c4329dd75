// Every command of every tool answers --help, and a wrong command line is
// refused with exit code 2 and a message, never a crash or a silent success.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/integration/support/tool_run.h"

using Catch::Matchers::Contains;
using hearth::test::run_tool;

namespace {

struct Command {
  const char* binary;
  std::vector<std::string> words;
};

}  // namespace

TEST_CASE("every tool and subcommand answers --help", "[tools]") {
  const std::vector<Command> commands = {
      {HEARTH_ADMIN_PATH, {}},
      {HEARTH_ADMIN_PATH, {"demo"}},
      {HEARTH_ADMIN_PATH, {"rules"}},
      {HEARTH_ADMIN_PATH, {"rules", "validate"}},
      {HEARTH_ADMIN_PATH, {"rules", "default"}},
      {HEARTH_ADMIN_PATH, {"simulate"}},
      {HEARTH_ADMIN_PATH, {"directory"}},
      {HEARTH_ADMIN_PATH, {"directory", "validate"}},
      {HEARTH_ADMIN_PATH, {"init"}},
      {HEARTH_ADMIN_PATH, {"responder"}},
      {HEARTH_ADMIN_PATH, {"responder", "enroll"}},
      {HEARTH_ADMIN_PATH, {"responder", "list"}},
      {HEARTH_ADMIN_PATH, {"revoke"}},
      {HEARTH_ADMIN_PATH, {"roster"}},
      {HEARTH_ADMIN_PATH, {"roster", "sign"}},
      {HEARTH_ADMIN_PATH, {"roster", "renew"}},
      {HEARTH_ADMIN_PATH, {"backup"}},
      {HEARTH_ADMIN_PATH, {"restore"}},
      {HEARTH_ADMIN_PATH, {"stats"}},
      {HEARTH_ADMIN_PATH, {"stats", "export"}},
      {HEARTH_ADMIN_PATH, {"purge"}},
      {HEARTH_CONSOLE_PATH, {}},
      {HEARTH_CONSOLE_PATH, {"enroll"}},
      {HEARTH_SURVIVOR_PATH, {}},
  };
  for (const auto& c : commands) {
    std::vector<std::string> args = c.words;
    args.push_back("--help");
    auto r = run_tool(c.binary, args);
    INFO(std::string(c.binary) << " " << args.front());
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("Usage:"));
    CHECK_THAT(r.out, Contains("--help"));
  }
}

TEST_CASE("a wrong command line is refused with exit code 2", "[tools]") {
  auto admin = run_tool(HEARTH_ADMIN_PATH, {"no-such-command"});
  CHECK(admin.exit_code == 2);
  CHECK_FALSE(admin.err.empty());
  auto none = run_tool(HEARTH_ADMIN_PATH, {});
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.err, Contains("subcommand"));
  auto console = run_tool(HEARTH_CONSOLE_PATH, {});
  CHECK(console.exit_code == 2);
  CHECK_THAT(console.err, Contains("--data"));
  auto survivor = run_tool(HEARTH_SURVIVOR_PATH, {"--no-such-flag"});
  CHECK(survivor.exit_code == 2);
  CHECK_FALSE(survivor.err.empty());
}
