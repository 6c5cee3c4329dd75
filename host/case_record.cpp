#include "host/case_record.h"

#include <algorithm>

#include "common/byte_reader.h"
#include "crypto/hash.h"

namespace hearth::server {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kMaxQueueBytes = 64;
// Offers are bounded by the protocol's bundle limit.
constexpr std::size_t kMaxOffers = 64;

void append_party(Bytes& out, const CaseParty& party) {
  append(out, party.certificate_hash);
  append_lp(out, as_bytes(party.responder_id));
}

Result<CaseParty> read_party(ByteReader& r) {
  CaseParty party;
  HEARTH_ASSIGN_OR_RETURN(ByteView hash, r.fixed(kKeyBytes));
  party.certificate_hash.assign(hash.begin(), hash.end());
  HEARTH_ASSIGN_OR_RETURN(party.responder_id, r.lp_string(storage::kMaxResponderIdBytes));
  if (party.responder_id.empty()) return error(Code::kInvalidArgument, "empty responder id");
  return party;
}

constexpr std::size_t kMaxNeeds = 2;
constexpr std::size_t kMaxLanguages = 3;
constexpr std::size_t kMaxRegionBytes = 32;

void append_routing(Bytes& out, const CaseRouting& r) {
  out.push_back(static_cast<std::uint8_t>(r.envelope.needs.size()));
  for (auto need : r.envelope.needs) out.push_back(static_cast<std::uint8_t>(need));
  out.push_back(static_cast<std::uint8_t>(r.envelope.urgency));
  out.push_back(static_cast<std::uint8_t>(r.envelope.languages.size()));
  for (const auto& l : r.envelope.languages) append_lp(out, as_bytes(l));
  out.push_back(static_cast<std::uint8_t>(r.envelope.mode));
  out.push_back(r.envelope.region ? 1 : 0);
  if (r.envelope.region) append_lp(out, as_bytes(*r.envelope.region));
  append_u64_be(out, r.rules_version);
  append_u32_be(out, r.filter);
  append_u32_be(out, r.target);
  append_u64_be(out, static_cast<std::uint64_t>(r.arrived));
  out.push_back(r.forced_queue ? 1 : 0);
  if (r.forced_queue) append_lp(out, as_bytes(*r.forced_queue));
}

Result<bool> read_flag(ByteReader& r) {
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t flag, r.u8());
  if (flag > 1) return error(Code::kInvalidArgument, "bad flag");
  return flag == 1;
}

// An enum stored as its index: below `count`, or an error.
template <typename E>
Result<E> read_enum(ByteReader& r, std::uint8_t count) {
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t v, r.u8());
  if (v >= count) return error(Code::kInvalidArgument, "bad enum value");
  return static_cast<E>(v);
}

Result<CaseRouting> read_routing(ByteReader& r) {
  CaseRouting out;
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t needs, r.u8());
  if (needs == 0 || needs > kMaxNeeds) return error(Code::kInvalidArgument, "bad need count");
  for (std::uint8_t i = 0; i < needs; ++i) {
    HEARTH_ASSIGN_OR_RETURN(auto need, read_enum<protocol::Need>(r, 9));
    out.envelope.needs.push_back(need);
  }
  HEARTH_ASSIGN_OR_RETURN(out.envelope.urgency, read_enum<protocol::Urgency>(r, 4));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t langs, r.u8());
  if (langs == 0 || langs > kMaxLanguages)
    return error(Code::kInvalidArgument, "bad language count");
  for (std::uint8_t i = 0; i < langs; ++i) {
    HEARTH_ASSIGN_OR_RETURN(std::string l, r.lp_string(8));
    out.envelope.languages.push_back(std::move(l));
  }
  HEARTH_ASSIGN_OR_RETURN(out.envelope.mode, read_enum<protocol::Mode>(r, 2));
  HEARTH_ASSIGN_OR_RETURN(bool has_region, read_flag(r));
  if (has_region) {
    HEARTH_ASSIGN_OR_RETURN(std::string region, r.lp_string(kMaxRegionBytes));
    out.envelope.region = std::move(region);
  }
  HEARTH_ASSIGN_OR_RETURN(out.rules_version, r.u64());
  HEARTH_ASSIGN_OR_RETURN(out.filter, r.u32());
  HEARTH_ASSIGN_OR_RETURN(out.target, r.u32());
  HEARTH_ASSIGN_OR_RETURN(std::uint64_t arrived, r.u64());
  out.arrived = static_cast<UnixSeconds>(arrived);
  HEARTH_ASSIGN_OR_RETURN(bool forced, read_flag(r));
  if (forced) {
    HEARTH_ASSIGN_OR_RETURN(std::string q, r.lp_string(kMaxQueueBytes));
    out.forced_queue = std::move(q);
  }
  return out;
}

Result<CaseRecord> decode_inner(ByteView bytes) {
  ByteReader r(bytes);
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t format, r.u8());
  if (format != 1 && format != kCaseRecordFormat)
    return error(Code::kInvalidArgument, "unknown format");
  CaseRecord rec;
  HEARTH_ASSIGN_OR_RETURN(rec.queue, r.lp_string(kMaxQueueBytes));
  HEARTH_ASSIGN_OR_RETURN(ByteView key, r.fixed(kKeyBytes));
  rec.vault_login_key.assign(key.begin(), key.end());
  HEARTH_ASSIGN_OR_RETURN(std::uint32_t count, r.u32());
  if (count > kMaxOffers) return error(Code::kInvalidArgument, "too many offers");
  for (std::uint32_t i = 0; i < count; ++i) {
    HEARTH_ASSIGN_OR_RETURN(CaseParty party, read_party(r));
    rec.offers.push_back(std::move(party));
  }
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t claimed, r.u8());
  if (claimed > 1) return error(Code::kInvalidArgument, "bad claimed flag");
  if (claimed == 1) {
    HEARTH_ASSIGN_OR_RETURN(CaseParty party, read_party(r));
    rec.claimed_by = std::move(party);
  }
  if (format >= 2) {
    HEARTH_ASSIGN_OR_RETURN(bool has_routing, read_flag(r));
    if (has_routing) {
      HEARTH_ASSIGN_OR_RETURN(CaseRouting routing, read_routing(r));
      rec.routing = std::move(routing);
    }
    HEARTH_ASSIGN_OR_RETURN(bool has_handoff, read_flag(r));
    if (has_handoff) {
      HEARTH_ASSIGN_OR_RETURN(std::string q, r.lp_string(kMaxQueueBytes));
      rec.handoff_queue = std::move(q);
    }
    HEARTH_ASSIGN_OR_RETURN(rec.closed, read_flag(r));
  }
  HEARTH_TRY(r.finish());
  return rec;
}

storage::MailboxId mailbox_from(const Bytes& digest) {
  storage::MailboxId id;
  std::copy_n(digest.begin(), id.bytes.size(), id.bytes.begin());
  return id;
}

}  // namespace

const CaseParty* CaseRecord::offer_for(std::string_view responder_id) const {
  for (const auto& offer : offers) {
    if (offer.responder_id == responder_id) return &offer;
  }
  return nullptr;
}

Bytes encode_case_record(const CaseRecord& record) {
  Bytes out;
  out.push_back(kCaseRecordFormat);
  append_lp(out, as_bytes(record.queue));
  append(out, record.vault_login_key);
  append_u32_be(out, static_cast<std::uint32_t>(record.offers.size()));
  for (const auto& offer : record.offers) append_party(out, offer);
  out.push_back(record.claimed_by ? 1 : 0);
  if (record.claimed_by) append_party(out, *record.claimed_by);
  out.push_back(record.routing ? 1 : 0);
  if (record.routing) append_routing(out, *record.routing);
  out.push_back(record.handoff_queue ? 1 : 0);
  if (record.handoff_queue) append_lp(out, as_bytes(*record.handoff_queue));
  out.push_back(record.closed ? 1 : 0);
  return out;
}

Result<CaseRecord> decode_case_record(ByteView bytes) {
  auto rec = decode_inner(bytes);
  if (!rec.is_ok()) return error(Code::kCorrupt, "case record: " + rec.status().message());
  return rec;
}

storage::MailboxId survivor_mailbox(const storage::CaseId& case_id) {
  return mailbox_from(crypto::hash_labelled("HL1/mailbox/survivor", case_id.view()));
}

storage::MailboxId responder_mailbox(const storage::CaseId& case_id,
                                     std::string_view responder_id) {
  Bytes message(case_id.bytes.begin(), case_id.bytes.end());
  append(message, as_bytes(responder_id));
  return mailbox_from(crypto::hash_labelled("HL1/mailbox/responder", message));
}

}  // namespace hearth::server
