// The full-screen console (ncursesw). Being written; until then it runs line mode.
#include "clients/console/console.h"

namespace hearth::console {

int run_tui(const Options& options) { return run_plain(options); }

}  // namespace hearth::console
