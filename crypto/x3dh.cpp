#include "crypto/x3dh.h"

#include <algorithm>

#include "common/byte_reader.h"
#include "crypto/hash.h"

namespace hearth::crypto {

namespace {

constexpr std::string_view kAdLabel = "HL1";
constexpr std::string_view kKdfInfo = "HL1/x3dh";

Bytes associated_data(const DhPublicKey& survivor_identity, const DhPublicKey& responder_identity,
                      ByteView cert_hash, ByteView roster_hash, ByteView case_id) {
  // Fixed-length fields after the label, so the concatenation is unambiguous.
  Bytes ad = to_bytes(kAdLabel);
  append(ad, survivor_identity.view());
  append(ad, responder_identity.view());
  append(ad, cert_hash);
  append(ad, roster_hash);
  append(ad, case_id);
  return ad;
}

// SK = HKDF-SHA-256(salt = 32 zero bytes, IKM = 0xFF * 32 || DH1 || ... , info = label || suite).
Result<SecretBytes> derive_shared_key(std::span<const SecretBytes> dh_outputs, std::uint8_t suite) {
  std::size_t len = 32;
  for (const auto& dh : dh_outputs) len += dh.size();
  SecretBytes ikm(len);
  std::fill(ikm.data(), ikm.data() + 32, 0xFF);
  std::size_t pos = 32;
  for (const auto& dh : dh_outputs) {
    std::copy(dh.data(), dh.data() + dh.size(), ikm.data() + pos);
    pos += dh.size();
  }
  Bytes info = to_bytes(kKdfInfo);
  info.push_back(suite);
  const Bytes salt(32, 0);
  return hkdf(salt, ikm.view(), info, kSharedKeyBytes);
}

}  // namespace

Bytes X3dhHeader::encode() const {
  Bytes out;
  out.push_back(version);
  out.push_back(suite);
  append(out, case_id);
  append(out, survivor_identity.view());
  append(out, ephemeral.view());
  append(out, responder_certificate_hash);
  append_u32_be(out, signed_prekey_id);
  out.push_back(one_time_prekey_id.has_value() ? 1 : 0);
  if (one_time_prekey_id.has_value()) append_u32_be(out, *one_time_prekey_id);
  append(out, roster_hash);
  return out;
}

Result<X3dhHeader> X3dhHeader::decode(ByteView bytes) {
  ByteReader r(bytes);
  X3dhHeader h;
  HEARTH_ASSIGN_OR_RETURN(h.version, r.u8());
  if (h.version != kProtocolVersion)
    return error(Code::kInvalidArgument, "unknown protocol version");
  HEARTH_ASSIGN_OR_RETURN(h.suite, r.u8());
  if (h.suite != kSuiteX25519) return error(Code::kInvalidArgument, "unknown key-agreement suite");
  HEARTH_ASSIGN_OR_RETURN(ByteView case_id, r.fixed(kCaseIdBytes));
  h.case_id.assign(case_id.begin(), case_id.end());
  HEARTH_ASSIGN_OR_RETURN(h.survivor_identity, r.read<DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(h.ephemeral, r.read<DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(ByteView cert_hash, r.fixed(kHashBytes));
  h.responder_certificate_hash.assign(cert_hash.begin(), cert_hash.end());
  HEARTH_ASSIGN_OR_RETURN(h.signed_prekey_id, r.u32());
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t has_opk, r.u8());
  if (has_opk > 1) return error(Code::kInvalidArgument, "bad one-time prekey flag");
  if (has_opk == 1) {
    HEARTH_ASSIGN_OR_RETURN(std::uint32_t opk_id, r.u32());
    h.one_time_prekey_id = opk_id;
  }
  HEARTH_ASSIGN_OR_RETURN(ByteView roster_hash, r.fixed(kHashBytes));
  h.roster_hash.assign(roster_hash.begin(), roster_hash.end());
  HEARTH_TRY(r.finish());
  return h;
}

Result<X3dhInitiation> x3dh_initiate(const VerifiedRoster& roster, const PrekeyBundle& bundle,
                                     std::string_view queue, const DhKey& survivor_identity,
                                     ByteView case_id, UnixSeconds now) {
  if (case_id.size() != kCaseIdBytes)
    return error(Code::kInvalidArgument, "case id must be 16 bytes");
  HEARTH_TRY(verify_bundle(roster, bundle, queue, now));

  const DhPublicKey& responder_identity = bundle.certificate.fields.dh_key;
  const DhPublicKey& spk = bundle.signed_prekey.key;
  DhKey ephemeral = DhKey::generate();

  std::vector<SecretBytes> dh;
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh1, survivor_identity.agree(spk));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh2, ephemeral.agree(responder_identity));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh3, ephemeral.agree(spk));
  dh.push_back(std::move(dh1));
  dh.push_back(std::move(dh2));
  dh.push_back(std::move(dh3));
  if (bundle.one_time_prekey.has_value()) {
    HEARTH_ASSIGN_OR_RETURN(SecretBytes dh4, ephemeral.agree(bundle.one_time_prekey->key));
    dh.push_back(std::move(dh4));
  }
  HEARTH_ASSIGN_OR_RETURN(SecretBytes sk, derive_shared_key(dh, kSuiteX25519));

  X3dhInitiation out;
  out.header.case_id.assign(case_id.begin(), case_id.end());
  out.header.survivor_identity = survivor_identity.public_key();
  out.header.ephemeral = ephemeral.public_key();
  out.header.responder_certificate_hash = bundle.certificate.hash();
  out.header.signed_prekey_id = bundle.signed_prekey.id;
  if (bundle.one_time_prekey.has_value())
    out.header.one_time_prekey_id = bundle.one_time_prekey->id;
  out.header.roster_hash = roster.hash();
  out.session.shared_key = std::move(sk);
  out.session.associated_data =
      associated_data(survivor_identity.public_key(), responder_identity,
                      out.header.responder_certificate_hash, out.header.roster_hash, case_id);
  out.responder_ratchet_key = spk;
  return out;  // the ephemeral private key and DH outputs are wiped as they go out of scope
}

Result<X3dhSession> x3dh_respond(const ResponderHandshakeKeys& keys, const X3dhHeader& header,
                                 std::span<const Bytes> known_roster_hashes) {
  if (header.version != kProtocolVersion || header.suite != kSuiteX25519 ||
      header.case_id.size() != kCaseIdBytes || header.roster_hash.size() != kHashBytes) {
    return error(Code::kInvalidArgument, "malformed handshake header");
  }
  Bytes cert_hash = keys.certificate.hash();
  if (!constant_time_equal(cert_hash, header.responder_certificate_hash)) {
    return error(Code::kInvalidArgument, "handshake is for another certificate");
  }
  if (!(keys.identity.public_key() == keys.certificate.fields.dh_key)) {
    return error(Code::kInvalidArgument, "identity key does not match the certificate");
  }
  bool roster_known =
      std::any_of(known_roster_hashes.begin(), known_roster_hashes.end(),
                  [&](const Bytes& h) { return constant_time_equal(h, header.roster_hash); });
  if (!roster_known) {
    return error(Code::kConflict, "handshake names a roster this responder never saw (split view)");
  }
  if (header.one_time_prekey_id.has_value() != (keys.one_time_prekey != nullptr)) {
    return error(Code::kInvalidArgument, "one-time prekey missing or unexpected");
  }

  std::vector<SecretBytes> dh;
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh1, keys.signed_prekey.agree(header.survivor_identity));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh2, keys.identity.agree(header.ephemeral));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh3, keys.signed_prekey.agree(header.ephemeral));
  dh.push_back(std::move(dh1));
  dh.push_back(std::move(dh2));
  dh.push_back(std::move(dh3));
  if (keys.one_time_prekey != nullptr) {
    HEARTH_ASSIGN_OR_RETURN(SecretBytes dh4, keys.one_time_prekey->agree(header.ephemeral));
    dh.push_back(std::move(dh4));
  }
  HEARTH_ASSIGN_OR_RETURN(SecretBytes sk, derive_shared_key(dh, header.suite));
  return X3dhSession{std::move(sk),
                     associated_data(header.survivor_identity, keys.identity.public_key(),
                                     cert_hash, header.roster_hash, header.case_id)};
}

Status EphemeralKeyCache::check_and_remember(std::uint32_t signed_prekey_id,
                                             const DhPublicKey& ephemeral) {
  auto key = std::make_pair(signed_prekey_id, ephemeral);
  if (seen_.count(key) != 0) return error(Code::kReplay, "handshake already answered");
  // Full: refuse rather than forget. Forgetting would let a flood of fresh
  // handshakes wash out the entry an attacker wants to replay. Entries go only
  // when their signed prekey is retired (forget_prekey).
  if (seen_.size() >= max_entries_) {
    return error(Code::kLimitExceeded, "too many handshakes for the current prekeys; rotate them");
  }
  seen_.insert(key);
  return Status::ok();
}

void EphemeralKeyCache::forget_prekey(std::uint32_t signed_prekey_id) {
  auto first = seen_.lower_bound({signed_prekey_id, DhPublicKey{}});
  auto last = first;
  while (last != seen_.end() && last->first == signed_prekey_id) ++last;
  seen_.erase(first, last);
}

}  // namespace hearth::crypto
