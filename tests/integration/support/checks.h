// Assertions shared by the integration tests (Catch2; include from test files only).
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {

// Nothing in hearthd's log may identify a peer or carry content.
inline void check_logs_clean(const HearthdProcess& hearthd,
                             const std::vector<std::string>& bodies) {
  std::string logs = hearthd.logs();
  CHECK(logs.find("127.0.0.1") == std::string::npos);
  for (const auto& body : bodies) {
    CHECK(logs.find(crypto::base64url_encode(as_bytes(body))) == std::string::npos);
    CHECK(logs.find(body) == std::string::npos);
  }
}

}  // namespace hearth::test
