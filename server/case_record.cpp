#include "server/case_record.h"

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

Result<CaseRecord> decode_inner(ByteView bytes) {
  ByteReader r(bytes);
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t format, r.u8());
  if (format != kCaseRecordFormat) return error(Code::kInvalidArgument, "unknown format");
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
