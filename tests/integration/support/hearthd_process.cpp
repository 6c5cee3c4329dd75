#include "tests/integration/support/hearthd_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace hearth::test {
namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

HearthdProcess::HearthdProcess(const TestOrg& org, nlohmann::json overrides,
                               std::optional<crypto::SignedRoster> roster) {
  write_roster(roster ? *roster : org.roster(1));
  config_ = {
      {"data_dir", "data"},
      {"org_root_key", to_hex(org.root.public_key().view())},
      {"roster_file", "roster.bin"},
      {"listen", {{"address", "127.0.0.1"}, {"port", 0}}},
      {"metrics", {{"address", "127.0.0.1"}, {"port", 0}}},
      {"log_level", "debug"},
      // Cheap proofs: tests solve many.
      {"pow", {{"effort", 16}}},
  };
  config_.merge_patch(overrides);
  write_config();
}

HearthdProcess::HearthdProcess(std::filesystem::path config_file)
    : external_config_(std::filesystem::absolute(config_file)) {}

HearthdProcess::~HearthdProcess() {
  if (pid_ > 0) kill();
  // HEARTH_TEST_SHOW_LOGS=1 prints each run's log when the harness goes away.
  if (std::getenv("HEARTH_TEST_SHOW_LOGS") != nullptr) std::fprintf(stderr, "%s", logs().c_str());
}

void HearthdProcess::write_config() { std::ofstream(config_path()) << config_.dump(2); }

void HearthdProcess::patch_config(const nlohmann::json& patch) {
  config_.merge_patch(patch);
  write_config();
}

void HearthdProcess::write_roster(const crypto::SignedRoster& roster) {
  write_roster_bytes(roster.encode());
}

void HearthdProcess::write_roster_bytes(const Bytes& bytes) {
  // Written whole then renamed, as an operator's tooling would.
  auto tmp = roster_path();
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  std::filesystem::rename(tmp, roster_path());
}

void HearthdProcess::spawn(bool with_ready_file) {
  if (pid_ > 0) throw std::runtime_error("hearthd is already running");
  std::filesystem::remove(dir() / "ready");
  std::string binary = HEARTH_HEARTHD_PATH;
  std::string config = config_path().string();
  std::string ready = (dir() / "ready").string();
  std::vector<std::string> args;
  // HEARTH_TEST_WRAPPER="gdb -batch -ex run -ex bt --args" (or valgrind, ...)
  // runs hearthd under a debugging tool; its output goes to the log too.
  if (const char* wrapper = std::getenv("HEARTH_TEST_WRAPPER"); wrapper != nullptr) {
    std::istringstream words(wrapper);
    for (std::string w; words >> w;) args.push_back(w);
  }
  std::string program = args.empty() ? binary : args.front();
  args.insert(args.end(), {binary, "--config", config});
  if (with_ready_file) {
    args.push_back("--ready-file");
    args.push_back(ready);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = log_path().string();
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot spawn " + binary);
  pid_ = pid;
}

void HearthdProcess::start(std::chrono::milliseconds timeout) {
  spawn(/*with_ready_file=*/true);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = wait_exit(std::chrono::milliseconds(0))) {
      throw std::runtime_error("hearthd exited with " + std::to_string(*code) +
                               " during start-up; log:\n" + logs());
    }
    std::ifstream in(dir() / "ready");
    unsigned p = 0;
    unsigned m = 0;
    if (in >> p >> m) {
      port_ = static_cast<std::uint16_t>(p);
      metrics_port_ = static_cast<std::uint16_t>(m);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  throw std::runtime_error("hearthd did not become ready; log:\n" + logs());
}

int HearthdProcess::run_to_exit(std::chrono::milliseconds timeout) {
  spawn(/*with_ready_file=*/true);
  auto code = wait_exit(timeout);
  if (!code) {
    kill();
    throw std::runtime_error("hearthd did not exit; log:\n" + logs());
  }
  return *code;
}

std::optional<int> HearthdProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return exit_code_of(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int HearthdProcess::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) throw std::runtime_error("hearthd is not running");
  ::kill(pid_, SIGTERM);
  auto code = wait_exit(timeout);
  if (!code) {
    kill();
    throw std::runtime_error("hearthd did not exit after SIGTERM; log:\n" + logs());
  }
  return *code;
}

void HearthdProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void HearthdProcess::hangup() {
  if (pid_ > 0) ::kill(pid_, SIGHUP);
}

std::string HearthdProcess::logs() const {
  std::ifstream in(log_path());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<nlohmann::json> HearthdProcess::log_events(std::string_view event) const {
  std::vector<nlohmann::json> out;
  std::istringstream in(logs());
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == event) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace hearth::test
