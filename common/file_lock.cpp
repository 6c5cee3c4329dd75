#include "common/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <string>
#include <utility>

namespace hearth {

Result<FileLock> FileLock::acquire(const std::filesystem::path& path, std::string_view busy) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return error(Code::kUnavailable, "cannot open the lock file " + path.string());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return error(Code::kUnavailable, std::string(busy));
  return FileLock(std::move(fd));
}

}  // namespace hearth
