// The per-connection byte rate limit against a logged-in survivor's real
// traffic: its client uploads the whole vault with every message it sends and
// every batch it receives, so a brisk conversation moves far more bytes than
// the rate meant for anonymous flooders. At the old single rate (64 KiB/s)
// the live round trip of bench/flood_bench waited ~260 ms per vault upload
// once the burst was spent, with or without any attack (docs/performance.md).
#include <catch2/catch.hpp>
#include <string>

#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

double metric(const HearthdProcess& hearthd, const std::string& name) {
  return metric_value(http_get(hearthd.metrics_port(), "/metrics").body, name);
}

TEST_CASE("a logged-in survivor's vault uploads are not throttled at the anonymous byte rate",
          "[integration]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);  // the default limits
  hearthd.start();
  auto responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*responder, ana)) == "");

  auto survivor = TestSurvivor::make();
  auto ws = WsClient::connect(hearthd.port());
  auto routed = route(*ws, envelope_for(protocol::Need::kShelter));
  REQUIRE(error_code(routed) == "");
  auto opened = open_case(*ws, routed, &survivor, "intake");
  REQUIRE(error_code(opened) == "");
  std::int64_t version = opened["vault_version"];

  // Twelve uploads of a 150 KiB vault (200 KiB on the wire): 2.4 MiB, past
  // the old 1 MiB burst by more than 64 KiB/s could refill in 20 s, and
  // within the logged-in burst (4 MiB) however fast they go: deterministic
  // both ways, no timing.
  const Bytes blob(150 * 1024, 0x5a);
  for (int i = 0; i < 12; ++i) {
    auto put = ws->call(protocol::VaultPutRequest{protocol::VaultPut{version, blob}},
                        std::chrono::seconds(30));
    REQUIRE(error_code(put) == "");
    version = put["version"];
  }
  CHECK(metric(hearthd, "hearth_read_throttled_waits_total") == 0);
  CHECK(hearthd.terminate() == 0);
}

}  // namespace
}  // namespace hearth::test
