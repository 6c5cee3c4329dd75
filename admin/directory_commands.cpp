// hearth-admin's directory commands (command.h). Being written.
#include "admin/command.h"

namespace hearth::admin {

void add_directory_commands(CLI::App&, Commands&) {}

}  // namespace hearth::admin
