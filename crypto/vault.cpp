#include "crypto/vault.h"

#include <sodium.h>

#include <algorithm>
#include <string_view>

#include "crypto/aead.h"
#include "crypto/blake2b_personal.h"
#include "crypto/hash.h"

namespace hearth::crypto {
namespace {

constexpr std::string_view kSaltPersonal = "HL1-kdfsalt";  // zero-padded to 16 by blake2b_personal
constexpr std::string_view kSubkeyContext = "HLVAULT1";
constexpr std::uint64_t kLoginIdSubkey = 1;
constexpr std::uint64_t kAuthSeedSubkey = 2;
constexpr std::uint64_t kVaultKeySubkey = 3;
constexpr std::size_t kMasterKeyBytes = 32;
constexpr std::string_view kLoginLabel = "HL1/vault-login";
constexpr std::string_view kBlobLabel = "HL1/vault";
constexpr std::string_view kOpenCaseLabel = "HL1/open-case";

static_assert(kMaxVaultPadded % kVaultPadBlock == 0);

// "HL1/vault" || login_id || version (u64 BE): binds the blob to this vault and
// to its version, so the server cannot relabel an old blob as a newer one.
Bytes blob_associated_data(const SecretBytes& login_id, std::uint64_t version) {
  Bytes ad = to_bytes(kBlobLabel);
  append(ad, login_id.view());
  append_u64_be(ad, version);
  return ad;
}

Bytes login_message(ByteView challenge) {
  Bytes message = to_bytes(kLoginLabel);
  append(message, challenge);
  return message;
}

// lp("HL1/open-case") || lp(challenge) || lp(case_id) || lp(login_id): every
// field length-prefixed, so no two inputs give the same message.
Bytes open_case_message(ByteView challenge, ByteView case_id, ByteView login_id) {
  Bytes message;
  append_lp(message, as_bytes(kOpenCaseLabel));
  append_lp(message, challenge);
  append_lp(message, case_id);
  append_lp(message, login_id);
  return message;
}

std::uint64_t read_u64_be(ByteView b) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < kVaultVersionBytes; ++i) v = (v << 8) | b[i];
  return v;
}

}  // namespace

namespace detail {

Result<SecretBytes> vault_master_key(const Codename& codename, const SigningPublicKey& org_root) {
  Bytes salt = vault_kdf_salt(org_root);
  return argon2id(codename.normalized(), salt, kMasterKeyBytes, kVaultArgonOps, kVaultArgonMemory);
}

Result<VaultKeys> vault_keys_from_master(const SecretBytes& master) {
  if (master.size() != kMasterKeyBytes)
    return error(Code::kInvalidArgument, "vault master key must be 32 bytes");
  HEARTH_ASSIGN_OR_RETURN(SecretBytes login_id,
                          derive_subkey(master, kLoginIdSubkey, kSubkeyContext, kLoginIdBytes));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes auth_seed,
                          derive_subkey(master, kAuthSeedSubkey, kSubkeyContext, kSeedBytes));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes vault_key,
                          derive_subkey(master, kVaultKeySubkey, kSubkeyContext, kAeadKeyBytes));
  HEARTH_ASSIGN_OR_RETURN(SigningKey auth_key, SigningKey::from_seed(auth_seed.view()));
  return VaultKeys(std::move(login_id), std::move(auth_key), std::move(vault_key));
}

const SecretBytes& vault_key(const VaultKeys& keys) { return keys.vault_key_; }

}  // namespace detail

Bytes vault_kdf_salt(const SigningPublicKey& org_root) {
  return blake2b_personal(org_root.view(), kVaultSaltBytes, kSaltPersonal);
}

Result<VaultKeys> derive_vault_keys(const Codename& codename, const SigningPublicKey& org_root) {
  HEARTH_ASSIGN_OR_RETURN(SecretBytes master, detail::vault_master_key(codename, org_root));
  return detail::vault_keys_from_master(master);
}

Bytes vault_lookup_key(const VaultKeys& keys) {
  ByteView id = keys.login_id_.view();
  return Bytes(id.begin(), id.end());
}

Signature sign_login_challenge(const VaultKeys& keys, ByteView challenge) {
  return keys.auth_key_.sign(login_message(challenge));
}

Status verify_login_challenge(const SigningPublicKey& auth_public_key, ByteView challenge,
                              const Signature& signature) {
  if (challenge.size() < kMinLoginChallengeBytes)
    return error(Code::kInvalidArgument, "login challenge too short");
  return verify_signature(auth_public_key, login_message(challenge), signature);
}

Signature sign_open_case(const VaultKeys& keys, ByteView challenge, ByteView case_id) {
  return keys.auth_key_.sign(open_case_message(challenge, case_id, keys.login_id_.view()));
}

Status verify_open_case(const SigningPublicKey& auth_public_key, ByteView challenge,
                        ByteView case_id, ByteView login_id, const Signature& signature) {
  if (challenge.size() < kMinLoginChallengeBytes)
    return error(Code::kInvalidArgument, "open-case challenge too short");
  return verify_signature(auth_public_key, open_case_message(challenge, case_id, login_id),
                          signature);
}

Result<Bytes> seal_vault(const VaultKeys& keys, std::uint64_t version, ByteView contents) {
  if (contents.size() > kMaxVaultContents)
    return error(Code::kLimitExceeded, "vault contents too large");
  // sodium_pad to a whole number of blocks, always adding at least one byte.
  const std::size_t padded_len = (contents.size() / kVaultPadBlock + 1) * kVaultPadBlock;
  Bytes padded(padded_len);
  std::copy(contents.begin(), contents.end(), padded.begin());
  std::size_t written = 0;
  if (sodium_pad(&written, padded.data(), contents.size(), kVaultPadBlock, padded.size()) != 0 ||
      written != padded_len) {
    sodium_memzero(padded.data(), padded.size());
    return error(Code::kInternal, "vault padding failed");
  }
  Bytes blob;
  blob.reserve(kVaultVersionBytes + kAeadOverhead + padded_len);
  append_u64_be(blob, version);
  append(blob, aead_seal(keys.vault_key_, padded, blob_associated_data(keys.login_id_, version)));
  sodium_memzero(padded.data(), padded.size());  // a plaintext copy of the contents
  return blob;
}

Result<OpenedVault> open_vault(const VaultKeys& keys, ByteView blob) {
  if (blob.size() < kMinVaultBlobBytes)
    return error(Code::kInvalidArgument, "vault blob truncated");
  const std::size_t padded_len = blob.size() - kVaultVersionBytes - kAeadOverhead;
  if (padded_len % kVaultPadBlock != 0)
    return error(Code::kInvalidArgument, "vault blob is not whole blocks");
  if (padded_len > kMaxVaultPadded) return error(Code::kInvalidArgument, "vault blob too large");

  const std::uint64_t version = read_u64_be(blob.first(kVaultVersionBytes));
  HEARTH_ASSIGN_OR_RETURN(Bytes padded, aead_open(keys.vault_key_, blob.subspan(kVaultVersionBytes),
                                                  blob_associated_data(keys.login_id_, version)));
  std::size_t contents_len = 0;
  if (sodium_unpad(&contents_len, padded.data(), padded.size(), kVaultPadBlock) != 0) {
    sodium_memzero(padded.data(), padded.size());
    return error(Code::kCorrupt, "vault padding malformed");
  }
  OpenedVault opened;
  opened.version = version;
  opened.contents.assign(padded.begin(),
                         padded.begin() + static_cast<std::ptrdiff_t>(contents_len));
  sodium_memzero(padded.data(), padded.size());
  return opened;
}

}  // namespace hearth::crypto
