// hearth-admin's database commands (command.h). Being written.
#include "admin/command.h"

namespace hearth::admin {

void add_database_commands(CLI::App&, Commands&) {}

}  // namespace hearth::admin
