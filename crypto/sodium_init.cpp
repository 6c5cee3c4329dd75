#include "crypto/sodium_init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace hearth::crypto {

void ensure_initialized() {
  static const bool ok = [] {
    if (sodium_init() < 0) {
      std::fputs("hearth: libsodium failed to initialise\n", stderr);
      std::abort();
    }
    return true;
  }();
  (void)ok;
}

}  // namespace hearth::crypto
