// Reading the org root public key that clients pin, as the admin tool prints
// it: 64 hex digits, optionally in a file (surrounding whitespace ignored).
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "common/status.h"
#include "crypto/keys.h"

namespace hearth::cli {

// kInvalidArgument unless `text` is exactly 64 hex digits (whitespace around it
// is ignored).
Result<crypto::SigningPublicKey> parse_org_root(std::string_view text);
// `value` is either the hex key itself or the path of a file holding it.
Result<crypto::SigningPublicKey> load_org_root(const std::string& value);

}  // namespace hearth::cli
