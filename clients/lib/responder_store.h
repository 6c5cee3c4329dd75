// ResponderStore: a responder's keystore and conversation state, one file in a
// private data directory, encrypted under a passphrase.
//
// The file (docs/client-formats.md "Responder store") is a short clear header
// (magic, format version, Argon2id salt) followed by XChaCha20-Poly1305 of the
// contents under a key derived once, at create/open, with Argon2id (ops 3,
// 64 MiB); the header is the associated data. Every save() draws a new nonce
// and writes the file atomically with mode 0600 (common/files.h), so a crash
// leaves the previous state or the new one. The directory is made 0700, and a
// lock file keeps a second program from opening the same store.
//
// What it holds: the signing seed and DH private key of the responder's
// certificate, the certificate, the pinned org root and the last accepted
// roster, signed prekey secrets (current and previous), one-time prekey
// secrets, one session per case (ratchet state, queue, claimed?, a bounded
// transcript, the responder's private notes, the routing fields it was taken
// with) and the (signed prekey id, ephemeral key) pairs already answered.
//
// Thread safety: not thread-safe; one ResponderSession (or tool) uses a store
// at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "clients/lib/client_formats.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/file_lock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/secret.h"
#include "crypto/trust.h"
#include "protocol/messages.h"

namespace hearth::client {

// Version 2 added each case's private notes, version 3 each case's routing
// fields; older stores still open (their cases have neither) and are written
// back as version 3.
inline constexpr std::uint8_t kResponderStateVersion = 3;
// How many roster hashes a responder keeps accepting intake copies under.
inline constexpr std::size_t kMaxAcceptedRosters = 8;
// Signed prekeys kept: the current one and its predecessors, for intake copies
// made with an older bundle that arrive late.
inline constexpr std::size_t kMaxSignedPrekeys = 3;
// One-time prekey secrets kept; past it the oldest (lowest id) are dropped
// (their public halves were handed to survivors who never opened the case).
inline constexpr std::size_t kMaxOneTimePrekeys = 1000;
inline constexpr std::size_t kMaxResponderCases = 1024;
// The answered-handshake set, as crypto::EphemeralKeyCache's default bound.
inline constexpr std::size_t kMaxSeenEphemerals = 100000;
// Private notes per case, and the size of one (UTF-8 bytes).
inline constexpr std::size_t kMaxNotesPerCase = 200;
inline constexpr std::size_t kMaxNoteBytes = 2000;
// Shortest passphrase create() accepts.
inline constexpr std::size_t kMinPassphraseBytes = 8;

struct StoredSignedPrekey {
  std::uint32_t id = 0;
  UnixSeconds created_at = 0;
  UnixSeconds expires_at = 0;
  bool uploaded = false;            // the server acknowledged it
  crypto::SecretBytes private_key;  // 32 bytes
};

struct StoredOneTimePrekey {
  std::uint32_t id = 0;
  bool uploaded = false;
  crypto::SecretBytes private_key;  // 32 bytes
};

// A responder's private note on a case. It lives only here, in the store
// (encrypted under the key derived from the responder's passphrase): it is
// never sent to the server or the survivor, and it goes when the case does.
struct ResponderNote {
  UnixSeconds minute = 0;  // when it was written, rounded down to the minute
  std::string text;        // UTF-8, 1..kMaxNoteBytes bytes
};

// How a case reached this responder, from take_next's reply: the survivor's
// triage answers, the priority class, whether an interpreter is needed, how
// long it had waited. Kept so the console still shows them, and still matches
// referral cards to them, after a restart. Nothing here is new to the server
// (it routed on it); it is kept, like the rest, under the passphrase.
struct CaseRouting {
  std::string priority_class;  // [a-z0-9-]{1,32}
  protocol::RouteEnvelope envelope;
  bool interpreter = false;
  std::int64_t waited_s = 0;
  friend bool operator==(const CaseRouting&, const CaseRouting&) = default;
};

// One case this responder received an intake copy of.
struct ResponderCase {
  Bytes case_id;      // 16 bytes
  std::string queue;  // empty until this responder claims the case (the claim reply names it)
  bool claimed = false;
  crypto::SecretBytes ratchet;  // crypto::Ratchet::serialize()
  // The highest seq of this responder's mailbox for the case already stored
  // here: envelopes at or below it are duplicates (acked, ignored).
  std::int64_t received_seq = 0;
  std::deque<TranscriptEntry> transcript;
  std::deque<ResponderNote> notes;  // oldest first, at most kMaxNotesPerCase
  // Unknown for a case taken by a console older than version 3, or whose
  // take_next reply was lost to a restart before its intake copy came.
  std::optional<CaseRouting> routing;
};

// Appends a private note to `c` (save the store afterwards). kInvalidArgument:
// empty, not UTF-8, or longer than kMaxNoteBytes; kLimitExceeded: the case
// already holds kMaxNotesPerCase notes (nothing is dropped to make room).
Status add_note(ResponderCase& c, UnixSeconds minute, std::string text);

struct ResponderState {
  crypto::SecretBytes signing_seed;  // 32 bytes: the certificate's Ed25519 key
  crypto::SecretBytes dh_private;    // 32 bytes: the certificate's X25519 key
  Bytes certificate;                 // crypto::ResponderCertificate encoding
  crypto::SigningPublicKey org_root;
  std::optional<crypto::RosterPin> roster_pin;  // the last roster accepted
  std::vector<Bytes> accepted_rosters;          // roster hashes, oldest first
  std::uint32_t next_signed_prekey_id = 1;
  std::vector<StoredSignedPrekey> signed_prekeys;  // oldest first; the last is current
  std::uint32_t next_one_time_prekey_id = 1;
  std::vector<StoredOneTimePrekey> one_time_prekeys;  // ascending id
  std::vector<ResponderCase> cases;
  std::vector<std::pair<std::uint32_t, crypto::DhPublicKey>> seen_ephemerals;

  ResponderCase* find(ByteView case_id);
  const ResponderCase* find(ByteView case_id) const;
  // A deep copy (secrets included), e.g. to roll back a change that failed to save.
  ResponderState clone() const;

  // Contents encoding (docs/client-formats.md). kLimitExceeded past the bounds above.
  Result<crypto::SecretBytes> encode() const;
  // kInvalidArgument for anything malformed or an unknown version.
  static Result<ResponderState> decode(ByteView contents);
};

class ResponderStore {
 public:
  static constexpr std::string_view kStoreFileName = "responder.store";
  static constexpr std::string_view kLockFileName = "responder.lock";
  // The store file is never read past this size.
  static constexpr std::size_t kMaxFileBytes = 256u * 1024 * 1024;

  // Creates a new store in `dir` (created 0700 if missing) for a responder
  // whose certificate is `certificate`, with `signing_key` and `dh_key` its
  // private halves, under the org whose root key is `org_root`.
  // kInvalidArgument: the passphrase is shorter than kMinPassphraseBytes, the
  // certificate does not decode, or its keys are not these keys.
  // kAlreadyExists: a store is already there. kUnavailable: the directory cannot
  // be written or is locked by another program.
  static Result<std::unique_ptr<ResponderStore>> create(const std::filesystem::path& dir,
                                                        std::string_view passphrase,
                                                        const crypto::SigningKey& signing_key,
                                                        const crypto::DhKey& dh_key,
                                                        ByteView certificate,
                                                        const crypto::SigningPublicKey& org_root);

  // Opens the store in `dir`. kAuthFailed: wrong passphrase (or a modified
  // file: the two cannot be told apart). kNotFound: no store there.
  // kInvalidArgument: the file is not a store, or is readable by others.
  // kCorrupt: it decrypted but does not parse (a bug in the writer).
  // kUnavailable: locked by another program, or an I/O error.
  static Result<std::unique_ptr<ResponderStore>> open(const std::filesystem::path& dir,
                                                      std::string_view passphrase);

  ResponderStore(const ResponderStore&) = delete;
  ResponderStore& operator=(const ResponderStore&) = delete;
  ~ResponderStore();  // releases the lock; the state in memory is wiped

  ResponderState& state() { return state_; }
  const ResponderState& state() const { return state_; }

  // Writes the current state atomically (tmp, fsync, rename, fsync dir), 0600.
  // kLimitExceeded when the state is over its bounds (nothing written);
  // kUnavailable on an I/O error (the previous file stays).
  Status save();

  const std::filesystem::path& directory() const { return dir_; }

  // The keys and certificate, rebuilt from the state.
  Result<crypto::SigningKey> signing_key() const;
  Result<crypto::DhKey> dh_key() const;
  Result<crypto::ResponderCertificate> certificate() const;

 private:
  ResponderStore(std::filesystem::path dir, FileLock lock, Bytes salt, crypto::SecretBytes key,
                 ResponderState state);

  std::filesystem::path dir_;
  FileLock lock_;  // one program at a time
  Bytes salt_;
  crypto::SecretBytes key_;  // Argon2id(passphrase, salt): derived once, kept locked
  ResponderState state_;
};

}  // namespace hearth::client
