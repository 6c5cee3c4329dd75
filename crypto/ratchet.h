// The Double Ratchet (Signal specification, reference/crypto.md §2.3): the
// per-message keys of one session after X3DH.
//
// KDF_RK is HKDF-SHA-256 (salt = root key, info "HL1/dr-rk"); KDF_CK is
// HMAC-SHA-256 with 0x01 (message key) and 0x02 (next chain key). Messages are
// padded to a bucket (crypto/encoding.h) and sealed with XChaCha20-Poly1305
// under a random nonce; the AEAD associated data is the X3DH AD followed by the
// message header. Headers are not encrypted (v1).
//
// Limits: at most kMaxSkip message keys are derived to catch up on one chain,
// checked before any key is derived; at most kMaxSkippedKeys are stored (oldest
// evicted), and a stored key lapses after kSkippedKeyLifetimeSteps DH steps.
//
// decrypt() changes the state only when the message authenticates: a forged,
// replayed or out-of-bounds message leaves the session exactly as it was.
// The state serializes to a versioned byte string (docs/crypto.md) that goes
// into the survivor's vault or the responder's encrypted store.
//
// Thread safety: a Ratchet is a value; do not use one object from two threads.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/secret.h"

namespace hearth::crypto {

inline constexpr std::uint32_t kMaxSkip = 256;
inline constexpr std::size_t kMaxSkippedKeys = 512;
inline constexpr std::uint64_t kSkippedKeyLifetimeSteps = 4;
inline constexpr std::uint8_t kRatchetHeaderVersion = 1;
inline constexpr std::size_t kRatchetHeaderBytes = 1 + 32 + 4 + 4;

struct RatchetHeader {
  std::uint8_t version = kRatchetHeaderVersion;
  DhPublicKey dh;              // the sender's current ratchet public key
  std::uint32_t previous = 0;  // PN: messages in the sender's previous sending chain
  std::uint32_t number = 0;    // N: this message's number in its chain

  Bytes encode() const;
  static Result<RatchetHeader> decode(ByteView bytes);
};

class Ratchet {
 public:
  // The initiator (the survivor, who ran x3dh_initiate): can send at once.
  // kAuthFailed when the DH with the responder's key is all zeros.
  static Result<Ratchet> init_initiator(SecretBytes shared_key, Bytes associated_data,
                                        const DhPublicKey& responder_ratchet_key);
  // The responder: its signed prekey is the first ratchet key; it can send only
  // after the first message arrives.
  static Ratchet init_responder(SecretBytes shared_key, Bytes associated_data, DhKey signed_prekey);

  Ratchet(Ratchet&&) noexcept = default;
  Ratchet& operator=(Ratchet&&) noexcept = default;

  // Encrypts one message: header || nonce || ciphertext || tag.
  // kLimitExceeded when the plaintext is larger than the largest pad bucket;
  // kInvalidArgument when the responder has not yet received a message.
  Result<Bytes> encrypt(ByteView plaintext);

  // Decrypts one message. kInvalidArgument: malformed. kLimitExceeded: more than
  // kMaxSkip messages ahead. kReplay: this message was already decrypted (or its
  // key has lapsed). kAuthFailed: forged or corrupted. The state is unchanged on
  // any error.
  Result<Bytes> decrypt(ByteView message);

  // The whole state, including keys: store it only encrypted.
  SecretBytes serialize() const;
  // kInvalidArgument for a malformed or unknown-version state.
  static Result<Ratchet> deserialize(ByteView bytes);

  const Bytes& associated_data() const { return associated_data_; }
  std::size_t skipped_key_count() const { return skipped_.size(); }

 private:
  // Skipped message keys live in one guarded arena of kMaxSkippedKeys slots, so
  // copying the state for a decrypt attempt costs one allocation, not one per key.
  struct SkippedKey {
    DhPublicKey dh;
    std::uint32_t number = 0;
    std::uint64_t step = 0;  // dh_steps_ when stored
    std::uint16_t slot = 0;  // index into skipped_store_
  };

  Ratchet() = default;
  Ratchet clone() const;
  void store_skipped(std::uint32_t number, const SecretBytes& key);
  void erase_skipped(const std::deque<SkippedKey>::const_iterator& it);
  void drop_oldest_skipped();
  Status skip_until(std::uint32_t until);
  Status dh_step(const DhPublicKey& remote);
  Bytes message_ad(ByteView header) const;

  Bytes associated_data_;
  std::optional<DhKey> self_;
  std::optional<DhPublicKey> remote_;
  SecretBytes root_key_;
  SecretBytes send_chain_;  // empty: no sending chain yet
  SecretBytes recv_chain_;  // empty: no receiving chain yet
  std::uint32_t send_number_ = 0;
  std::uint32_t recv_number_ = 0;
  std::uint32_t previous_send_count_ = 0;
  std::uint64_t dh_steps_ = 0;
  std::deque<SkippedKey> skipped_;  // oldest first
  SecretBytes skipped_store_;       // kMaxSkippedKeys * 32 bytes, allocated on first use
  std::vector<std::uint16_t> free_slots_;
};

}  // namespace hearth::crypto
