// Fd: owns one POSIX file descriptor and closes it on every path.
//
//   Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
//   if (!fd.valid()) return error(...);   // errno is still the open()'s
//   ::fsync(fd.get());                    // closed when `fd` goes
//
// A negative value means "none" (what open() returns on failure), so the
// result of a call can be wrapped before it is checked. close()'s own result is
// not reported: callers that need a write to be durable fsync() first.
//
// Thread safety: a move-only value, like the descriptor it holds.
#pragma once

#include <unistd.h>

#include <utility>

namespace hearth {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it (to fdopendir(), say).
  int release() { return std::exchange(fd_, -1); }
  // Closes the held descriptor, if any, and holds `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace hearth
