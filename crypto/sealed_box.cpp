#include "crypto/sealed_box.h"

#include <sodium.h>

#include "crypto/sodium_init.h"

namespace hearth::crypto {

static_assert(kSealOverhead == crypto_box_SEALBYTES);

Bytes seal_org_record(const DhPublicKey& org_record_key, ByteView record) {
  ensure_initialized();
  Bytes out(record.size() + crypto_box_SEALBYTES);
  crypto_box_seal(out.data(), record.data(), record.size(), org_record_key.bytes.data());
  return out;
}

Result<Bytes> open_org_record(const DhKey& org_record_key, ByteView sealed) {
  if (sealed.size() < crypto_box_SEALBYTES)
    return error(Code::kInvalidArgument, "sealed record too short");
  ensure_initialized();
  Bytes out(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(),
                           org_record_key.public_key().bytes.data(),
                           org_record_key.private_key().data()) != 0) {
    return error(Code::kAuthFailed, "sealed record does not open with this key");
  }
  return out;
}

}  // namespace hearth::crypto
