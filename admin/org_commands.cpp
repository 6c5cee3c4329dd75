// hearth-admin's org commands (command.h). Being written.
#include "admin/command.h"

namespace hearth::admin {

void add_org_commands(CLI::App&, Commands&) {}

}  // namespace hearth::admin
