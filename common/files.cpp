#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>

#include "common/fd.h"

namespace hearth {
namespace {

bool write_all(int fd, ByteView bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void sync_directory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) ::fsync(fd.get());
}

// A temporary name beside `path`. Not secret: O_EXCL makes a clash an error.
std::filesystem::path temp_name(const std::filesystem::path& path) {
  std::random_device rd;
  return path.string() + ".tmp-" + std::to_string(rd()) + std::to_string(::getpid());
}

}  // namespace

Status write_private_file(const std::filesystem::path& path, ByteView contents,
                          Overwrite overwrite) {
  const std::filesystem::path temp = temp_name(path);
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return error(Code::kUnavailable, "cannot create a file in that directory");
    bool ok = ::fchmod(fd.get(), 0600) == 0;  // whatever the umask said
    ok = ok && write_all(fd.get(), contents) && ::fsync(fd.get()) == 0;
    if (!ok) {
      ::unlink(temp.c_str());
      return error(Code::kUnavailable, "cannot write the file (is the disk full?)");
    }
  }
  int rc = 0;
  int saved_errno = 0;
  if (overwrite == Overwrite::kRefuse) {
    // link() fails when the name exists, so an existing file is never replaced.
    rc = ::link(temp.c_str(), path.c_str());
    saved_errno = errno;
    ::unlink(temp.c_str());
  } else {
    rc = ::rename(temp.c_str(), path.c_str());
    saved_errno = errno;
    if (rc != 0) ::unlink(temp.c_str());
  }
  if (rc != 0) {
    if (saved_errno == EEXIST) return error(Code::kAlreadyExists, "the file already exists");
    return error(Code::kUnavailable, "cannot put the file in place");
  }
  sync_directory(path.parent_path());
  return Status::ok();
}

Result<Bytes> read_private_file(const std::filesystem::path& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return error(Code::kNotFound, "no such file");
    if (errno == ELOOP) return error(Code::kInvalidArgument, "refusing a symbolic link");
    return error(Code::kUnavailable, "cannot open the file");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return error(Code::kUnavailable, "cannot stat the file");
  if (!S_ISREG(st.st_mode)) return error(Code::kInvalidArgument, "not a regular file");
  if ((st.st_mode & 077) != 0)
    return error(Code::kInvalidArgument, "the file is accessible to group or others; chmod 600 it");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return error(Code::kLimitExceeded, "the file is larger than expected");
  Bytes out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error(Code::kUnavailable, "cannot read the file");
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

Status make_private_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return error(Code::kUnavailable, "cannot create the directory");
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return error(Code::kInvalidArgument, "not a directory");
  if (st.st_uid == ::geteuid() && (st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    return error(Code::kUnavailable, "cannot make the directory private");
  return Status::ok();
}

}  // namespace hearth
