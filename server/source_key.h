// SourceKeys: the opaque key Admission tells connections' sources apart by
// (server/admission.h, docs/operations.md "Connection limits").
//
// A source is an IPv4 address, or an IPv6 /48 (one site's prefix: a single
// host can use a whole /64 or more); an IPv6 address carrying an IPv4 one
// (IPv4-mapped, NAT64's well-known prefix 64:ff9b::/96, IPv4-compatible) is
// that IPv4 address. Its key is BLAKE2b-128 of those bytes, keyed with 32 random bytes
// made when the server starts, held in sodium_malloc'd memory (locked, out of
// core dumps) and never written anywhere: the key tells two connections from
// one source apart from two from different ones, and nothing else; after the
// process ends no one can link a key to an address. The address itself is
// hashed at accept and not kept.
//
// Thread safety: of() may be called from any thread (the key never changes).
#pragma once

#include <boost/asio/ip/address.hpp>

#include "crypto/secret.h"
#include "server/admission.h"

namespace hearth::server {

class SourceKeys {
 public:
  // A fresh random key.
  SourceKeys();
  Admission::SourceKey of(const boost::asio::ip::address& address) const;

 private:
  crypto::SecretBytes key_;
};

}  // namespace hearth::server
