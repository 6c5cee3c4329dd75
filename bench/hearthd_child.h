// HearthdChild: a real hearthd started by a benchmark as a child process,
// with the config in <dir>/server/hearthd.json (as `hearth-admin demo` writes
// it) and its log in <dir>/hearthd.log. Stopped with SIGTERM when destroyed.
//
// Thread safety: none; one owner.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace hearth::bench {

struct HearthdChild {
  pid_t pid = -1;
  int port = 0;  // the public port, once ready

  HearthdChild() = default;
  HearthdChild(const HearthdChild&) = delete;
  HearthdChild& operator=(const HearthdChild&) = delete;
  ~HearthdChild() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }

  // Forks and execs `hearthd`, then waits up to `wait` for its ready file.
  // False when it did not get ready: the caller says so and points at the log.
  bool start(const std::filesystem::path& dir, const std::string& hearthd,
             std::chrono::milliseconds wait) {
    const std::filesystem::path ready = dir / "ready";
    pid = ::fork();
    if (pid == 0) {
      if (!std::freopen((dir / "hearthd.log").c_str(), "w", stderr)) std::_Exit(126);
      ::execl(hearthd.c_str(), hearthd.c_str(), "--config",
              (dir / "server" / "hearthd.json").c_str(), "--ready-file", ready.c_str(), nullptr);
      std::_Exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!std::filesystem::exists(ready) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::ifstream in(ready);
    return static_cast<bool>(in >> port);
  }
};

}  // namespace hearth::bench
