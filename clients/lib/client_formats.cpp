#include "clients/lib/client_formats.h"

#include <algorithm>
#include <limits>

#include "clients/lib/format_detail.h"
#include "common/byte_reader.h"
#include "crypto/vault.h"

namespace hearth::client {
namespace {

constexpr std::string_view kVaultLabel = "HL1/survivor-vault";
// A serialized ratchet state holds at most 512 skipped keys (~39 KiB).
constexpr std::size_t kMaxRatchetStateBytes = std::size_t{64} * 1024;
constexpr std::size_t kTranscriptEntryOverhead = 1 + 8 + 1 + 4;  // author, minute, kind, length

void write_vault(detail::SecretWriter& w, const SurvivorVault& v) {
  w.lp(kVaultLabel);
  w.u8(kSurvivorVaultVersion);
  w.u8(v.roster_pin ? 1 : 0);
  if (v.roster_pin) {
    w.u64(v.roster_pin->epoch);
    w.fixed(v.roster_pin->hash);
  }
  w.u32(static_cast<std::uint32_t>(v.cases.size()));
  for (const SurvivorCase& c : v.cases) {
    w.fixed(c.case_id);
    w.fixed(c.identity_private.view());
    w.lp(std::string_view(c.queue));
    w.u8(c.claimed_by ? 1 : 0);
    if (c.claimed_by) w.fixed(*c.claimed_by);
    w.u64(static_cast<std::uint64_t>(c.received_seq));
    w.u32(static_cast<std::uint32_t>(c.sessions.size()));
    for (const SurvivorSessionState& s : c.sessions) {
      w.fixed(s.certificate_hash);
      w.lp(s.ratchet.view());
    }
    detail::write_transcript(w, c.transcript);
  }
}

Status check_vault_shape(const SurvivorVault& v) {
  if (v.cases.size() > kMaxVaultCases) return error(Code::kLimitExceeded, "too many cases");
  if (v.roster_pin && v.roster_pin->hash.size() != crypto::kHashBytes)
    return error(Code::kInvalidArgument, "roster pin hash must be 32 bytes");
  for (const SurvivorCase& c : v.cases) {
    if (c.case_id.size() != crypto::kCaseIdBytes)
      return error(Code::kInvalidArgument, "case id must be 16 bytes");
    if (c.identity_private.size() != crypto::kPublicKeyBytes)
      return error(Code::kInvalidArgument, "identity key must be 32 bytes");
    if (c.claimed_by && c.claimed_by->size() != crypto::kHashBytes)
      return error(Code::kInvalidArgument, "claimed_by must be 32 bytes");
    if (c.received_seq < 0) return error(Code::kInvalidArgument, "negative seq");
    if (c.sessions.size() > kMaxSessionsPerCase)
      return error(Code::kLimitExceeded, "too many sessions");
    for (const SurvivorSessionState& s : c.sessions) {
      if (s.certificate_hash.size() != crypto::kHashBytes)
        return error(Code::kInvalidArgument, "certificate hash must be 32 bytes");
    }
  }
  return Status::ok();
}

// The share byte of a handoff plaintext (docs/client-formats.md).
constexpr std::uint8_t kShareNewOnly = 1;
constexpr std::uint8_t kShareSummary = 2;
constexpr std::uint8_t kShareHistory = 3;
constexpr std::size_t kHandoffHeaderBytes = 2;  // kind, share

std::uint8_t share_byte(protocol::HandoffShare share) {
  switch (share) {
    case protocol::HandoffShare::kNewOnly:
      return kShareNewOnly;
    case protocol::HandoffShare::kSummary:
      return kShareSummary;
    case protocol::HandoffShare::kHistory:
      return kShareHistory;
  }
  return 0;
}

std::size_t vault_size(const SurvivorVault& v) {
  return detail::SecretWriter::count([&](detail::SecretWriter& w) { write_vault(w, v); });
}

}  // namespace

// ---- Intake body ----

Bytes encode_intake_body(const crypto::X3dhHeader& header, ByteView message) {
  Bytes out;
  append_lp(out, header.encode());
  append(out, message);
  return out;
}

Result<IntakeBody> decode_intake_body(ByteView body) {
  ByteReader r(body);
  HEARTH_ASSIGN_OR_RETURN(ByteView header_bytes, r.lp(kMaxX3dhHeaderBytes));
  HEARTH_ASSIGN_OR_RETURN(crypto::X3dhHeader header, crypto::X3dhHeader::decode(header_bytes));
  HEARTH_ASSIGN_OR_RETURN(ByteView message, r.fixed(r.remaining()));
  if (message.empty()) return error(Code::kInvalidArgument, "intake body has no message");
  return IntakeBody{std::move(header), Bytes(message.begin(), message.end())};
}

// ---- Plaintext ----

bool is_valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;                            // surrogate
    if (cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

Result<Bytes> encode_text(std::string_view text) {
  if (text.empty()) return error(Code::kInvalidArgument, "empty message");
  if (text.size() > kMaxTextBytes) return error(Code::kLimitExceeded, "message too long");
  if (!is_valid_utf8(text)) return error(Code::kInvalidArgument, "message is not valid UTF-8");
  Bytes out;
  out.reserve(1 + text.size());
  out.push_back(static_cast<std::uint8_t>(PlaintextKind::kText));
  append(out, as_bytes(text));
  return out;
}

Result<Plaintext> decode_plaintext(ByteView plaintext) {
  if (plaintext.empty()) return error(Code::kInvalidArgument, "empty plaintext");
  Plaintext p;
  p.kind = plaintext[0];
  p.payload = to_string(plaintext.subspan(1));
  if (p.kind == static_cast<std::uint8_t>(PlaintextKind::kText) && !is_valid_utf8(p.payload))
    return error(Code::kInvalidArgument, "text is not valid UTF-8");
  return p;
}

// ---- Transcript ----

std::size_t transcript_bytes(const std::deque<TranscriptEntry>& transcript) {
  std::size_t total = 0;
  for (const TranscriptEntry& e : transcript) total += e.plaintext.payload.size();
  return total;
}

void append_bounded(std::deque<TranscriptEntry>& transcript, TranscriptEntry entry) {
  transcript.push_back(std::move(entry));
  std::size_t bytes = transcript_bytes(transcript);
  while (!transcript.empty() &&
         (transcript.size() > kTranscriptMaxEntries || bytes > kTranscriptMaxBytes)) {
    bytes -= transcript.front().plaintext.payload.size();
    transcript.pop_front();
  }
}

// ---- Handoff plaintext ----

Result<Bytes> encode_handoff(const HandoffPayload& payload, std::size_t max_bytes) {
  max_bytes = std::min(max_bytes, crypto::kMaxPaddedPayload);
  // The smallest handoff that must always fit: header and an empty history.
  if (max_bytes < kHandoffHeaderBytes + 4)
    return error(Code::kInvalidArgument, "no room for a handoff message");
  const std::uint8_t share = share_byte(payload.share);
  if (share == 0) return error(Code::kInvalidArgument, "unknown handoff share");
  Bytes out = {static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent), share};
  switch (payload.share) {
    case protocol::HandoffShare::kNewOnly:
      return out;
    case protocol::HandoffShare::kSummary:
      if (payload.summary.empty()) return error(Code::kInvalidArgument, "empty summary");
      if (!is_valid_utf8(payload.summary))
        return error(Code::kInvalidArgument, "summary is not valid UTF-8");
      if (kHandoffHeaderBytes + payload.summary.size() > max_bytes)
        return error(Code::kLimitExceeded, "summary too long");
      append(out, as_bytes(payload.summary));
      return out;
    case protocol::HandoffShare::kHistory: {
      // The newest messages matter most to the new team: the oldest go first.
      std::deque<TranscriptEntry> history = payload.history;
      std::size_t size = kHandoffHeaderBytes + 4;
      for (const TranscriptEntry& e : history)
        size += kTranscriptEntryOverhead + e.plaintext.payload.size();
      while (!history.empty() && (size > max_bytes || history.size() > kTranscriptMaxEntries)) {
        size -= kTranscriptEntryOverhead + history.front().plaintext.payload.size();
        history.pop_front();
      }
      crypto::SecretBytes encoded = detail::SecretWriter::build(
          [&](detail::SecretWriter& w) { detail::write_transcript(w, history); });
      append(out, encoded.view());
      return out;
    }
  }
  return error(Code::kInvalidArgument, "unknown handoff share");
}

Result<HandoffPayload> decode_handoff(const Plaintext& plaintext) {
  if (plaintext.kind != static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent))
    return error(Code::kInvalidArgument, "not a handoff message");
  if (plaintext.payload.empty()) return error(Code::kInvalidArgument, "handoff without a share");
  HandoffPayload out;
  const std::string_view rest = std::string_view(plaintext.payload).substr(1);
  switch (static_cast<std::uint8_t>(plaintext.payload[0])) {
    case kShareNewOnly:
      if (!rest.empty()) return error(Code::kInvalidArgument, "new-only handoff with a payload");
      out.share = protocol::HandoffShare::kNewOnly;
      return out;
    case kShareSummary:
      if (rest.empty()) return error(Code::kInvalidArgument, "empty summary");
      if (!is_valid_utf8(rest)) return error(Code::kInvalidArgument, "summary is not UTF-8");
      out.share = protocol::HandoffShare::kSummary;
      out.summary = std::string(rest);
      return out;
    case kShareHistory: {
      ByteReader r(as_bytes(rest));
      HEARTH_ASSIGN_OR_RETURN(out.history, detail::read_transcript(r));
      HEARTH_TRY(r.finish());
      out.share = protocol::HandoffShare::kHistory;
      return out;
    }
    default:
      return error(Code::kInvalidArgument, "unknown handoff share");
  }
}

namespace detail {

void write_transcript(SecretWriter& w, const std::deque<TranscriptEntry>& transcript) {
  w.u32(static_cast<std::uint32_t>(transcript.size()));
  for (const TranscriptEntry& e : transcript) {
    w.u8(static_cast<std::uint8_t>(e.author));
    w.u64(static_cast<std::uint64_t>(e.minute));
    w.u8(e.plaintext.kind);
    w.lp(std::string_view(e.plaintext.payload));
  }
}

Result<std::deque<TranscriptEntry>> read_transcript(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t count, r.u32());
  if (count > kTranscriptMaxEntries) return error(Code::kInvalidArgument, "transcript too long");
  std::deque<TranscriptEntry> out;
  for (std::uint32_t k = 0; k < count; ++k) {
    TranscriptEntry e;
    HEARTH_ASSIGN_OR_RETURN(std::uint8_t author, r.u8());
    if (author != static_cast<std::uint8_t>(Author::kSurvivor) &&
        author != static_cast<std::uint8_t>(Author::kResponder))
      return error(Code::kInvalidArgument, "unknown transcript author");
    e.author = static_cast<Author>(author);
    HEARTH_ASSIGN_OR_RETURN(std::uint64_t minute, r.u64());
    e.minute = static_cast<UnixSeconds>(minute);
    HEARTH_ASSIGN_OR_RETURN(e.plaintext.kind, r.u8());
    HEARTH_ASSIGN_OR_RETURN(e.plaintext.payload, r.lp_string(kMaxTextBytes));
    if (e.plaintext.kind == static_cast<std::uint8_t>(PlaintextKind::kText) &&
        !is_valid_utf8(e.plaintext.payload))
      return error(Code::kInvalidArgument, "transcript text is not UTF-8");
    out.push_back(std::move(e));
  }
  if (transcript_bytes(out) > kTranscriptMaxBytes)
    return error(Code::kInvalidArgument, "transcript too large");
  return out;
}

}  // namespace detail

// ---- Survivor vault ----

const SurvivorSessionState* SurvivorCase::session_for(ByteView certificate_hash) const {
  for (const SurvivorSessionState& s : sessions) {
    if (std::equal(s.certificate_hash.begin(), s.certificate_hash.end(), certificate_hash.begin(),
                   certificate_hash.end()))
      return &s;
  }
  return nullptr;
}

SurvivorSessionState* SurvivorCase::session_for(ByteView certificate_hash) {
  return const_cast<SurvivorSessionState*>(std::as_const(*this).session_for(certificate_hash));
}

SurvivorCase SurvivorCase::clone() const {
  SurvivorCase c;
  c.case_id = case_id;
  c.identity_private = identity_private.clone();
  c.queue = queue;
  c.claimed_by = claimed_by;
  for (const SurvivorSessionState& s : sessions)
    c.sessions.push_back({s.certificate_hash, s.ratchet.clone()});
  c.received_seq = received_seq;
  c.transcript = transcript;
  return c;
}

const SurvivorCase* SurvivorVault::find(ByteView case_id) const {
  for (const SurvivorCase& c : cases) {
    if (std::equal(c.case_id.begin(), c.case_id.end(), case_id.begin(), case_id.end())) return &c;
  }
  return nullptr;
}

SurvivorCase* SurvivorVault::find(ByteView case_id) {
  return const_cast<SurvivorCase*>(std::as_const(*this).find(case_id));
}

SurvivorVault SurvivorVault::clone() const {
  SurvivorVault v;
  v.roster_pin = roster_pin;
  for (const SurvivorCase& c : cases) v.cases.push_back(c.clone());
  return v;
}

Result<crypto::SecretBytes> SurvivorVault::encode() const {
  HEARTH_TRY(check_vault_shape(*this));
  if (vault_size(*this) > crypto::kMaxVaultContents)
    return error(Code::kLimitExceeded, "vault contents too large");
  return detail::SecretWriter::build([&](detail::SecretWriter& w) { write_vault(w, *this); });
}

Result<SurvivorVault> SurvivorVault::decode(ByteView contents) {
  ByteReader r(contents);
  SurvivorVault v;
  HEARTH_TRY(r.expect_label(kVaultLabel));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t version, r.u8());
  if (version != kSurvivorVaultVersion)
    return error(Code::kInvalidArgument, "unknown survivor vault version");
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t has_pin, r.u8());
  if (has_pin > 1) return error(Code::kInvalidArgument, "bad flag");
  if (has_pin == 1) {
    crypto::RosterPin pin;
    HEARTH_ASSIGN_OR_RETURN(pin.epoch, r.u64());
    HEARTH_ASSIGN_OR_RETURN(ByteView hash, r.fixed(crypto::kHashBytes));
    pin.hash.assign(hash.begin(), hash.end());
    v.roster_pin = std::move(pin);
  }
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t case_count, r.u32());
  if (case_count > kMaxVaultCases) return error(Code::kInvalidArgument, "too many cases");
  for (std::uint32_t i = 0; i < case_count; ++i) {
    SurvivorCase c;
    HEARTH_ASSIGN_OR_RETURN(ByteView case_id, r.fixed(crypto::kCaseIdBytes));
    c.case_id.assign(case_id.begin(), case_id.end());
    HEARTH_ASSIGN_OR_RETURN(ByteView identity, r.fixed(crypto::kPublicKeyBytes));
    c.identity_private = crypto::SecretBytes::from(identity);
    HEARTH_ASSIGN_OR_RETURN(c.queue, r.lp_string(crypto::kMaxNameBytes));
    if (!crypto::is_valid_queue_name(c.queue))
      return error(Code::kInvalidArgument, "bad queue name");
    HEARTH_ASSIGN_OR_RETURN(std::uint8_t has_claim, r.u8());
    if (has_claim > 1) return error(Code::kInvalidArgument, "bad flag");
    if (has_claim == 1) {
      HEARTH_ASSIGN_OR_RETURN(ByteView claimed, r.fixed(crypto::kHashBytes));
      c.claimed_by = Bytes(claimed.begin(), claimed.end());
    }
    HEARTH_ASSIGN_OR_RETURN(std::uint64_t seq, r.u64());
    if (seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return error(Code::kInvalidArgument, "seq out of range");
    c.received_seq = static_cast<std::int64_t>(seq);
    HEARTH_ASSIGN_OR_RETURN(std::uint32_t session_count, r.u32());
    if (session_count > kMaxSessionsPerCase)
      return error(Code::kInvalidArgument, "too many sessions");
    for (std::uint32_t k = 0; k < session_count; ++k) {
      SurvivorSessionState s;
      HEARTH_ASSIGN_OR_RETURN(ByteView hash, r.fixed(crypto::kHashBytes));
      s.certificate_hash.assign(hash.begin(), hash.end());
      HEARTH_ASSIGN_OR_RETURN(ByteView state, r.lp(kMaxRatchetStateBytes));
      s.ratchet = crypto::SecretBytes::from(state);
      c.sessions.push_back(std::move(s));
    }
    HEARTH_ASSIGN_OR_RETURN(c.transcript, detail::read_transcript(r));
    v.cases.push_back(std::move(c));
  }
  HEARTH_TRY(r.finish());
  return v;
}

Status SurvivorVault::shrink_to(std::size_t max_bytes) {
  std::size_t size = vault_size(*this);
  while (size > max_bytes) {
    SurvivorCase* largest = nullptr;
    std::size_t largest_bytes = 0;
    for (SurvivorCase& c : cases) {
      if (c.transcript.empty()) continue;
      std::size_t bytes = transcript_bytes(c.transcript) + c.transcript.size();
      if (largest == nullptr || bytes > largest_bytes) {
        largest = &c;
        largest_bytes = bytes;
      }
    }
    if (largest == nullptr)
      return error(Code::kLimitExceeded, "the vault's keys alone exceed the size limit");
    size -= kTranscriptEntryOverhead + largest->transcript.front().plaintext.payload.size();
    largest->transcript.pop_front();
  }
  return Status::ok();
}

}  // namespace hearth::client
