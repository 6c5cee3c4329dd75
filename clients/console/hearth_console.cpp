// hearth-console: the responder's console.
//
// `hearth-console --data DIR` opens the full-screen console (or line mode with
// --plain, or when stdout is not a terminal); `hearth-console enroll` makes a
// new responder's keys and key request, and installs the certificate the
// admin returns. console.h lists the modes and the exit codes.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <string>

#include "clients/cli/parse.h"
#include "clients/console/console.h"

int main(int argc, char** argv) {
  using namespace hearth::console;
  CLI::App app{"hearth-console: the responder's console."};
  app.require_subcommand(0, 1);
  Options options;
  options.server = "ws://127.0.0.1:8750/v1/ws";
  bool plain = false;
  app.add_option("--server", options.server, "hearthd's WebSocket URL (ws:// or wss://)")
      ->capture_default_str();
  app.add_option("--data", options.data_dir, "your data directory (made by `enroll`)");
  app.add_option("--passphrase-file", options.passphrase_file,
                 "read the passphrase from this file (else $HEARTH_PASSPHRASE, else a prompt)");
  app.add_option("--ca", options.ca_file, "for wss://: a PEM file of CA certificates to trust");
  app.add_option("--directory", options.directory_file,
                 "the organisation's directory file: canned responses and referral cards");
  app.add_flag("--plain", plain,
               "line mode: one line in, one line out (screen readers, slow links, scripts)");

  auto* enroll_cmd = app.add_subcommand(
      "enroll",
      "make your keys and a key request for your admin; then install the certificate they return");
  EnrollOptions enroll;
  enroll_cmd->add_option("--data", enroll.data_dir, "your new data directory")->required();
  enroll_cmd->add_option("--passphrase-file", enroll.passphrase_file,
                         "read the passphrase from this file (else $HEARTH_PASSPHRASE, else a "
                         "prompt)");
  enroll_cmd->add_option("--id", enroll.responder_id, "the responder id you ask for (e.g. maria)");
  enroll_cmd->add_option("--request", enroll.request_file,
                         "where to write the key request (default: DATA/key-request.txt)");
  enroll_cmd->add_option("--certificate", enroll.certificate_file,
                         "second step: install the certificate file your admin gave you");
  enroll_cmd->add_option("--org-root", enroll.org_root,
                         "second step: the org root public key (hex, or a file holding it)");
  if (auto code = hearth::cli::parse_command_line(app, argc, argv)) return *code;

  if (enroll_cmd->parsed()) return run_enroll(enroll);
  if (options.data_dir.empty()) {
    std::fprintf(stderr, "hearth-console: --data is required (see --help)\n");
    return 2;
  }
  if (plain || !::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) return run_plain(options);
  return run_tui(options);
}
