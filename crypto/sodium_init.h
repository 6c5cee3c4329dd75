// One-time libsodium initialisation.
//
// Thread safety: safe to call from any thread, any number of times.
#pragma once

namespace hearth::crypto {

// Initialises libsodium once. Aborts the process if libsodium cannot start
// (no usable random source), because no cryptography is safe without it.
// Every hearth_crypto entry point that needs it calls it; executables may call
// it early so a broken system fails at start-up rather than mid-request.
void ensure_initialized();

}  // namespace hearth::crypto
