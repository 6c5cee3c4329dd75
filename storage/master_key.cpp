#include "storage/master_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/fd.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kKdfContext = "HLSTORE1";

// fsync on the directory makes the new file's name durable, not just its bytes.
void sync_parent(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) ::fsync(fd.get());
}

}  // namespace

Result<MasterKey> MasterKey::load(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return error(Code::kNotFound, "storage key file does not exist");
    if (err == ELOOP)
      return error(Code::kInvalidArgument, "storage key file is a symbolic link; refusing it");
    if (err == EACCES) return error(Code::kUnavailable, "storage key file: permission denied");
    return error(Code::kUnavailable, "storage key file cannot be opened");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return error(Code::kUnavailable, "storage key file cannot be examined");
  if (!S_ISREG(st.st_mode))
    return error(Code::kInvalidArgument, "storage key file is not a regular file");
  // A key others could read has to be treated as leaked: refuse it and say how
  // to fix it, rather than quietly chmod it and carry on.
  if ((st.st_mode & 077) != 0) {
    return error(Code::kInvalidArgument,
                 "storage key file is accessible to group or others; it must be mode 0600");
  }
  if (st.st_uid != ::geteuid())
    return error(Code::kInvalidArgument, "storage key file is owned by another user");
  if (st.st_size != static_cast<off_t>(kMasterKeyBytes))
    return error(Code::kInvalidArgument, "storage key file must be exactly 32 bytes");

  crypto::SecretBytes key(kMasterKeyBytes);
  std::size_t done = 0;
  while (done < key.size()) {
    ssize_t n = ::read(fd.get(), key.data() + done, key.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return error(Code::kUnavailable, "storage key file cannot be read");
    done += static_cast<std::size_t>(n);
  }
  return MasterKey(std::move(key));
}

Result<MasterKey> MasterKey::create(const std::filesystem::path& path) {
  // Written under a temporary name, fsync'ed, then linked into place: a crash
  // leaves either no key file or a complete one, never a short one. link()
  // fails if the name exists, so an existing key is never replaced.
  std::filesystem::path temp = path.string() + ".tmp-" + to_hex(crypto::random_bytes(8));
  crypto::SecretBytes key = crypto::random_secret(kMasterKeyBytes);
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return error(Code::kUnavailable, "storage key file cannot be created");
    bool ok = ::fchmod(fd.get(), 0600) == 0;  // whatever the umask said
    std::size_t done = 0;
    while (ok && done < key.size()) {
      ssize_t n = ::write(fd.get(), key.data() + done, key.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false;
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd.get()) == 0;
    if (!ok) {
      ::unlink(temp.c_str());
      return error(Code::kUnavailable, "storage key file cannot be written");
    }
  }
  int linked = ::link(temp.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) return error(Code::kAlreadyExists, "storage key file already exists");
    return error(Code::kUnavailable, "storage key file cannot be created");
  }
  sync_parent(path);
  return MasterKey(std::move(key));
}

crypto::SecretBytes MasterKey::derive(KeyPurpose purpose) const {
  // The key is always 32 bytes and the context 8 characters, so derive_subkey
  // cannot fail here; an error would be a bug in this file.
  auto subkey = crypto::derive_subkey(key_, static_cast<std::uint64_t>(purpose), kKdfContext, 32);
  if (!subkey.is_ok()) std::abort();
  return std::move(subkey).value();
}

}  // namespace hearth::storage
