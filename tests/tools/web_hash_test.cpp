// hearth-admin web-hash and hearthd's web_root_loaded line: the same hash of
// the same directory, a new one after one changed byte; and the demo serves
// the page when given one.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "tests/integration/support/hearthd_process.h"
#include "tests/integration/support/tool_run.h"
#include "tests/integration/support/ws_client.h"
#include "tests/support/test_support.h"

namespace {

using hearth::test::HearthdProcess;
using hearth::test::run_tool;
using hearth::test::TempDir;
namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// The one line web-hash prints: 64 hex digits.
std::string printed_hash(const fs::path& dir) {
  auto r = run_tool(HEARTH_ADMIN_PATH, {"web-hash", dir.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::regex_match(r.out, std::regex("[0-9a-f]{64}\n")));
  return r.out.substr(0, 64);
}

// The hash hearthd logs when it starts on `config`.
std::string logged_hash(const fs::path& config) {
  HearthdProcess hearthd(config);
  hearthd.start();
  auto loaded = hearthd.log_events("web_root_loaded");
  REQUIRE(loaded.size() == 1);
  CHECK(hearthd.terminate() == 0);
  // No path in the line: only counts and the hash.
  CHECK(loaded[0].size() == 7);  // t, level, event, files, bytes, gzip_bytes, hash
  CHECK(loaded[0]["gzip_bytes"].is_number_unsigned());
  return loaded[0]["hash"].get<std::string>();
}

}  // namespace

TEST_CASE("web-hash prints the hash hearthd logs, and one changed byte changes both", "[tools]") {
  TempDir tmp;
  const fs::path web = tmp.path() / "web";
  write(web / "index.html", "<!doctype html><title>Help</title>\n");
  write(web / "app.js", "console.log(1);\n");
  write(web / "i18n" / "es.json", "{\"hola\": 1}\n");
  const fs::path demo = tmp.path() / "demo";
  auto made = run_tool(HEARTH_ADMIN_PATH, {"demo", demo.string(), "--port", "0", "--metrics-port",
                                           "0", "--pow-effort", "16", "--web-root", web.string()});
  INFO(made.out << made.err);
  REQUIRE(made.exit_code == 0);
  CHECK_THAT(made.out, Catch::Matchers::Contains("the survivor's page"));
  const fs::path config = demo / "server" / "hearthd.json";

  std::string before = printed_hash(web);
  CHECK(logged_hash(config) == before);

  write(web / "app.js", "console.log(2);\n");
  std::string after = printed_hash(web);
  CHECK(after != before);
  CHECK(logged_hash(config) == after);

  // The demo's hearthd serves the page.
  HearthdProcess hearthd(config);
  hearthd.start();
  auto page = hearth::test::http_get(hearthd.port(), "/");
  CHECK(page.status == 200);
  CHECK(page.body == "<!doctype html><title>Help</title>\n");
  CHECK(hearthd.terminate() == 0);

  // A directory hearthd would refuse, web-hash refuses too.
  write(web / ".hidden", "x");
  auto refused = run_tool(HEARTH_ADMIN_PATH, {"web-hash", web.string()});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Matchers::Contains("web.root: .hidden"));
}
