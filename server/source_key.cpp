#include "server/source_key.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace hearth::server {

namespace {
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kIpv6PrefixBytes = 6;  // a /48

using V4Bytes = boost::asio::ip::address_v4::bytes_type;

// The IPv4 address an IPv6 one carries in its last 4 bytes, when its first 12
// say so: IPv4-mapped (::ffff:0:0/96), NAT64's well-known prefix
// (64:ff9b::/96, RFC 6052) or IPv4-compatible (::/96, deprecated; not :: or
// ::1, which are no IPv4 address).
std::optional<V4Bytes> embedded_v4(const boost::asio::ip::address& address) {
  if (!address.is_v6()) return std::nullopt;
  const auto b = address.to_v6().to_bytes();
  constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  constexpr std::array<std::uint8_t, 12> kNat64{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  constexpr std::array<std::uint8_t, 12> kCompatible{};
  const bool mapped = std::equal(kMapped.begin(), kMapped.end(), b.begin());
  const bool nat64 = std::equal(kNat64.begin(), kNat64.end(), b.begin());
  const bool compatible =
      std::equal(kCompatible.begin(), kCompatible.end(), b.begin()) && (b[12] | b[13] | b[14]) != 0;
  if (!mapped && !nat64 && !compatible) return std::nullopt;
  V4Bytes v4{};
  std::copy(b.begin() + 12, b.end(), v4.begin());
  return v4;
}
}  // namespace

SourceKeys::SourceKeys() : key_(crypto::random_secret(kKeyBytes)) {}

Admission::SourceKey SourceKeys::of(const boost::asio::ip::address& address) const {
  // A tag byte keeps IPv4 and IPv6 inputs apart, then the address bytes.
  std::array<std::uint8_t, 1 + kIpv6PrefixBytes> in{};
  std::size_t n = 0;
  if (auto v4 = embedded_v4(address)) {
    in[0] = 4;
    std::copy(v4->begin(), v4->end(), in.begin() + 1);
    n = 1 + v4->size();
  } else if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    in[0] = 4;
    std::copy(b.begin(), b.end(), in.begin() + 1);
    n = 1 + b.size();
  } else {
    auto b = address.to_v6().to_bytes();
    in[0] = 6;
    std::copy(b.begin(), b.begin() + kIpv6PrefixBytes, in.begin() + 1);
    n = 1 + kIpv6PrefixBytes;
  }
  Bytes digest =
      crypto::blake2b(ByteView(in.data(), n), Admission::SourceKey{}.size(), key_.view());
  crypto::wipe(MutableByteView(in.data(), in.size()));
  Admission::SourceKey key{};
  std::copy(digest.begin(), digest.end(), key.begin());
  return key;
}

}  // namespace hearth::server
