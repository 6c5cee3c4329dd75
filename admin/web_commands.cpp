// hearth-admin's web command: `web-hash DIR` prints the hash of the survivor's
// page as hearthd would serve it from DIR (web.root), loaded by the same code
// (host/static_site.h) and under the same rules, so an org can publish the
// hash and anyone can compare it with the `web_root_loaded` line hearthd logs
// (docs/operations.md "The page's hash").
#include <cstdio>
#include <memory>
#include <string>

#include "admin/command.h"
#include "host/static_site.h"

namespace hearth::admin {
namespace {

int web_hash(const std::string& dir) {
  auto site = server::StaticSite::load(dir);
  if (!site.is_ok()) return fail(dir, site.status());
  std::printf("%s\n", to_hex(site->hash()).c_str());
  std::fprintf(stderr, "hearth-admin: %zu files, %zu bytes\n", site->file_count(),
               site->total_bytes());
  return 0;
}

}  // namespace

void add_web_commands(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand(
      "web-hash",
      "print the SHA-256 of the survivor's page in DIR, as hearthd logs it at start-up");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("dir", *dir, "the page's directory (hearthd's web.root)")->required();
  commands.add(cmd, [dir] { return web_hash(*dir); });
}

}  // namespace hearth::admin
