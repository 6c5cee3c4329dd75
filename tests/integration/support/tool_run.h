// run_tool: runs one of Hearth's command-line tools (hearth-admin,
// hearth-console, hearth-survivor) to completion for a test, the way a person
// would from a shell: arguments, optional text on stdin, extra environment
// variables; stdout and stderr captured separately, with the exit code.
//
//   auto r = run_tool(HEARTH_ADMIN_PATH, {"init", dir.string()});
//   REQUIRE(r.exit_code == 0);
//   CHECK_THAT(r.out, Contains("org root fingerprint"));
//
// Thread safety: none needed; each call spawns and reaps its own process.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace hearth::test {

struct ToolResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

// `cwd`: the directory it runs in (default: the test's).
// Throws std::runtime_error when the tool cannot be spawned, or is still
// running after `timeout` (it is then killed, and its output so far is in the
// message).
ToolResult run_tool(const std::string& binary, const std::vector<std::string>& args,
                    const std::string& stdin_text = "",
                    const std::vector<std::pair<std::string, std::string>>& env = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(60),
                    const std::string& cwd = "");

// One step of a conversation with a tool: `text` goes to its stdin once its
// stdout holds `after` (at once when empty), so a test can answer what the
// tool has shown instead of guessing how long it takes to show it.
struct ToolStep {
  std::string after;
  std::string text;
};

// Like run_tool, with stdin a pipe fed step by step, and closed after the
// last step. A step whose `after` never shows ends in the timeout's error.
ToolResult run_tool_steps(const std::string& binary, const std::vector<std::string>& args,
                          const std::vector<ToolStep>& steps,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::string& cwd = "");

}  // namespace hearth::test
