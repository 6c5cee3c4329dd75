// Shared pieces of hearth-admin's commands (command.h).
#include "admin/command.h"

#include <cstdio>

namespace hearth::admin {

int fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "hearth-admin: %s: %s\n", what.c_str(), status.message().c_str());
  return 1;
}

}  // namespace hearth::admin
