// RosterCache: the roster in force, the responder certificates the server
// has seen at logins, and which of them the roster accepts now — one of the
// four concerns behind RelayHub (server/relay_hub.h).
//
// CertificateChecks: which certificate hashes passed the full check
// (signature included) under which roster, so a responder's signature is
// verified once per roster, not at every login and every refresh.
//
// Thread safety: RosterCache has no lock of its own: RelayHub's one mutex
// guards it (its member is GUARDED_BY the hub's mutex). CertificateChecks is
// safe from any thread (its own mutex): logins check certificates without
// the hub's lock, so that a signature check never holds up the hub. Lock
// order: the hub's mutex, then CertificateChecks' (never the reverse).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "crypto/trust.h"

namespace hearth::server {

// The roster in force, verified, with its encoding (sent to clients as is).
struct RosterState {
  crypto::VerifiedRoster verified;
  Bytes encoded;
};

// A responder certificate the server has seen at a login (stored in RosterStore).
struct KnownCertificate {
  crypto::ResponderCertificate certificate;
  Bytes encoded;
  Bytes hash;
};

// What routing needs of one known responder: the queues the roster lists
// their current certificate under, and its languages; both empty when no
// certificate of theirs checks out now (nothing is routed to them).
struct ResponderRouting {
  std::string id;
  std::vector<std::string> queues;
  std::vector<std::string> languages;
};

class CertificateChecks {
 public:
  // `roster`'s check_certificate for `cert`, whose hash is `hash`, with the
  // signature verified once per roster: a hash that passed under a roster is
  // not verified again (only its validity, listing and revocation are) until
  // the roster changes. *cached (optional) says whether the signature check
  // was skipped. The verification runs without any lock held.
  Status check(const RosterState& roster, const crypto::ResponderCertificate& cert, ByteView hash,
               UnixSeconds now, std::optional<std::string_view> queue = std::nullopt,
               bool* cached = nullptr) const EXCLUDES(mu_);
  // Forgets every hash (the roster changed).
  void clear() EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  // The hashes that passed under the roster whose hash is roster_ (at most
  // that roster's listed certificates).
  mutable Bytes roster_ GUARDED_BY(mu_);
  mutable std::set<Bytes> passed_ GUARDED_BY(mu_);
};

class RosterCache {
 public:
  // `checks` must outlive the cache.
  explicit RosterCache(CertificateChecks& checks) : checks_(checks) {}

  // The roster in force (null until the first set()); setting one forgets
  // which signatures were checked.
  void set(std::shared_ptr<const RosterState> roster);
  const std::shared_ptr<const RosterState>& roster() const { return roster_; }

  // Remembers (or replaces) a certificate, by its hash.
  void remember(KnownCertificate cert);
  const KnownCertificate* certificate(ByteView hash) const;

  // Per responder id, the certificate the roster accepts at `now` (listed,
  // not revoked, valid; the latest expiry when several are). Empty without a
  // roster. The pointers stay valid until the next remember().
  std::map<std::string, const KnownCertificate*> current(UnixSeconds now) const;
  // Every responder with a known certificate, with what routing needs of
  // them at `now` (ResponderRouting). Empty without a roster.
  std::vector<ResponderRouting> routing(UnixSeconds now) const;

 private:
  CertificateChecks& checks_;
  std::shared_ptr<const RosterState> roster_;
  std::map<Bytes, KnownCertificate> certificates_;  // by certificate hash
};

}  // namespace hearth::server
