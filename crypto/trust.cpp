#include "crypto/trust.h"

#include <algorithm>

#include "common/byte_reader.h"
#include "crypto/hash.h"

namespace hearth::crypto {

namespace {

constexpr std::string_view kRosterKeyLabel = "HL1/rsk";
constexpr std::string_view kCertificateLabel = "HL1/cert";
constexpr std::string_view kRosterLabel = "HL1/roster";
constexpr std::string_view kCertificateHashLabel = "HL1/cert-hash";
constexpr std::string_view kRosterHashLabel = "HL1/roster-hash";
constexpr std::string_view kResponderLoginLabel = "HL1/responder-login";
constexpr std::size_t kMaxEncodedCertificate = 4096;
constexpr std::size_t kMaxEncodedRosterKeyCertificate = 256;

void append_time(Bytes& out, UnixSeconds t) { append_u64_be(out, static_cast<std::uint64_t>(t)); }

Result<UnixSeconds> read_time(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint64_t v, r.u64());
  return static_cast<UnixSeconds>(v);
}

void append_strings(Bytes& out, const std::vector<std::string>& list) {
  append_u32_be(out, static_cast<std::uint32_t>(list.size()));
  for (const auto& s : list) append_lp(out, as_bytes(s));
}

Result<std::vector<std::string>> read_strings(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t n, r.u32());
  if (n > kMaxListEntries) return error(Code::kInvalidArgument, "list too long");
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    HEARTH_ASSIGN_OR_RETURN(std::string s, r.lp_string(kMaxNameBytes));
    out.push_back(std::move(s));
  }
  return out;
}

void append_hashes(Bytes& out, const std::vector<Bytes>& hashes) {
  append_u32_be(out, static_cast<std::uint32_t>(hashes.size()));
  for (const auto& h : hashes) append(out, h);
}

Result<std::vector<Bytes>> read_hashes(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t n, r.u32());
  if (n > kMaxRosterCertificates) return error(Code::kInvalidArgument, "too many hashes");
  std::vector<Bytes> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    HEARTH_ASSIGN_OR_RETURN(ByteView h, r.fixed(kHashBytes));
    out.emplace_back(h.begin(), h.end());
  }
  return out;
}

bool all_chars(std::string_view s, std::string_view allowed_extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           allowed_extra.find(c) != std::string_view::npos;
  });
}

bool contains_hash(const std::vector<Bytes>& list, ByteView hash) {
  return std::any_of(list.begin(), list.end(), [&](const Bytes& h) {
    return std::equal(h.begin(), h.end(), hash.begin(), hash.end());
  });
}

Status validate_request(const CertificateRequest& req) {
  if (!is_valid_responder_id(req.responder_id)) {
    return error(Code::kInvalidArgument, "responder id must be 1-64 of [a-z0-9._-]");
  }
  if (req.queues.empty() || req.queues.size() > kMaxListEntries ||
      !std::all_of(req.queues.begin(), req.queues.end(), is_valid_queue_name)) {
    return error(Code::kInvalidArgument, "queues must be 1-256 names of [a-z0-9-]");
  }
  if (req.languages.empty() || req.languages.size() > kMaxListEntries ||
      !std::all_of(req.languages.begin(), req.languages.end(), is_valid_language)) {
    return error(Code::kInvalidArgument, "languages must be ISO 639-1 codes such as \"en\"");
  }
  if (req.not_before < 0 || req.not_after <= req.not_before) {
    return error(Code::kInvalidArgument, "bad validity period");
  }
  if (std::equal(req.signing_key.bytes.begin(), req.signing_key.bytes.end(),
                 req.dh_key.bytes.begin())) {
    // One key must never both sign and do DH (reference/crypto.md P4).
    return error(Code::kInvalidArgument, "signing key and DH key must be different keys");
  }
  return Status::ok();
}

Status validate_contents(const RosterContents& c) {
  if (c.previous_hash.size() != kHashBytes)
    return error(Code::kInvalidArgument, "previous hash must be 32 bytes");
  if (c.issued_at < 0 || c.expires_at <= c.issued_at) {
    return error(Code::kInvalidArgument, "bad roster validity period");
  }
  if (c.queues.size() > kMaxListEntries) return error(Code::kInvalidArgument, "too many queues");
  std::size_t total = 0;
  for (const auto& q : c.queues) {
    if (!is_valid_queue_name(q.queue))
      return error(Code::kInvalidArgument, "bad queue name in roster");
    for (const auto& h : q.certificate_hashes) {
      if (h.size() != kHashBytes)
        return error(Code::kInvalidArgument, "certificate hash must be 32 bytes");
    }
    total += q.certificate_hashes.size();
  }
  for (const auto& h : c.revoked) {
    if (h.size() != kHashBytes)
      return error(Code::kInvalidArgument, "revoked hash must be 32 bytes");
  }
  if (total > kMaxRosterCertificates || c.revoked.size() > kMaxRosterCertificates) {
    return error(Code::kInvalidArgument, "roster too large");
  }
  return Status::ok();
}

}  // namespace

bool is_valid_responder_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxNameBytes && all_chars(id, "._-");
}

bool is_valid_queue_name(std::string_view queue) {
  return !queue.empty() && queue.size() <= kMaxNameBytes && all_chars(queue, "-");
}

bool is_valid_language(std::string_view language) {
  return language.size() == 2 && all_chars(language, "") &&
         !(language[0] >= '0' && language[0] <= '9') && !(language[1] >= '0' && language[1] <= '9');
}

// --- RosterKeyCertificate ---

Bytes RosterKeyCertificate::signed_part() const {
  Bytes out;
  append_lp(out, as_bytes(kRosterKeyLabel));
  append(out, roster_key.view());
  append_time(out, not_before);
  append_time(out, not_after);
  return out;
}

Bytes RosterKeyCertificate::encode() const { return with_signature(signed_part(), signature); }

Result<RosterKeyCertificate> RosterKeyCertificate::decode(ByteView bytes) {
  ByteReader r(bytes);
  RosterKeyCertificate c;
  HEARTH_TRY(r.expect_label(kRosterKeyLabel));
  HEARTH_ASSIGN_OR_RETURN(c.roster_key, r.read<SigningPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(c.not_before, read_time(r));
  HEARTH_ASSIGN_OR_RETURN(c.not_after, read_time(r));
  HEARTH_ASSIGN_OR_RETURN(c.signature, r.read<Signature>());
  HEARTH_TRY(r.finish());
  return c;
}

RosterKeyCertificate certify_roster_key(const SigningKey& org_root,
                                        const SigningPublicKey& roster_key, UnixSeconds not_before,
                                        UnixSeconds not_after) {
  RosterKeyCertificate c{roster_key, not_before, not_after, {}};
  c.signature = org_root.sign(c.signed_part());
  return c;
}

// --- ResponderCertificate ---

Bytes ResponderCertificate::signed_part() const {
  Bytes out;
  append_lp(out, as_bytes(kCertificateLabel));
  append_lp(out, as_bytes(fields.responder_id));
  append_strings(out, fields.queues);
  append_strings(out, fields.languages);
  append(out, fields.signing_key.view());
  append(out, fields.dh_key.view());
  append_time(out, fields.not_before);
  append_time(out, fields.not_after);
  append_u64_be(out, fields.serial);
  return out;
}

Bytes ResponderCertificate::encode() const { return with_signature(signed_part(), signature); }

Bytes ResponderCertificate::hash() const {
  return hash_labelled(kCertificateHashLabel, encode(), kHashBytes);
}

Result<ResponderCertificate> ResponderCertificate::decode(ByteView bytes) {
  if (bytes.size() > kMaxEncodedCertificate)
    return error(Code::kInvalidArgument, "certificate too large");
  ByteReader r(bytes);
  ResponderCertificate c;
  HEARTH_TRY(r.expect_label(kCertificateLabel));
  HEARTH_ASSIGN_OR_RETURN(c.fields.responder_id, r.lp_string(kMaxNameBytes));
  HEARTH_ASSIGN_OR_RETURN(c.fields.queues, read_strings(r));
  HEARTH_ASSIGN_OR_RETURN(c.fields.languages, read_strings(r));
  HEARTH_ASSIGN_OR_RETURN(c.fields.signing_key, r.read<SigningPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(c.fields.dh_key, r.read<DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(c.fields.not_before, read_time(r));
  HEARTH_ASSIGN_OR_RETURN(c.fields.not_after, read_time(r));
  HEARTH_ASSIGN_OR_RETURN(c.fields.serial, r.u64());
  HEARTH_ASSIGN_OR_RETURN(c.signature, r.read<Signature>());
  HEARTH_TRY(r.finish());
  HEARTH_TRY(validate_request(c.fields));
  return c;
}

Result<ResponderCertificate> issue_certificate(const SigningKey& roster_key,
                                               CertificateRequest request) {
  HEARTH_TRY(validate_request(request));
  ResponderCertificate c{std::move(request), {}};
  c.signature = roster_key.sign(c.signed_part());
  return c;
}

// --- SignedRoster ---

Bytes SignedRoster::signed_part() const {
  const RosterContents& c = contents;
  Bytes out;
  append_lp(out, as_bytes(kRosterLabel));
  append_u64_be(out, c.epoch);
  append(out, c.previous_hash);
  append_time(out, c.issued_at);
  append_time(out, c.expires_at);
  append_u32_be(out, static_cast<std::uint32_t>(c.queues.size()));
  for (const auto& q : c.queues) {
    append_lp(out, as_bytes(q.queue));
    append_hashes(out, q.certificate_hashes);
  }
  append_hashes(out, c.revoked);
  return out;
}

Bytes SignedRoster::encode() const {
  Bytes out;
  append_lp(out, roster_key_certificate.encode());
  append(out, signed_part());
  append(out, signature.view());
  return out;
}

Bytes SignedRoster::hash() const {
  return hash_labelled(kRosterHashLabel, with_signature(signed_part(), signature), kHashBytes);
}

Result<SignedRoster> SignedRoster::decode(ByteView bytes) {
  ByteReader r(bytes);
  SignedRoster s;
  HEARTH_ASSIGN_OR_RETURN(ByteView rsk, r.lp(kMaxEncodedRosterKeyCertificate));
  HEARTH_ASSIGN_OR_RETURN(s.roster_key_certificate, RosterKeyCertificate::decode(rsk));
  HEARTH_TRY(r.expect_label(kRosterLabel));
  RosterContents& c = s.contents;
  HEARTH_ASSIGN_OR_RETURN(c.epoch, r.u64());
  HEARTH_ASSIGN_OR_RETURN(ByteView prev, r.fixed(kHashBytes));
  c.previous_hash.assign(prev.begin(), prev.end());
  HEARTH_ASSIGN_OR_RETURN(c.issued_at, read_time(r));
  HEARTH_ASSIGN_OR_RETURN(c.expires_at, read_time(r));
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t nqueues, r.u32());
  if (nqueues > kMaxListEntries) return error(Code::kInvalidArgument, "too many queues");
  for (std::uint32_t i = 0; i < nqueues; ++i) {
    RosterQueue q;
    HEARTH_ASSIGN_OR_RETURN(q.queue, r.lp_string(kMaxNameBytes));
    HEARTH_ASSIGN_OR_RETURN(q.certificate_hashes, read_hashes(r));
    c.queues.push_back(std::move(q));
  }
  HEARTH_ASSIGN_OR_RETURN(c.revoked, read_hashes(r));
  HEARTH_ASSIGN_OR_RETURN(s.signature, r.read<Signature>());
  HEARTH_TRY(r.finish());
  HEARTH_TRY(validate_contents(c));
  return s;
}

Result<SignedRoster> sign_roster(const SigningKey& roster_key,
                                 RosterKeyCertificate roster_key_certificate,
                                 RosterContents contents) {
  HEARTH_TRY(validate_contents(contents));
  SignedRoster s{roster_key_certificate, std::move(contents), {}};
  s.signature = roster_key.sign(s.signed_part());
  return s;
}

Result<VerifiedRoster> verify_roster(const SigningPublicKey& org_root, const SignedRoster& roster,
                                     UnixSeconds now, const std::optional<RosterPin>& pin) {
  const RosterKeyCertificate& rkc = roster.roster_key_certificate;
  if (!verify_signature(org_root, rkc.signed_part(), rkc.signature).is_ok()) {
    return error(Code::kAuthFailed, "roster key is not certified by the org root");
  }
  if (now + kClockSkew < rkc.not_before || now >= rkc.not_after) {
    return error(Code::kExpired, "roster key certificate is outside its validity");
  }
  if (!verify_signature(rkc.roster_key, roster.signed_part(), roster.signature).is_ok()) {
    return error(Code::kAuthFailed, "roster signature does not verify");
  }
  HEARTH_TRY(validate_contents(roster.contents));
  if (now + kClockSkew < roster.contents.issued_at) {
    return error(Code::kExpired, "roster is issued in the future");
  }
  if (now >= roster.contents.expires_at) return error(Code::kExpired, "roster has expired");
  Bytes hash = roster.hash();
  if (pin.has_value()) {
    if (roster.contents.epoch < pin->epoch) {
      return error(Code::kReplay, "roster epoch is older than one already seen (rollback)");
    }
    if (roster.contents.epoch == pin->epoch && !constant_time_equal(hash, pin->hash)) {
      return error(Code::kConflict, "two different rosters for one epoch (split view)");
    }
  }
  return VerifiedRoster(roster, std::move(hash));
}

// --- VerifiedRoster ---

std::vector<std::string> VerifiedRoster::queues_of(ByteView cert_hash) const {
  std::vector<std::string> out;
  for (const auto& q : roster_.contents.queues) {
    if (contains_hash(q.certificate_hashes, cert_hash)) out.push_back(q.queue);
  }
  return out;
}

bool VerifiedRoster::is_revoked(ByteView cert_hash) const {
  return contains_hash(roster_.contents.revoked, cert_hash);
}

Status VerifiedRoster::check_certificate(const ResponderCertificate& cert, UnixSeconds now,
                                         std::optional<std::string_view> queue) const {
  return check(cert, now, queue, /*verify=*/true);
}

Status VerifiedRoster::check_certificate_standing(const ResponderCertificate& cert, UnixSeconds now,
                                                  std::optional<std::string_view> queue) const {
  return check(cert, now, queue, /*verify=*/false);
}

Status VerifiedRoster::check(const ResponderCertificate& cert, UnixSeconds now,
                             std::optional<std::string_view> queue, bool verify) const {
  // A roster verified earlier may have lapsed since: check it again at `now`.
  const RosterKeyCertificate& rkc = roster_.roster_key_certificate;
  if (now >= roster_.contents.expires_at || now + kClockSkew < roster_.contents.issued_at ||
      now >= rkc.not_after || now + kClockSkew < rkc.not_before) {
    return error(Code::kExpired, "the roster is no longer valid; fetch a new one");
  }
  if (verify && !verify_signature(roster_.roster_key_certificate.roster_key, cert.signed_part(),
                                  cert.signature)
                     .is_ok()) {
    return error(Code::kAuthFailed, "certificate is not signed by the roster key");
  }
  HEARTH_TRY(validate_request(cert.fields));
  Bytes hash = cert.hash();
  if (is_revoked(hash)) return error(Code::kAuthFailed, "certificate has been revoked");
  if (now + kClockSkew < cert.fields.not_before || now >= cert.fields.not_after) {
    return error(Code::kExpired, "certificate is outside its validity");
  }
  std::vector<std::string> listed = queues_of(hash);
  if (listed.empty()) return error(Code::kNotFound, "certificate is not on the roster");
  if (queue.has_value() && std::find(listed.begin(), listed.end(), *queue) == listed.end()) {
    return error(Code::kNotFound, "certificate is not on the roster for this queue");
  }
  return Status::ok();
}

namespace {
Bytes responder_login_message(ByteView challenge) {
  Bytes message = to_bytes(kResponderLoginLabel);
  append(message, challenge);
  return message;
}
}  // namespace

Signature sign_responder_login(const SigningKey& signing_key, ByteView challenge) {
  return signing_key.sign(responder_login_message(challenge));
}

Status verify_responder_login(const ResponderCertificate& cert, ByteView challenge,
                              const Signature& signature) {
  if (challenge.size() < kMinResponderChallengeBytes)
    return error(Code::kInvalidArgument, "login challenge too short");
  return verify_signature(cert.fields.signing_key, responder_login_message(challenge), signature);
}

}  // namespace hearth::crypto
