// Assertions shared by the integration tests (Catch2; include from test files only).
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/encoding.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/integration/support/ws_client.h"

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

// The value of one sample in a Prometheus text page ("name value" on its own
// line, labels included in name), or -1 when the page does not have it.
inline double metric_value(const std::string& page, const std::string& name) {
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// Waits (up to 20 s) until hearthd counts at most `open` connections: a
// client that just dropped its socket is gone from the server's view only
// once hearthd has seen the close, which a loaded machine may take a while to.
inline void wait_connections_open(const HearthdProcess& hearthd, double open) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  double now_open = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    now_open =
        metric_value(http_get(hearthd.metrics_port(), "/metrics").body, "hearth_connections_open");
    if (now_open >= 0 && now_open <= open) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("hearthd still counts " << now_open << " open connections, expected " << open);
}

}  // namespace hearth::test
