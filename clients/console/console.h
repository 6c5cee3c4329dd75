// hearth-console's modes: each is a function over the options main() parsed.
//
//   run_tui     the full-screen console (ncursesw), the default on a terminal
//   run_plain   line mode (--plain): screen readers, slow links, scripts
//   run_enroll  `hearth-console enroll`: make this responder's keys and a key
//               request for the admin, then install the certificate they return
//
// Exit codes, the same in every mode: 0 done, 1 a failure (store, network),
// 2 a bad command line or no passphrase, 3 refused by the organisation
// (certificate revoked, not on the roster, or expired), 4 stopped because this
// responder signed in somewhere else (the server closed this connection with
// 4001 for a newer login; the console does not log in again by itself).
//
// Thread safety: each mode runs on main's thread and owns what it opens.
#pragma once

#include <string>
#include <vector>

namespace hearth::console {

struct Options {
  std::string server;           // hearthd's WebSocket URL
  std::string data_dir;         // the responder's data directory (keystore, sessions)
  std::string passphrase_file;  // empty: $HEARTH_PASSPHRASE, else a prompt
  std::string ca_file;          // for wss://
  std::string directory_file;   // the org's directory (canned responses, referral cards)
};

int run_plain(const Options& options);
int run_tui(const Options& options);

struct EnrollOptions {
  std::string data_dir;
  std::string passphrase_file;
  std::string responder_id;      // asked of the admin (they may change it)
  std::string request_file;      // where the key request is written
  std::string certificate_file;  // the admin's answer, to install (second step)
  std::string org_root;          // the org root public key (hex or a file), to pin
};

int run_enroll(const EnrollOptions& options);

}  // namespace hearth::console
