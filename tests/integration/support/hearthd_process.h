// HearthdProcess: runs the real hearthd binary for a test.
//
// The constructor writes, into a fresh temporary directory, the org's root
// public key (in the config), a roster file (epoch 1 unless given) and a
// config file listening on 127.0.0.1 port 0 (metrics too) with a low
// proof-of-work effort; `overrides` is merged into that config (JSON merge
// patch), so a test can set limits or TLS. start() spawns hearthd with
// --ready-file and waits until it has written its ports; stderr (the JSON
// log) is appended to a file that logs() returns, across restarts. The data
// directory survives stop/start, so a test can restart on the same database.
//
//   HearthdProcess hearthd(org);
//   hearthd.start();
//   auto ws = WsClient::connect(hearthd.port());
//   ...
//   CHECK(hearthd.terminate() == 0);
//
// Debugging: HEARTH_TEST_WRAPPER="gdb -batch -ex run -ex bt --args" runs
// hearthd under a tool (output into the log); HEARTH_TEST_SHOW_LOGS=1 prints
// the log when the harness is destroyed.
//
// Thread safety: none; drive it from the test's thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/trust.h"
#include "tests/integration/support/test_org.h"
#include "tests/support/test_support.h"

namespace hearth::test {

class HearthdProcess {
 public:
  // `roster`: the roster file to install (default: org.roster(1)).
  explicit HearthdProcess(const TestOrg& org, nlohmann::json overrides = nlohmann::json::object(),
                          std::optional<crypto::SignedRoster> roster = std::nullopt);
  // Runs hearthd with an existing config file (e.g. `hearth-admin init`'s
  // server/hearthd.json), left unchanged; the ready file and the log go to a
  // fresh temporary directory. config_path() is then `config_file`;
  // roster_path(), data_dir() and the config/roster writers do not apply.
  explicit HearthdProcess(std::filesystem::path config_file);
  ~HearthdProcess();  // SIGKILLs a process still running
  HearthdProcess(const HearthdProcess&) = delete;
  HearthdProcess& operator=(const HearthdProcess&) = delete;

  // Spawns hearthd and waits (up to `timeout`) for its ready file. Throws
  // std::runtime_error, with the log attached, if it exits or times out.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Spawns hearthd and waits for it to exit; returns its exit code (for
  // tests of start-up failures). Throws on timeout.
  int run_to_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Signals. terminate() sends SIGTERM and waits for the exit code (throws on
  // timeout); kill() sends SIGKILL and reaps; hangup() sends SIGHUP.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  void kill();
  void hangup();
  // The exit code once the process has exited, or nullopt after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // for measurements (/proc/<pid>/stat)

  std::uint16_t port() const { return port_; }
  std::uint16_t metrics_port() const { return metrics_port_; }

  // Everything hearthd wrote to stderr so far, all runs.
  std::string logs() const;
  // Lines of logs() whose "event" is `event`.
  std::vector<nlohmann::json> log_events(std::string_view event) const;

  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path config_path() const {
    return external_config_.empty() ? dir() / "hearthd.json" : external_config_;
  }
  std::filesystem::path roster_path() const { return dir() / "roster.bin"; }
  std::filesystem::path data_dir() const { return dir() / "data"; }
  std::filesystem::path log_path() const { return dir() / "hearthd.log"; }

  // Replaces the roster file (then hangup() to reload it, or restart).
  void write_roster(const crypto::SignedRoster& roster);
  void write_roster_bytes(const Bytes& bytes);
  // The config in force for the next start(); `patch` is merged into it.
  nlohmann::json config() const { return config_; }
  void patch_config(const nlohmann::json& patch);

 private:
  void spawn(bool with_ready_file);
  void write_config();

  TempDir dir_;
  std::filesystem::path external_config_;
  nlohmann::json config_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t metrics_port_ = 0;
};

}  // namespace hearth::test
