#include "tests/integration/support/tool_run.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/test_support.h"

extern char** environ;

namespace hearth::test {
namespace {

// Runs `binary` with stdin from `stdin_path`, or from a new pipe whose write
// end is returned in *stdin_pipe; stdout and stderr go to files in `dir`.
pid_t spawn_tool(const std::string& binary, const std::vector<std::string>& args,
                 const std::vector<std::pair<std::string, std::string>>& env,
                 const std::string& cwd, const TempDir& dir, const std::string& stdin_path,
                 int* stdin_pipe) {
  std::vector<std::string> argv_strings{binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2] = {-1, -1};
  // The test's end is non-blocking: a tool that stops reading cannot hang
  // the test past its timeout.
  if (stdin_pipe != nullptr && ::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("cannot make a pipe for " + binary);
  const std::string out_path = (dir.path() / "stdout").string();
  const std::string err_path = (dir.path() / "stderr").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_pipe != nullptr) {
    posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdin_path.c_str(), O_RDONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  // The tool gets SIGPIPE's default action even where the test ignores it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (stdin_pipe != nullptr) {
    ::close(fds[0]);
    if (rc == 0) ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
    if (rc != 0) ::close(fds[1]);
    *stdin_pipe = rc == 0 ? fds[1] : -1;
  }
  if (rc != 0) throw std::runtime_error("cannot spawn " + binary);
  return pid;
}

// Waits for `pid`, calling `step()` every 10 ms until it exits; kills it
// after `timeout`.
template <typename Step>
ToolResult reap(const std::string& binary, pid_t pid, const TempDir& dir,
                std::chrono::milliseconds timeout, Step step) {
  const std::string out_path = (dir.path() / "stdout").string();
  const std::string err_path = (dir.path() / "stderr").string();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error(binary + " did not finish in time; stdout:\n" +
                               read_file(out_path).value_or("") + "\nstderr:\n" +
                               read_file(err_path).value_or(""));
    }
    step(out_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ToolResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path).value_or("");
  result.err = read_file(err_path).value_or("");
  return result;
}

}  // namespace

ToolResult run_tool(const std::string& binary, const std::vector<std::string>& args,
                    const std::string& stdin_text,
                    const std::vector<std::pair<std::string, std::string>>& env,
                    std::chrono::milliseconds timeout, const std::string& cwd) {
  TempDir dir;
  const std::string in_path = (dir.path() / "stdin").string();
  {
    std::ofstream in(in_path, std::ios::binary);
    in << stdin_text;
  }
  pid_t pid = spawn_tool(binary, args, env, cwd, dir, in_path, nullptr);
  return reap(binary, pid, dir, timeout, [](const std::string&) {});
}

ToolResult run_tool_steps(const std::string& binary, const std::vector<std::string>& args,
                          const std::vector<ToolStep>& steps,
                          const std::vector<std::pair<std::string, std::string>>& env,
                          std::chrono::milliseconds timeout, const std::string& cwd) {
  // A tool that exits before reading everything must fail the test through
  // its exit code and output, not kill the test runner with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  TempDir dir;
  int in = -1;
  pid_t pid = spawn_tool(binary, args, env, cwd, dir, "", &in);
  std::size_t next = 0;  // the step being written
  std::size_t done = 0;  // bytes of it written
  auto feed = [&](const std::string& out_path) {
    while (in >= 0 && next < steps.size()) {
      const ToolStep& step = steps[next];
      if (done == 0 && !step.after.empty() &&
          read_file(out_path).value_or("").find(step.after) == std::string::npos)
        return;
      while (done < step.text.size()) {
        ssize_t n = ::write(in, step.text.data() + done, step.text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;  // the pipe is full: on the next round
        if (n < 0) {                           // the tool has gone: its exit says why
          ::close(in);
          in = -1;
          return;
        }
        done += static_cast<std::size_t>(n);
      }
      ++next;
      done = 0;
    }
    if (in >= 0 && next == steps.size()) {
      ::close(in);
      in = -1;
    }
  };
  ToolResult result;
  try {
    result = reap(binary, pid, dir, timeout, feed);
  } catch (...) {
    if (in >= 0) ::close(in);
    throw;
  }
  if (in >= 0) ::close(in);
  return result;
}

}  // namespace hearth::test
