// SecretBytes: key material in guarded, locked memory that is wiped when freed.
//
// Storage comes from sodium_malloc'd memory (mlock'd, excluded from core dumps
// where the OS allows): small secrets from a pool of sodium_malloc'd slabs, large
// ones from their own guarded allocation (see secret.cpp for why). It is zeroed
// on destruction. The type is move-only so a secret is never silently copied;
// clone() makes a copy explicit. Comparison is constant-time.
//
// Thread safety: a value type; distinct objects may be used from distinct
// threads, and may be destroyed on a thread other than the one that made them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"

namespace hearth::crypto {

class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes. Aborts if memory cannot be locked-allocated at all,
  // which only happens when the process is out of memory.
  explicit SecretBytes(std::size_t size);
  // A copy of `bytes`; the caller wipes its own copy.
  static SecretBytes from(ByteView bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  SecretBytes clone() const;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteView view() const { return {data_, size_}; }
  MutableByteView mutable_view() { return {data_, size_}; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Constant-time equality; false when the lengths differ (length is not secret).
bool constant_time_equal(ByteView a, ByteView b);

// Overwrites `bytes` with zeros in a way the compiler cannot elide.
void wipe(MutableByteView bytes);

}  // namespace hearth::crypto
