#include "clients/lib/responder_store.h"

#include <algorithm>
#include <limits>

#include "clients/lib/format_detail.h"
#include "common/byte_reader.h"
#include "common/files.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/x3dh.h"

namespace hearth::client {
namespace {

constexpr std::string_view kMagic = "HEARTHRS";
constexpr std::uint32_t kFileFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 8 + 4 + crypto::kArgonSaltBytes;
constexpr std::string_view kStateLabel = "HL1/responder-store";
constexpr std::size_t kMaxRatchetStateBytes = std::size_t{64} * 1024;
constexpr std::size_t kMaxCertificateBytes =
    std::size_t{16} * 1024;  // protocol::kMaxCertificateBytes

bool same(ByteView a, ByteView b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

Bytes file_header(ByteView salt) {
  Bytes h = to_bytes(kMagic);
  append_u32_be(h, kFileFormatVersion);
  append(h, salt);
  return h;
}

// Argon2id (ops 3, 64 MiB), the same parameters as the survivor vault: a
// stolen store file costs an attacker that much per passphrase guess.
Result<crypto::SecretBytes> derive_store_key(std::string_view passphrase, ByteView salt) {
  return crypto::argon2id(as_bytes(passphrase), salt, crypto::kAeadKeyBytes);
}

// Takes the store's lock file, so two programs never write one store.
Result<FileLock> take_lock(const std::filesystem::path& dir) {
  return FileLock::acquire(dir / ResponderStore::kLockFileName,
                           "the store is in use by another program");
}

// A case's routing fields (below, with their reader).
Status check_routing(const CaseRouting& r);
void write_routing(detail::SecretWriter& w, const CaseRouting& r);

void write_state(detail::SecretWriter& w, const ResponderState& s) {
  w.lp(kStateLabel);
  w.u8(kResponderStateVersion);
  w.fixed(s.signing_seed.view());
  w.fixed(s.dh_private.view());
  w.lp(ByteView(s.certificate));
  w.fixed(s.org_root.view());
  w.u8(s.roster_pin ? 1 : 0);
  if (s.roster_pin) {
    w.u64(s.roster_pin->epoch);
    w.fixed(s.roster_pin->hash);
  }
  w.u32(static_cast<std::uint32_t>(s.accepted_rosters.size()));
  for (const Bytes& h : s.accepted_rosters) w.fixed(h);
  w.u32(s.next_signed_prekey_id);
  w.u32(static_cast<std::uint32_t>(s.signed_prekeys.size()));
  for (const StoredSignedPrekey& p : s.signed_prekeys) {
    w.u32(p.id);
    w.u64(static_cast<std::uint64_t>(p.created_at));
    w.u64(static_cast<std::uint64_t>(p.expires_at));
    w.u8(p.uploaded ? 1 : 0);
    w.fixed(p.private_key.view());
  }
  w.u32(s.next_one_time_prekey_id);
  w.u32(static_cast<std::uint32_t>(s.one_time_prekeys.size()));
  for (const StoredOneTimePrekey& p : s.one_time_prekeys) {
    w.u32(p.id);
    w.u8(p.uploaded ? 1 : 0);
    w.fixed(p.private_key.view());
  }
  w.u32(static_cast<std::uint32_t>(s.cases.size()));
  for (const ResponderCase& c : s.cases) {
    w.fixed(c.case_id);
    w.lp(std::string_view(c.queue));
    w.u8(c.claimed ? 1 : 0);
    w.u64(static_cast<std::uint64_t>(c.received_seq));
    w.lp(c.ratchet.view());
    detail::write_transcript(w, c.transcript);
    w.u32(static_cast<std::uint32_t>(c.notes.size()));
    for (const ResponderNote& n : c.notes) {
      w.u64(static_cast<std::uint64_t>(n.minute));
      w.lp(std::string_view(n.text));
    }
    w.u8(c.routing ? 1 : 0);
    if (c.routing) write_routing(w, *c.routing);
  }
  w.u32(static_cast<std::uint32_t>(s.seen_ephemerals.size()));
  for (const auto& [spk_id, ephemeral] : s.seen_ephemerals) {
    w.u32(spk_id);
    w.fixed(ephemeral.view());
  }
}

Status check_state_shape(const ResponderState& s) {
  if (s.signing_seed.size() != crypto::kSeedBytes || s.dh_private.size() != crypto::kPublicKeyBytes)
    return error(Code::kInvalidArgument, "key of the wrong length");
  if (s.certificate.size() > kMaxCertificateBytes)
    return error(Code::kLimitExceeded, "certificate too large");
  if (s.roster_pin && s.roster_pin->hash.size() != crypto::kHashBytes)
    return error(Code::kInvalidArgument, "roster pin hash must be 32 bytes");
  if (s.accepted_rosters.size() > kMaxAcceptedRosters)
    return error(Code::kLimitExceeded, "too many accepted rosters");
  for (const Bytes& h : s.accepted_rosters) {
    if (h.size() != crypto::kHashBytes) return error(Code::kInvalidArgument, "bad roster hash");
  }
  if (s.signed_prekeys.size() > kMaxSignedPrekeys)
    return error(Code::kLimitExceeded, "too many signed prekeys");
  for (const StoredSignedPrekey& p : s.signed_prekeys) {
    if (p.private_key.size() != crypto::kPublicKeyBytes)
      return error(Code::kInvalidArgument, "bad signed prekey");
  }
  if (s.one_time_prekeys.size() > kMaxOneTimePrekeys)
    return error(Code::kLimitExceeded, "too many one-time prekeys");
  for (const StoredOneTimePrekey& p : s.one_time_prekeys) {
    if (p.private_key.size() != crypto::kPublicKeyBytes)
      return error(Code::kInvalidArgument, "bad one-time prekey");
  }
  if (s.cases.size() > kMaxResponderCases) return error(Code::kLimitExceeded, "too many cases");
  for (const ResponderCase& c : s.cases) {
    if (c.case_id.size() != crypto::kCaseIdBytes)
      return error(Code::kInvalidArgument, "case id must be 16 bytes");
    if (c.received_seq < 0) return error(Code::kInvalidArgument, "negative seq");
    if (c.ratchet.size() > kMaxRatchetStateBytes)
      return error(Code::kLimitExceeded, "ratchet state too large");
    if (c.notes.size() > kMaxNotesPerCase) return error(Code::kLimitExceeded, "too many notes");
    for (const ResponderNote& n : c.notes) {
      if (n.text.size() > kMaxNoteBytes) return error(Code::kLimitExceeded, "note too long");
    }
    if (c.routing) HEARTH_TRY(check_routing(*c.routing));
  }
  if (s.seen_ephemerals.size() > kMaxSeenEphemerals)
    return error(Code::kLimitExceeded, "too many answered handshakes");
  return Status::ok();
}

Result<crypto::SecretBytes> read_secret(ByteReader& r, std::size_t n) {
  HEARTH_ASSIGN_OR_RETURN(ByteView b, r.fixed(n));
  return crypto::SecretBytes::from(b);
}

Result<bool> read_flag(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t f, r.u8());
  if (f > 1) return error(Code::kInvalidArgument, "bad flag");
  return f == 1;
}

// Priority classes and regions: [a-z0-9-]{1,32}, as the protocol has them.
constexpr std::size_t kMaxCodeBytes = 32;
bool is_code(std::string_view code) {
  return !code.empty() && code.size() <= kMaxCodeBytes &&
         std::all_of(code.begin(), code.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

// What the protocol accepts in a take_next reply, so a store never holds
// routing fields the console could not have been given.
Status check_routing(const CaseRouting& r) {
  const protocol::RouteEnvelope& e = r.envelope;
  auto bad = [](const char* what) { return error(Code::kInvalidArgument, what); };
  if (!is_code(r.priority_class)) return bad("bad priority class in a case's routing fields");
  if (e.needs.empty() || e.needs.size() > 2 || (e.needs.size() == 2 && e.needs[0] == e.needs[1]))
    return bad("a case's routing fields need one or two different needs");
  if (e.languages.empty() || e.languages.size() > 3)
    return bad("a case's routing fields need one to three languages");
  for (std::size_t i = 0; i < e.languages.size(); ++i) {
    if (!crypto::is_valid_language(e.languages[i]))
      return bad("bad language in a case's routing fields");
    for (std::size_t j = 0; j < i; ++j) {
      if (e.languages[j] == e.languages[i])
        return bad("a language twice in a case's routing fields");
    }
  }
  if (e.region && !is_code(*e.region)) return bad("bad region in a case's routing fields");
  if (r.waited_s < 0) return bad("negative wait in a case's routing fields");
  return Status::ok();
}

// Names, not enum values: an enum reordered in a later build still reads back.
void write_routing(detail::SecretWriter& w, const CaseRouting& r) {
  const protocol::RouteEnvelope& e = r.envelope;
  w.lp(std::string_view(r.priority_class));
  w.u8(static_cast<std::uint8_t>(e.needs.size()));
  for (protocol::Need need : e.needs) w.lp(protocol::need_name(need));
  w.lp(protocol::urgency_name(e.urgency));
  w.u8(static_cast<std::uint8_t>(e.languages.size()));
  for (const std::string& language : e.languages) w.lp(std::string_view(language));
  w.lp(protocol::mode_name(e.mode));
  w.u8(e.region ? 1 : 0);
  if (e.region) w.lp(std::string_view(*e.region));
  w.u8(r.interpreter ? 1 : 0);
  w.u64(static_cast<std::uint64_t>(r.waited_s));
}

// One enum name: `parse` turns it into the value, or it is refused.
template <typename Parse>
auto read_name(ByteReader& r, Parse parse, const char* what)
    -> Result<typename decltype(parse(std::string_view()))::value_type> {
  HEARTH_ASSIGN_OR_RETURN(std::string name, r.lp_string(kMaxCodeBytes));
  auto value = parse(name);
  if (!value) return error(Code::kInvalidArgument, std::string("unknown ") + what);
  return *value;
}

Result<CaseRouting> read_routing(ByteReader& r) {
  CaseRouting out;
  protocol::RouteEnvelope& e = out.envelope;
  HEARTH_ASSIGN_OR_RETURN(out.priority_class, r.lp_string(kMaxCodeBytes));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t needs, r.u8());
  if (needs > 2) return error(Code::kInvalidArgument, "too many needs");
  for (std::uint8_t i = 0; i < needs; ++i) {
    HEARTH_ASSIGN_OR_RETURN(protocol::Need need, read_name(r, protocol::parse_need, "need"));
    e.needs.push_back(need);
  }
  HEARTH_ASSIGN_OR_RETURN(e.urgency, read_name(r, protocol::parse_urgency, "urgency"));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t languages, r.u8());
  if (languages > 3) return error(Code::kInvalidArgument, "too many languages");
  for (std::uint8_t i = 0; i < languages; ++i) {
    HEARTH_ASSIGN_OR_RETURN(std::string language, r.lp_string(kMaxCodeBytes));
    e.languages.push_back(std::move(language));
  }
  HEARTH_ASSIGN_OR_RETURN(e.mode, read_name(r, protocol::parse_mode, "mode"));
  HEARTH_ASSIGN_OR_RETURN(bool has_region, read_flag(r));
  if (has_region) {
    HEARTH_ASSIGN_OR_RETURN(std::string region, r.lp_string(kMaxCodeBytes));
    e.region = std::move(region);
  }
  HEARTH_ASSIGN_OR_RETURN(out.interpreter, read_flag(r));
  HEARTH_ASSIGN_OR_RETURN(std::uint64_t waited, r.u64());
  if (waited > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return error(Code::kInvalidArgument, "wait out of range");
  out.waited_s = static_cast<std::int64_t>(waited);
  HEARTH_TRY(check_routing(out));
  return out;
}

}  // namespace

Status add_note(ResponderCase& c, UnixSeconds minute, std::string text) {
  if (text.empty()) return error(Code::kInvalidArgument, "an empty note");
  if (text.size() > kMaxNoteBytes)
    return error(Code::kInvalidArgument,
                 "a note is at most " + std::to_string(kMaxNoteBytes) + " bytes");
  if (!is_valid_utf8(text)) return error(Code::kInvalidArgument, "a note must be UTF-8 text");
  if (c.notes.size() >= kMaxNotesPerCase)
    return error(Code::kLimitExceeded,
                 "a case holds at most " + std::to_string(kMaxNotesPerCase) + " notes");
  c.notes.push_back({minute, std::move(text)});
  return Status::ok();
}

ResponderCase* ResponderState::find(ByteView case_id) {
  return const_cast<ResponderCase*>(std::as_const(*this).find(case_id));
}

const ResponderCase* ResponderState::find(ByteView case_id) const {
  for (const ResponderCase& c : cases) {
    if (same(c.case_id, case_id)) return &c;
  }
  return nullptr;
}

ResponderState ResponderState::clone() const {
  ResponderState s;
  s.signing_seed = signing_seed.clone();
  s.dh_private = dh_private.clone();
  s.certificate = certificate;
  s.org_root = org_root;
  s.roster_pin = roster_pin;
  s.accepted_rosters = accepted_rosters;
  s.next_signed_prekey_id = next_signed_prekey_id;
  for (const StoredSignedPrekey& p : signed_prekeys)
    s.signed_prekeys.push_back(
        {p.id, p.created_at, p.expires_at, p.uploaded, p.private_key.clone()});
  s.next_one_time_prekey_id = next_one_time_prekey_id;
  for (const StoredOneTimePrekey& p : one_time_prekeys)
    s.one_time_prekeys.push_back({p.id, p.uploaded, p.private_key.clone()});
  for (const ResponderCase& c : cases)
    s.cases.push_back({c.case_id, c.queue, c.claimed, c.ratchet.clone(), c.received_seq,
                       c.transcript, c.notes, c.routing});
  s.seen_ephemerals = seen_ephemerals;
  return s;
}

Result<crypto::SecretBytes> ResponderState::encode() const {
  HEARTH_TRY(check_state_shape(*this));
  auto write = [&](detail::SecretWriter& w) { write_state(w, *this); };
  if (detail::SecretWriter::count(write) > ResponderStore::kMaxFileBytes - 1024)
    return error(Code::kLimitExceeded, "responder state too large");
  return detail::SecretWriter::build(write);
}

Result<ResponderState> ResponderState::decode(ByteView contents) {
  ByteReader r(contents);
  ResponderState s;
  HEARTH_TRY(r.expect_label(kStateLabel));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t version, r.u8());
  // Version 1 (before private notes) reads the same without the notes,
  // version 2 without the routing fields.
  if (version < 1 || version > kResponderStateVersion)
    return error(Code::kInvalidArgument, "unknown responder store version");
  HEARTH_ASSIGN_OR_RETURN(s.signing_seed, read_secret(r, crypto::kSeedBytes));
  HEARTH_ASSIGN_OR_RETURN(s.dh_private, read_secret(r, crypto::kPublicKeyBytes));
  HEARTH_ASSIGN_OR_RETURN(ByteView cert, r.lp(kMaxCertificateBytes));
  s.certificate.assign(cert.begin(), cert.end());
  HEARTH_ASSIGN_OR_RETURN(s.org_root, r.read<crypto::SigningPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(bool has_pin, read_flag(r));
  if (has_pin) {
    crypto::RosterPin pin;
    HEARTH_ASSIGN_OR_RETURN(pin.epoch, r.u64());
    HEARTH_ASSIGN_OR_RETURN(ByteView hash, r.fixed(crypto::kHashBytes));
    pin.hash.assign(hash.begin(), hash.end());
    s.roster_pin = std::move(pin);
  }
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t roster_count, r.u32());
  if (roster_count > kMaxAcceptedRosters)
    return error(Code::kInvalidArgument, "too many accepted rosters");
  for (std::uint32_t i = 0; i < roster_count; ++i) {
    HEARTH_ASSIGN_OR_RETURN(ByteView hash, r.fixed(crypto::kHashBytes));
    s.accepted_rosters.emplace_back(hash.begin(), hash.end());
  }
  HEARTH_ASSIGN_OR_RETURN(s.next_signed_prekey_id, r.u32());
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t spk_count, r.u32());
  if (spk_count > kMaxSignedPrekeys)
    return error(Code::kInvalidArgument, "too many signed prekeys");
  for (std::uint32_t i = 0; i < spk_count; ++i) {
    StoredSignedPrekey p;
    HEARTH_ASSIGN_OR_RETURN(p.id, r.u32());
    HEARTH_ASSIGN_OR_RETURN(std::uint64_t created, r.u64());
    HEARTH_ASSIGN_OR_RETURN(std::uint64_t expires, r.u64());
    p.created_at = static_cast<UnixSeconds>(created);
    p.expires_at = static_cast<UnixSeconds>(expires);
    HEARTH_ASSIGN_OR_RETURN(p.uploaded, read_flag(r));
    HEARTH_ASSIGN_OR_RETURN(p.private_key, read_secret(r, crypto::kPublicKeyBytes));
    s.signed_prekeys.push_back(std::move(p));
  }
  HEARTH_ASSIGN_OR_RETURN(s.next_one_time_prekey_id, r.u32());
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t opk_count, r.u32());
  if (opk_count > kMaxOneTimePrekeys)
    return error(Code::kInvalidArgument, "too many one-time prekeys");
  for (std::uint32_t i = 0; i < opk_count; ++i) {
    StoredOneTimePrekey p;
    HEARTH_ASSIGN_OR_RETURN(p.id, r.u32());
    HEARTH_ASSIGN_OR_RETURN(p.uploaded, read_flag(r));
    HEARTH_ASSIGN_OR_RETURN(p.private_key, read_secret(r, crypto::kPublicKeyBytes));
    s.one_time_prekeys.push_back(std::move(p));
  }
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t case_count, r.u32());
  if (case_count > kMaxResponderCases) return error(Code::kInvalidArgument, "too many cases");
  for (std::uint32_t i = 0; i < case_count; ++i) {
    ResponderCase c;
    HEARTH_ASSIGN_OR_RETURN(ByteView case_id, r.fixed(crypto::kCaseIdBytes));
    c.case_id.assign(case_id.begin(), case_id.end());
    HEARTH_ASSIGN_OR_RETURN(c.queue, r.lp_string(crypto::kMaxNameBytes));
    if (!c.queue.empty() && !crypto::is_valid_queue_name(c.queue))
      return error(Code::kInvalidArgument, "bad queue name");
    HEARTH_ASSIGN_OR_RETURN(c.claimed, read_flag(r));
    HEARTH_ASSIGN_OR_RETURN(std::uint64_t seq, r.u64());
    if (seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return error(Code::kInvalidArgument, "seq out of range");
    c.received_seq = static_cast<std::int64_t>(seq);
    HEARTH_ASSIGN_OR_RETURN(ByteView state, r.lp(kMaxRatchetStateBytes));
    c.ratchet = crypto::SecretBytes::from(state);
    HEARTH_ASSIGN_OR_RETURN(c.transcript, detail::read_transcript(r));
    if (version >= 2) {
      HEARTH_ASSIGN_OR_RETURN(std::uint32_t note_count, r.u32());
      if (note_count > kMaxNotesPerCase) return error(Code::kInvalidArgument, "too many notes");
      for (std::uint32_t j = 0; j < note_count; ++j) {
        ResponderNote n;
        HEARTH_ASSIGN_OR_RETURN(std::uint64_t minute, r.u64());
        if (minute > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          return error(Code::kInvalidArgument, "note time out of range");
        n.minute = static_cast<UnixSeconds>(minute);
        HEARTH_ASSIGN_OR_RETURN(n.text, r.lp_string(kMaxNoteBytes));
        if (!is_valid_utf8(n.text)) return error(Code::kInvalidArgument, "note is not UTF-8");
        c.notes.push_back(std::move(n));
      }
    }
    if (version >= 3) {
      HEARTH_ASSIGN_OR_RETURN(bool has_routing, read_flag(r));
      if (has_routing) {
        HEARTH_ASSIGN_OR_RETURN(c.routing, read_routing(r));
      }
    }
    s.cases.push_back(std::move(c));
  }
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t seen_count, r.u32());
  if (seen_count > kMaxSeenEphemerals)
    return error(Code::kInvalidArgument, "too many answered handshakes");
  s.seen_ephemerals.reserve(seen_count);
  for (std::uint32_t i = 0; i < seen_count; ++i) {
    HEARTH_ASSIGN_OR_RETURN(std::uint32_t spk_id, r.u32());
    HEARTH_ASSIGN_OR_RETURN(crypto::DhPublicKey ephemeral, r.read<crypto::DhPublicKey>());
    s.seen_ephemerals.emplace_back(spk_id, ephemeral);
  }
  HEARTH_TRY(r.finish());
  return s;
}

ResponderStore::ResponderStore(std::filesystem::path dir, FileLock lock, Bytes salt,
                               crypto::SecretBytes key, ResponderState state)
    : dir_(std::move(dir)),
      lock_(std::move(lock)),
      salt_(std::move(salt)),
      key_(std::move(key)),
      state_(std::move(state)) {}

ResponderStore::~ResponderStore() = default;

Result<std::unique_ptr<ResponderStore>> ResponderStore::create(
    const std::filesystem::path& dir, std::string_view passphrase,
    const crypto::SigningKey& signing_key, const crypto::DhKey& dh_key, ByteView certificate,
    const crypto::SigningPublicKey& org_root) {
  if (passphrase.size() < kMinPassphraseBytes)
    return error(Code::kInvalidArgument, "the passphrase must be at least 8 characters");
  HEARTH_ASSIGN_OR_RETURN(crypto::ResponderCertificate cert,
                          crypto::ResponderCertificate::decode(certificate));
  if (cert.fields.signing_key != signing_key.public_key() ||
      cert.fields.dh_key != dh_key.public_key())
    return error(Code::kInvalidArgument, "the certificate is for other keys");

  HEARTH_TRY(make_private_directory(dir));
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, take_lock(dir));
  std::error_code ec;
  if (std::filesystem::exists(dir / kStoreFileName, ec))
    return error(Code::kAlreadyExists, "a responder store already exists there");
  Bytes salt = crypto::random_bytes(crypto::kArgonSaltBytes);
  HEARTH_ASSIGN_OR_RETURN(crypto::SecretBytes key, derive_store_key(passphrase, salt));
  ResponderState state;
  state.signing_seed = signing_key.seed();
  state.dh_private = dh_key.private_key().clone();
  state.certificate.assign(certificate.begin(), certificate.end());
  state.org_root = org_root;
  std::unique_ptr<ResponderStore> store(
      new ResponderStore(dir, std::move(lock), std::move(salt), std::move(key), std::move(state)));
  HEARTH_TRY(store->save());
  return store;
}

Result<std::unique_ptr<ResponderStore>> ResponderStore::open(const std::filesystem::path& dir,
                                                             std::string_view passphrase) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / kStoreFileName, ec))
    return error(Code::kNotFound, "no responder store in that directory");
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, take_lock(dir));
  auto file = read_private_file(dir / kStoreFileName, kMaxFileBytes);
  if (!file.is_ok()) {
    if (file.status().code() == Code::kNotFound)
      return error(Code::kNotFound, "no responder store in that directory");
    return file.status();
  }
  const Bytes& bytes = file.value();
  if (bytes.size() < kHeaderBytes + crypto::kAeadOverhead ||
      !same(ByteView(bytes).first(kMagic.size()), as_bytes(kMagic)))
    return error(Code::kInvalidArgument, "not a Hearth responder store");
  ByteReader header(ByteView(bytes).first(kHeaderBytes));
  (void)header.fixed(kMagic.size());
  auto version = header.u32();
  if (!version.is_ok() || version.value() != kFileFormatVersion)
    return error(Code::kInvalidArgument, "unknown responder store format version");
  ByteView salt = ByteView(bytes).subspan(kMagic.size() + 4, crypto::kArgonSaltBytes);

  auto key = derive_store_key(passphrase, salt);
  if (!key.is_ok()) return key.status();
  auto opened = crypto::aead_open(key.value(), ByteView(bytes).subspan(kHeaderBytes),
                                  ByteView(bytes).first(kHeaderBytes));
  if (!opened.is_ok())
    return error(Code::kAuthFailed, "wrong passphrase, or the store file was modified");
  // The plaintext holds keys: move it into locked memory and wipe the copy.
  crypto::SecretBytes contents = crypto::SecretBytes::from(opened.value());
  crypto::wipe(opened.value());
  auto state = ResponderState::decode(contents.view());
  if (!state.is_ok())
    return error(Code::kCorrupt,
                 "the store decrypted but is malformed: " + state.status().message());
  return std::unique_ptr<ResponderStore>(
      new ResponderStore(dir, std::move(lock), Bytes(salt.begin(), salt.end()),
                         std::move(key).value(), std::move(state).value()));
}

Status ResponderStore::save() {
  HEARTH_ASSIGN_OR_RETURN(crypto::SecretBytes contents, state_.encode());
  Bytes header = file_header(salt_);
  Bytes file = header;
  append(file, crypto::aead_seal(key_, contents.view(), header));
  return write_private_file(dir_ / kStoreFileName, file);
}

Result<crypto::SigningKey> ResponderStore::signing_key() const {
  return crypto::SigningKey::from_seed(state_.signing_seed.view());
}

Result<crypto::DhKey> ResponderStore::dh_key() const {
  return crypto::DhKey::from_private(state_.dh_private.view());
}

Result<crypto::ResponderCertificate> ResponderStore::certificate() const {
  return crypto::ResponderCertificate::decode(state_.certificate);
}

}  // namespace hearth::client
