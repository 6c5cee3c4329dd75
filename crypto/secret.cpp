#include "crypto/secret.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "crypto/sodium_init.h"

namespace hearth::crypto {

SecretBytes::SecretBytes(std::size_t size) : size_(size) {
  if (size == 0) return;
  ensure_initialized();
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) std::abort();  // out of memory: nothing sensible to return
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
    if (data_ != nullptr) sodium_free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) sodium_free(data_);  // sodium_free wipes before unmapping
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
