#include "server/roster_cache.h"

#include <utility>

namespace hearth::server {

Status CertificateChecks::check(const RosterState& roster, const crypto::ResponderCertificate& cert,
                                ByteView hash, UnixSeconds now,
                                std::optional<std::string_view> queue, bool* cached) const {
  Bytes key(hash.begin(), hash.end());
  {
    MutexLock lock(mu_);
    if (roster_ != roster.verified.hash()) {
      passed_.clear();
      roster_ = roster.verified.hash();
    }
    if (passed_.contains(key)) {
      if (cached != nullptr) *cached = true;
      return roster.verified.check_certificate_standing(cert, now, queue);
    }
  }
  if (cached != nullptr) *cached = false;
  // Checked under every queue: what is cached is that the signature and the
  // fields are good, whatever `queue` asks.
  Status full = roster.verified.check_certificate(cert, now);
  if (full.is_ok()) {
    MutexLock lock(mu_);
    if (roster_ == roster.verified.hash()) passed_.insert(std::move(key));
  }
  if (!full.is_ok() || !queue) return full;
  return roster.verified.check_certificate_standing(cert, now, queue);
}

void CertificateChecks::clear() {
  MutexLock lock(mu_);
  passed_.clear();
  roster_.clear();
}

void RosterCache::set(std::shared_ptr<const RosterState> roster) {
  checks_.clear();
  roster_ = std::move(roster);
}

void RosterCache::remember(KnownCertificate cert) {
  Bytes hash = cert.hash;
  certificates_[hash] = std::move(cert);
}

const KnownCertificate* RosterCache::certificate(ByteView hash) const {
  auto it = certificates_.find(Bytes(hash.begin(), hash.end()));
  return it == certificates_.end() ? nullptr : &it->second;
}

std::map<std::string, const KnownCertificate*> RosterCache::current(UnixSeconds now) const {
  std::map<std::string, const KnownCertificate*> out;
  if (!roster_) return out;
  for (const auto& [hash, known] : certificates_) {
    if (!checks_.check(*roster_, known.certificate, hash, now).is_ok()) continue;
    const KnownCertificate*& best = out[known.certificate.fields.responder_id];
    if (best == nullptr || best->certificate.fields.not_after < known.certificate.fields.not_after)
      best = &known;
  }
  return out;
}

std::vector<ResponderRouting> RosterCache::routing(UnixSeconds now) const {
  std::vector<ResponderRouting> out;
  if (!roster_) return out;
  auto current_now = current(now);
  // Everyone known: a responder whose certificate no longer checks out keeps
  // a view with no queues, so nothing is routed to them.
  std::set<std::string> ids;
  for (const auto& [hash, known] : certificates_) ids.insert(known.certificate.fields.responder_id);
  for (const auto& id : ids) {
    ResponderRouting r{id, {}, {}};
    if (auto it = current_now.find(id); it != current_now.end()) {
      r.queues = roster_->verified.queues_of(it->second->hash);
      r.languages = it->second->certificate.fields.languages;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hearth::server
