#include "crypto/ratchet.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "common/byte_reader.h"
#include "crypto/aead.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"

namespace hearth::crypto {

namespace {

constexpr std::string_view kRootKdfInfo = "HL1/dr-rk";
constexpr std::string_view kStateLabel = "HL1/ratchet-state";
constexpr std::uint8_t kStateVersion = 1;
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kMaxAssociatedData = 1024;

struct RootStep {
  SecretBytes root_key;
  SecretBytes chain_key;
};

// KDF_RK: HKDF-SHA-256(salt = root key, IKM = DH output, info) -> 64 bytes.
Result<RootStep> kdf_root(const SecretBytes& root_key, const DhKey& self,
                          const DhPublicKey& remote) {
  HEARTH_ASSIGN_OR_RETURN(SecretBytes dh, self.agree(remote));
  HEARTH_ASSIGN_OR_RETURN(SecretBytes out,
                          hkdf(root_key.view(), dh.view(), as_bytes(kRootKdfInfo), 64));
  return RootStep{SecretBytes::from(out.view().first(kKeyBytes)),
                  SecretBytes::from(out.view().subspan(kKeyBytes))};
}

// KDF_CK: message key = HMAC(ck, 0x01); the chain advances to HMAC(ck, 0x02).
SecretBytes kdf_chain(SecretBytes& chain_key) {
  // Every caller checks that the chain exists; an empty key here would derive
  // public constants (HMAC under the empty key), so it is a bug, never input.
  if (chain_key.size() != kKeyBytes) std::abort();
  static constexpr std::uint8_t kMessageByte[1] = {0x01};
  static constexpr std::uint8_t kChainByte[1] = {0x02};
  SecretBytes message_key = hmac_sha256(chain_key.view(), kMessageByte);
  chain_key = hmac_sha256(chain_key.view(), kChainByte);
  return message_key;
}

void append_optional_key(Bytes& out, const SecretBytes& key) {
  out.push_back(key.empty() ? 0 : 1);
  if (!key.empty()) append(out, key.view());
}

Result<SecretBytes> read_optional_key(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t present, r.u8());
  if (present > 1) return error(Code::kInvalidArgument, "bad presence flag");
  if (present == 0) return SecretBytes();
  HEARTH_ASSIGN_OR_RETURN(ByteView k, r.fixed(kKeyBytes));
  return SecretBytes::from(k);
}

}  // namespace

Bytes RatchetHeader::encode() const {
  Bytes out;
  out.push_back(version);
  append(out, dh.view());
  append_u32_be(out, previous);
  append_u32_be(out, number);
  return out;
}

Result<RatchetHeader> RatchetHeader::decode(ByteView bytes) {
  ByteReader r(bytes);
  RatchetHeader h;
  HEARTH_ASSIGN_OR_RETURN(h.version, r.u8());
  if (h.version != kRatchetHeaderVersion)
    return error(Code::kInvalidArgument, "unknown message version");
  HEARTH_ASSIGN_OR_RETURN(h.dh, r.read<DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(h.previous, r.u32());
  HEARTH_ASSIGN_OR_RETURN(h.number, r.u32());
  HEARTH_TRY(r.finish());
  return h;
}

Result<Ratchet> Ratchet::init_initiator(SecretBytes shared_key, Bytes associated_data,
                                        const DhPublicKey& responder_ratchet_key) {
  Ratchet r;
  r.associated_data_ = std::move(associated_data);
  r.self_ = DhKey::generate();
  r.remote_ = responder_ratchet_key;
  HEARTH_ASSIGN_OR_RETURN(RootStep step, kdf_root(shared_key, *r.self_, responder_ratchet_key));
  r.root_key_ = std::move(step.root_key);
  r.send_chain_ = std::move(step.chain_key);
  return r;
}

Ratchet Ratchet::init_responder(SecretBytes shared_key, Bytes associated_data,
                                DhKey signed_prekey) {
  Ratchet r;
  r.associated_data_ = std::move(associated_data);
  r.self_ = std::move(signed_prekey);
  r.root_key_ = std::move(shared_key);
  return r;
}

Ratchet Ratchet::clone() const {
  Ratchet r;
  r.associated_data_ = associated_data_;
  if (self_.has_value()) r.self_ = self_->clone();
  r.remote_ = remote_;
  r.root_key_ = root_key_.clone();
  r.send_chain_ = send_chain_.clone();
  r.recv_chain_ = recv_chain_.clone();
  r.send_number_ = send_number_;
  r.recv_number_ = recv_number_;
  r.previous_send_count_ = previous_send_count_;
  r.dh_steps_ = dh_steps_;
  r.skipped_ = skipped_;
  r.skipped_store_ = skipped_store_.clone();
  r.free_slots_ = free_slots_;
  return r;
}

void Ratchet::store_skipped(std::uint32_t number, const SecretBytes& key) {
  if (skipped_store_.empty()) {
    skipped_store_ = SecretBytes(kMaxSkippedKeys * kKeyBytes);
    free_slots_.clear();
    for (std::size_t i = kMaxSkippedKeys; i > 0; --i)
      free_slots_.push_back(static_cast<std::uint16_t>(i - 1));
  }
  if (skipped_.size() == kMaxSkippedKeys) drop_oldest_skipped();
  std::uint16_t slot = free_slots_.back();
  free_slots_.pop_back();
  std::copy(key.data(), key.data() + kKeyBytes, skipped_store_.data() + slot * kKeyBytes);
  skipped_.push_back({*remote_, number, dh_steps_, slot});
}

void Ratchet::erase_skipped(const std::deque<SkippedKey>::const_iterator& it) {
  wipe({skipped_store_.data() + it->slot * kKeyBytes, kKeyBytes});
  free_slots_.push_back(it->slot);
  skipped_.erase(it);
}

void Ratchet::drop_oldest_skipped() { erase_skipped(skipped_.begin()); }

Bytes Ratchet::message_ad(ByteView header) const {
  Bytes ad;
  append_lp(ad, associated_data_);
  append(ad, header);
  return ad;
}

Result<Bytes> Ratchet::encrypt(ByteView plaintext) {
  if (send_chain_.empty()) {
    return error(Code::kInvalidArgument, "cannot send before the first message has arrived");
  }
  if (send_number_ == std::numeric_limits<std::uint32_t>::max()) {
    return error(Code::kLimitExceeded, "sending chain exhausted");
  }
  HEARTH_ASSIGN_OR_RETURN(Bytes padded, pad_to_bucket(plaintext));
  RatchetHeader header{kRatchetHeaderVersion, self_->public_key(), previous_send_count_,
                       send_number_};
  Bytes out = header.encode();
  SecretBytes message_key = kdf_chain(send_chain_);
  ++send_number_;
  Bytes sealed = aead_seal(message_key, padded, message_ad(out));
  wipe(padded);
  append(out, sealed);
  return out;
}

Status Ratchet::skip_until(std::uint32_t until) {
  if (recv_chain_.empty()) return Status::ok();  // nothing to skip on a chain we never had
  if (until <= recv_number_) return Status::ok();
  // Checked before any key is derived (reference/crypto.md P8).
  if (until - recv_number_ > kMaxSkip) {
    return error(Code::kLimitExceeded, "message is too far ahead of its chain");
  }
  while (recv_number_ < until) {
    store_skipped(recv_number_, kdf_chain(recv_chain_));
    ++recv_number_;
  }
  return Status::ok();
}

Status Ratchet::dh_step(const DhPublicKey& remote) {
  previous_send_count_ = send_number_;
  send_number_ = 0;
  recv_number_ = 0;
  remote_ = remote;
  HEARTH_ASSIGN_OR_RETURN(RootStep receiving, kdf_root(root_key_, *self_, remote));
  recv_chain_ = std::move(receiving.chain_key);
  self_ = DhKey::generate();
  HEARTH_ASSIGN_OR_RETURN(RootStep sending, kdf_root(receiving.root_key, *self_, remote));
  root_key_ = std::move(sending.root_key);
  send_chain_ = std::move(sending.chain_key);
  ++dh_steps_;
  // Keys skipped more than kSkippedKeyLifetimeSteps DH steps ago lapse (spec §6.4).
  while (!skipped_.empty() && skipped_.front().step + kSkippedKeyLifetimeSteps < dh_steps_) {
    drop_oldest_skipped();
  }
  return Status::ok();
}

Result<Bytes> Ratchet::decrypt(ByteView message) {
  if (message.size() < kRatchetHeaderBytes + kAeadOverhead) {
    return error(Code::kInvalidArgument, "message too short");
  }
  ByteView header_bytes = message.first(kRatchetHeaderBytes);
  ByteView sealed = message.subspan(kRatchetHeaderBytes);
  HEARTH_ASSIGN_OR_RETURN(RatchetHeader header, RatchetHeader::decode(header_bytes));
  Bytes ad = message_ad(header_bytes);

  // A key stored for a message that arrived out of order.
  auto skipped = std::find_if(skipped_.begin(), skipped_.end(), [&](const SkippedKey& s) {
    return s.dh == header.dh && s.number == header.number;
  });
  if (skipped != skipped_.end()) {
    ByteView key{skipped_store_.data() + skipped->slot * kKeyBytes, kKeyBytes};
    HEARTH_ASSIGN_OR_RETURN(Bytes padded, aead_open(SecretBytes::from(key), sealed, ad));
    auto plaintext = unpad_bucket(padded);
    wipe(padded);
    if (!plaintext.is_ok()) return plaintext.status();
    erase_skipped(skipped);  // used once, then gone
    return plaintext;
  }

  bool new_chain = !remote_.has_value() || !(header.dh == *remote_);
  if (!new_chain && recv_chain_.empty()) {
    // The initiator's remote key is the responder's SPK before any reply, but
    // there is no receiving chain for it: nothing can legitimately arrive on it.
    // (Without this check the key would come from an empty chain key: a forgery.)
    return error(Code::kAuthFailed, "no receiving chain for this ratchet key");
  }
  if (!new_chain && header.number < recv_number_) {
    return error(Code::kReplay, "message already received");
  }
  if (header.number == std::numeric_limits<std::uint32_t>::max()) {
    return error(Code::kLimitExceeded, "message number out of range");  // recv_number_ would wrap
  }

  // Work on a copy so that a message that fails to authenticate changes nothing.
  Ratchet next = clone();
  if (new_chain) {
    HEARTH_TRY(next.skip_until(header.previous));
    HEARTH_TRY(next.dh_step(header.dh));
  }
  HEARTH_TRY(next.skip_until(header.number));
  SecretBytes message_key = kdf_chain(next.recv_chain_);
  ++next.recv_number_;
  HEARTH_ASSIGN_OR_RETURN(Bytes padded, aead_open(message_key, sealed, ad));
  HEARTH_ASSIGN_OR_RETURN(Bytes plaintext, unpad_bucket(padded));
  wipe(padded);
  *this = std::move(next);
  return plaintext;
}

SecretBytes Ratchet::serialize() const {
  Bytes out;
  // Reserve the whole size up front: a reallocation would leave copies of the
  // keys in freed, unwiped heap memory.
  out.reserve(128 + associated_data_.size() +
              skipped_.size() * (kPublicKeyBytes + 4 + 8 + kKeyBytes));
  append_lp(out, as_bytes(kStateLabel));
  out.push_back(kStateVersion);
  append_lp(out, associated_data_);
  append(out, self_->private_key().view());
  out.push_back(remote_.has_value() ? 1 : 0);
  if (remote_.has_value()) append(out, remote_->view());
  append(out, root_key_.view());
  append_optional_key(out, send_chain_);
  append_optional_key(out, recv_chain_);
  append_u32_be(out, send_number_);
  append_u32_be(out, recv_number_);
  append_u32_be(out, previous_send_count_);
  append_u64_be(out, dh_steps_);
  append_u32_be(out, static_cast<std::uint32_t>(skipped_.size()));
  for (const auto& s : skipped_) {
    append(out, s.dh.view());
    append_u32_be(out, s.number);
    append_u64_be(out, s.step);
    append(out, {skipped_store_.data() + s.slot * kKeyBytes, kKeyBytes});
  }
  SecretBytes secret = SecretBytes::from(out);
  wipe(out);
  return secret;
}

Result<Ratchet> Ratchet::deserialize(ByteView bytes) {
  ByteReader r(bytes);
  HEARTH_TRY(r.expect_label(kStateLabel));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t version, r.u8());
  if (version != kStateVersion)
    return error(Code::kInvalidArgument, "unknown ratchet state version");
  Ratchet out;
  HEARTH_ASSIGN_OR_RETURN(ByteView ad, r.lp(kMaxAssociatedData));
  out.associated_data_.assign(ad.begin(), ad.end());
  HEARTH_ASSIGN_OR_RETURN(ByteView self_private, r.fixed(kKeyBytes));
  HEARTH_ASSIGN_OR_RETURN(DhKey self, DhKey::from_private(self_private));
  out.self_ = std::move(self);
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t has_remote, r.u8());
  if (has_remote > 1) return error(Code::kInvalidArgument, "bad presence flag");
  if (has_remote == 1) {
    HEARTH_ASSIGN_OR_RETURN(out.remote_, r.read<DhPublicKey>());
  }
  HEARTH_ASSIGN_OR_RETURN(ByteView root, r.fixed(kKeyBytes));
  out.root_key_ = SecretBytes::from(root);
  HEARTH_ASSIGN_OR_RETURN(out.send_chain_, read_optional_key(r));
  HEARTH_ASSIGN_OR_RETURN(out.recv_chain_, read_optional_key(r));
  HEARTH_ASSIGN_OR_RETURN(out.send_number_, r.u32());
  HEARTH_ASSIGN_OR_RETURN(out.recv_number_, r.u32());
  HEARTH_ASSIGN_OR_RETURN(out.previous_send_count_, r.u32());
  HEARTH_ASSIGN_OR_RETURN(out.dh_steps_, r.u64());
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t nskipped, r.u32());
  if (nskipped > kMaxSkippedKeys) return error(Code::kInvalidArgument, "too many skipped keys");
  std::uint64_t last_step = 0;
  for (std::uint32_t i = 0; i < nskipped; ++i) {
    HEARTH_ASSIGN_OR_RETURN(DhPublicKey dh_key, r.read<DhPublicKey>());
    HEARTH_ASSIGN_OR_RETURN(std::uint32_t number, r.u32());
    HEARTH_ASSIGN_OR_RETURN(std::uint64_t step, r.u64());
    HEARTH_ASSIGN_OR_RETURN(ByteView key, r.fixed(kKeyBytes));
    // Keys are stored oldest first, never from a step not yet taken, and once
    // each: anything else would let a key outlive its lifetime or decrypt twice.
    bool duplicate =
        std::any_of(out.skipped_.begin(), out.skipped_.end(),
                    [&](const SkippedKey& s) { return s.dh == dh_key && s.number == number; });
    if (step < last_step || step > out.dh_steps_ || duplicate) {
      return error(Code::kInvalidArgument, "inconsistent skipped keys");
    }
    last_step = step;
    // store_skipped files keys under the current remote key and step; restore the saved ones.
    std::optional<DhPublicKey> remote = out.remote_;
    out.remote_ = dh_key;
    out.store_skipped(number, SecretBytes::from(key));
    out.skipped_.back().step = step;
    out.remote_ = remote;
  }
  HEARTH_TRY(r.finish());
  // A receiving chain needs a remote key; after a DH step both chains exist.
  bool consistent = (out.remote_.has_value() || out.recv_chain_.empty()) &&
                    (out.dh_steps_ == 0 || (!out.recv_chain_.empty() && !out.send_chain_.empty()));
  if (!consistent) return error(Code::kInvalidArgument, "inconsistent ratchet state");
  return out;
}

}  // namespace hearth::crypto
