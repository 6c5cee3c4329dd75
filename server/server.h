// Server: hearthd as an object — storage, roster, relay hub, listeners,
// timers and signals — so main() stays a thin wrapper.
//
// Start-up (Server::create) opens the database and its storage thread, loads
// and verifies the roster file against the org root (refusing to start when
// it does not verify; warning loudly when it is merely expired), stores it
// when its epoch is newer than the stored one, rebuilds the in-memory case
// index and certificate cache, and binds the public and metrics listeners.
// run() serves until SIGTERM or SIGINT, then drains: no new connections, the
// request in hand on each connection is answered, every WebSocket is closed
// with 1001, the storage thread finishes its queue. SIGHUP reloads the roster
// file (a bad one is refused and the old one stays) and disconnects
// responders whose certificate the new roster no longer accepts.
//
// Thread safety: create() and run() from one thread (main); run() blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/status.h"
#include "host/config.h"
#include "triage/rules.h"

namespace hearth::server {

class Server {
 public:
  // Errors name what failed (database, key, roster, bind, TLS files).
  static Result<std::unique_ptr<Server>> create(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound ports (useful when the config asked for port 0).
  std::uint16_t public_port() const;
  std::uint16_t metrics_port() const;  // 0 when metrics are disabled

  // Serves until a stop signal and the drain that follows. When `ready_file`
  // is given, "<public port> <metrics port>\n" is written to it atomically
  // once the listeners accept. Returns the process exit code (0 after a clean
  // drain).
  int run(const std::optional<std::filesystem::path>& ready_file);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets RLIMIT_CORE to 0: a core dump would hold keys. kUnavailable on failure.
Status disable_core_dumps();

// The routing rules the config names (rules_file), or the shipped default
// when it names none. Errors start with "rules_file: " and name the field.
Result<triage::Rules> load_rules_file(const Config& config);

// Loads `path` as a SignedRoster and checks it for --check-config: the same
// verification start-up does. Ok (expired is reported through *expired).
Status check_roster_file(const Config& config, bool* expired);

}  // namespace hearth::server
