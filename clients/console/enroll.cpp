// `hearth-console enroll`. Being written.
#include <cstdio>

#include "clients/console/console.h"

namespace hearth::console {

int run_enroll(const EnrollOptions&) {
  std::fprintf(stderr, "hearth-console: enroll is not available in this build\n");
  return 1;
}

}  // namespace hearth::console
