// hearth-admin's directory commands: `directory validate FILE` checks the
// organisation's directory file (canned responses and referral cards, read by
// hearth-console --directory) exactly as the console loads it, and names the
// field of the first mistake (docs/hearth-console.md "The directory file").
#include <cstdio>
#include <memory>
#include <string>

#include "admin/command.h"
#include "clients/lib/directory.h"

namespace hearth::admin {
namespace {

int directory_validate(const std::string& file) {
  auto directory = client::load_directory(file);
  if (!directory.is_ok()) {
    std::fprintf(stderr, "hearth-admin: %s: %s\n", file.c_str(),
                 directory.status().message().c_str());
    return 1;
  }
  std::printf("ok: %zu canned responses, %zu referral cards\n", directory->canned.size(),
              directory->referrals.size());
  return 0;
}

}  // namespace

void add_directory_commands(CLI::App& app, Commands& commands) {
  auto* directory_cmd = app.add_subcommand(
      "directory", "check the organisation's directory file (canned responses, referral cards)");
  directory_cmd->require_subcommand(1);
  auto* validate_cmd = directory_cmd->add_subcommand(
      "validate", "check a directory file as hearth-console --directory loads it");
  auto file = std::make_shared<std::string>();
  validate_cmd->add_option("file", *file, "the directory file (JSON)")->required();
  commands.add(validate_cmd, [file] { return directory_validate(*file); });
}

}  // namespace hearth::admin
