// gunzip for tests that check what hearthd serves compressed: inflated by
// zlib, not by the code under test.
#pragma once

#include <string>

namespace hearth::test {

// `data` inflated as one whole gzip stream (RFC 1952), or "<bad gzip>".
std::string gunzip(const std::string& data);

}  // namespace hearth::test
