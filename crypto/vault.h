// Survivor vault: keys derived from a codename, the login key, and the sealed
// vault blob the server stores (reference/crypto.md §2.6).
//
// From a Codename and the org root public key, derive_vault_keys() runs
// Argon2id (t = 3, 64 MiB, p = 1, the same on every platform) and splits the
// result into a lookup id, an Ed25519 login key and the vault encryption key.
// The server never sees the codename or the vault key: it stores a keyed hash
// of the lookup id, the login public key, and the opaque blob. The exact
// derivation and blob layout are in docs/crypto.md; tests/vectors/vault_kdf.json
// holds the known answers the browser client must reproduce.
//
// Thread safety: VaultKeys is a move-only value whose const methods are safe
// from several threads; the functions are pure apart from drawing nonces.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/aead.h"
#include "crypto/codename.h"
#include "crypto/keys.h"
#include "crypto/secret.h"

namespace hearth::crypto {

inline constexpr std::size_t kVaultSaltBytes = 16;
inline constexpr std::size_t kLoginIdBytes = 32;
inline constexpr std::size_t kVaultVersionBytes = 8;
// Contents are padded to a multiple of this many bytes, so the blob length
// reveals the contents' size only to the nearest 4 KiB.
inline constexpr std::size_t kVaultPadBlock = 4096;
// The largest padded vault: a bound on what a client seals and what open_vault
// will consider, far above a full 7-day / 200-message transcript.
inline constexpr std::size_t kMaxVaultPadded = 1024 * 1024;
inline constexpr std::size_t kMaxVaultContents = kMaxVaultPadded - 1;  // >= 1 pad byte
// The shortest blob: version, nonce, one padded block, tag.
inline constexpr std::size_t kMinVaultBlobBytes =
    kVaultVersionBytes + kAeadOverhead + kVaultPadBlock;
// The largest blob seal_vault makes (1,048,624 bytes): the one bound on a
// vault's size. The codec (protocol::kMaxVaultBlobBytes) and the store
// (storage::kMaxVaultBlobBytes) take exactly this many bytes; what a server
// accepts in practice is smaller still: one frame (limits.max_frame_bytes).
inline constexpr std::size_t kMaxVaultBlobBytes =
    kVaultVersionBytes + kAeadOverhead + kMaxVaultPadded;
// A login challenge must carry at least this much server-chosen randomness, so
// a signature captured once can never answer a later challenge.
inline constexpr std::size_t kMinLoginChallengeBytes = 16;

class VaultKeys;

// What open_vault returns: the authenticated version and the unpadded contents.
struct OpenedVault {
  std::uint64_t version = 0;
  Bytes contents;
};

namespace detail {
// The derivation's stages, exposed for known-answer tests (P11) only.
// K_master = Argon2id(codename, vault_kdf_salt(org_root)); kUnavailable when
// Argon2id cannot allocate its memory.
Result<SecretBytes> vault_master_key(const Codename& codename, const SigningPublicKey& org_root);
// The three subkeys of a 32-byte K_master; kInvalidArgument on a wrong length.
Result<VaultKeys> vault_keys_from_master(const SecretBytes& master);
// k_vault itself. Nothing but a known-answer test may read it.
const SecretBytes& vault_key(const VaultKeys& keys);
}  // namespace detail

// The keys one codename opens. Move-only; secrets live in SecretBytes.
class VaultKeys {
 public:
  VaultKeys(VaultKeys&&) noexcept = default;
  VaultKeys& operator=(VaultKeys&&) noexcept = default;
  VaultKeys(const VaultKeys&) = delete;
  VaultKeys& operator=(const VaultKeys&) = delete;
  ~VaultKeys() = default;

  // The public half of the login key: the server stores it when the vault is
  // created and checks login signatures against it.
  const SigningPublicKey& auth_public_key() const { return auth_key_.public_key(); }

 private:
  friend Result<VaultKeys> detail::vault_keys_from_master(const SecretBytes& master);
  friend const SecretBytes& detail::vault_key(const VaultKeys& keys);
  friend Bytes vault_lookup_key(const VaultKeys& keys);
  friend Signature sign_login_challenge(const VaultKeys& keys, ByteView challenge);
  friend Signature sign_open_case(const VaultKeys& keys, ByteView challenge, ByteView case_id);
  friend Result<Bytes> seal_vault(const VaultKeys& keys, std::uint64_t version, ByteView contents);
  friend Result<OpenedVault> open_vault(const VaultKeys& keys, ByteView blob);

  VaultKeys(SecretBytes login_id, SigningKey auth_key, SecretBytes vault_key)
      : login_id_(std::move(login_id)),
        auth_key_(std::move(auth_key)),
        vault_key_(std::move(vault_key)) {}

  SecretBytes login_id_;   // subkey 1: the lookup id the server hashes with its pepper
  SigningKey auth_key_;    // from subkey 2: signs login challenges
  SecretBytes vault_key_;  // subkey 3: encrypts the blob
};

// salt_org = BLAKE2b-128 of the org root public key, personal "HL1-kdfsalt"
// zero-padded to 16 bytes. Public: it depends only on the org's public key.
Bytes vault_kdf_salt(const SigningPublicKey& org_root);

// Derives the vault keys for `codename` under the organisation whose root key
// is `org_root`. Deterministic; takes a few hundred milliseconds and 64 MiB by
// design. kUnavailable when Argon2id cannot allocate its memory.
Result<VaultKeys> derive_vault_keys(const Codename& codename, const SigningPublicKey& org_root);

// The 32-byte login_id, for the server's peppered lookup hash. It identifies a
// vault, so treat it like a bearer identifier: never log it.
Bytes vault_lookup_key(const VaultKeys& keys);

// Signs "HL1/vault-login" || challenge with the vault's login key.
// `challenge` is the server's fresh random challenge (see kMinLoginChallengeBytes).
Signature sign_login_challenge(const VaultKeys& keys, ByteView challenge);

// Ok when `signature` answers `challenge` for `auth_public_key`. kInvalidArgument
// when the challenge is shorter than kMinLoginChallengeBytes; kAuthFailed when the
// signature does not verify (wrong codename, another challenge, any change).
Status verify_login_challenge(const SigningPublicKey& auth_public_key, ByteView challenge,
                              const Signature& signature);

// Signs the proof that creates this vault along with a case (open_case):
//   lp("HL1/open-case") || lp(challenge) || lp(case_id) || lp(login_id)
// with the vault's login key. `challenge` is the server's fresh single-use
// challenge; binding the case id and the login id keeps a proof made for one
// case or vault from opening another, and the challenge keeps a captured proof
// from being replayed. Without it anyone who knows a survivor's (public) login
// key could create a vault in their name.
Signature sign_open_case(const VaultKeys& keys, ByteView challenge, ByteView case_id);

// Ok when `signature` is sign_open_case()'s proof for `challenge`, `case_id` and
// `login_id` by the holder of `auth_public_key`. kInvalidArgument when the
// challenge is shorter than kMinLoginChallengeBytes; kAuthFailed when the
// signature does not verify (another key, challenge, case, login id or label).
Status verify_open_case(const SigningPublicKey& auth_public_key, ByteView challenge,
                        ByteView case_id, ByteView login_id, const Signature& signature);

// Seals `contents` as vault `version` (the server's compare-and-swap counter).
// Layout: version (u64 big-endian) || nonce (24) || ciphertext of the padded
// contents || tag (16); a fresh random nonce every call (P1). kLimitExceeded
// when contents exceed kMaxVaultContents.
Result<Bytes> seal_vault(const VaultKeys& keys, std::uint64_t version, ByteView contents);

// Opens a blob from seal_vault. kInvalidArgument when its length cannot be a
// blob (truncated, not whole 4 KiB blocks, or above kMaxVaultPadded);
// kAuthFailed for another codename's keys, a changed version field or any other
// changed byte; kCorrupt if an authentic blob has malformed padding (only a
// buggy writer holding the key could produce one).
Result<OpenedVault> open_vault(const VaultKeys& keys, ByteView blob);

}  // namespace hearth::crypto
