#include "crypto/secret.h"

#include <sodium.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "crypto/sodium_init.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEARTH_SECRET_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEARTH_SECRET_POOL 0
#endif
#endif
#ifndef HEARTH_SECRET_POOL
#define HEARTH_SECRET_POOL 1
#endif

namespace hearth::crypto {

namespace {

// Secret memory comes from sodium_malloc: locked into RAM, excluded from core
// dumps, and fenced by guard pages. One sodium_malloc costs several system calls
// (hundreds of microseconds on small VMs), far too much for per-message keys, so
// small secrets are carved out of large sodium_malloc'd slabs by size class and
// wiped when freed. Slabs are kept for reuse, so memory is bounded by the peak.
// Secrets larger than the largest class get their own sodium_malloc.
// ASan builds bypass the pool so every secret is checked on its own.
class SecretPool {
 public:
  static SecretPool& instance() {
    static auto* pool = new SecretPool();  // never destroyed: frees may run at exit
    return *pool;
  }

  std::uint8_t* allocate(std::size_t size) {
#if HEARTH_SECRET_POOL
    if (std::size_t c = class_of(size); c < kClasses.size()) {
      std::lock_guard lock(mutex_);
      auto& free_list = free_[c];
      if (free_list.empty()) refill(c);
      std::uint8_t* p = free_list.back();
      free_list.pop_back();
      return p;
    }
#endif
    auto* p = static_cast<std::uint8_t*>(sodium_malloc(size));
    if (p == nullptr) std::abort();  // out of memory: nothing sensible to return
    return p;
  }

  void free(std::uint8_t* p, [[maybe_unused]] std::size_t size) {
#if HEARTH_SECRET_POOL
    if (std::size_t c = class_of(size); c < kClasses.size()) {
      sodium_memzero(p, kClasses[c]);
      std::lock_guard lock(mutex_);
      free_[c].push_back(p);
      return;
    }
#endif
    sodium_free(p);  // wipes before unmapping
  }

 private:
  static constexpr std::array<std::size_t, 10> kClasses = {32,   64,   128,  256,  512,
                                                           1024, 2048, 4096, 8192, 16384};
  static constexpr std::size_t kSlabBytes = std::size_t{64} * 1024;

  static std::size_t class_of(std::size_t size) {
    std::size_t c = 0;
    while (c < kClasses.size() && kClasses[c] < size) ++c;
    return c;
  }

  void refill(std::size_t c) {
    auto* slab = static_cast<std::uint8_t*>(sodium_malloc(kSlabBytes));
    if (slab == nullptr) std::abort();
    std::memset(slab, 0, kSlabBytes);
    for (std::size_t off = 0; off + kClasses[c] <= kSlabBytes; off += kClasses[c]) {
      free_[c].push_back(slab + off);
    }
  }

  std::mutex mutex_;
  std::array<std::vector<std::uint8_t*>, kClasses.size()> free_;
};

}  // namespace

SecretBytes::SecretBytes(std::size_t size) : size_(size) {
  if (size == 0) return;
  ensure_initialized();
  data_ = SecretPool::instance().allocate(size);
  std::memset(data_, 0, size);
}

SecretBytes SecretBytes::from(ByteView bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) SecretPool::instance().free(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) SecretPool::instance().free(data_, size_);
}

SecretBytes SecretBytes::clone() const { return from(view()); }

bool constant_time_equal(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(MutableByteView bytes) {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

}  // namespace hearth::crypto
