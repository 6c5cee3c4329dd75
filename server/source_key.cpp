#include "server/source_key.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace hearth::server {

namespace {
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kIpv6PrefixBytes = 6;  // a /48
}  // namespace

SourceKeys::SourceKeys() : key_(crypto::random_secret(kKeyBytes)) {}

Admission::SourceKey SourceKeys::of(const boost::asio::ip::address& address) const {
  // A tag byte keeps IPv4 and IPv6 inputs apart, then the address bytes.
  std::array<std::uint8_t, 1 + kIpv6PrefixBytes> in{};
  std::size_t n = 0;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    auto v4 = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
    auto b = v4.to_bytes();
    in[0] = 4;
    std::copy(b.begin(), b.end(), in.begin() + 1);
    n = 1 + b.size();
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
