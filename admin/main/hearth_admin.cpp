// hearth-admin: the organisation's admin tool. Every command lives in the
// hearth_admin library (admin/command.h lists them); this only parses and runs.
#include <CLI/CLI.hpp>

#include "admin/command.h"
#include "clients/cli/parse.h"

int main(int argc, char** argv) {
  using namespace hearth::admin;
  CLI::App app{
      "hearth-admin: run a Hearth organisation (keys, responders, roster, routing, database)."};
  app.require_subcommand(1);
  Commands commands;
  add_demo_command(app, commands);
  add_org_commands(app, commands);
  add_routing_commands(app, commands);
  add_directory_commands(app, commands);
  add_database_commands(app, commands);
  add_web_commands(app, commands);
  if (auto code = hearth::cli::parse_command_line(app, argc, argv)) return *code;
  return commands.run_parsed();
}
