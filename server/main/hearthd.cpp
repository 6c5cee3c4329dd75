// hearthd: the Hearth relay server. A thin wrapper over server::Server.
//
//   hearthd --config FILE [--check-config] [--ready-file PATH]
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or a good
// --check-config; 1 when start-up fails; 2 for a bad command line or config.
// docs/operations.md describes running it.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "common/log.h"
#include "host/config.h"
#include "host/static_site.h"
#include "server/server.h"

namespace {

using namespace hearth;

int run(const std::string& config_path, bool check_only,
        const std::optional<std::string>& ready_file) {
  // First of all: a core dump would hold keys.
  if (Status st = server::disable_core_dumps(); !st.is_ok()) {
    std::fprintf(stderr, "hearthd: %s\n", st.message().c_str());
    return 1;
  }
  auto config = server::load_config(config_path);
  if (!config.is_ok()) {
    std::fprintf(stderr, "hearthd: config: %s\n", config.status().message().c_str());
    return 2;
  }
  if (check_only) {
    bool expired = false;
    if (Status st = server::check_roster_file(*config, &expired); !st.is_ok()) {
      std::fprintf(stderr, "hearthd: %s\n", st.message().c_str());
      return 2;
    }
    auto rules = server::load_rules_file(*config);
    if (!rules.is_ok()) {
      std::fprintf(stderr, "hearthd: %s\n", rules.status().message().c_str());
      return 2;
    }
    if (config->web_root) {
      auto site = server::StaticSite::load(*config->web_root);
      if (!site.is_ok()) {
        std::fprintf(stderr, "hearthd: %s\n", site.status().message().c_str());
        return 2;
      }
    }
    std::printf("hearthd: config ok (routing rules version %llu)%s\n",
                static_cast<unsigned long long>(rules->version),
                expired ? " (warning: the roster has expired)" : "");
    return 0;
  }
  log::set_log_level(config->log_level);
  log::logger().info("starting");
  auto server = server::Server::create(std::move(*config));
  if (!server.is_ok()) {
    log::logger().error("start_failed", {{"status", server.status()}});
    std::fprintf(stderr, "hearthd: %s\n", server.status().message().c_str());
    return 1;
  }
  std::optional<std::filesystem::path> ready;
  if (ready_file) ready = *ready_file;
  return (*server)->run(ready);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hearthd: the Hearth relay server"};
  std::string config_path;
  bool check_only = false;
  std::optional<std::string> ready_file;
  app.add_option("--config", config_path, "the JSON config file")->required();
  app.add_flag("--check-config", check_only,
               "validate the config, roster and rules files, then exit");
  app.add_option("--ready-file", ready_file,
                 "once listening, write '<public port> <metrics port>' here (atomically)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    return run(config_path, check_only, ready_file);
  } catch (const std::exception& e) {
    // Exceptions only at start-up (Asio, allocation): say so plainly.
    std::fprintf(stderr, "hearthd: start-up failed: %s\n", e.what());
    return 1;
  }
}
