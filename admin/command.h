// hearth-admin's command table. Each group of commands lives in its own file
// and registers its CLI11 subcommands here with the function that runs them;
// main() parses the command line and runs the one that was given.
//
//   demo.cpp              demo
//   routing_commands.cpp  rules validate|default, simulate
//   org_commands.cpp      init, responder enroll|list, revoke, roster sign|renew
//   database_commands.cpp backup, restore, stats export, purge
//   directory_commands.cpp directory validate
//   web_commands.cpp      web-hash
//
// Exit codes for every command: 0 done, 1 it failed (the message says why and
// what to do), 2 a bad command line.
//
// Thread safety: used from main's thread only.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace hearth::admin {

class Commands {
 public:
  // Runs `run` when `command` was the subcommand given.
  void add(CLI::App* command, std::function<int()> run) {
    commands_.emplace_back(command, std::move(run));
  }
  // The exit code of the command that was parsed; 2 if none was.
  int run_parsed() const {
    for (const auto& [command, run] : commands_)
      if (command->parsed() && command->get_subcommands().empty()) return run();
    return 2;
  }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
};

void add_demo_command(CLI::App& app, Commands& commands);
void add_routing_commands(CLI::App& app, Commands& commands);
void add_org_commands(CLI::App& app, Commands& commands);
void add_database_commands(CLI::App& app, Commands& commands);
void add_directory_commands(CLI::App& app, Commands& commands);
void add_web_commands(CLI::App& app, Commands& commands);

// "hearth-admin: WHAT: MESSAGE" on stderr; returns 1.
int fail(const std::string& what, const Status& status);

}  // namespace hearth::admin
