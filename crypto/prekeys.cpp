#include "crypto/prekeys.h"

#include "common/byte_reader.h"

namespace hearth::crypto {

namespace {
constexpr std::string_view kSignedPrekeyLabel = "HL1/spk";
constexpr std::string_view kOneTimePrekeyLabel = "HL1/opk";

}  // namespace

Bytes SignedPrekey::signed_part() const {
  Bytes out;
  append_lp(out, as_bytes(kSignedPrekeyLabel));
  append_u32_be(out, id);
  append(out, key.view());
  append_u64_be(out, static_cast<std::uint64_t>(expires_at));
  return out;
}

Bytes SignedPrekey::encode() const { return with_signature(signed_part(), signature); }

Result<SignedPrekey> SignedPrekey::decode(ByteView bytes) {
  ByteReader r(bytes);
  SignedPrekey p;
  HEARTH_TRY(r.expect_label(kSignedPrekeyLabel));
  HEARTH_ASSIGN_OR_RETURN(p.id, r.u32());
  HEARTH_ASSIGN_OR_RETURN(p.key, r.read<DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(std::uint64_t exp, r.u64());
  p.expires_at = static_cast<UnixSeconds>(exp);
  HEARTH_ASSIGN_OR_RETURN(p.signature, r.read<Signature>());
  HEARTH_TRY(r.finish());
  return p;
}

Bytes OneTimePrekey::signed_part() const {
  Bytes out;
  append_lp(out, as_bytes(kOneTimePrekeyLabel));
  append_u32_be(out, id);
  append(out, key.view());
  return out;
}

Bytes OneTimePrekey::encode() const { return with_signature(signed_part(), signature); }

Result<OneTimePrekey> OneTimePrekey::decode(ByteView bytes) {
  ByteReader r(bytes);
  OneTimePrekey p;
  HEARTH_TRY(r.expect_label(kOneTimePrekeyLabel));
  HEARTH_ASSIGN_OR_RETURN(p.id, r.u32());
  HEARTH_ASSIGN_OR_RETURN(p.key, r.read<DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(p.signature, r.read<Signature>());
  HEARTH_TRY(r.finish());
  return p;
}

std::pair<SignedPrekey, DhKey> generate_signed_prekey(const SigningKey& identity, std::uint32_t id,
                                                      UnixSeconds expires_at) {
  DhKey key = DhKey::generate();
  SignedPrekey spk{id, key.public_key(), expires_at, {}};
  spk.signature = identity.sign(spk.signed_part());
  return {spk, std::move(key)};
}

std::vector<std::pair<OneTimePrekey, DhKey>> generate_one_time_prekeys(const SigningKey& identity,
                                                                       std::uint32_t first_id,
                                                                       std::size_t count) {
  std::vector<std::pair<OneTimePrekey, DhKey>> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    DhKey key = DhKey::generate();
    OneTimePrekey opk{first_id + static_cast<std::uint32_t>(i), key.public_key(), {}};
    opk.signature = identity.sign(opk.signed_part());
    out.emplace_back(opk, std::move(key));
  }
  return out;
}

Status verify_bundle(const VerifiedRoster& roster, const PrekeyBundle& bundle,
                     std::string_view queue, UnixSeconds now) {
  HEARTH_TRY(roster.check_certificate(bundle.certificate, now, queue));
  const SigningPublicKey& identity = bundle.certificate.fields.signing_key;
  const SignedPrekey& spk = bundle.signed_prekey;
  if (!verify_signature(identity, spk.signed_part(), spk.signature).is_ok()) {
    return error(Code::kAuthFailed, "signed prekey is not signed by the certified key");
  }
  if (now >= spk.expires_at) return error(Code::kExpired, "signed prekey has expired");
  if (bundle.one_time_prekey.has_value()) {
    const OneTimePrekey& opk = *bundle.one_time_prekey;
    if (!verify_signature(identity, opk.signed_part(), opk.signature).is_ok()) {
      return error(Code::kAuthFailed, "one-time prekey is not signed by the certified key");
    }
  }
  return Status::ok();
}

}  // namespace hearth::crypto
